package server

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"driftd/scheduler"
)

// TestDemoReachesPromotion runs `driftd serve --demo` with shortened timings
// on the real engine, flows, registry and embedded broker, and watches the
// loop the demo exists to show: the first model trained and deployed, drift
// rising after the shift, a retrain promoting a challenger, and drift falling
// under the new version.
func TestDemoReachesPromotion(t *testing.T) {
	if os.Getenv("DRIFTD_INTEGRATION") != "1" {
		t.Skip("set DRIFTD_INTEGRATION=1 to run the demo end to end (about a minute)")
	}
	cfg := testConfig(t)
	cfg.Demo = true
	cfg.DemoRate, cfg.DemoLabelDelay, cfg.DemoShiftAfter = 200, time.Second, 10*time.Second
	cfg.DemoRepeat = time.Hour // one shift is enough here
	cfg.DriftWindowSize, cfg.DriftCheckInterval, cfg.DriftMinWindow = 300, 50, 100
	cfg.RetrainMinLabels, cfg.RetrainCooldown, cfg.RetrainLookback = 300, 5*time.Second, time.Minute
	cfg.Promotion, cfg.PromotionMargin = "auto", 0.005
	a := mustStartApp(t, cfg)
	ctx := context.Background()
	deadline := time.Now().Add(3 * time.Minute)

	deployed := func() string {
		v, err := a.store.Deployed(ctx, cfg.ModelName, cfg.ScoringEnvironment)
		if err != nil {
			return ""
		}
		return v.Version
	}
	runs := func(flow string) []scheduler.Run {
		rs, err := a.store.ListFlowRuns(ctx, scheduler.RunFilter{Flow: flow, Limit: 1000})
		if err != nil {
			t.Fatalf("list %s runs: %v", flow, err)
		}
		return rs
	}
	decision := func(r scheduler.Run) (d struct{ Decision, Reason string }) {
		_ = json.Unmarshal(r.Result, &d)
		return d
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, r := range runs("retrain") {
			d := decision(r)
			t.Logf("retrain run %s: %s, decision %q (%s), error %q", r.ID, r.State, d.Decision, d.Reason, r.Error)
		}
		if v, ok := a.pipeline.Drift(); ok {
			t.Logf("drift of %s: max PSI %.3f on %d records at %v", v.Version, v.Event.MaxPSI, v.Event.WindowRecords, v.Event.Time)
		}
		t.Logf("deployed: %q", deployed())
	})

	// The demo trains its first model and deploys it.
	var first string
	demoEventually(t, deadline, "the demo's first model deployed", func() bool {
		first = deployed()
		return first != ""
	})
	// The flow deploys before its run is marked completed: wait for both.
	demoEventually(t, deadline, "a completed train run triggered by the demo", func() bool {
		for _, r := range runs("train") {
			if r.Trigger.Kind == scheduler.TriggerDemo && r.State == scheduler.StateCompleted {
				return true
			}
		}
		return false
	})

	// After the shift, drift rises above the retrain threshold.
	demoEventually(t, deadline, "drift above RETRAIN_THRESHOLD after the shift", func() bool {
		v, ok := a.pipeline.Drift()
		return ok && v.Version == first && v.Event.MaxPSI > cfg.RetrainThreshold
	})

	// A retrain promotes a challenger, and the deployment changes.
	var promotedAt time.Time
	demoEventually(t, deadline, `a retrain run completed with decision "promoted"`, func() bool {
		for _, r := range runs("retrain") {
			if r.State == scheduler.StateCompleted && decision(r).Decision == "promoted" && r.Trigger.Kind == scheduler.TriggerDrift {
				promotedAt = r.EndedAt
				return true
			}
		}
		return false
	})
	demoEventually(t, deadline, "a new version deployed", func() bool {
		v := deployed()
		return v != "" && v != first
	})

	// Under the promoted version, on a full window of records it scored,
	// drift is below the threshold again.
	demoEventually(t, deadline, "drift below RETRAIN_THRESHOLD under the promoted version", func() bool {
		v, ok := a.pipeline.Drift()
		return ok && v.Version != first && v.Version == deployed() && v.Event.Time.After(promotedAt) &&
			v.Event.WindowRecords >= cfg.DriftWindowSize && v.Event.MaxPSI < cfg.RetrainThreshold
	})
	v, _ := a.pipeline.Drift()
	t.Logf("drift fell to max PSI %.3f under %s (first model %s)", v.Event.MaxPSI, v.Version, first)
}

// demoEventually checks cond on a ticker until it holds, failing the test
// when deadline passes first.
func demoEventually(tb testing.TB, deadline time.Time, what string, cond func() bool) {
	tb.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
