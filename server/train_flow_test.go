package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"driftd/registry"
)

// writeTrainCSV writes a binary classification CSV of n rows (id, x1, x2,
// plan, label); when badRow >= 0 that row's x1 is not a number.
func writeTrainCSV(tb testing.TB, dir, name string, n, badRow int) string {
	tb.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	var b strings.Builder
	b.WriteString("id,x1,x2,plan,label\n")
	plans := []string{"basic", "pro", "team"}
	for i := range n {
		x1, x2 := r.NormFloat64(), r.Float64()*10
		plan := plans[r.IntN(3)]
		label := 0
		if x1+0.2*x2+map[string]float64{"basic": -0.5, "pro": 0, "team": 0.7}[plan]+0.5*r.NormFloat64() > 1 {
			label = 1
		}
		x1s := fmt.Sprintf("%.4f", x1)
		if i == badRow {
			x1s = "not-a-number"
		}
		fmt.Fprintf(&b, "r%d,%s,%.3f,%s,%d\n", i, x1s, x2, plan, label)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// postTrain sends a JSON training request with the API token.
func postTrain(tb testing.TB, a *testApp, body map[string]any) (int, map[string]any) {
	tb.Helper()
	b, _ := json.Marshal(body)
	status, resp := a.do(tb, http.MethodPost, "/api/v1/train", a.token, "application/json", bytes.NewReader(b))
	var out map[string]any
	_ = json.Unmarshal(resp, &out)
	return status, out
}

// getJSON fetches an API path and decodes it into v, failing on non-200.
func getJSON(tb testing.TB, a *testApp, path string, v any) {
	tb.Helper()
	status, b := a.do(tb, http.MethodGet, path, a.token, "", nil)
	if status != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", path, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("GET %s: %v\n%s", path, err, b)
	}
}

// waitRunEnded polls the run until it leaves "running".
func waitRunEnded(tb testing.TB, a *testApp, id string) registry.Run {
	tb.Helper()
	var run registry.Run
	uiWaitFor(tb, "run "+id+" to end", 60*time.Second, func() bool {
		getJSON(tb, a, "/api/v1/runs/"+id, &run)
		return run.Status != registry.RunRunning
	})
	return run
}

func TestTrainAPIRunRegisterDeploy(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	data := writeTrainCSV(t, t.TempDir(), "churn.csv", 2000, -1)
	status, resp := postTrain(t, a, map[string]any{"data": data, "target": "label", "id": "id", "categorical": []string{"plan"},
		"params": map[string]any{"rounds": 15, "learning_rate": 0.2, "max_leaves": 15}, "model": "churn",
		"experiment": "churn-exp", "register": true, "deploy": "staging"})
	if status != http.StatusAccepted {
		t.Fatalf("POST /api/v1/train: %d %v", status, resp)
	}
	id, _ := resp["run_id"].(string)
	if id == "" {
		t.Fatalf("no run_id in %v", resp)
	}
	run := waitRunEnded(t, a, id)
	if run.Status != registry.RunFinished {
		var logs struct{ Lines []string }
		getJSON(t, a, "/api/v1/runs/"+id+"/logs", &logs)
		t.Fatalf("run %s: status %s, logs:\n%s", id, run.Status, strings.Join(logs.Lines, "\n"))
	}
	if run.Params["rounds"] != "15" || run.Params["algo"] != "gbdt" || run.Params["target"] != "label" || run.Params["objective"] != "binary" {
		t.Errorf("params %v", run.Params)
	}
	for _, name := range []string{"model", "drift.profile", "feature_importance.json"} {
		if run.Artifacts[name] == 0 {
			t.Errorf("run has no %s artifact: %v", name, run.Artifacts)
		}
	}
	if _, ok := run.Metrics["validation_auc"]; !ok {
		t.Errorf("no final validation_auc in %v", run.Metrics)
	}
	for _, key := range []string{"train_loss", "valid_loss", "valid_auc"} {
		var h struct {
			History []registry.MetricPoint `json:"history"`
		}
		getJSON(t, a, "/api/v1/runs/"+id+"/metric-history?key="+key, &h)
		if len(h.History) != 15 {
			t.Fatalf("%s: %d points, want one per round (15)", key, len(h.History))
		}
		for i, p := range h.History {
			if p.Step != int64(i+1) {
				t.Errorf("%s point %d has step %d", key, i, p.Step)
			}
		}
	}
	var logs struct{ Lines []string }
	getJSON(t, a, "/api/v1/runs/"+id+"/logs", &logs)
	rounds := 0
	for _, l := range logs.Lines {
		if strings.HasPrefix(l, "round ") {
			rounds++
		}
	}
	if rounds != 15 {
		t.Errorf("%d progress lines, want 15:\n%s", rounds, strings.Join(logs.Lines, "\n"))
	}

	// Registered, linked both ways, and deployed to staging with the reason.
	if !slices.Equal(run.Versions, []string{"churn@1.0.0"}) {
		t.Errorf("run versions %v, want [churn@1.0.0]", run.Versions)
	}
	var v registry.Version
	getJSON(t, a, "/api/v1/models/churn/versions/1.0.0", &v)
	if v.RunID != id || v.ProfileSize == 0 || v.Fingerprint.Rows != 2000 || !slices.Contains(v.Environments, "staging") {
		t.Errorf("version %+v", v)
	}
	var hist struct{ Deployments []registry.Event }
	getJSON(t, a, "/api/v1/models/churn/deployments", &hist)
	if len(hist.Deployments) != 1 || hist.Deployments[0].Environment != "staging" || hist.Deployments[0].To != "1.0.0" ||
		hist.Deployments[0].Reason != "trained by run "+id || hist.Deployments[0].User != "api-token" {
		t.Errorf("deployment history %+v", hist.Deployments)
	}

	var jobs struct{ Jobs []TrainJobStatus }
	getJSON(t, a, "/api/v1/train/jobs", &jobs)
	if len(jobs.Jobs) != 1 || jobs.Jobs[0].State != JobFinished || jobs.Jobs[0].Round != 15 || jobs.Jobs[0].Rounds != 15 ||
		jobs.Jobs[0].Version != "1.0.0" || jobs.Jobs[0].DeployedTo != "staging" || jobs.Jobs[0].TrainLoss == nil {
		t.Errorf("jobs %+v", jobs.Jobs)
	}
}

func TestTrainAPIBadCSVFailsRunWithLine(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	data := writeTrainCSV(t, t.TempDir(), "bad.csv", 2000, 1800)
	status, resp := postTrain(t, a, map[string]any{"data": data, "target": "label", "params": map[string]any{"rounds": 10}})
	if status != http.StatusAccepted {
		t.Fatalf("POST: %d %v", status, resp)
	}
	id := resp["run_id"].(string)
	if run := waitRunEnded(t, a, id); run.Status != registry.RunFailed {
		t.Fatalf("status %s, want failed", run.Status)
	}
	var logs struct{ Lines []string }
	getJSON(t, a, "/api/v1/runs/"+id+"/logs", &logs)
	all := strings.Join(logs.Lines, "\n")
	if !strings.Contains(all, "bad.csv:1802") || !strings.Contains(all, "not-a-number") {
		t.Errorf("logs do not name bad.csv:1802 and the value:\n%s", all)
	}
	var jobs struct{ Jobs []TrainJobStatus }
	getJSON(t, a, "/api/v1/train/jobs", &jobs)
	if len(jobs.Jobs) != 1 || jobs.Jobs[0].State != JobFailed || !strings.Contains(jobs.Jobs[0].Error, "bad.csv:1802") {
		t.Errorf("jobs %+v", jobs.Jobs)
	}
}

func TestTrainAPIValidation(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	data := writeTrainCSV(t, t.TempDir(), "ok.csv", 50, -1)
	// A symbolic link inside an allowed directory to a file outside them.
	link := filepath.Join(t.TempDir(), "passwd.csv")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"missing target", map[string]any{"data": data}, "target"},
		{"outside the allowed directories", map[string]any{"data": "/etc/passwd", "target": "label"}, "data"},
		{"link out of the allowed directories", map[string]any{"data": data, "test": link, "target": "label"}, "test"},
		{"missing data", map[string]any{"target": "label"}, "data"},
		{"file not found", map[string]any{"data": data + ".nope", "target": "label"}, "data"},
		{"unknown algo", map[string]any{"data": data, "target": "label", "algo": "svm"}, "algo"},
		{"bad objective", map[string]any{"data": data, "target": "label", "objective": "ranking"}, "objective"},
		{"negative rounds", map[string]any{"data": data, "target": "label", "params": map[string]any{"rounds": -1}}, "params.rounds"},
		{"fractional rounds", map[string]any{"data": data, "target": "label", "params": map[string]any{"rounds": 2.5}}, "params.rounds"},
		{"zero learning rate", map[string]any{"data": data, "target": "label", "params": map[string]any{"learning_rate": 0}}, "params.learning_rate"},
		{"unknown param", map[string]any{"data": data, "target": "label", "params": map[string]any{"eta2": 1}}, "params.eta2"},
		{"bad valid fraction", map[string]any{"data": data, "target": "label", "valid_fraction": 1}, "valid_fraction"},
		{"unknown environment", map[string]any{"data": data, "target": "label", "deploy": "moon"}, "deploy"},
		{"deploy without register", map[string]any{"data": data, "target": "label", "deploy": "dev", "register": false}, "deploy"},
		{"bad model name", map[string]any{"data": data, "target": "label", "model": "a b/c"}, "model"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := postTrain(t, a, tc.body)
			if status != http.StatusBadRequest || resp["field"] != tc.field {
				t.Errorf("status %d body %v, want 400 naming %q", status, resp, tc.field)
			}
		})
	}
	if status, _ := a.do(t, http.MethodPost, "/api/v1/train", "", "application/json", strings.NewReader(`{}`)); status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", status)
	}
	var runs struct{ Runs []registry.Run }
	getJSON(t, a, "/api/v1/runs", &runs)
	if len(runs.Runs) != 0 {
		t.Errorf("refused requests created %d runs", len(runs.Runs))
	}
}

