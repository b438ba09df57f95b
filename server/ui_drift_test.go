package server

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"driftd/drift"
	"driftd/registry"
)

// TestUIDriftChartsAndHistory: after a shifted stream the Drift page sorts
// features by PSI with coloured bars, explains each call, shows the chosen
// feature's reference and current distributions and its PSI over time from
// the kept history, lists the drift events; the history API serves the
// same points, and they survive a restart.
func TestUIDriftChartsAndHistory(t *testing.T) {
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(t, cfg)
	name := a.cfg.ModelName
	registerUIModel(t, a, name, "1.0.0", 1)
	if err := a.store.Deploy(registry.WithUser(context.Background(), "admin"), name, "1.0.0", a.cfg.ScoringEnvironment, "drift test"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "the pipeline to load the deployed version", 10*time.Second, func() bool {
		_, ok := a.pipeline.Drift()
		return ok
	})
	produceShifted(t, a, 60)
	uiWaitFor(t, "a drift check kept in the history", 20*time.Second, func() bool {
		pts, err := a.store.DriftHistory(context.Background(), registry.DriftHistoryQuery{Model: name})
		return err == nil && len(pts) > 0 && pts[len(pts)-1].Features["x1"] > 0.25
	})
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/drift")

	// Rows ranked by drift that matters (PSI × importance share) by
	// default, by PSI on request; bars coloured by level.
	column := func(doc *html.Node, field string) []float64 {
		var out []float64
		for _, r := range rowsWithPrefix(doc, "feature-") {
			v, err := strconv.ParseFloat(nodeText(findElem(r, func(n *html.Node) bool { return attrOf(n, "data-field") == field })), 64)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if len(out) != 3 {
			t.Fatalf("%d feature rows, want 3", len(out))
		}
		return out
	}
	descending := func(what string, xs []float64) {
		for i := 1; i < len(xs); i++ {
			if xs[i] > xs[i-1] {
				t.Errorf("rows not sorted by %s: %v", what, xs)
			}
		}
	}
	contrib := column(doc, "contribution")
	descending("drift that matters", contrib)
	weighted, err := strconv.ParseFloat(strings.Fields(nodeText(mustTestID(t, doc, "weighted-psi")))[0], 64)
	if sum := contrib[0] + contrib[1] + contrib[2]; err != nil || math.Abs(weighted-sum) > 2e-4 {
		t.Errorf("weighted PSI %v (%v), want the sum of the contributions %v", weighted, err, sum)
	}
	// Multivariate drift: the shifted records sit far from the reference's
	// joint structure; the kept checks draw the error inside its band.
	if got := nodeText(mustTestID(t, doc, "multivariate")); !strings.Contains(got, "Multivariate drift drifted reconstruction error") || !strings.Contains(got, "expected ") {
		t.Errorf("multivariate = %q", got)
	}
	uiWaitFor(t, "the multivariate chart from the kept checks", 10*time.Second, func() bool {
		return byTestID(s.mustGet("/drift"), "multivariate-chart") != nil
	})
	byPSI := s.mustGet("/drift?rank=psi")
	descending("PSI", column(byPSI, "psi"))
	if got := attrOf(mustTestID(t, byPSI, "drift-live"), "data-refresh"); !strings.Contains(got, "rank=psi") {
		t.Errorf("ranked by PSI, the live part refreshes from %q, losing the ranking", got)
	}
	bars := mustTestID(t, doc, "psi-bars")
	first := findElem(bars, func(n *html.Node) bool { return n.Data == "rect" })
	if first == nil || !strings.Contains(attrOf(first, "class"), "bad") {
		t.Errorf("the first bar (x1, major) is not coloured bad: %v", first)
	}
	if got := nodeText(mustTestID(t, doc, "feature-x1")); !strings.Contains(got, "drifted") || !strings.Contains(got, "test: ") {
		t.Errorf("x1 row = %q, want the test's call and why", got)
	}

	// The feature looked at closely: x1 by default, x2 on request.
	detail := mustTestID(t, doc, "feature-detail")
	if got := nodeText(detail); !strings.Contains(got, "Feature x1") {
		t.Errorf("detail = %.200q, want x1 (largest PSI)", got)
	}
	dist := mustTestID(t, doc, "feature-distribution")
	if ref, cur := countRects(dist, "s0"), countRects(dist, "s1"); ref < 3 || ref != cur {
		t.Errorf("distribution: %d reference and %d current bars", ref, cur)
	}
	hist := mustTestID(t, doc, "feature-history")
	if findElem(hist, func(n *html.Node) bool { return n.Data == "svg" }) == nil {
		t.Errorf("no PSI history chart: %q", nodeText(hist))
	}
	if len(allByTestID(doc, "drift-event")) == 0 {
		t.Error("no drift event listed")
	}
	doc = s.mustGet("/drift?feature=plan")
	if got := nodeText(mustTestID(t, doc, "feature-detail")); !strings.Contains(got, "Feature plan") {
		t.Errorf("?feature=plan shows %.100q", got)
	}
	if got := attrOf(mustTestID(t, doc, "drift-live"), "data-refresh"); got != "/drift?fragment=1&feature=plan" {
		t.Errorf("the live part refreshes from %q", got)
	}

	// The API: one feature's PSI; a bad since names the field.
	var out driftHistoryJSON
	a.apiJSON(t, http.MethodGet, "/api/v1/drift/history?feature=x1&since=1h", nil, http.StatusOK, &out)
	if len(out.Points) == 0 || len(out.Points[0].Features) != 1 || out.Points[0].Features["x1"] == 0 || out.Model != name {
		t.Fatalf("history = %+v", out)
	}
	var apiErr map[string]string
	a.apiJSON(t, http.MethodGet, "/api/v1/drift/history?since=yesterday", nil, http.StatusBadRequest, &apiErr)
	if apiErr["field"] != "since" || apiErr["error"] == "" {
		t.Errorf("bad since: %v", apiErr)
	}

	// A restart on the same data directory keeps the history.
	n := len(out.Points)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b := mustStartApp(t, cfg)
	var again driftHistoryJSON
	b.apiJSON(t, http.MethodGet, "/api/v1/drift/history?feature=x1&since=all", nil, http.StatusOK, &again)
	if len(again.Points) < n {
		t.Errorf("after a restart %d points, before %d", len(again.Points), n)
	}
	raw, _ := json.Marshal(again.Points[0])
	if !strings.Contains(string(raw), `"x1"`) {
		t.Errorf("point after restart = %s", raw)
	}
}

// TestVerdictWhy: the explanation names the test and its numbers, and says
// why when the verdict and the PSI level disagree.
func TestVerdictWhy(t *testing.T) {
	cases := []struct {
		name      string
		f         drift.FeatureResult
		disagrees bool
		want      []string
	}{
		{"agree, drifted", drift.FeatureResult{PSI: 0.4, Level: "major", Test: "ks", PValue: 0.001, Threshold: 0.05, Drifted: true}, false,
			[]string{"ks test", "p-value 0.001 < 0.05", "so drift."}},
		{"stable but significant", drift.FeatureResult{PSI: 0.04, Level: "stable", Test: "ks", PValue: 0.01, Threshold: 0.05, Drifted: true, Rows: 5000}, true,
			[]string{"reads stable", "5000 rows", "significant"}},
		{"stable but far", drift.FeatureResult{PSI: 0.05, Level: "stable", Test: "wasserstein", Statistic: 0.3, Threshold: 0.1, Drifted: true}, true,
			[]string{"statistic 0.3 ≥ 0.1", "shift inside a bin"}},
		{"major but too few rows", drift.FeatureResult{PSI: 0.3, Level: "major", Test: "chisquare", PValue: 0.2, Threshold: 0.05, Rows: 30}, true,
			[]string{"p-value 0.2 ≥ 0.05", "so no drift", "30 rows are too few"}},
		{"moderate but close", drift.FeatureResult{PSI: 0.15, Level: "moderate", Test: "jensenshannon", Statistic: 0.05, Threshold: 0.1}, true,
			[]string{"statistic 0.05 < 0.1", "moved little"}},
		{"agree, stable", drift.FeatureResult{PSI: 0.01, Level: "stable", Test: "psi", Statistic: 0.01, Threshold: 0.1}, false,
			[]string{"psi test", "so no drift."}},
		{"band, drifted", drift.FeatureResult{PSI: 8.3, Level: "major", Test: "ks", Statistic: 0.83, PValue: 1.5e-61, Rule: drift.RuleBand, BandUpper: 0.2775, Threshold: 0.2775, Drifted: true, Rows: 50}, false,
			[]string{"ks test: statistic 0.83 is above the noise band at 50 rows (up to 0.2775", "so drift.", "p-value 1.5e-61."}},
		{"band, z within", drift.FeatureResult{PSI: 0.02, Level: "stable", Test: "z", Statistic: -1.2, PValue: 0.23, Rule: drift.RuleBand, BandUpper: 2.9, Rows: 1000}, false,
			[]string{"|z| 1.2 is within the noise band at 1000 rows (up to 2.9", "so no drift."}},
	}
	for _, tc := range cases {
		got, dis := verdictWhy(tc.f)
		if dis != tc.disagrees {
			t.Errorf("%s: disagrees = %v", tc.name, dis)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
	}
}

// rowsWithPrefix returns the elements whose data-testid starts with prefix, in order.
func rowsWithPrefix(doc *html.Node, prefix string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "tr" && strings.HasPrefix(attrOf(n, "data-testid"), prefix) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// countRects counts the svg rects with class cls under n.
func countRects(n *html.Node, cls string) int {
	c := 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "rect" && strings.Contains(" "+attrOf(n, "class")+" ", " "+cls+" ") {
			c++
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return c - 1 // the legend's swatch
}

// TestUIDriftEstimatedRMSE deploys a regression version trained with loss
// models: after a few checks the Drift page shows the estimated RMSE and
// MAE with their band and verdict, and the chart of estimated RMSE inside
// its band over the recent checks; the live fragment carries them too.
func TestUIDriftEstimatedRMSE(t *testing.T) {
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 200, 50, 50
	a := mustStartApp(t, cfg)
	trainEstimated(t, a.pipeline, "regression", "1.0.0")
	if err := a.store.Deploy(registry.WithUser(context.Background(), "admin"), a.cfg.ModelName, "1.0.0", a.cfg.ScoringEnvironment, "dle test"); err != nil {
		t.Fatal(err)
	}
	var d *deployment
	uiWaitFor(t, "the pipeline to load the deployed version", 10*time.Second, func() bool {
		a.pipeline.mu.Lock()
		d = a.pipeline.deployed
		a.pipeline.mu.Unlock()
		return d != nil && d.monitor != nil
	})
	scoreRecords(d, 300, 0)
	scoreRecords(d, 200, 2.5) // the noisy feature moves: the error estimate rises
	d.monitor.Flush()
	// The chart is drawn from the drift history, written off the checker.
	uiWaitFor(t, "the drift history to keep an estimated RMSE", 10*time.Second, func() bool {
		pts, err := a.store.DriftHistory(context.Background(), registry.DriftHistoryQuery{Model: a.cfg.ModelName})
		for _, p := range pts {
			if err == nil && p.Performance != nil && p.Performance.EstimatedRMSE != nil && p.Performance.RMSELo != nil {
				return true
			}
		}
		return false
	})
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/drift")
	facts := nodeText(mustTestID(t, doc, "estimated-loss"))
	for _, want := range []string{"RMSE", "MAE", "Expected without a shift", "error increase estimated"} {
		if !strings.Contains(facts, want) {
			t.Errorf("estimated loss facts %q lack %q", facts, want)
		}
	}
	rmse, err := strconv.ParseFloat(nodeText(findElem(doc, func(n *html.Node) bool { return attrOf(n, "data-field") == "estimated-rmse" })), 64)
	if err != nil || !(rmse > 0) {
		t.Errorf("estimated RMSE %v (%v)", rmse, err)
	}
	chart := mustTestID(t, doc, "estimated-chart")
	if findElem(chart, func(n *html.Node) bool { return n.Data == "svg" }) == nil || !strings.Contains(nodeText(chart), "estimated RMSE") {
		t.Errorf("no estimated RMSE chart: %q", nodeText(chart))
	}
	if byTestID(doc, "estimated-none") != nil {
		t.Error("the page says there is no estimate")
	}
	frag := s.mustGet("/drift?fragment=1")
	if byTestID(frag, "estimated-loss") == nil {
		t.Error("the live fragment lacks the estimated loss")
	}
}
