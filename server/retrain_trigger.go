package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
	"driftd/server/flows"
)

// Retrain outcomes: the values of driftd_retrains_total{outcome} and of
// RetrainDecision.Outcome.
const (
	RetrainTriggered       = "triggered"
	RetrainPromoted        = "promoted"
	RetrainRejected        = "rejected"
	RetrainPendingApproval = "pending_approval"
	RetrainFailed          = "failed"
	RetrainSkippedCooldown = "skipped_cooldown"
	RetrainSkippedLabels   = "skipped_labels"
	RetrainSkippedRunning  = "skipped_running"
)

// retrainOutcomes lists every outcome, so each series is exported from the start.
var retrainOutcomes = []string{RetrainTriggered, RetrainPromoted, RetrainRejected, RetrainPendingApproval,
	RetrainFailed, RetrainSkippedCooldown, RetrainSkippedLabels, RetrainSkippedRunning}

const (
	// retrainDecisionsKey is the registry setting holding recent decisions.
	retrainDecisionsKey = "retrain_decisions"
	// retrainDecisionsMax bounds the decisions kept.
	retrainDecisionsMax = 100
	// retrainSkipEvery bounds how often the same skip is recorded while a
	// drift episode lasts (a check runs every DRIFT_CHECK_INTERVAL records).
	retrainSkipEvery = time.Minute
	// retrainRecheck is how long after a retrain that found too few labels
	// in Kafka the trigger tries again (instead of the whole cooldown).
	retrainRecheck = 15 * time.Second
)

// RetrainDecision is one recorded decision of the retrain loop: a trigger,
// a skip with its reason, or the outcome of a retrain run.
type RetrainDecision struct {
	At         time.Time `json:"at"`
	Model      string    `json:"model"`
	Outcome    string    `json:"outcome"`
	Reason     string    `json:"reason"`
	MaxPSI     float64   `json:"max_psi,omitempty"`
	Features   string    `json:"features,omitempty"` // "f0=0.41,f3=0.22": the features above the threshold
	RunID      string    `json:"run_id,omitempty"`   // the retrain flow run
	Version    string    `json:"version,omitempty"`  // the challenger
	Champion   *float64  `json:"champion,omitempty"`
	Challenger *float64  `json:"challenger,omitempty"`
	Metric     string    `json:"metric,omitempty"`
}

// retrainTrigger turns drift checks of the scored model into retrain flow
// runs: one at a time, not again within the cooldown, and not before enough
// labels have been joined since the drift began. Every trigger and skip is
// recorded with its reason, and so is the outcome of every retrain run.
type retrainTrigger struct {
	cfg     Config
	engine  *scheduler.Engine
	store   *registry.Store
	logger  *slog.Logger
	now     func() time.Time
	set     *metrics.Set
	labels  atomic.Int64 // labels joined since the drift began
	mu      sync.Mutex
	onset   time.Time // when the current drift episode began; zero when none
	wait    time.Time // no retrain on drift before this time
	waitWhy string    // why: the cooldown, or a recheck after a retrain that found too few labels
	skip    string    // last skip outcome recorded in this episode
	skipAt  time.Time
	recent  []RetrainDecision // newest first
	cancel  func()
}

func newRetrainTrigger(cfg Config, engine *scheduler.Engine, store *registry.Store, set *metrics.Set, logger *slog.Logger, now func() time.Time) *retrainTrigger {
	for _, o := range retrainOutcomes {
		set.GetOrCreateCounter(fmt.Sprintf(`driftd_retrains_total{outcome=%q}`, o))
	}
	return &retrainTrigger{cfg: cfg, engine: engine, store: store, set: set, logger: logger, now: now}
}

// start loads the recorded decisions and follows retrain runs to record
// their outcomes.
func (t *retrainTrigger) start(ctx context.Context) error {
	raw, err := t.store.GetSetting(ctx, retrainDecisionsKey)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("read retrain decisions: %w", err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &t.recent); err != nil {
			t.logger.Warn("recorded retrain decisions are unreadable; starting afresh", "err", err)
			t.recent = nil
		}
	}
	t.cancel = t.engine.Subscribe(t.onRun)
	return nil
}

// close stops following runs.
func (t *retrainTrigger) close() {
	if t.cancel != nil {
		t.cancel()
	}
}

// label counts one label joined to its prediction.
func (t *retrainTrigger) label() { t.labels.Add(1) }