func TestTrainQueueFull(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	max := a.trainQueueMax()
	if max != 8 {
		t.Fatalf("training queue holds %d waiting runs, want 8", max)
	}
	// A long job holds the training queue's one slot.
	long := writeTrainCSV(t, t.TempDir(), "long.csv", 2000, -1)
	status, resp := postTrain(t, a, map[string]any{"data": long, "target": "label", "params": map[string]any{"rounds": 100000}, "register": false})
	if status != http.StatusAccepted {
		t.Fatalf("long job: %d %v", status, resp)
	}
	uiWaitFor(t, "the long job to run", 30*time.Second, func() bool {
		jobs, err := a.trainJobs(context.Background())
		return err == nil && len(jobs) == 1 && jobs[0].State == JobRunning
	})
	data := writeTrainCSV(t, t.TempDir(), "q.csv", 100, -1)
	body := map[string]any{"data": data, "target": "label", "params": map[string]any{"rounds": 5}, "register": false}
	for i := range max {
		if status, resp := postTrain(t, a, body); status != http.StatusAccepted {
			t.Fatalf("job %d: %d %v", i, status, resp)
		}
	}
	status, resp = postTrain(t, a, body)
	if status != http.StatusTooManyRequests || !strings.Contains(fmt.Sprint(resp["error"]), "queue is full") {
		t.Fatalf("job %d: %d %v, want 429", max+2, status, resp)
	}
	var jobs struct{ Jobs []TrainJobStatus }
	getJSON(t, a, "/api/v1/train/jobs", &jobs)
	if len(jobs.Jobs) != max+1 {
		t.Fatalf("%d jobs listed, want %d", len(jobs.Jobs), max+1)
	}
	for i, j := range jobs.Jobs {
		want := JobQueued
		if i == 0 {
			want = JobRunning
		}
		if j.State != want {
			t.Errorf("job %d (%s) is %s, want %s", i, j.RunID, j.State, want)
		}
	}
	// Shutting down ends the running and the queued runs as killed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	store, err := registry.Open(filepath.Join(a.cfg.DataDir, registry.FileName), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runs, err := store.SearchRuns(context.Background(), registry.RunQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != max+1 {
		t.Fatalf("%d runs, want %d", len(runs), max+1)
	}
	for _, r := range runs {
		if r.Status != registry.RunKilled {
			t.Errorf("run %s: %s after shutdown, want killed", r.ID, r.Status)
		}
	}
}

