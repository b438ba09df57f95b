package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"driftd/registry"
	"driftd/scheduler"
	"driftd/train"
)

// TrainProgress is the live progress of a train run (scheduler SetProgress).
type TrainProgress struct {
	RunID          string   `json:"run_id"`
	Round          int      `json:"round"`
	Rounds         int      `json:"rounds"`
	TrainLoss      *float64 `json:"train_loss,omitempty"`
	ValidLoss      *float64 `json:"valid_loss,omitempty"`
	MetricName     string   `json:"metric_name,omitempty"`
	ValidMetric    *float64 `json:"valid_metric,omitempty"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
}

// TrainResult is the result of a train run.
type TrainResult struct {
	RunID      string             `json:"run_id"` // the experiment run
	Model      string             `json:"model"`
	Version    string             `json:"version,omitempty"`     // "" when not registered
	DeployedTo string             `json:"deployed_to,omitempty"` // "" when not deployed
	Rounds     int                `json:"rounds"`
	Metrics    map[string]float64 `json:"metrics"`              // finite metrics on MetricsOn
	MetricsOn  string             `json:"metrics_on,omitempty"` // "validation", "test" or ""
	FitSeconds float64            `json:"fit_seconds"`
}

// trainFlow is the train flow: what POST /api/v1/train does, as a flow.
func trainFlow(d Deps) scheduler.Flow {
	s := scheduler.TypeString
	params := []scheduler.Param{
		{Name: "data", Type: s, Help: "training CSV or Parquet file on the server (inside the data directory or DRIFTD_TRAIN_DATA_DIRS); required unless query"},
		{Name: "query", Type: s, Help: "PostgreSQL query whose rows are the training data, instead of data; it runs read-only on the server's DRIFTD_DATABASE_URL"},
		{Name: "data_name", Type: s, Hidden: true, Help: "the name of an uploaded data file, for messages"},
		{Name: "test", Type: s, Help: "test CSV or Parquet file: validation set and reported metrics (default: a valid_fraction split of data)"},
		{Name: "test_query", Type: s, Help: "PostgreSQL query of the test set, instead of test"},
		{Name: "target", Type: s, Required: true, Help: "the column to learn"},
		{Name: "id", Type: s, Help: "id column carried to predictions, not learned"},
		{Name: "categorical", Type: s, Help: "comma-separated columns forced categorical"},
		{Name: "algo", Type: s, Default: "gbdt", Enum: []string{"gbdt", "logistic"}, Help: "algorithm"},
		{Name: "objective", Type: s, Enum: []string{"", "binary", "multiclass", "regression"}, Help: "objective (empty: from the target's classes)"},
		{Name: "valid_fraction", Type: scheduler.TypeFloat, Default: 0.2, Help: "share of data held out for validation when test is not given, in [0, 1)"},
		{Name: "model", Type: s, Default: d.ScoredModel, Help: "registered model name the version goes to"},
		{Name: "experiment", Type: s, Default: "default", Help: "experiment the run is recorded in"},
		{Name: "register", Type: scheduler.TypeBool, Default: true, Help: "register the trained model as a new version"},
		{Name: "deploy", Type: s, Help: "environment to deploy the new version to (empty: none; needs register)"},
	}
	for _, h := range hyperparams() {
		params = append(params, h.param())
	}
	params = append(params, scheduler.Param{Name: "run_id", Type: s, Hidden: true, Help: "the experiment run to record into"})
	return scheduler.Flow{
		Name:        FlowTrain,
		Description: "Train a GBDT or logistic model from a CSV or Parquet file or a PostgreSQL query, record it as an experiment run, register it and optionally deploy it.",
		Params:      params,
		Queue:       QueueTraining,
		Validate:    d.validateTrain,
		Prepare: func(ctx context.Context, p scheduler.Params, t scheduler.Trigger) error {
			if p.String("run_id") != "" {
				return nil
			}
			j, err := d.trainJob(p)
			if err != nil {
				return err
			}
			id, err := d.createRun(ctx, j.Experiment, "train "+j.Model, j.Model, "server", j.runParams(), t,
				fmt.Sprintf("%s rounds=%d data=%s", j.Spec.Params.Algo, j.Spec.Params.Rounds, j.Spec.CSV.Name))
			if err != nil {
				return err
			}
			p["run_id"] = id
			return nil
		},
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			j, err := d.trainJob(rc.Params)
			if err != nil {
				return nil, err
			}
			runID := rc.Params.String("run_id")
			if runID == "" { // run directly, without Prepare
				if runID, err = d.createRun(ctx, j.Experiment, "train "+j.Model, j.Model, "server", j.runParams(), rc.Trigger, ""); err != nil {
					return nil, err
				}
				rc.Params["run_id"] = runID
			}
			res, _, err := d.runTrain(ctx, rc, j, runID)
			if err != nil {
				return nil, err
			}
			return res, nil
		},
		OnEnd: func(ctx context.Context, r scheduler.Run) { d.endExperimentRun(ctx, r) },
	}
}

// validateTrain checks the train flow's params: values, files or
// queries, model name and deployment.
func (d Deps) validateTrain(ctx context.Context, p scheduler.Params) error {
	j, err := d.trainJob(p)
	if err != nil {
		return err
	}
	if j.Spec.Query != "" {
		if err := checkQuery(ctx, "query", j.Spec.DSN, j.Spec.Query, j.Spec.CSV); err != nil {
			return err
		}
	} else if err := d.checkDataFile("data", j.Spec.Data); err != nil {
		return err
	}
	if j.Spec.TestQuery != "" {
		if err := checkQuery(ctx, "test_query", j.Spec.DSN, j.Spec.TestQuery, j.Spec.CSV); err != nil {
			return err
		}
	} else if j.Spec.Test != "" {
		if err := d.checkDataFile("test", j.Spec.Test); err != nil {
			return err
		}
	}
	if err := checkModel("model", j.Model); err != nil {
		return err
	}
	if j.Deploy != "" {
		if err := d.checkEnvironment("deploy", j.Deploy); err != nil {
			return err
		}
		if !j.Register {
			return scheduler.Errorf("params.deploy", "deploying needs register: true")
		}
	}
	return nil
}

// checkQuery checks params.<field>, a training query: a database must be
// configured, and the server must plan the query (not run it) into
// columns that hold the target, id and categorical columns. It waits at
// most 10 seconds for the server.
func checkQuery(ctx context.Context, field, dsn, query string, opts train.CSVOptions) error {
	if dsn == "" {
		return scheduler.Errorf("params."+field, "training from a query needs a database: set %s on the server", DatabaseURLEnv)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cols, err := train.QueryColumns(ctx, dsn, query)
	if err != nil {
		return scheduler.Errorf("params."+field, "%v", err)
	}
	for _, c := range append([]string{opts.Target, opts.ID}, opts.Categorical...) {
		if c != "" && !slices.Contains(cols, c) {
			return scheduler.Errorf("params."+field, "the query returns no column %q (it returns %s)", c, strings.Join(cols, ", "))
		}
	}
	return nil
}

// createRun creates an experiment run for a flow run, logs its params and
// a "queued by" line, and returns its id.
func (d Deps) createRun(ctx context.Context, experiment, name, model, source string, params map[string]string, t scheduler.Trigger, what string) (string, error) {
	ctx = userContext(ctx, t)
	exp, err := d.Store.EnsureExperiment(ctx, experiment)
	if err != nil {
		return "", fmt.Errorf("experiment %s: %w", experiment, err)
	}
	run, err := d.Store.CreateRun(ctx, exp.ID, registry.RunOptions{Name: name,
		Tags: map[string]string{"driftd.source": source, "driftd.model": model}})
	if err != nil {
		return "", fmt.Errorf("experiment %s: %w", experiment, err)
	}
	if err := d.Store.LogParams(ctx, run.ID, params); err != nil {
		d.finishRun(context.WithoutCancel(ctx), run.ID, registry.RunFailed, "log params: "+err.Error())
		return "", fmt.Errorf("experiment run %s: %w", run.ID, err)
	}
	line := "queued by " + actor(t)
	if what != "" {
		line += ": " + what
	}
	_ = d.Store.AppendLog(ctx, run.ID, line)
	return run.ID, nil
}

// endExperimentRun finishes the experiment run of a flow run that reached a
// terminal state: completed → finished, failed → failed with the error,
// cancelled or crashed → killed.
func (d Deps) endExperimentRun(ctx context.Context, r scheduler.Run) {
	id, _ := r.Params["run_id"].(string)
	if id == "" {
		return
	}
	ctx = context.WithoutCancel(ctx)
	switch r.State {
	case scheduler.StateCompleted:
		line := "finished"
		var res TrainResult
		if json.Unmarshal(r.Result, &res) == nil && res.Rounds > 0 {
			line = fmt.Sprintf("finished: %d rounds in %.2fs", res.Rounds, res.FitSeconds)
		}
		d.finishRun(ctx, id, registry.RunFinished, line)
	case scheduler.StateFailed:
		d.finishRun(ctx, id, registry.RunFailed, "error: "+r.Error)
	default:
		line := fmt.Sprintf("killed: flow run %s %s", r.ID, r.State)
		if r.Error != "" {
			line += ": " + r.Error
		}
		d.finishRun(ctx, id, registry.RunKilled, line)
	}
}

// finishRun writes the last log line and ends an experiment run; failures
// are logged.
func (d Deps) finishRun(ctx context.Context, id, status, line string) {
	if err := d.Store.AppendLog(ctx, id, line); err != nil {
		d.Logger.Warn("experiment run log", "run_id", id, "err", err)
	}
	if _, err := d.Store.FinishRun(ctx, id, status); err != nil {
		d.Logger.Warn("finish experiment run", "run_id", id, "status", status, "err", err)
	}
}

// runTrain trains j, recording rounds, metrics and artifacts in experiment
// run runID, then registers and deploys the model as j asks.
func (d Deps) runTrain(ctx context.Context, rc *scheduler.RunContext, j TrainJob, runID string) (TrainResult, *TrainOutcome, error) {
	if j.Spec.DriftBins == 0 {
		j.Spec.DriftBins = d.DriftBins // DRIFTD_DRIFT_BINS
	}
	uctx := userContext(ctx, rc.Trigger)
	wctx := context.WithoutCancel(uctx) // the last writes happen even when cancelled
	rec := newRoundRecorder(d, rc, wctx, runID, j.Spec.Params.Rounds)
	_ = d.Store.AppendLog(wctx, runID, "started: reading "+j.Spec.CSV.Name)
	rc.Logf("training %s %s on %s (experiment run %s)", j.Model, j.Spec.Params.Algo, j.Spec.CSV.Name, runID)
	out, err := TrainModel(ctx, j.Spec, rec.round)
	rec.flush()
	if err != nil {
		return TrainResult{}, nil, err
	}
	rc.Logf("trained %d rounds in %.2fs on %d rows (%d held out)", out.Rounds, out.FitSeconds, out.Rows, out.ValidRows)
	res, err := d.recordTrain(uctx, rc, j, runID, out)
	return res, out, err
}

// recordTrain stores the outcome of a training: final metrics, the model
// artifact, then the registered version and its deployment when asked.
func (d Deps) recordTrain(ctx context.Context, rc *scheduler.RunContext, j TrainJob, id string, out *TrainOutcome) (TrainResult, error) {
	res := TrainResult{RunID: id, Model: j.Model, Rounds: out.Rounds, Metrics: map[string]float64{}, MetricsOn: out.MetricsOn, FitSeconds: out.FitSeconds}
	now := d.Now()
	step := int64(out.Rounds)
	pts := []registry.MetricPoint{{Key: "fit_seconds", Value: out.FitSeconds, Step: step, Time: now},
		{Key: "load_seconds", Value: out.LoadSeconds, Step: step, Time: now}}
	for _, k := range slices.Sorted(maps.Keys(out.Metrics)) {
		if v := out.Metrics[k]; isFinite(v) {
			res.Metrics[k] = v
			pts = append(pts, registry.MetricPoint{Key: out.MetricsOn + "_" + k, Value: v, Step: step, Time: now})
		}
	}
	if err := d.Store.LogMetrics(ctx, id, pts); err != nil {
		return res, fmt.Errorf("log final metrics: %w", err)
	}
	if j.Spec.Params.Objective == "" {
		if err := d.Store.LogParam(ctx, id, "objective", out.Model.Objective()); err != nil {
			return res, fmt.Errorf("log objective: %w", err)
		}
	}
	if err := d.storeModelArtifacts(ctx, id, out.Model, out.Artifact); err != nil {
		return res, err
	}
	if b, err := json.Marshal(out.FeatureImportance); err == nil {
		if err := d.Store.PutRunArtifact(ctx, id, "feature_importance.json", b); err != nil {
			return res, fmt.Errorf("store feature importance: %w", err)
		}
	}
	if !j.Register {
		return res, nil
	}
	opts, err := RegisterOptions(out.Model)
	if err != nil {
		return res, err
	}
	opts.RunID, opts.Description = id, "trained by run "+id
	v, err := d.Store.Register(ctx, out.Artifact, j.Model, opts) // links the run too
	if err != nil {
		return res, fmt.Errorf("register %s: %w", j.Model, err)
	}
	res.Version = v.Version
	_ = d.Store.AppendLog(ctx, id, fmt.Sprintf("registered %s version %s", j.Model, v.Version))
	rc.Logf("registered %s version %s", j.Model, v.Version)
	if j.Deploy == "" {
		return res, nil
	}
	if err := d.Store.Deploy(ctx, j.Model, v.Version, j.Deploy, "trained by run "+id); err != nil {
		return res, fmt.Errorf("deploy %s %s to %s: %w", j.Model, v.Version, j.Deploy, err)
	}
	res.DeployedTo = j.Deploy
	_ = d.Store.AppendLog(ctx, id, fmt.Sprintf("deployed %s version %s to %s", j.Model, v.Version, j.Deploy))
	rc.Logf("deployed %s version %s to %s", j.Model, v.Version, j.Deploy)
	return res, nil
}

// storeModelArtifacts stores a model file and its drift profile on an
// experiment run.
func (d Deps) storeModelArtifacts(ctx context.Context, id string, m *train.Model, artifact []byte) error {
	if err := d.Store.PutRunArtifact(ctx, id, "model", artifact); err != nil {
		return fmt.Errorf("store model artifact: %w", err)
	}
	if b, ok := m.Attachment("drift.profile"); ok {
		if err := d.Store.PutRunArtifact(ctx, id, "drift.profile", b); err != nil {
			return fmt.Errorf("store drift profile: %w", err)
		}
	}
	return nil
}
