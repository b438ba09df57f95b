// Package flows holds the flows driftd's scheduler runs: train, retrain,
// drift-check and pipeline. They compose train/, drift/, registry/ and
// stream/; the scheduler knows nothing of models, and the server only wires
// these flows into its engine and calls them from its handlers.
package flows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
	"driftd/stream"
)

// Flow names, for the server and tests.
const (
	FlowTrain      = "train"
	FlowRetrain    = "retrain"
	FlowDriftCheck = "drift-check"
	FlowPipeline   = "pipeline"
)

// Work queues the flows go to.
const (
	QueueTraining   = "training"
	QueueMonitoring = "monitoring"
	QueueDefault    = "default"
)

// Promotion modes of the retrain flow.
const (
	PromotionAuto   = "auto"   // a challenger that passes the gate is deployed
	PromotionManual = "manual" // it gets the alias "challenger" and waits for Approve
)

// ChallengerAlias is the alias a challenger waiting for approval holds.
const ChallengerAlias = "challenger"

// Live is what flows see of the running scorer (implemented by the server's pipeline).
type Live interface {
	// Drift returns the live drift state of the deployed scoring model; ok=false when none.
	Drift() (ev drift.Event, perf drift.Performance, ok bool)
	// ScorerStatus returns the scorer's counters.
	ScorerStatus() stream.Status
}

// RetrainDefaults are the defaults of the retrain flow's parameters, from
// the server's DRIFTD_RETRAIN_* and DRIFTD_PROMOTION* settings.
type RetrainDefaults struct {
	Lookback  time.Duration // how far back labelled records are read (default 1h)
	MinLabels int           // fewer joined records skip the retrain (default 500)
	Margin    float64       // how much better the challenger must be (default 0.005)
	Promotion string        // PromotionAuto (default) or PromotionManual
}

// Deps are the dependencies of the flows.
type Deps struct {
	Store              *registry.Store
	Kafka              func() stream.Config // client config (broker up by the time a flow runs)
	Topics             stream.Topics
	Logger             *slog.Logger
	Now                func() time.Time
	ScoringEnvironment string   // environment the stream scores (default production)
	ScoredModel        string   // model name the scorer scores (DRIFTD_MODEL)
	DriftBins          int      // bins of reference profiles (0 = drift's default)
	DataDir            string   // server-side CSV paths must resolve inside it...
	TrainDataDirs      []string // ...or one of these
	DatabaseURL        string   // DSN of training queries (DRIFTD_DATABASE_URL; "" = none)
	Live               Live     // may be nil (then drift-check live and pipeline fail with a clear error)
	Retrain            RetrainDefaults
}

// withDefaults fills the zero fields of d.
func (d Deps) withDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.ScoringEnvironment == "" {
		d.ScoringEnvironment = "production"
	}
	def := stream.DefaultTopics()
	if d.Topics.Features == "" {
		d.Topics.Features = def.Features
	}
	if d.Topics.Labels == "" {
		d.Topics.Labels = def.Labels
	}
	if d.Retrain.Lookback <= 0 {
		d.Retrain.Lookback = time.Hour
	}
	if d.Retrain.MinLabels <= 0 {
		d.Retrain.MinLabels = 500
	}
	if d.Retrain.Margin == 0 {
		d.Retrain.Margin = 0.005
	}
	if d.Retrain.Promotion == "" {
		d.Retrain.Promotion = PromotionAuto
	}
	return d
}

// Register registers the flows train, retrain, drift-check and pipeline on e.
func Register(e *scheduler.Engine, d Deps) error {
	if d.Store == nil {
		return errors.New("register flows: no registry store")
	}
	if d.Kafka == nil {
		return errors.New("register flows: no kafka config")
	}
	d = d.withDefaults()
	for _, f := range []scheduler.Flow{trainFlow(d), retrainFlow(d), driftCheckFlow(d), pipelineFlow(d)} {
		if err := e.Register(f); err != nil {
			return fmt.Errorf("register flow %s: %w", f.Name, err)
		}
	}
	return nil
}

// checkDataFile checks a server-side CSV path for params.<field>: it must
// exist, not be a directory, and lie inside the data directory or one of
// the training data directories once symbolic links are resolved.
func (d Deps) checkDataFile(field, p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return scheduler.Errorf("params."+field, "file %s not found on the server: %v", p, err)
	case fi.IsDir():
		return scheduler.Errorf("params."+field, "%s is a directory, not a CSV file", p)
	case !d.readablePath(p):
		return scheduler.Errorf("params."+field, "%s is outside the directories flows may read: the data directory and DRIFTD_TRAIN_DATA_DIRS %v (or upload the file)", p, d.TrainDataDirs)
	}
	return nil
}

// readablePath reports whether a server-side path lies inside the data
// directory or one of the training data directories, after resolving
// symbolic links, so a flow cannot be pointed at arbitrary files.
func (d Deps) readablePath(p string) bool {
	return InsideDirs(p, append([]string{d.DataDir}, d.TrainDataDirs...))
}

// InsideDirs reports whether p lies inside one of roots once symbolic links
// are resolved: the rule for the files flows (and the forms that offer them)
// may read.
func InsideDirs(p string, roots []string) bool {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	if real, err = filepath.Abs(real); err != nil {
		return false
	}
	for _, root := range roots {
		if root == "" {
			continue
		}
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if r, err = filepath.Abs(r); err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// checkModel checks a model name for params.<field>.
func checkModel(field, name string) error {
	if err := registry.ValidateName("model", name); err != nil {
		var fe *registry.FieldError
		if errors.As(err, &fe) {
			return scheduler.Errorf("params."+field, "%s", fe.Msg)
		}
		return scheduler.Errorf("params."+field, "%v", err)
	}
	return nil
}

// checkEnvironment checks that env is one of the registry's environments.
func (d Deps) checkEnvironment(field, env string) error {
	if envs := d.Store.Environments(); !slices.Contains(envs, env) {
		return scheduler.Errorf("params."+field, "unknown environment %q (one of %s)", env, strings.Join(envs, ", "))
	}
	return nil
}

// actor is the user recorded in the registry for what a run does: the user
// who started it by hand, else the kind of trigger.
func actor(t scheduler.Trigger) string {
	switch {
	case t.Kind == scheduler.TriggerManual && t.By != "":
		return t.By
	case t.Kind == scheduler.TriggerSchedule && t.By != "":
		return "schedule " + t.By
	case t.Kind != "":
		return t.Kind
	}
	return "system"
}

// userContext returns ctx carrying the run's actor for the registry's audit log.
func userContext(ctx context.Context, t scheduler.Trigger) context.Context {
	return registry.WithUser(ctx, actor(t))
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
