package server

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"

	"driftd/registry"
)

// mustRun records a finished run with params, a loss curve of rounds points
// (none when rounds is 0) and a single final valid_auc.
func mustRun(tb testing.TB, a *testApp, expID string, params map[string]string, rounds int, auc float64) string {
	tb.Helper()
	ctx := registry.WithUser(context.Background(), "admin")
	r, err := a.store.CreateRun(ctx, expID, registry.RunOptions{Name: "train " + a.cfg.ModelName})
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.store.LogParams(ctx, r.ID, params); err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	var pts []registry.MetricPoint
	for i := 1; i <= rounds; i++ {
		pts = append(pts, registry.MetricPoint{Key: "train_loss", Value: 1 / float64(i), Step: int64(i), Time: now},
			registry.MetricPoint{Key: "valid_loss", Value: 1.2 / float64(i), Step: int64(i), Time: now})
	}
	pts = append(pts, registry.MetricPoint{Key: "valid_auc", Value: auc, Step: int64(rounds), Time: now})
	if err := a.store.LogMetrics(ctx, r.ID, pts); err != nil {
		tb.Fatal(err)
	}
	if _, err := a.store.FinishRun(ctx, r.ID, registry.RunFinished); err != nil {
		tb.Fatal(err)
	}
	return r.ID
}

func sweepParams(rounds int, lr string) map[string]string {
	return map[string]string{"algo": "gbdt", "rounds": fmt.Sprint(rounds), "learning_rate": lr, "max_leaves": "31",
		"logistic_c": "1", "logistic_max_iter": "100", "target": "churn", "data": "churn.csv", "seed": "1"}
}

