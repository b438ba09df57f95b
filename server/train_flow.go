package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"driftd/registry"
	"driftd/train"
)

const (
	// trainQueueMax is the number of jobs that may wait behind the running one.
	trainQueueMax = 8
	// trainRecentMax is the number of ended jobs kept in memory for the UI.
	trainRecentMax = 20
	// trainFlushRounds and trainFlushEvery bound how often per-round metrics
	// and log lines are written to the registry while a job runs.
	trainFlushRounds = 10
	trainFlushEvery  = time.Second
	// trainLogRoundsMax bounds the progress lines a run's log receives.
	trainLogRoundsMax = 1000
)

// Training job states shown by GET /api/v1/train/jobs and the UI.
const (
	JobQueued   = "queued"
	JobRunning  = "running"
	JobFinished = "finished"
	JobFailed   = "failed"
	JobKilled   = "killed"
)

// errQueueFull is returned by submit when trainQueueMax jobs already wait.
var errQueueFull = errors.New("the training queue is full")

// trainJobSpec is a validated training request, ready to run.
type trainJobSpec struct {
	Spec       TrainSpec
	Model      string
	Experiment string
	Register   bool
	Deploy     string
	User       string
	Params     map[string]string // logged as run params
}

// TrainJobStatus is the live state of one training job.
type TrainJobStatus struct {
	RunID          string    `json:"run_id"`
	Model          string    `json:"model"`
	Experiment     string    `json:"experiment"`
	State          string    `json:"state"`
	Round          int       `json:"round"`
	Rounds         int       `json:"rounds"`
	TrainLoss      *float64  `json:"train_loss,omitempty"`
	ValidLoss      *float64  `json:"valid_loss,omitempty"`
	MetricName     string    `json:"metric_name,omitempty"`
	ValidMetric    *float64  `json:"valid_metric,omitempty"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	Queued         time.Time `json:"queued"`
	Started        time.Time `json:"started,omitzero"`
	Ended          time.Time `json:"ended,omitzero"`
	Version        string    `json:"version,omitempty"`
	DeployedTo     string    `json:"deployed_to,omitempty"`
	Error          string    `json:"error,omitempty"`
	User           string    `json:"user"`
}

// trainJob is one queued, running or ended job; st is guarded by trainRunner.mu.
type trainJob struct {
	spec trainJobSpec
	st   TrainJobStatus
}

// trainRunner runs training jobs one at a time from a bounded queue, records
// each as an experiment run and keeps their live progress in memory.
type trainRunner struct {
	store  *registry.Store
	logger *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	pending  []*trainJob
	reserved int // submissions that passed the queue check and are creating their run
	running  *trainJob
	recent   []*trainJob // ended jobs, newest first
	hold     chan struct{}
	wake     chan struct{}
}

// newTrainRunner builds a runner; call run to start its worker.
func newTrainRunner(store *registry.Store, logger *slog.Logger, now func() time.Time) *trainRunner {
	return &trainRunner{store: store, logger: logger, now: now, wake: make(chan struct{}, 1)}
}

// setHold makes the worker wait for a value on ch (or its closing) before it
// starts each job; tests use it to fill the queue deterministically.
func (r *trainRunner) setHold(ch chan struct{}) {
	r.mu.Lock()
	r.hold = ch
	r.mu.Unlock()
}

// submit creates the job's run and queues the job. It returns errQueueFull
// without creating anything when the queue is full.
func (r *trainRunner) submit(ctx context.Context, js trainJobSpec) (TrainJobStatus, error) {
	r.mu.Lock()
	if len(r.pending)+r.reserved >= trainQueueMax {
		r.mu.Unlock()
		return TrainJobStatus{}, errQueueFull
	}
	r.reserved++
	r.mu.Unlock()
	release := func() {
		r.mu.Lock()
		r.reserved--
		r.mu.Unlock()
	}
	ctx = registry.WithUser(ctx, js.User)
	exp, err := r.store.EnsureExperiment(ctx, js.Experiment)
	if err != nil {
		release()
		return TrainJobStatus{}, err
	}
	run, err := r.store.CreateRun(ctx, exp.ID, registry.RunOptions{Name: "train " + js.Model,
		Tags: map[string]string{"driftd.source": "server", "driftd.model": js.Model}})
	if err != nil {
		release()
		return TrainJobStatus{}, err
	}
	if err := r.store.LogParams(ctx, run.ID, js.Params); err != nil {
		release()
		r.finish(context.WithoutCancel(ctx), run.ID, registry.RunFailed, "log params: "+err.Error())
		return TrainJobStatus{}, err
	}
	_ = r.store.AppendLog(ctx, run.ID, fmt.Sprintf("queued by %s: %s rounds=%d data=%s", js.User, js.Spec.Params.Algo, js.Spec.Params.Rounds, js.Spec.Data))
	j := &trainJob{spec: js, st: TrainJobStatus{RunID: run.ID, Model: js.Model, Experiment: js.Experiment,
		State: JobQueued, Rounds: js.Spec.Params.Rounds, Queued: r.now(), User: js.User}}
	r.mu.Lock()
	r.reserved--
	r.pending = append(r.pending, j)
	st := j.st
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return st, nil
}

// jobs returns the running job, the queued ones in order, then the recent
// ended ones, newest first.
func (r *trainRunner) jobs() []TrainJobStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]TrainJobStatus, 0, 1+len(r.pending)+len(r.recent))
	if r.running != nil {
		st := r.running.st
		if !st.Started.IsZero() {
			st.ElapsedSeconds = r.now().Sub(st.Started).Seconds()
		}
		out = append(out, st)
	}
	for _, j := range r.pending {
		out = append(out, j.st)
	}
	for _, j := range r.recent {
		out = append(out, j.st)
	}
	return out
}

// run is the worker loop: it runs queued jobs one at a time until ctx ends,
// then marks the jobs still waiting as killed.
func (r *trainRunner) run(ctx context.Context) {
	for {
		j := r.next(ctx)
		if j == nil {
			break
		}
		r.runJob(ctx, j)
	}
	r.mu.Lock()
	left := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, j := range left {
		r.end(j, JobKilled, "the server shut down before the job started")
		r.finish(context.WithoutCancel(ctx), j.st.RunID, registry.RunKilled, "killed: the server shut down before the job started")
	}
}

// next waits for a queued job (and the test hold, when set); nil once ctx ends.
func (r *trainRunner) next(ctx context.Context) *trainJob {
	for {
		r.mu.Lock()
		hold := r.hold
		n := len(r.pending)
		r.mu.Unlock()
		if n > 0 && hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return nil
			}
		}
		r.mu.Lock()
		if ctx.Err() == nil && len(r.pending) > 0 {
			j := r.pending[0]
			r.pending = r.pending[1:]
			r.running = j
			j.st.State, j.st.Started = JobRunning, r.now()
			r.mu.Unlock()
			return j
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// runJob trains one job and records everything in its run.
func (r *trainRunner) runJob(ctx context.Context, j *trainJob) {
	id, user := j.st.RunID, j.spec.User
	uctx := registry.WithUser(ctx, user)
	wctx := context.WithoutCancel(uctx) // final writes happen even during shutdown
	rec := newRoundRecorder(r, j, wctx)
	_ = r.store.AppendLog(wctx, id, fmt.Sprintf("started: reading %s", j.spec.Spec.Data))
	out, err := TrainModel(ctx, j.spec.Spec, rec.round)
	rec.flush()
	if err == nil {
		err = r.record(uctx, j, out)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		r.end(j, JobKilled, "the server shut down during training")
		r.finish(wctx, id, registry.RunKilled, "killed: the server shut down during training")
	case err != nil:
		r.logger.Warn("training job failed", "run_id", id, "model", j.spec.Model, "err", err)
		r.end(j, JobFailed, err.Error())
		r.finish(wctx, id, registry.RunFailed, "error: "+err.Error())
	default:
		r.end(j, JobFinished, "")
		r.finish(wctx, id, registry.RunFinished, fmt.Sprintf("finished: %d rounds in %.2fs", out.Rounds, out.FitSeconds))
	}
}

// record stores the outcome of a successful job: final metrics, the model
// artifact, then the registered version and its deployment when asked.
func (r *trainRunner) record(ctx context.Context, j *trainJob, out *TrainOutcome) error {
	id, now := j.st.RunID, r.now()
	step := int64(out.Rounds)
	pts := []registry.MetricPoint{{Key: "fit_seconds", Value: out.FitSeconds, Step: step, Time: now},
		{Key: "load_seconds", Value: out.LoadSeconds, Step: step, Time: now}}
	for _, k := range slices.Sorted(maps.Keys(out.Metrics)) {
		if v := out.Metrics[k]; isFinite(v) {
			pts = append(pts, registry.MetricPoint{Key: out.MetricsOn + "_" + k, Value: v, Step: step, Time: now})
		}
	}
	if err := r.store.LogMetrics(ctx, id, pts); err != nil {
		return fmt.Errorf("log final metrics: %w", err)
	}
	if j.spec.Params["objective"] == "" {
		if err := r.store.LogParam(ctx, id, "objective", out.Model.Objective()); err != nil {
			return fmt.Errorf("log objective: %w", err)
		}
	}
	if err := r.store.PutRunArtifact(ctx, id, "model", out.Artifact); err != nil {
		return fmt.Errorf("store model artifact: %w", err)
	}
	if b, ok := out.Model.Attachment("drift.profile"); ok {
		if err := r.store.PutRunArtifact(ctx, id, "drift.profile", b); err != nil {
			return fmt.Errorf("store drift profile: %w", err)
		}
	}
	if b, err := json.Marshal(out.FeatureImportance); err == nil {
		if err := r.store.PutRunArtifact(ctx, id, "feature_importance.json", b); err != nil {
			return fmt.Errorf("store feature importance: %w", err)
		}
	}
	if !j.spec.Register {
		return nil
	}
	opts, err := registerOptions(out.Artifact)
	if err != nil {
		return err
	}
	opts.RunID, opts.Description = id, "trained by run "+id
	v, err := r.store.Register(ctx, out.Artifact, j.spec.Model, opts) // links the run too
	if err != nil {
		return fmt.Errorf("register %s: %w", j.spec.Model, err)
	}
	r.mu.Lock()
	j.st.Version = v.Version
	r.mu.Unlock()
	_ = r.store.AppendLog(ctx, id, fmt.Sprintf("registered %s version %s", j.spec.Model, v.Version))
	if j.spec.Deploy == "" {
		return nil
	}
	if err := r.store.Deploy(ctx, j.spec.Model, v.Version, j.spec.Deploy, "trained by run "+id); err != nil {
		return fmt.Errorf("deploy %s %s to %s: %w", j.spec.Model, v.Version, j.spec.Deploy, err)
	}
	r.mu.Lock()
	j.st.DeployedTo = j.spec.Deploy
	r.mu.Unlock()
	_ = r.store.AppendLog(ctx, id, fmt.Sprintf("deployed %s version %s to %s", j.spec.Model, v.Version, j.spec.Deploy))
	return nil
}

// end moves a job to the recent list with its final state.
func (r *trainRunner) end(j *trainJob, state, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j.st.State, j.st.Error, j.st.Ended = state, msg, r.now()
	if !j.st.Started.IsZero() {
		j.st.ElapsedSeconds = j.st.Ended.Sub(j.st.Started).Seconds()
	}
	if r.running == j {
		r.running = nil
	}
	r.recent = append([]*trainJob{j}, r.recent...)
	if len(r.recent) > trainRecentMax {
		r.recent = r.recent[:trainRecentMax]
	}
}

// finish writes the last log line and ends the run; failures are logged.
func (r *trainRunner) finish(ctx context.Context, id, status, line string) {
	if err := r.store.AppendLog(ctx, id, line); err != nil {
		r.logger.Warn("training run log", "run_id", id, "err", err)
	}
	if _, err := r.store.FinishRun(ctx, id, status); err != nil {
		r.logger.Warn("finish training run", "run_id", id, "status", status, "err", err)
	}
}

// roundRecorder turns per-round progress into live state and batched
// registry writes (every trainFlushRounds rounds or trainFlushEvery).
type roundRecorder struct {
	r     *trainRunner
	j     *trainJob
	ctx   context.Context
	pts   []registry.MetricPoint
	lines []string
	last  time.Time
}

func newRoundRecorder(r *trainRunner, j *trainJob, ctx context.Context) *roundRecorder {
	return &roundRecorder{r: r, j: j, ctx: ctx, last: r.now()}
}

// round records one boosting round.
func (rc *roundRecorder) round(rd train.Round) {
	now := rc.r.now()
	rc.r.mu.Lock()
	st := &rc.j.st
	st.Round, st.MetricName = rd.Round, rd.MetricName
	st.TrainLoss, st.ValidLoss, st.ValidMetric = finite(rd.TrainLoss), finite(rd.ValidLoss), finite(rd.ValidMetric)
	st.ElapsedSeconds = rd.Elapsed.Seconds()
	rc.r.mu.Unlock()

	step := int64(rd.Round)
	add := func(key string, v float64) {
		if isFinite(v) {
			rc.pts = append(rc.pts, registry.MetricPoint{Key: key, Value: v, Step: step, Time: now})
		}
	}
	add("train_loss", rd.TrainLoss)
	add("valid_loss", rd.ValidLoss)
	if rd.MetricName != "" {
		add("valid_"+rd.MetricName, rd.ValidMetric)
	}
	// One log line per round, thinned to about trainLogRoundsMax lines for long runs.
	if every := (rc.j.spec.Spec.Params.Rounds + trainLogRoundsMax - 1) / trainLogRoundsMax; every <= 1 || rd.Round%every == 0 || rd.Round == 1 {
		rc.lines = append(rc.lines, RoundLine(rd))
	}
	if len(rc.lines) >= trainFlushRounds || now.Sub(rc.last) >= trainFlushEvery {
		rc.flush()
	}
}

// flush writes the buffered points and lines in one batch each.
func (rc *roundRecorder) flush() {
	rc.last = rc.r.now()
	id := rc.j.st.RunID
	if len(rc.pts) > 0 {
		if err := rc.r.store.LogMetrics(rc.ctx, id, rc.pts); err != nil {
			rc.r.logger.Warn("log training metrics", "run_id", id, "err", err)
		}
		rc.pts = rc.pts[:0]
	}
	if len(rc.lines) > 0 {
		if err := rc.r.store.AppendLog(rc.ctx, id, rc.lines...); err != nil {
			rc.r.logger.Warn("log training progress", "run_id", id, "err", err)
		}
		rc.lines = rc.lines[:0]
	}
}

// RoundLine formats one round as `driftd train` prints it on stderr.
func RoundLine(r train.Round) string {
	line := fmt.Sprintf("round %4d  train_loss %.6f", r.Round, r.TrainLoss)
	if !math.IsNaN(r.ValidLoss) {
		line += fmt.Sprintf("  valid_loss %.6f", r.ValidLoss)
	}
	if r.MetricName != "" && !math.IsNaN(r.ValidMetric) {
		line += fmt.Sprintf("  valid_%s %.6f", r.MetricName, r.ValidMetric)
	}
	return fmt.Sprintf("%s  elapsed %.2fs", line, r.Elapsed.Seconds())
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