func TestTrainUIFormUploadAndViewer(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/training")
	mustTestID(t, doc, "training-empty")
	csrf := formCSRF(t, doc, "training-form")

	// Multipart form with the CSV uploaded, as the browser sends it.
	csvPath := writeTrainCSV(t, t.TempDir(), "upload.csv", 1000, -1)
	raw, _ := os.ReadFile(csvPath)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"_csrf": csrf, "data": "", "target": "label", "id": "id", "algo": "gbdt", "rounds": "12",
		"learning_rate": "0.3", "max_leaves": "8", "model": "ui-model", "register": "on", "register_present": "1", "deploy": "none"} {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("data", "upload.csv")
	_, _ = fw.Write(raw)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, a.base+"/training", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "text/html")
	resp, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/training" {
		t.Fatalf("POST /training: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), b)
	}
	uploads, _ := os.ReadDir(filepath.Join(a.cfg.DataDir, "uploads"))
	if len(uploads) != 1 {
		t.Errorf("%d files under uploads/, want 1", len(uploads))
	}

	// The live fragment shows the job until it has finished.
	var row string
	uiWaitFor(t, "the job to finish on the page", 60*time.Second, func() bool {
		status, frag, text := s.get("/training?fragment=1")
		if status != http.StatusOK {
			t.Fatalf("fragment: %d", status)
		}
		jobs, err := a.trainJobs(context.Background())
		if err != nil || len(jobs) != 1 {
			t.Fatalf("%d jobs, want 1", len(jobs))
		}
		n := byTestID(frag, "job-"+jobs[0].RunID)
		if n == nil {
			t.Fatalf("fragment lacks the job row:\n%s", text)
		}
		row = nodeText(n)
		return strings.Contains(row, "finished") || strings.Contains(row, "failed")
	})
	if !strings.Contains(row, "finished") || !strings.Contains(row, "12/12") || !strings.Contains(row, "ui-model 1.0.0") {
		t.Errorf("job row %q, want finished 12/12 ui-model 1.0.0", row)
	}
	jobs, err := a.trainJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var run registry.Run
	getJSON(t, a, "/api/v1/runs/"+jobs[0].RunID, &run)
	if run.Params["data"] != "upload.csv" || run.Params["rounds"] != "12" || run.CreatedBy != "admin" {
		t.Errorf("run params %v created by %q", run.Params, run.CreatedBy)
	}
	mustTestID(t, s.mustGet("/training"), "training-jobs")

	// A bad submission shows the form again with the reason.
	status, _, page := s.post("/training", map[string][]string{"target": {""}, "data": {csvPath}})
	if status != http.StatusBadRequest || !strings.Contains(page, "target: required") {
		t.Errorf("refused form: %d\n%s", status, page)
	}

	// A viewer sees the jobs but no form, and cannot post.
	if err := a.putUser(context.Background(), "vera", "viewer-pass", RoleViewer); err != nil {
		t.Fatal(err)
	}
	v := uiLogin(t, a, "vera", "viewer-pass")
	vdoc := v.mustGet("/training")
	if byTestID(vdoc, "training-form") != nil || byTestID(vdoc, "training-readonly") == nil {
		t.Error("a viewer is shown the training form")
	}
	if status, _, _ := v.post("/training", map[string][]string{"target": {"label"}, "data": {csvPath}}); status != http.StatusForbidden {
		t.Errorf("viewer POST /training: %d, want 403", status)
	}
}