func TestUIRunList(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	exp, err := a.store.EnsureExperiment(registry.WithUser(context.Background(), "admin"), "sweep")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 55; i++ {
		mustRun(t, a, exp.ID, sweepParams(10+i, "0.1"), 0, 0.5+float64(i)/200)
	}
	logistic := mustRun(t, a, exp.ID, map[string]string{"algo": "logistic", "logistic_c": "0.5", "data": "churn.csv"}, 0, 0.6)
	base := "/experiments/" + exp.ID

	doc := s.mustGet(base)
	if help := nodeText(mustTestID(t, doc, "run-filter-help")); !strings.Contains(help, " or ") || !strings.Contains(help, "(params.algo = gbdt or tags.team = 'risk')") {
		t.Errorf("the filter help shows no OR example: %q", help)
	}
	if n := len(allByTestIDPrefix(doc, "compare-")) - 2; n != runPageSize { // minus compare-form and compare-submit
		t.Errorf("first page shows %d runs, want %d", n, runPageSize)
	}
	if got := nodeText(mustTestID(t, doc, "runs-total")); !strings.Contains(got, "56 of 56") {
		t.Errorf("total = %q", got)
	}
	next := html2URL(attrOf(mustTestID(t, doc, "runs-next"), "href"))
	if n := len(rowsOf(s.mustGet(next))); n != 6 {
		t.Errorf("page 2 shows %d runs, want 6", n)
	}
	if byTestID(doc, "run-"+logistic) == nil {
		t.Error("the newest run is not on the first page")
	}

	cases := []struct {
		name, query string
		status      int
		firstTitle  string
		rows        int
	}{
		{"sort by a metric, highest first", "?sort=" + url.QueryEscape("metrics.valid_auc desc"), 200, "gbdt · 64 rounds · lr 0.1 · 31 leaves · churn.csv", runPageSize},
		{"sort by a parameter, lowest first", "?sort=" + url.QueryEscape("params.rounds asc"), 200, "gbdt · 10 rounds · lr 0.1 · 31 leaves · churn.csv", runPageSize},
		{"filter by parameter", "?q=" + url.QueryEscape("params.algo = logistic"), 200, "logistic · C 0.5 · churn.csv", 1},
		{"filter by metric and sort", "?q=" + url.QueryEscape("metrics.valid_auc >= 0.75") + "&sort=" + url.QueryEscape("metrics.valid_auc asc"), 200, "gbdt · 60 rounds · lr 0.1 · 31 leaves · churn.csv", 5},
		{"filter with or, and binding first", "?q=" + url.QueryEscape("params.algo = logistic or params.rounds >= 60 and params.rounds < 62") + "&sort=" + url.QueryEscape("params.rounds asc"), 200, "gbdt · 60 rounds · lr 0.1 · 31 leaves · churn.csv", 3},
		{"filter with or in parentheses", "?q=" + url.QueryEscape("params.learning_rate = 0.1 and (params.rounds = 64 or params.rounds = 10)") + "&sort=" + url.QueryEscape("params.rounds desc"), 200, "gbdt · 64 rounds · lr 0.1 · 31 leaves · churn.csv", 2},
		{"a malformed filter is explained", "?q=" + url.QueryEscape("metrics.auc >"), 400, "", 0},
		{"an unclosed parenthesis is explained", "?q=" + url.QueryEscape("(params.algo = gbdt or status = finished"), 400, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, doc, body := s.get(base + tc.query)
			if status != tc.status {
				t.Fatalf("status %d, want %d\n%s", status, tc.status, body)
			}
			if tc.status != 200 {
				mustTestID(t, doc, "runs-error")
				return
			}
			rows := rowsOf(doc)
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
			if got := nodeText(fieldOf(rows[0], "title")); got != tc.firstTitle {
				t.Errorf("first run %q, want %q", got, tc.firstTitle)
			}
		})
	}

	// CSV: every matching run (not only the page), every param and metric.
	resp, err := s.c.Get(a.base + base + "?format=csv&q=" + url.QueryEscape("params.algo = gbdt"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("content type %q", ct)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 56 {
		t.Fatalf("%d CSV lines, want a header and 55 runs", len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"run_id", "title", "params.rounds", "params.learning_rate", "metrics.valid_auc"} {
		if _, ok := col[h]; !ok {
			t.Errorf("CSV header %v lacks %s", recs[0], h)
		}
	}
	if got := recs[1][col["params.algo"]]; got != "gbdt" {
		t.Errorf("CSV algo = %q", got)
	}
}

// rowsOf returns the run rows of a run list.
func rowsOf(doc *xhtml.Node) []*xhtml.Node {
	var out []*xhtml.Node
	for _, n := range allByTestIDPrefix(doc, "run-") {
		if n.Data == "tr" {
			out = append(out, n)
		}
	}
	return out
}

// fieldOf returns the first descendant with data-field=name.
func fieldOf(n *xhtml.Node, name string) *xhtml.Node {
	if n.Type == xhtml.ElementNode && attrOf(n, "data-field") == name {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := fieldOf(c, name); f != nil {
			return f
		}
	}
	return nil
}

func html2URL(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

func TestUIRunPageAndCompare(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	ctx := registry.WithUser(context.Background(), "admin")
	exp, err := a.store.EnsureExperiment(ctx, "cmp")
	if err != nil {
		t.Fatal(err)
	}
	g1 := mustRun(t, a, exp.ID, sweepParams(10, "0.1"), 10, 0.8)
	g2 := mustRun(t, a, exp.ID, sweepParams(10, "0.3"), 10, 0.7)
	lg := mustRun(t, a, exp.ID, map[string]string{"algo": "logistic", "logistic_c": "0.5", "rounds": "100", "max_leaves": "31"}, 0, 0.6)
	imp, _ := json.Marshal(map[string]map[string]float64{"gain": {"x1": 2, "tenure": 9, "plan": 4}, "split": {"x1": 3}})
	if err := a.store.PutRunArtifact(ctx, g1, "feature_importance.json", imp); err != nil {
		t.Fatal(err)
	}

	doc := s.mustGet("/runs/" + g1)
	if got := nodeText(mustTestID(t, doc, "run-title")); got != "gbdt · 10 rounds · lr 0.1 · 31 leaves · churn.csv" {
		t.Errorf("run title %q", got)
	}
	// Train and validation loss on one chart; the single-point AUC a number.
	loss := mustTestID(t, doc, "chart-loss")
	if n := countTag(loss, "polyline"); n != 2 {
		t.Errorf("loss chart has %d lines, want train and validation", n)
	}
	if n := countTag(loss, "text"); n < 8 {
		t.Errorf("loss chart has %d tick labels and legend texts, want axes with ticks", n)
	}
	if byTestID(doc, "chart-valid_auc") != nil {
		t.Error("the single-point valid_auc is drawn as a chart")
	}
	if got := nodeText(mustTestID(t, doc, "numbers")); !strings.Contains(got, "valid_auc") || !strings.Contains(got, "0.8") {
		t.Errorf("numbers = %q", got)
	}
	// GBDT parameters lead with algo and rounds; logistic ones are hidden.
	params := nodeText(mustTestID(t, doc, "params"))
	if !strings.HasPrefix(params, "algo") || strings.Contains(params, "logistic_c") {
		t.Errorf("gbdt params = %q", params)
	}
	if strings.Index(params, "rounds") > strings.Index(params, "seed") {
		t.Errorf("rounds comes after seed: %q", params)
	}
	// Feature importance: bars, largest first.
	bars := allByClass(mustTestID(t, doc, "importance"), "bar-row")
	if len(bars) != 3 || attrOf(bars[0], "data-label") != "tenure" || attrOf(bars[2], "data-label") != "x1" {
		t.Errorf("importance bars %d, first %q", len(bars), attrOf(bars[0], "data-label"))
	}
	// The artifact downloads.
	href := attrOf(mustTestID(t, doc, "artifact-feature_importance.json"), "href")
	resp, err := s.c.Get(a.base + href)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(imp) || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("artifact download: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
	}

	// A logistic run shows its own parameters only.
	doc = s.mustGet("/runs/" + lg)
	if p := nodeText(mustTestID(t, doc, "params")); strings.Contains(p, "rounds") || !strings.Contains(p, "logistic_c") {
		t.Errorf("logistic params = %q", p)
	}
	if got := nodeText(mustTestID(t, doc, "params-hidden")); !strings.Contains(got, "2 parameters") {
		t.Errorf("hidden note = %q", got)
	}
	mustTestID(t, doc, "metrics-empty")

	// Compare: differences marked, curves overlaid per run.
	doc = s.mustGet("/runs/compare?id=" + g1 + "&id=" + g2)
	for key, want := range map[string]string{"learning_rate": "yes", "algo": "no", "rounds": "no"} {
		if got := attrOf(mustTestID(t, doc, "param-"+key), "data-differs"); got != want {
			t.Errorf("param %s differs = %q, want %q", key, got, want)
		}
	}
	if got := nodeText(mustTestID(t, doc, "metric-valid_auc")); !strings.Contains(got, "0.8") || !strings.Contains(got, "0.7") {
		t.Errorf("metric row = %q", got)
	}
	if n := countTag(mustTestID(t, doc, "compare-chart-valid_loss"), "polyline"); n != 2 {
		t.Errorf("valid_loss overlay has %d lines, want one per run", n)
	}
	for _, q := range []string{"?id=" + g1, "?id=a&id=b&id=c&id=d&id=e&id=f"} {
		status, doc, body := s.get("/runs/compare" + q)
		if status != http.StatusBadRequest || byTestID(doc, "compare-error") == nil {
			t.Errorf("compare%s: %d\n%s", q, status, body)
		}
	}
}

// countTag counts the elements named tag under n.
func countTag(n *xhtml.Node, tag string) int {
	c := 0
	if n.Type == xhtml.ElementNode && n.Data == tag {
		c++
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c += countTag(ch, tag)
	}
	return c
}

// allByClass returns the elements under n having class cls.
func allByClass(n *xhtml.Node, cls string) []*xhtml.Node {
	var out []*xhtml.Node
	if n.Type == xhtml.ElementNode && strings.Contains(" "+attrOf(n, "class")+" ", " "+cls+" ") {
		out = append(out, n)
	}
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		out = append(out, allByClass(ch, cls)...)
	}
	return out
}

func TestRunTitleAndParams(t *testing.T) {
	cases := []struct {
		name string
		run  registry.Run
		want string
	}{
		{"gbdt from the train flow", registry.Run{Name: "train m", Params: sweepParams(100, "0.05")}, "gbdt · 100 rounds · lr 0.05 · 31 leaves · churn.csv"},
		{"logistic", registry.Run{Name: "train m", Params: map[string]string{"algo": "logistic", "logistic_c": "2"}}, "logistic · C 2"},
		{"a given name stays", registry.Run{Name: "baseline", Params: sweepParams(1, "1")}, "baseline"},
		{"API run without params", registry.Run{ID: "r1", Name: "train x"}, "train x"},
		{"nothing at all", registry.Run{ID: "r1"}, "run r1"},
	}
	for _, tc := range cases {
		if got := runTitle(tc.run); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	got, hidden := orderedParams(map[string]string{"zeta": "1", "logistic_c": "1", "algo": "gbdt", "learning_rate": "0.1", "rounds": "5"})
	var keys []string
	for _, kv := range got {
		keys = append(keys, kv.Key)
	}
	if strings.Join(keys, ",") != "algo,rounds,learning_rate,zeta" || hidden != 1 {
		t.Errorf("ordered params %v hidden %d", keys, hidden)
	}
}
