package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
	"driftd/server/flows"
)

// fakeClock is a settable clock for the trigger's cooldown logic.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// triggerRig is a retrain trigger over a real engine and registry whose
// "retrain" flow blocks until the test releases it with a result.
type triggerRig struct {
	t       *testing.T
	trig    *retrainTrigger
	engine  *scheduler.Engine
	store   *registry.Store
	set     *metrics.Set
	clock   *fakeClock
	release chan flows.RetrainResult
	started atomic.Int32
	params  chan scheduler.Params
}

func newTriggerRig(t *testing.T, cfg Config) *triggerRig {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	store, err := registry.Open(filepath.Join(t.TempDir(), registry.FileName), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e, err := scheduler.New(scheduler.Options{Store: store, TickEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := &triggerRig{t: t, engine: e, store: store, set: metrics.NewSet(), clock: clock,
		release: make(chan flows.RetrainResult), params: make(chan scheduler.Params, 16)}
	err = e.Register(scheduler.Flow{Name: flows.FlowRetrain, Queue: flows.QueueTraining,
		Params: []scheduler.Param{{Name: "model", Type: scheduler.TypeString}, {Name: "environment", Type: scheduler.TypeString},
			{Name: "lookback", Type: scheduler.TypeDuration}, {Name: "trigger_max_psi", Type: scheduler.TypeFloat},
			{Name: "trigger_features", Type: scheduler.TypeString}},
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			r.started.Add(1)
			r.params <- rc.Params
			select {
			case res := <-r.release:
				return res, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	r.trig = newRetrainTrigger(cfg, e, store, r.set, discardLogger(), clock.now)
	if err := r.trig.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.trig.close)
	return r
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// event is a drift check with f0 above or below the threshold.
func driftEvent(psi float64) drift.Event {
	return drift.Event{Model: "m", Version: "1.0.0", MaxPSI: psi, Retrain: psi > 0.15,
		Features: []drift.FeatureResult{{Name: "f1", PSI: 0.01}, {Name: "f0", PSI: psi}}}
}

// count returns driftd_retrains_total{outcome}.
func (r *triggerRig) count(outcome string) int {
	var b bytes.Buffer
	r.set.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, `driftd_retrains_total{outcome="`+outcome+`"} `) {
			var n int
			_, _ = fmt.Sscan(strings.TrimPrefix(line, `driftd_retrains_total{outcome="`+outcome+`"} `), &n)
			return n
		}
	}
	r.t.Fatalf("driftd_retrains_total{outcome=%q} is not exported:\n%s", outcome, b.String())
	return 0
}

// waitDecision polls until the newest decision has the outcome.
func (r *triggerRig) waitDecision(outcome string) RetrainDecision {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ds := r.trig.decisions(1); len(ds) == 1 && ds[0].Outcome == outcome {
			return ds[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.t.Fatalf("no %s decision; decisions: %+v", outcome, r.trig.decisions(10))
	return RetrainDecision{}
}

func triggerConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.ModelName, cfg.RetrainMinLabels, cfg.RetrainCooldown, cfg.RetrainLookback = "m", 20, 10*time.Minute, time.Hour
	return cfg
}

func TestRetrainTriggerSkipsThenTriggersOnce(t *testing.T) {
	r := newTriggerRig(t, triggerConfig(t))

	// Below the threshold: nothing.
	r.trig.observe(driftEvent(0.05))
	if ds := r.trig.decisions(0); len(ds) != 0 {
		t.Fatalf("a check below the threshold recorded %+v", ds)
	}
	// Drift without enough labels: skipped, recorded once however many checks.
	for range 5 {
		r.trig.observe(driftEvent(0.4))
		r.clock.add(time.Second)
	}
	d := r.waitDecision(RetrainSkippedLabels)
	if !strings.Contains(d.Reason, "0 labelled records since the drift began") || !strings.Contains(d.Reason, "DRIFTD_RETRAIN_MIN_LABELS is 20") || d.Features != "f0=0.400" {
		t.Errorf("skip decision %+v", d)
	}
	if n := r.count(RetrainSkippedLabels); n != 1 {
		t.Errorf("skipped_labels counted %d times for one episode, want 1", n)
	}
	for range 25 {
		r.trig.label()
	}
	// Two checks at the same moment from two goroutines start one retrain.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); r.trig.observe(driftEvent(0.4)) }()
	}
	wg.Wait()
	p := <-r.params
	if got := p.Duration("lookback"); got != 6*time.Second {
		t.Errorf("lookback %s, want the 5s since the drift began plus 1s", got)
	}
	if p.Float("trigger_max_psi") != 0.4 || p.String("trigger_features") != "f0=0.400" {
		t.Errorf("trigger params %v", p)
	}
	runs, err := r.engine.List(context.Background(), scheduler.RunFilter{Flow: flows.FlowRetrain})
	if err != nil || len(runs) != 1 || runs[0].Trigger.Kind != scheduler.TriggerDrift || !strings.Contains(runs[0].Trigger.Reason, "max PSI 0.400 > RETRAIN_THRESHOLD 0.15") {
		t.Fatalf("retrain runs %+v (%v), want one triggered by drift", runs, err)
	}
	// While it runs: skipped_running.
	r.trig.observe(driftEvent(0.4))
	if d := r.waitDecision(RetrainSkippedRunning); d.RunID != runs[0].ID {
		t.Errorf("running skip names run %q, want %q", d.RunID, runs[0].ID)
	}
	// It ends promoted: recorded with both figures.
	r.release <- flows.RetrainResult{Decision: flows.DecisionPromoted, Reason: "challenger auc 0.90 > champion 0.70 + 0.005",
		Metric: "auc", Champion: flows.RetrainScore{Version: "1.0.0", Value: 0.7}, Challenger: flows.RetrainScore{Version: "1.1.0", Value: 0.9}}
	d = r.waitDecision(RetrainPromoted)
	if d.Version != "1.1.0" || d.Champion == nil || *d.Champion != 0.7 || d.Challenger == nil || *d.Challenger != 0.9 {
		t.Errorf("promotion decision %+v", d)
	}
	// Within the cooldown: skipped_cooldown; after it: another retrain.
	r.clock.add(time.Minute)
	r.trig.observe(driftEvent(0.4))
	r.waitDecision(RetrainSkippedCooldown)
	r.clock.add(10 * time.Minute)
	r.trig.observe(driftEvent(0.4))
	r.waitDecision(RetrainTriggered)
	<-r.params
	if n := r.started.Load(); n != 2 {
		t.Errorf("%d retrain runs started, want 2", n)
	}
	if r.count(RetrainTriggered) != 2 || r.count(RetrainPromoted) != 1 || r.count(RetrainSkippedCooldown) != 1 {
		t.Errorf("counters: triggered %d promoted %d cooldown %d", r.count(RetrainTriggered), r.count(RetrainPromoted), r.count(RetrainSkippedCooldown))
	}
	r.release <- flows.RetrainResult{Decision: flows.DecisionRejected, Reason: "challenger auc 0.70 <= champion 0.90 + 0.005"}
	r.waitDecision(RetrainRejected)

	// The decisions survive a restart of the trigger.
	again := newRetrainTrigger(triggerConfig(t), r.engine, r.store, metrics.NewSet(), discardLogger(), r.clock.now)
	if err := again.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer again.close()
	got, want := again.decisions(0), r.trig.decisions(0)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if len(got) < 6 || string(gb) != string(wb) {
		t.Errorf("decisions after restart:\n%s\nwant\n%s", gb, wb)
	}
}

func TestRetrainTriggerOffAndSkippedRunRecheck(t *testing.T) {
	cfg := triggerConfig(t)
	cfg.Retrain = "off"
	r := newTriggerRig(t, cfg)
	for range 30 {
		r.trig.label()
	}
	r.trig.observe(driftEvent(0.9))
	if r.started.Load() != 0 || len(r.trig.decisions(0)) != 0 {
		t.Fatalf("DRIFTD_RETRAIN=off started %d runs, recorded %+v", r.started.Load(), r.trig.decisions(0))
	}

	// On: a retrain that finds too few labels in Kafka is retried after
	// retrainRecheck, not after the whole cooldown.
	r2 := newTriggerRig(t, triggerConfig(t))
	r2.trig.observe(driftEvent(0.9))
	for range 30 {
		r2.trig.label()
	}
	r2.trig.observe(driftEvent(0.9))
	<-r2.params
	r2.release <- flows.RetrainResult{Decision: flows.DecisionSkipped, Reason: "only 3 labelled records"}
	r2.waitDecision(RetrainSkippedLabels)
	r2.clock.add(retrainRecheck - time.Second)
	r2.trig.observe(driftEvent(0.9))
	r2.waitDecision(RetrainSkippedCooldown)
	r2.clock.add(2 * time.Second)
	r2.trig.observe(driftEvent(0.9))
	r2.waitDecision(RetrainTriggered)
	<-r2.params
	r2.release <- flows.RetrainResult{Decision: flows.DecisionRejected}
	r2.waitDecision(RetrainRejected)
}

// TestRetrainCause: what starts a retrain under each DRIFTD_RETRAIN_ON, and
// the reason recorded with it.
func TestRetrainCause(t *testing.T) {
	band := &drift.PerformanceBand{Records: 960, Replicates: 200,
		Accuracy: drift.Range{Lo: 0.83, Mean: 0.845, Hi: 0.86}, AUC: drift.Range{Lo: 0.91, Mean: 0.925, Hi: 0.94}}
	drop := &drift.Estimated{Accuracy: 0.70, AUC: 0.76, Band: band, Drop: true}
	fine := &drift.Estimated{Accuracy: 0.85, AUC: 0.93, Band: band}
	psiHigh := drift.Event{Model: "m", MaxPSI: 0.4, Retrain: true, Features: []drift.FeatureResult{{Name: "f0", PSI: 0.4}}}
	psiLow := drift.Event{Model: "m", MaxPSI: 0.02}
	with := func(ev drift.Event, e *drift.Estimated) drift.Event { ev.Estimated = e; return ev }
	cases := []struct {
		on      string
		ev      drift.Event
		retrain bool
		reason  string
	}{
		{"psi", with(psiHigh, fine), true, "max PSI 0.400 > RETRAIN_THRESHOLD 0.15 (f0=0.400)"},
		{"psi", with(psiLow, drop), false, "max PSI 0.020"},
		{"estimated", with(psiHigh, fine), false, "estimated accuracy"},
		{"estimated", with(psiLow, drop), true, "estimated accuracy 0.700 (expected 0.830–0.860), AUC 0.760 (expected 0.910–0.940) without labels"},
		{"estimated", psiHigh, true, "max PSI 0.400 > RETRAIN_THRESHOLD 0.15 (f0=0.400) (no estimate without labels for this version: the PSI rule applies)"},
		{"estimated", psiLow, false, "the PSI rule applies"},
		{"either", with(psiHigh, fine), true, "max PSI 0.400"},
		{"either", with(psiLow, drop), true, "estimated accuracy 0.700"},
		{"either", with(psiHigh, drop), true, "without labels; max PSI 0.400"},
		{"either", with(psiLow, fine), false, "max PSI 0.020"},
	}
	for _, tc := range cases {
		tr := &retrainTrigger{cfg: Config{RetrainOn: tc.on, RetrainThreshold: 0.15}}
		reason, retrain := tr.cause(tc.ev)
		if retrain != tc.retrain || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s, PSI %.2f, estimate %+v: retrain %v %q, want %v containing %q", tc.on, tc.ev.MaxPSI, tc.ev.Estimated, retrain, reason, tc.retrain, tc.reason)
		}
	}
}
