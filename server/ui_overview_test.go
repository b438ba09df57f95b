package server

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"driftd/registry"
	"driftd/scheduler"
	"driftd/server/flows"
)

// TestOverviewSampler: a rate needs two samples at least a second apart, a
// sooner refresh keeps the last figures, lag compares with the sample
// before, and a counter that went back starts over.
func TestOverviewSampler(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		s         overviewSample
		rateKnown bool
		rate      float64
		trend     string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first sample measures", []step{{s: overviewSample{at: t0, consumed: 10}}}},
		{"rate over two samples", []step{
			{s: overviewSample{at: t0, consumed: 10, lag: 5, lagKnown: true}},
			{s: overviewSample{at: t0.Add(2 * time.Second), consumed: 110, lag: 9, lagKnown: true}, rateKnown: true, rate: 50, trend: "rising"},
		}},
		{"a refresh within a second keeps the figures", []step{
			{s: overviewSample{at: t0, consumed: 0, lag: 5, lagKnown: true}},
			{s: overviewSample{at: t0.Add(time.Second), consumed: 100, lag: 3, lagKnown: true}, rateKnown: true, rate: 100, trend: "falling"},
			{s: overviewSample{at: t0.Add(1500 * time.Millisecond), consumed: 900, lag: 3, lagKnown: true}, rateKnown: true, rate: 100, trend: "falling"},
		}},
		{"steady lag, unknown lag has no trend", []step{
			{s: overviewSample{at: t0, lag: 4, lagKnown: true}},
			{s: overviewSample{at: t0.Add(time.Second), lag: 4, lagKnown: true}, rateKnown: true, trend: "steady"},
			{s: overviewSample{at: t0.Add(2 * time.Second)}, rateKnown: true},
		}},
		{"counter reset measures again", []step{
			{s: overviewSample{at: t0, consumed: 500}},
			{s: overviewSample{at: t0.Add(time.Second), consumed: 20}},
			{s: overviewSample{at: t0.Add(3 * time.Second), consumed: 60}, rateKnown: true, rate: 20},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s overviewSampler
			for i, st := range tc.steps {
				f := s.observe(st.s)
				if f.rateKnown != st.rateKnown || f.rate != st.rate || f.lagTrend != st.trend {
					t.Errorf("step %d: got known=%v rate=%v trend=%q, want %v %v %q", i, f.rateKnown, f.rate, f.lagTrend, st.rateKnown, st.rate, st.trend)
				}
			}
		})
	}
}

