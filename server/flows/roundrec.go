package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
	"driftd/train"
)

const (
	// flushRounds and flushEvery bound how often per-round metrics and log
	// lines are written to the registry while a model trains.
	flushRounds = 10
	flushEvery  = time.Second
	// logRoundsMax bounds the progress lines an experiment run's log receives.
	logRoundsMax = 1000
	// flowLogSteps is about how many round lines the flow run's log receives.
	flowLogSteps = 10
)

// roundRecorder turns per-round progress into the run's live progress, a
// few flow log lines, and batched experiment run writes (every flushRounds
// rounds or flushEvery).
type roundRecorder struct {
	d      Deps
	rc     *scheduler.RunContext
	ctx    context.Context
	runID  string
	rounds int
	pts    []registry.MetricPoint
	lines  []string
	last   time.Time
}

func newRoundRecorder(d Deps, rc *scheduler.RunContext, ctx context.Context, runID string, rounds int) *roundRecorder {
	return &roundRecorder{d: d, rc: rc, ctx: ctx, runID: runID, rounds: rounds, last: d.Now()}
}

// round records one training round.
func (r *roundRecorder) round(rd train.Round) {
	now := r.d.Now()
	r.rc.SetProgress(TrainProgress{RunID: r.runID, Round: rd.Round, Rounds: r.rounds, TrainLoss: finite(rd.TrainLoss),
		ValidLoss: finite(rd.ValidLoss), MetricName: rd.MetricName, ValidMetric: finite(rd.ValidMetric),
		ElapsedSeconds: rd.Elapsed.Seconds()})
	step := int64(rd.Round)
	add := func(key string, v float64) {
		if isFinite(v) {
			r.pts = append(r.pts, registry.MetricPoint{Key: key, Value: v, Step: step, Time: now})
		}
	}
	add("train_loss", rd.TrainLoss)
	add("valid_loss", rd.ValidLoss)
	if rd.MetricName != "" {
		add("valid_"+rd.MetricName, rd.ValidMetric)
	}
	// One log line per round, thinned to about logRoundsMax lines for long runs.
	if every := (r.rounds + logRoundsMax - 1) / logRoundsMax; every <= 1 || rd.Round%every == 0 || rd.Round == 1 {
		r.lines = append(r.lines, RoundLine(rd))
	}
	if every := max(1, r.rounds/flowLogSteps); rd.Round == 1 || rd.Round%every == 0 {
		r.rc.Logf("%s", RoundLine(rd))
	}
	if len(r.lines) >= flushRounds || now.Sub(r.last) >= flushEvery {
		r.flush()
	}
}

// flush writes the buffered points and lines in one batch each.
func (r *roundRecorder) flush() {
	r.last = r.d.Now()
	if len(r.pts) > 0 {
		if err := r.d.Store.LogMetrics(r.ctx, r.runID, r.pts); err != nil {
			r.d.Logger.Warn("log training metrics", "run_id", r.runID, "err", err)
		}
		r.pts = r.pts[:0]
	}
	if len(r.lines) > 0 {
		if err := r.d.Store.AppendLog(r.ctx, r.runID, r.lines...); err != nil {
			r.d.Logger.Warn("log training progress", "run_id", r.runID, "err", err)
		}
		r.lines = r.lines[:0]
	}
}

// finite returns &v, or nil when v is NaN or infinite (not JSON numbers).
func finite(v float64) *float64 {
	if !isFinite(v) {
		return nil
	}
	return &v
}

// finiteMetrics returns the finite values of m (JSON has no NaN).
func finiteMetrics(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if isFinite(v) {
			out[k] = v
		}
	}
	return out
}

// RegisterOptions returns the registry metadata of a model: algorithm,
// params, metrics, schema, and its attached drift profile and dataset
// fingerprint. It returns an error when an attachment does not decode.
func RegisterOptions(m *train.Model) (registry.RegisterOptions, error) {
	opts := registry.RegisterOptions{Algo: m.Algo(), Params: m.Params(), Metrics: m.Metrics()}
	for _, f := range m.Features() {
		ft := registry.Feature{Name: f.Name, Type: registry.FeatureNumeric}
		if f.Kind == train.Categorical {
			ft.Type, ft.Levels = registry.FeatureCategorical, f.Levels
		}
		opts.Schema = append(opts.Schema, ft)
	}
	if p, ok := m.Attachment("drift.profile"); ok {
		if _, err := drift.DecodeProfile(p); err != nil {
			return registry.RegisterOptions{}, fmt.Errorf("attached drift profile: %w", err)
		}
		opts.Profile = p
	}
	if b, ok := m.Attachment("dataset.json"); ok {
		if err := json.Unmarshal(b, &opts.Fingerprint); err != nil {
			return registry.RegisterOptions{}, fmt.Errorf("attached dataset fingerprint: %w", err)
		}
	}
	return opts, nil
}
