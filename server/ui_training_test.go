package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"driftd/registry"
)

// getRaw fetches path in the session with an Accept header and returns the
// status and body.
func (s *uiSession) getRaw(path, accept string) (int, []byte) {
	s.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, s.app.base+path, nil)
	if err != nil {
		s.tb.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	resp, err := s.c.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// elements returns the elements of n named tag.
func elements(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func TestUITrainingColumns(t *testing.T) {
	// Own directories, so that no allowed one (the default is the system's
	// temp directory) holds another: the checkout itself may be under /tmp.
	cfg := testConfig(t)
	trainDir := t.TempDir()
	cfg.TrainDataDirs = []string{trainDir}
	a := mustStartApp(t, cfg)
	s := uiLogin(t, a, "admin", "correct-horse")
	inDataDir := writeTrainCSV(t, a.cfg.DataDir, "cols.csv", 5, -1)
	inTrainDir := writeTrainCSV(t, trainDir, "train.csv", 5, -1)
	outside := filepath.Join(t.TempDir(), "outside.csv")
	if err := os.WriteFile(outside, []byte("secret,columns\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, data string
		status     int
		columns    []string
		errHas     string
	}{
		{"relative path in the data directory", filepath.Base(inDataDir), 200, []string{"id", "x1", "x2", "plan", "label"}, ""},
		{"absolute path in a training data directory", inTrainDir, 200, []string{"id", "x1", "x2", "plan", "label"}, ""},
		{"missing file", "no-such.csv", 404, nil, "no-such.csv not found"},
		{"outside the allowed directories", outside, 400, nil, "outside the directories training may read"},
		{"a directory", a.cfg.DataDir, 400, nil, "is a directory"},
		{"no path", "", 400, nil, "give a CSV path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.getRaw("/training/columns?data="+url.QueryEscape(tc.data), "application/json")
			var got struct {
				Columns []string `json:"columns"`
				Error   string   `json:"error"`
				Field   string   `json:"field"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("not JSON (%d): %s", status, body)
			}
			if status != tc.status || !slices.Equal(got.Columns, tc.columns) {
				t.Errorf("status %d columns %q, want %d %q (%s)", status, got.Columns, tc.status, tc.columns, body)
			}
			if tc.errHas != "" && (!strings.Contains(got.Error, tc.errHas) || got.Field != "data") {
				t.Errorf("error %q field %q, want it to contain %q on data", got.Error, got.Field, tc.errHas)
			}
			if strings.Contains(string(body), "secret") {
				t.Errorf("a forbidden file's header leaked: %s", body)
			}
		})
	}

	// A viewer cannot read files' headers.
	if err := a.putUser(context.Background(), "vera", "viewer-pass", RoleViewer); err != nil {
		t.Fatal(err)
	}
	v := uiLogin(t, a, "vera", "viewer-pass")
	if status, body := v.getRaw("/training/columns?data=cols.csv", "application/json"); status != http.StatusForbidden || strings.Contains(string(body), "plan") {
		t.Errorf("viewer columns: %d %s", status, body)
	}
}

func TestUITrainingFormGroups(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	writeTrainCSV(t, a.cfg.DataDir, "cols.csv", 5, -1)

	doc := s.mustGet("/training")
	form := mustTestID(t, doc, "training-form")
	for group, fields := range map[string][]string{
		"group-data":     {"data"},
		"group-columns":  {"target", "id"},
		"group-algo":     {"algo"},
		"group-gbdt":     {"rounds", "learning_rate", "max_leaves", "max_depth", "early_stopping"},
		"group-logistic": {"logistic_c", "logistic_max_iter"},
		"group-register": {"model", "register", "deploy"},
	} {
		g := mustTestID(t, form, group)
		if g.Data != "fieldset" || len(elements(g, "legend")) != 1 {
			t.Errorf("%s is a <%s> with %d legends, want a fieldset with a legend", group, g.Data, len(elements(g, "legend")))
		}
		var names []string
		for _, tag := range []string{"input", "select"} {
			for _, n := range elements(g, tag) {
				names = append(names, attrOf(n, "name"))
			}
		}
		for _, f := range fields {
			if !slices.Contains(names, f) {
				t.Errorf("%s lacks field %s (has %q)", group, f, names)
			}
		}
	}
	if got := attrOf(mustTestID(t, form, "group-gbdt"), "data-algo"); got != "gbdt" {
		t.Errorf("GBDT group data-algo = %q", got)
	}
	if got := attrOf(mustTestID(t, form, "group-logistic"), "data-algo"); got != "logistic" {
		t.Errorf("logistic group data-algo = %q", got)
	}
	// Every visible input is inside a label.
	var unlabelled []string
	var walk func(n *html.Node, inLabel bool)
	walk = func(n *html.Node, inLabel bool) {
		if n.Type == html.ElementNode {
			if (n.Data == "input" || n.Data == "select") && attrOf(n, "type") != "hidden" && !inLabel {
				unlabelled = append(unlabelled, attrOf(n, "name"))
			}
			inLabel = inLabel || n.Data == "label"
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inLabel)
		}
	}
	walk(form, false)
	if len(unlabelled) > 0 {
		t.Errorf("inputs without a label: %q", unlabelled)
	}
	if byTestID(form, "target-select") != nil {
		t.Error("the target is a select before any data file is named")
	}

	// The server-rendered column picker: ?data= names the file.
	doc = s.mustGet("/training?data=cols.csv")
	sel := mustTestID(t, doc, "target-select")
	var opts []string
	for _, o := range elements(sel, "option") {
		opts = append(opts, attrOf(o, "value"))
	}
	if !slices.Equal(opts, []string{"id", "x1", "x2", "plan", "label"}) {
		t.Errorf("target options %q", opts)
	}
	if n := len(elements(mustTestID(t, doc, "id-select"), "option")); n != 6 {
		t.Errorf("id select has %d options, want (none) and 5 columns", n)
	}
	doc = s.mustGet("/training?data=missing.csv")
	if got := nodeText(mustTestID(t, doc, "columns-status")); !strings.Contains(got, "missing.csv not found") {
		t.Errorf("columns status for a missing file: %q", got)
	}
	if byTestID(doc, "target-select") != nil {
		t.Error("a missing file still gives a target select")
	}
}

func TestUITrainingLogisticConvergedProgress(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	csvPath := trainCSV(t, 400)
	// Without JavaScript the browser sends both groups; the server keeps the logistic ones.
	status, loc, body := s.post("/training", url.Values{"data": {csvPath}, "target": {"churn"}, "algo": {"logistic"},
		"rounds": {"7"}, "max_leaves": {"9"}, "learning_rate": {"0.5"}, "logistic_c": {"2"}, "logistic_max_iter": {"100"},
		"model": {"lr-model"}, "register_present": {"1"}, "deploy": {"none"}})
	if status != http.StatusSeeOther || loc != "/training" {
		t.Fatalf("POST /training: %d %q\n%s", status, loc, body)
	}
	var job TrainJobStatus
	uiWaitFor(t, "the logistic job to end", 60*time.Second, func() bool {
		jobs, err := a.trainJobs(context.Background())
		if err != nil || len(jobs) != 1 {
			t.Fatalf("%d jobs: %v", len(jobs), err)
		}
		job = jobs[0]
		return job.State != JobQueued && job.State != JobRunning
	})
	if job.State != JobFinished || job.Rounds != 100 || job.Round < 1 || job.Round >= 100 {
		t.Fatalf("job %+v: want finished before round 100 of 100", job)
	}
	var run registry.Run
	getJSON(t, a, "/api/v1/runs/"+job.RunID, &run)
	// The run records every parameter; the GBDT ones sent keep their defaults.
	if run.Params["max_leaves"] == "9" || run.Params["learning_rate"] == "0.5" || run.Params["logistic_c"] != "2" {
		t.Errorf("logistic run params %v: want logistic_c=2 and the GBDT fields sent ignored", run.Params)
	}

	want := "converged at round " + itoa64(int64(job.Round)) + " of 100"
	_, frag, text := s.get("/training?fragment=1")
	row := mustTestID(t, frag, "job-"+job.RunID)
	if got := nodeText(row); !strings.Contains(got, want) || strings.Contains(got, "/100") {
		t.Errorf("job row %q, want %q", got, want)
	}
	bars := elements(row, "progress")
	if len(bars) != 1 || attrOf(bars[0], "value") != attrOf(bars[0], "max") {
		t.Errorf("progress bar of a converged job is not full:\n%s", text)
	}
	// The curve fragment says the same and is final.
	_, cdoc, ctext := s.get("/training/jobs/" + job.RunID + "/chart")
	curve := mustTestID(t, cdoc, "loss-curve")
	if !strings.Contains(nodeText(curve), want) || !hasAttr(curve, "data-final") {
		t.Errorf("curve fragment of a converged job:\n%s", ctext)
	}
}

func TestUITrainingChartFragment(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	ctx := registry.WithUser(context.Background(), "admin")
	exp, err := a.store.EnsureExperiment(ctx, "curves")
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.store.CreateRun(ctx, exp.ID, registry.RunOptions{Name: "curve"})
	if err != nil {
		t.Fatal(err)
	}
	logRound := func(step int64) {
		t.Helper()
		now := time.Now()
		if err := a.store.LogMetrics(ctx, r.ID, []registry.MetricPoint{
			{Key: "train_loss", Value: 1 / float64(step), Step: step, Time: now},
			{Key: "valid_loss", Value: 1.2 / float64(step), Step: step, Time: now}}); err != nil {
			t.Fatal(err)
		}
	}
	fragment := func() *html.Node {
		t.Helper()
		status, doc, text := s.get("/training/jobs/" + r.ID + "/chart")
		if status != http.StatusOK {
			t.Fatalf("chart fragment: %d\n%s", status, text)
		}
		return mustTestID(t, doc, "loss-curve")
	}

	for _, tc := range []struct {
		name             string
		round            int64 // logged before the request (0: none)
		finish           bool
		lines, dots      int
		empty, wantFinal bool
	}{
		{"no round yet", 0, false, 0, 0, true, false},
		{"one round: dots", 1, false, 0, 2, false, false},
		{"two rounds: two lines", 2, false, 2, 0, false, false},
		{"ended: final", 3, true, 2, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.round > 0 {
				logRound(tc.round)
			}
			if tc.finish {
				if _, err := a.store.FinishRun(ctx, r.ID, registry.RunFinished); err != nil {
					t.Fatal(err)
				}
			}
			f := fragment()
			var lines int
			for _, p := range elements(f, "polyline") {
				if strings.Contains(attrOf(p, "class"), "line") {
					lines++
				}
			}
			if lines != tc.lines || len(elements(f, "circle")) != tc.dots {
				t.Errorf("%d lines %d dots, want %d and %d", lines, len(elements(f, "circle")), tc.lines, tc.dots)
			}
			if (byTestID(f, "curve-empty") != nil) != tc.empty {
				t.Errorf("empty note shown = %v, want %v", !tc.empty, tc.empty)
			}
			if hasAttr(f, "data-final") != tc.wantFinal {
				t.Errorf("data-final = %v, want %v", !tc.wantFinal, tc.wantFinal)
			}
		})
	}
	if status, _ := s.getRaw("/training/jobs/999999/chart", "text/html"); status != http.StatusNotFound {
		t.Errorf("unknown run: %d, want 404", status)
	}
}