// TestUIOverviewStartHereSampleTraining: an empty install shows the
// start-here path with nothing done; the one-click sample training writes
// the CSV into the data directory and queues a train run, and once the run
// completes step 1 reads done while deploying is still to do.
func TestUIOverviewStartHereSampleTraining(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/")
	mustTestID(t, doc, "start-here")
	for _, step := range []string{"step-train", "step-deploy", "step-stream"} {
		if got := attrOf(mustTestID(t, doc, step), "data-done"); got != "no" {
			t.Errorf("%s on an empty install: data-done=%q, want no", step, got)
		}
	}
	if href := attrOf(mustTestID(t, doc, "step-stream-link"), "href"); href != "/pipeline" {
		t.Errorf("stream step links to %q", href)
	}
	mustTestID(t, doc, "all-clear")
	mustTestID(t, doc, "overview-runs-empty")

	status, loc, body := s.post("/overview/sample-training", url.Values{"_csrf": {formCSRF(t, doc, "sample-train-form")}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/?msg=") {
		t.Fatalf("sample training: %d %q\n%s", status, loc, body)
	}
	if _, err := os.Stat(a.samplePath()); err != nil {
		t.Fatalf("the sample CSV was not written: %v", err)
	}
	runs, err := a.engine.List(context.Background(), scheduler.RunFilter{Flow: flows.FlowTrain})
	if err != nil || len(runs) != 1 {
		t.Fatalf("train runs after one click: %d %v", len(runs), err)
	}
	if !strings.Contains(loc, runs[0].ID) {
		t.Errorf("flash %q does not name run %s", loc, runs[0].ID)
	}
	if r := waitFlowRunEnded(t, a, runs[0].ID); r.State != scheduler.StateCompleted {
		t.Fatalf("sample train run ended %s: %s", r.State, r.Error)
	}
	doc = s.mustGet("/")
	if got := attrOf(mustTestID(t, doc, "step-train"), "data-done"); got != "yes" {
		t.Errorf("step 1 after the run completed: data-done=%q\n%s", got, nodeText(mustTestID(t, doc, "start-here")))
	}
	if got := attrOf(mustTestID(t, doc, "step-deploy"), "data-done"); got != "no" {
		t.Errorf("step 2 before any deploy: data-done=%q", got)
	}
	if href := attrOf(mustTestID(t, doc, "step-deploy-link"), "href"); href != "/models/"+a.cfg.ModelName {
		t.Errorf("deploy step links to %q", href)
	}
	mustTestID(t, doc, "overview-model-"+a.cfg.ModelName)
	mustTestID(t, doc, "flow-run-"+runs[0].ID)
	// The live fragment answers the same path without the layout.
	frag := s.mustGet("/?fragment=live")
	mustTestID(t, frag, "start-here")
	if byTestID(frag, "build-info") != nil || byTestID(frag, "nav") != nil {
		t.Error("the live fragment carries more than the live part")
	}
}

// TestUIOverviewViewerCannotTrain: a viewer sees the path but not the
// one-click button, and its POST is refused.
func TestUIOverviewViewerCannotTrain(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	a.apiJSON(t, http.MethodPost, "/api/v1/users", map[string]string{"username": "vic", "password": "viewer-password", "role": "viewer"}, http.StatusCreated, nil)
	v := uiLogin(t, a, "vic", "viewer-password")
	doc := v.mustGet("/")
	mustTestID(t, doc, "start-here")
	if byTestID(doc, "sample-train") != nil {
		t.Error("a viewer sees the one-click train button")
	}
	if status, _, body := v.post("/overview/sample-training", url.Values{}); status != http.StatusForbidden {
		t.Errorf("viewer POST sample training: %d, want 403\n%s", status, body)
	}
	if runs, err := a.engine.List(context.Background(), scheduler.RunFilter{}); err != nil || len(runs) != 0 {
		t.Errorf("runs after a refused click: %d %v", len(runs), err)
	}
}

// TestUIOverviewScoredModel: with a deployed model and scored records the
// Overview shows the version per environment, a measured rate (after
// "measuring"), the consumer lag, and the drift verdict with the worst
// features linked; a shifted stream fires the drift alert, a quiet one is
// all clear.
func TestUIOverviewScoredModel(t *testing.T) {
	tests := []struct {
		name    string
		shifted bool
	}{
		{"quiet: all clear", false},
		{"shifted: drift alert", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
			a := mustStartApp(t, cfg)
			name, env := a.cfg.ModelName, a.cfg.ScoringEnvironment
			registerUIModel(t, a, name, "1.0.0", 1)
			if err := a.store.Deploy(registry.WithUser(context.Background(), "admin"), name, "1.0.0", env, "overview test"); err != nil {
				t.Fatal(err)
			}
			uiWaitFor(t, "the pipeline to load the deployed version", 10*time.Second, func() bool {
				_, ok := a.pipeline.Drift()
				return ok
			})
			s := uiLogin(t, a, "admin", "correct-horse")
			doc := s.mustGet("/")
			row := mustTestID(t, doc, "overview-model-"+name)
			if got := nodeText(mustTestID(t, row, "env-"+env)); !strings.Contains(got, "1.0.0") {
				t.Errorf("version in %s = %q", env, got)
			}
			if got := nodeText(mustTestID(t, doc, "scored-version")); got != "1.0.0" {
				t.Errorf("scored version = %q", got)
			}
			if !tc.shifted {
				mustTestID(t, doc, "all-clear")
				if got := nodeText(mustTestID(t, doc, "scored-rate")); !strings.HasPrefix(got, "measuring") && !strings.Contains(got, "over the last") {
					t.Errorf("rate field = %q", got)
				}
				return
			}
			produceShifted(t, a, 60)
			var last *html.Node
			uiWaitFor(t, "the drift alert, a measured rate and a known lag on the Overview", 30*time.Second, func() bool {
				last = s.mustGet("/?fragment=live")
				return byTestID(last, "condition-drift-alert") != nil &&
					strings.Contains(nodeText(mustTestID(t, last, "scored-rate")), "over the last") &&
					strings.Contains(nodeText(mustTestID(t, last, "scored-lag")), "records")
			})
			if byTestID(last, "all-clear") != nil {
				t.Error("all clear beside a firing drift alert")
			}
			verdict := nodeText(mustTestID(t, last, "scored-drift"))
			if !strings.HasPrefix(verdict, "alert") {
				t.Errorf("drift verdict = %q, want alert", verdict)
			}
			if href := attrOf(mustTestID(t, last, "worst-x1"), "href"); href != "/drift?feature=x1" {
				t.Errorf("worst feature x1 links to %q", href)
			}
			if byTestID(last, "start-here") != nil {
				t.Error("the start-here path shows while a deployed model scores records")
			}
			if len(allByTestID(last, "overview-event")) == 0 {
				t.Error("no drift event listed after a drift check")
			}
		})
	}
}
