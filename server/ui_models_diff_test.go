package server

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"driftd/drift"
	"driftd/registry"
	"driftd/train"
)

// diffModelSpec shapes a model file for the version diff tests.
type diffModelSpec struct {
	seed   uint64
	rounds int
	// shift moves x1's mean; region swaps the categorical plan for region.
	shift   float64
	region  bool
	profile bool
}

// diffModelFile trains a tiny binary GBDT on x1, x2 and plan (or region)
// and returns the model file and the x1 values of its training data.
func diffModelFile(tb testing.TB, s diffModelSpec) ([]byte, []float64) {
	tb.Helper()
	r := rand.New(rand.NewPCG(s.seed, 11))
	cat, levels := "plan", []string{"basic", "pro", "max"}
	if s.region {
		cat, levels = "region", []string{"eu", "us", "apac", "latam"}
	}
	var csv strings.Builder
	fmt.Fprintf(&csv, "x1,x2,%s,churn\n", cat)
	x1s := make([]float64, 0, 300)
	for i := 0; i < 300; i++ {
		x1, x2 := r.NormFloat64()+s.shift, r.Float64()*10
		lvl := levels[r.IntN(len(levels))]
		churn := 0
		if x1-s.shift+0.2*x2 > 1 || lvl == levels[0] && r.IntN(3) == 0 {
			churn = 1
		}
		fmt.Fprintf(&csv, "%.4f,%.4f,%s,%d\n", x1, x2, lvl, churn)
		x1s = append(x1s, math.Round(x1*1e4)/1e4)
	}
	ds, err := train.ReadCSV(strings.NewReader(csv.String()), train.CSVOptions{Target: "churn", Name: "diff.csv"})
	if err != nil {
		tb.Fatal(err)
	}
	p := train.DefaultParams()
	p.Rounds, p.MinSamplesLeaf, p.Threads = s.rounds, 5, 1
	m, err := train.Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if s.profile {
		cols := make([]drift.Column, len(ds.Names))
		for i, n := range ds.Names {
			cols[i] = drift.Column{Name: n, Categorical: ds.Kinds[i] == train.Categorical, Values: ds.Num[i], Codes: ds.Codes[i], Levels: ds.Levels[i]}
		}
		prof, err := drift.BuildProfile(cols, nil, drift.ProfileOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		pb, err := prof.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		m.Attach("drift.profile", pb)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b, x1s
}

// registerDiffModel registers a diffModelFile as version of model name.
func registerDiffModel(tb testing.TB, a *testApp, name, version string, s diffModelSpec) []float64 {
	tb.Helper()
	art, x1 := diffModelFile(tb, s)
	opts, err := registerOptions(art)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Version = version
	if _, err := a.store.Register(registry.WithUser(context.Background(), "trainer"), art, name, opts); err != nil {
		tb.Fatal(err)
	}
	return x1
}

// TestUIModelDiff compares two versions: parameters with the differences
// marked, metrics with their change, inputs added and removed, importance
// of both, and the reference distributions sorted by the PSI between them,
// which matches the PSI of B's raw values on A's bins.
func TestUIModelDiff(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	const name = "diff-model"
	registerDiffModel(t, a, name, "1.0.0", diffModelSpec{seed: 1, rounds: 3, profile: true})
	x1b := registerDiffModel(t, a, name, "2.0.0", diffModelSpec{seed: 2, rounds: 6, shift: 1.5, region: true, profile: true})
	s := uiLogin(t, a, "admin", "correct-horse")
	page := "/models/" + name + "/diff?a=1.0.0&b=2.0.0"
	doc := s.mustGet(page)

	// Parameters: rounds differ, the objective does not.
	params := mustTestID(t, doc, "diff-params")
	rounds := mustTestID(t, params, "param-rounds")
	if attrOf(rounds, "data-differs") != "yes" || nodeText(rounds) != "rounds 3 6" {
		t.Errorf("rounds row = %q differs=%s", nodeText(rounds), attrOf(rounds, "data-differs"))
	}
	if obj := mustTestID(t, params, "param-objective"); attrOf(obj, "data-differs") != "no" {
		t.Errorf("objective row = %q differs", nodeText(obj))
	}
	summary := nodeText(mustTestID(t, doc, "diff-params-summary"))
	rows := allByTestIDPrefix(params, "param-")
	differ := 0
	for _, r := range rows {
		if attrOf(r, "data-differs") == "yes" {
			differ++
		}
	}
	if want := fmt.Sprintf("%d of %d differ", differ, len(rows)); summary != want || differ == 0 || differ == len(rows) {
		t.Errorf("params summary = %q, want %q", summary, want)
	}
	// Only the differences, from the link in the page.
	only := mustTestID(t, doc, "diff-params-only")
	odoc := s.mustGet(attrOf(only, "href"))
	if n := len(allByTestIDPrefix(mustTestID(t, odoc, "diff-params"), "param-")); n != differ {
		t.Errorf("only differences: %d rows, want %d", n, differ)
	}
	if byTestID(odoc, "param-objective") != nil {
		t.Error("only differences lists the objective")
	}

	// Metrics: every metric of either version, the change signed and
	// classed by the metric's direction.
	va, _ := a.store.GetVersion(context.Background(), name, "1.0.0")
	vb, _ := a.store.GetVersion(context.Background(), name, "2.0.0")
	if len(va.Metrics) == 0 {
		t.Fatal("version 1.0.0 records no metrics")
	}
	for k, xa := range va.Metrics {
		row := mustTestID(t, doc, "metric-"+k)
		xb, ok := vb.Metrics[k]
		if !ok {
			continue
		}
		cell := findElem(row, func(n *html.Node) bool { return attrOf(n, "data-field") == "delta" })
		got, err := strconv.ParseFloat(strings.TrimPrefix(nodeText(cell), "+"), 64)
		if err != nil || math.Abs(got-(xb-xa)) > 1e-3*math.Max(1, math.Abs(xb-xa)) {
			t.Errorf("%s: change %q, want %g", k, nodeText(cell), xb-xa)
		}
		want := ""
		if dir := metricDirection(k); dir != 0 && xb != xa {
			want = "worse"
			if (xb > xa) == (dir > 0) {
				want = "better"
			}
		}
		if attrOf(cell, "data-class") != want {
			t.Errorf("%s: %g → %g classed %q, want %q", k, xa, xb, attrOf(cell, "data-class"), want)
		}
	}

	// Inputs: plan removed, region added, x1 the same.
	for feat, change := range map[string]string{"plan": "removed", "region": "added", "x1": "", "x2": ""} {
		if got := attrOf(mustTestID(t, mustTestID(t, doc, "diff-features"), "feature-"+feat), "data-change"); got != change {
			t.Errorf("input %s: change %q, want %q", feat, got, change)
		}
	}
	if got := nodeText(mustTestID(t, doc, "diff-features-summary")); got != "2 of 4 changed" {
		t.Errorf("inputs summary = %q", got)
	}

	// Importance of both versions, on one scale.
	mustTestID(t, doc, "diff-importance-a")
	mustTestID(t, doc, "diff-importance-b")

	// Distributions: the shifted x1 first, with the PSI of B's raw values
	// on A's bins (B's summary holds all 300 values, so it is exact).
	dists := allByTestIDPrefix(mustTestID(t, doc, "diff-distributions"), "dist-")
	if len(dists) != 2 || attrOf(dists[0], "data-testid") != "dist-x1" {
		var ids []string
		for _, d := range dists {
			ids = append(ids, attrOf(d, "data-testid"))
		}
		t.Fatalf("distributions %v, want x1 then x2 (plan and region are not shared)", ids)
	}
	rawA, err := a.store.Profile(context.Background(), name, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	pa, err := drift.DecodeProfile(rawA)
	if err != nil {
		t.Fatal(err)
	}
	fa := pa.Features[slices.IndexFunc(pa.Features, func(f drift.Feature) bool { return f.Name == "x1" })]
	cur := make([]int64, len(fa.RefCounts))
	for _, x := range x1b {
		bin := 1
		for _, e := range fa.Edges {
			if e < x {
				bin++
			}
		}
		cur[bin]++
	}
	want := drift.PSI(fa.RefCounts, cur)
	got, _ := strconv.ParseFloat(attrOf(dists[0], "data-psi"), 64)
	if math.Abs(got-want) > 1e-4 || want < 0.25 {
		t.Errorf("x1 PSI on the page %v, from the raw values %v (want major)", got, want)
	}
	if txt := nodeText(dists[0]); !strings.Contains(txt, "major") {
		t.Errorf("x1 caption = %q", txt)
	}
	if svg := findElem(dists[0], func(n *html.Node) bool { return n.Data == "svg" }); svg == nil || !strings.Contains(attrOf(svg, "class"), "overlay") {
		t.Error("x1's distribution is not an overlaid chart")
	}
	psi := mustTestID(t, doc, "diff-psi")
	if bars := findElem(psi, func(n *html.Node) bool { return attrOf(n, "data-label") == "x1" }); bars == nil {
		t.Error("the PSI bars have no x1")
	}

	// Swapping A and B is a link to the same page the other way round.
	if href := attrOf(mustTestID(t, doc, "diff-swap"), "href"); href != "/models/"+name+"/diff?a=2.0.0&b=1.0.0" {
		t.Errorf("swap link = %q", href)
	}
}

// TestUIModelDiffStates: the address always names two versions (a
// redirect fills in the missing ones), an unknown version or model is the
// 404 page in the layout, and a model with one version, the same version
// twice or a version without a profile say so in the page.
func TestUIModelDiffStates(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	const name = "diff-states"
	registerDiffModel(t, a, name, "1.0.0", diffModelSpec{seed: 1, rounds: 3, profile: true})
	s := uiLogin(t, a, "admin", "correct-horse")
	base := "/models/" + name + "/diff"

	doc := s.mustGet(base)
	if got := nodeText(mustTestID(t, doc, "diff-notice")); !strings.Contains(got, "nothing to compare") || !strings.Contains(got, "Train another version") {
		t.Errorf("one version: notice %q, want it to say how to get a second one", got)
	}
	if status, _, body := s.get(base + "?a=1.0.0&b=9.9.9"); status != http.StatusNotFound {
		t.Errorf("one version, b unknown: %d, want the 404 page: %.200s", status, body)
	}
	if byTestID(s.mustGet("/models/"+name), "compare-versions-form") != nil {
		t.Error("the model page offers a comparison with one version")
	}
	if byTestID(s.mustGet("/models/"+name+"/versions/1.0.0"), "compare-with-form") != nil {
		t.Error("the version page offers a comparison with one version")
	}

	registerDiffModel(t, a, name, "2.0.0", diffModelSpec{seed: 2, rounds: 3, profile: true})
	registerDiffModel(t, a, name, "3.0.0", diffModelSpec{seed: 3, rounds: 3})
	cases := []struct{ query, location string }{
		{"", base + "?a=2.0.0&b=3.0.0"},
		{"?b=2.0.0", base + "?a=1.0.0&b=2.0.0"},
		{"?b=1.0.0", base + "?a=3.0.0&b=1.0.0"},
		{"?a=3.0.0", base + "?a=3.0.0&b=2.0.0"},
		{"?a=1.0.0&only=diff", base + "?a=1.0.0&b=3.0.0&only=diff"},
	}
	for _, tc := range cases {
		resp, err := s.c.Get(a.base + base + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if status := resp.StatusCode; status != http.StatusFound || resp.Header.Get("Location") != tc.location {
			t.Errorf("%q: %d → %q, want %q", tc.query, resp.StatusCode, resp.Header.Get("Location"), tc.location)
		}
	}

	for _, path := range []string{base + "?a=1.0.0&b=9.0.0", base + "?a=9.0.0&b=1.0.0", "/models/nope/diff?a=1.0.0&b=2.0.0"} {
		status, doc, body := s.get(path)
		if status != http.StatusNotFound {
			t.Errorf("%s: status %d\n%s", path, status, body)
			continue
		}
		mustTestID(t, doc, "error-message")
		mustTestID(t, doc, "nav")
	}

	if got := nodeText(mustTestID(t, s.mustGet(base+"?a=2.0.0&b=2.0.0"), "diff-notice")); !strings.Contains(got, "same version") {
		t.Errorf("same version: notice %q", got)
	}
	doc = s.mustGet(base + "?a=2.0.0&b=3.0.0")
	if got := nodeText(mustTestID(t, doc, "diff-dist-note")); !strings.Contains(got, "3.0.0 has no drift reference profile") {
		t.Errorf("no profile: note %q", got)
	}
	if byTestID(doc, "diff-psi") != nil {
		t.Error("PSI bars without a profile on one side")
	}

	// The model page picks the newest two; the version page the one before.
	form := mustTestID(t, s.mustGet("/models/"+name), "compare-versions-form")
	if attrOf(form, "action") != base {
		t.Errorf("compare form action = %q", attrOf(form, "action"))
	}
	if got := selected(mustTestID(t, form, "compare-a")) + " " + selected(mustTestID(t, form, "compare-b")); got != "2.0.0 3.0.0" {
		t.Errorf("compare form picks %q, want 2.0.0 3.0.0", got)
	}
	with := mustTestID(t, s.mustGet("/models/"+name+"/versions/2.0.0"), "compare-with-form")
	b := findElem(with, func(n *html.Node) bool { return attrOf(n, "name") == "b" })
	if attrOf(with, "action") != base || attrOf(b, "value") != "2.0.0" || selected(mustTestID(t, with, "compare-with")) != "1.0.0" {
		t.Errorf("compare-with form: action %q b %q picks %q", attrOf(with, "action"), attrOf(b, "value"), selected(mustTestID(t, with, "compare-with")))
	}
}

// selected is the value of a select's selected option.
func selected(sel *html.Node) string {
	opt := findElem(sel, func(n *html.Node) bool { return n.Data == "option" && hasAttr(n, "selected") })
	if opt == nil {
		return ""
	}
	return attrOf(opt, "value")
}

// TestCommonBins puts B's reference on A's bins: categories by name (B's
// new ones after A's "other"), numeric values from B's quantile summary.
func TestCommonBins(t *testing.T) {
	cases := []struct {
		name   string
		fa, fb drift.Feature
		labels []string
		ca, cb []int64
	}{
		{
			name:   "categorical",
			fa:     drift.Feature{Categorical: true, Categories: []string{"a", "b"}, RefCounts: []int64{1, 5, 3, 2}},
			fb:     drift.Feature{Categorical: true, Categories: []string{"b", "c"}, RefCounts: []int64{0, 4, 6, 1}},
			labels: []string{"missing", "a", "b", "other", "c (new)"},
			ca:     []int64{1, 5, 3, 2, 0},
			cb:     []int64{0, 0, 4, 1, 6},
		},
		{
			name:   "numeric from an exact summary",
			fa:     drift.Feature{Edges: []float64{1, 2}, RefCounts: []int64{0, 2, 2, 2}},
			fb:     drift.Feature{Summary: []float64{0.5, 1, 1.5, 3, 4}, Count: 6, Missing: 1},
			labels: []string{"missing", "≤ 1", "1–2", "> 2"},
			ca:     []int64{0, 2, 2, 2},
			cb:     []int64{1, 2, 1, 2},
		},
		{
			name:   "numeric from a quantile summary",
			fa:     drift.Feature{Edges: []float64{0}, RefCounts: []int64{0, 50, 50}},
			fb:     drift.Feature{Summary: []float64{-1, 1, 2, 3}, Count: 1000},
			labels: []string{"missing", "≤ 0", "> 0"},
			ca:     []int64{0, 50, 50},
			cb:     []int64{0, 250, 750},
		},
		{
			name:   "constant",
			fa:     drift.Feature{RefCounts: []int64{0, 10}},
			fb:     drift.Feature{Summary: []float64{1, 2}, Count: 2},
			labels: []string{"missing", "all"},
			ca:     []int64{0, 10},
			cb:     []int64{0, 2},
		},
	}
	for _, tc := range cases {
		labels, ca, cb := commonBins(&tc.fa, &tc.fb)
		if !slices.Equal(labels, tc.labels) || !slices.Equal(ca, tc.ca) || !slices.Equal(cb, tc.cb) {
			t.Errorf("%s: %q %v %v, want %q %v %v", tc.name, labels, ca, cb, tc.labels, tc.ca, tc.cb)
		}
	}
}

// TestDefaultDiffPair fills in the versions an address leaves out.
func TestDefaultDiffPair(t *testing.T) {
	versions := []string{"5", "4", "3"} // newest first
	cases := []struct{ a, b, wantA, wantB string }{
		{"", "", "4", "5"},
		{"", "4", "3", "4"},
		{"", "3", "5", "3"},
		{"5", "", "5", "4"},
		{"3", "", "3", "5"},
	}
	for _, tc := range cases {
		a, b := defaultDiffPair(versions, tc.a, tc.b)
		if a != tc.wantA || b != tc.wantB {
			t.Errorf("(%q, %q) → (%s, %s), want (%s, %s)", tc.a, tc.b, a, b, tc.wantA, tc.wantB)
		}
	}
}

// TestMetricDirection: which way each kind of metric improves.
func TestMetricDirection(t *testing.T) {
	for key, want := range map[string]int{"valid_auc": 1, "accuracy": 1, "macro_f1": 1, "r2": 1, "valid_loss": -1, "test_rmse": -1,
		"train_logloss": -1, "mae": -1, "rows": 0, "best_round": 0} {
		if got := metricDirection(key); got != want {
			t.Errorf("%s: %d, want %d", key, got, want)
		}
	}
}