// observe takes one drift check of the scored model.
func (t *retrainTrigger) observe(ev drift.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	why, retrain := t.cause(ev)
	if !retrain {
		if !t.onset.IsZero() {
			t.logger.Info("drift below the retrain threshold again", "model", ev.Model, "max_psi", ev.MaxPSI, "retrain_on", t.cfg.RetrainOn)
		}
		t.onset, t.skip = time.Time{}, ""
		return
	}
	now := t.now()
	if t.onset.IsZero() {
		t.onset = now
		t.labels.Store(0)
	}
	if t.cfg.Retrain != "auto" {
		return
	}
	features := driftedFeatures(ev, t.cfg.RetrainThreshold)
	dec := RetrainDecision{At: now, Model: ev.Model, MaxPSI: ev.MaxPSI, Features: features}
	if active := t.engine.Active(flows.FlowRetrain); len(active) > 0 {
		dec.Outcome, dec.RunID = RetrainSkippedRunning, active[0].ID
		dec.Reason = fmt.Sprintf("retrain run %s is still %s", active[0].ID, active[0].State)
		t.skipped(dec)
		return
	}
	if now.Before(t.wait) {
		dec.Outcome = RetrainSkippedCooldown
		dec.Reason = fmt.Sprintf("%s: no retrain for another %s", t.waitWhy, t.wait.Sub(now).Round(time.Second))
		t.skipped(dec)
		return
	}
	if n := t.labels.Load(); n < int64(t.cfg.RetrainMinLabels) {
		dec.Outcome = RetrainSkippedLabels
		dec.Reason = fmt.Sprintf("%d labelled records since the drift began %s ago; DRIFTD_RETRAIN_MIN_LABELS is %d", n, now.Sub(t.onset).Round(time.Second), t.cfg.RetrainMinLabels)
		t.skipped(dec)
		return
	}
	// The challenger learns from the records scored since the drift began
	// (the new regime), at most DRIFTD_RETRAIN_LOOKBACK back.
	lookback := min(t.cfg.RetrainLookback, (now.Sub(t.onset) + 1999*time.Millisecond).Truncate(time.Second))
	reason := why
	run, err := t.engine.Submit(context.Background(), flows.FlowRetrain, map[string]any{
		"model":            t.cfg.ModelName,
		"environment":      t.cfg.ScoringEnvironment,
		"lookback":         lookback.String(),
		"trigger_max_psi":  ev.MaxPSI,
		"trigger_features": features,
	}, scheduler.SubmitOptions{Trigger: scheduler.Trigger{Kind: scheduler.TriggerDrift, By: "drift monitor", Reason: reason}})
	if err != nil {
		dec.Outcome, dec.Reason = RetrainFailed, "could not start the retrain flow: "+err.Error()
		t.logger.Error("retrain on drift", "model", ev.Model, "err", err)
		t.skipped(dec)
		return
	}
	t.wait, t.waitWhy, t.skip = now.Add(t.cfg.RetrainCooldown), fmt.Sprintf("retrain run %s started at %s; DRIFTD_RETRAIN_COOLDOWN is %s", run.ID, now.Format(time.TimeOnly), t.cfg.RetrainCooldown), ""
	dec.Outcome, dec.Reason, dec.RunID = RetrainTriggered, reason, run.ID
	t.logger.Info("drift triggered a retrain", "model", ev.Model, "run_id", run.ID, "max_psi", ev.MaxPSI, "features", features, "lookback", lookback)
	t.record(dec)
}

// cause says whether a check calls for a retrain under DRIFTD_RETRAIN_ON,
// and why in words: the PSI rule, an estimated performance drop, or both.
// The estimate is CBPE's (classifiers) or DLE's (regression). Under
// "estimated", a version without either (no estimate) falls back to the
// PSI rule, and the reason says so.
func (t *retrainTrigger) cause(ev drift.Event) (string, bool) {
	psi := fmt.Sprintf("max PSI %.3f > RETRAIN_THRESHOLD %g (%s)", ev.MaxPSI, t.cfg.RetrainThreshold, driftedFeatures(ev, t.cfg.RetrainThreshold))
	e, l := ev.Estimated, ev.EstimatedLoss
	drop := e != nil && e.Drop && e.Band != nil || l != nil && l.Drop && l.Band != nil
	var est string
	switch {
	case e != nil && e.Band != nil:
		est = fmt.Sprintf("estimated accuracy %.3f (expected %.3f–%.3f), AUC %.3f (expected %.3f–%.3f) without labels",
			e.Accuracy, e.Band.Accuracy.Lo, e.Band.Accuracy.Hi, e.AUC, e.Band.AUC.Lo, e.Band.AUC.Hi)
	case l != nil && l.Band != nil:
		est = fmt.Sprintf("estimated RMSE %.4g (expected %.4g–%.4g), MAE %.4g (expected %.4g–%.4g) without labels",
			l.RMSE, l.Band.RMSE.Lo, l.Band.RMSE.Hi, l.MAE, l.Band.MAE.Lo, l.Band.MAE.Hi)
	}
	switch t.cfg.RetrainOn {
	case "estimated":
		if est == "" {
			return psi + " (no estimate without labels for this version: the PSI rule applies)", ev.Retrain
		}
		return est, drop
	case "either":
		switch {
		case drop && ev.Retrain:
			return est + "; " + psi, true
		case drop:
			return est, true
		}
	}
	return psi, ev.Retrain
}

// skipped records a skip unless the same one was recorded within
// retrainSkipEvery in this drift episode; t.mu is held.
func (t *retrainTrigger) skipped(dec RetrainDecision) {
	if dec.Outcome == t.skip && dec.At.Sub(t.skipAt) < retrainSkipEvery {
		return
	}
	t.skip, t.skipAt = dec.Outcome, dec.At
	t.logger.Info("retrain on drift skipped", "model", dec.Model, "outcome", dec.Outcome, "reason", dec.Reason)
	t.record(dec)
}

// onRun records the outcome of every retrain run that ends.
func (t *retrainTrigger) onRun(r scheduler.Run) {
	if r.Flow != flows.FlowRetrain || !scheduler.Terminal(r.State) {
		return
	}
	dec := RetrainDecision{At: t.now(), Model: fmt.Sprint(r.Params["model"]), RunID: r.ID}
	var res flows.RetrainResult
	if r.State == scheduler.StateCompleted && json.Unmarshal(r.Result, &res) == nil {
		dec.Reason, dec.Version, dec.Metric = res.Reason, res.Challenger.Version, res.Metric
		if res.Challenger.Version != "" {
			ch, cv := res.Champion.Value, res.Challenger.Value
			dec.Champion, dec.Challenger = &ch, &cv
		}
		switch res.Decision {
		case flows.DecisionPromoted:
			dec.Outcome = RetrainPromoted
		case flows.DecisionRejected:
			dec.Outcome = RetrainRejected
		case flows.DecisionPendingApproval:
			dec.Outcome = RetrainPendingApproval
		default:
			dec.Outcome = RetrainSkippedLabels
		}
	} else {
		dec.Outcome = RetrainFailed
		dec.Reason = fmt.Sprintf("retrain run %s: %s", r.State, r.Error)
	}
	t.mu.Lock()
	if dec.Outcome == RetrainSkippedLabels && r.Trigger.Kind == scheduler.TriggerDrift {
		// Too few labels in Kafka after all: try again soon, not after the whole cooldown.
		t.wait = t.now().Add(retrainRecheck)
		t.waitWhy = fmt.Sprintf("retrain run %s found too few labelled records; the next try waits %s", r.ID, retrainRecheck)
	}
	t.record(dec)
	t.mu.Unlock()
}

// record keeps a decision, counts it and stores the recent ones; t.mu is held.
func (t *retrainTrigger) record(dec RetrainDecision) {
	t.set.GetOrCreateCounter(fmt.Sprintf(`driftd_retrains_total{outcome=%q}`, dec.Outcome)).Inc()
	t.recent = slices.Insert(t.recent, 0, dec)
	if len(t.recent) > retrainDecisionsMax {
		t.recent = t.recent[:retrainDecisionsMax]
	}
	b, err := json.Marshal(t.recent)
	if err == nil {
		err = t.store.PutSetting(context.Background(), retrainDecisionsKey, b)
	}
	if err != nil {
		t.logger.Warn("store retrain decisions", "err", err)
	}
}

// decisions returns the recent decisions, newest first, at most limit.
func (t *retrainTrigger) decisions(limit int) []RetrainDecision {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit <= 0 || limit > len(t.recent) {
		limit = len(t.recent)
	}
	return slices.Clone(t.recent[:limit])
}

// driftedFeatures lists the features above threshold as "f0=0.412,f3=0.221",
// largest first (at most five).
func driftedFeatures(ev drift.Event, threshold float64) string {
	fs := slices.Clone(ev.Features)
	slices.SortFunc(fs, func(a, b drift.FeatureResult) int {
		switch {
		case a.PSI > b.PSI:
			return -1
		case a.PSI < b.PSI:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	var parts []string
	for _, f := range fs {
		if f.PSI > threshold && len(parts) < 5 {
			parts = append(parts, fmt.Sprintf("%s=%.3f", f.Name, f.PSI))
		}
	}
	return strings.Join(parts, ",")
}
