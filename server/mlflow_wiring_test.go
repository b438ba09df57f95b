package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"driftd/registry"
)

// TestMLflowWiring checks the MLflow API on the real server: the API token
// and Basic users with their roles, MLflow-shaped refusals, body limits of
// the artifact proxy and of /ajax-api, and that a run logged through MLflow is
// one of driftd's runs.
func TestMLflowWiring(t *testing.T) {
	app := mustStartApp(t, testConfig(t))
	basicAuth := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	call := func(method, path, auth, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, app.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s %s: answer not a JSON object: %v", method, path, err)
		}
		return resp.StatusCode, out
	}
	token := "Bearer " + app.token
	admin := basicAuth("admin", "correct-horse")
	if st, out := call(http.MethodPost, "/api/v1/users", token, `{"username":"val","password":"viewer-pass","role":"viewer"}`); st != http.StatusCreated {
		t.Fatalf("create viewer: %d %v", st, out)
	}
	viewer := basicAuth("val", "viewer-pass")
	steps := []struct {
		name, method, path, auth, body string
		want                           int
		wantCode                       string
	}{
		{"token creates an experiment", http.MethodPost, "/api/2.0/mlflow/experiments/create", token, `{"name":"churn"}`, 200, ""},
		{"no credentials", http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=1", "", "", 401, "UNAUTHENTICATED"},
		{"wrong password", http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=1", basicAuth("admin", "nope"), "", 401, "UNAUTHENTICATED"},
		{"admin by Basic creates a run", http.MethodPost, "/api/2.0/mlflow/runs/create", admin, `{"experiment_id":"1","run_name":"from-mlflow"}`, 200, ""},
		{"viewer reads", http.MethodGet, "/api/2.0/mlflow/runs/get?run_id=1", viewer, "", 200, ""},
		{"viewer searches", http.MethodPost, "/ajax-api/2.0/mlflow/runs/search", viewer, `{"experiment_ids":["1"]}`, 200, ""},
		{"viewer may not write", http.MethodPost, "/api/2.0/mlflow/runs/log-parameter", viewer, `{"run_id":"1","key":"a","value":"1"}`, 403, "PERMISSION_DENIED"},
		{"large batch under /ajax-api", http.MethodPost, "/ajax-api/2.0/mlflow/runs/log-batch", admin, bigBatch(), 200, ""},
	}
	for _, st := range steps {
		status, out := call(st.method, st.path, st.auth, st.body)
		if status != st.want || (st.wantCode != "" && out["error_code"] != st.wantCode) {
			t.Fatalf("%s: %d %v, want %d %s", st.name, status, out, st.want, st.wantCode)
		}
	}
	// Twenty calls with Basic auth: the cache keeps them clear of bcrypt and the login limiter.
	for i := 0; i < 20; i++ {
		if status, out := call(http.MethodGet, "/api/2.0/mlflow/runs/get?run_id=1", admin, ""); status != 200 {
			t.Fatalf("Basic call %d: %d %v", i, status, out)
		}
	}
	// A 6 MiB artifact through the proxy (over the JSON limit, under the upload limit).
	req, _ := http.NewRequest(http.MethodPut, app.base+"/api/2.0/mlflow-artifacts/artifacts/1/1/artifacts/data.bin", bytes.NewReader(make([]byte, 6<<20)))
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("6 MiB upload: %d", resp.StatusCode)
	}
	// The run is driftd's: /api/v1 sees its name, creator, artifact and batch.
	status, b := app.do(t, http.MethodGet, "/api/v1/runs/1", app.token, "", nil)
	if status != 200 || !strings.Contains(string(b), `"name":"from-mlflow"`) || !strings.Contains(string(b), `"created_by":"admin"`) ||
		!strings.Contains(string(b), `"data.bin":6291456`) || !strings.Contains(string(b), `"m0"`) {
		t.Fatalf("driftd's view of the MLflow run: %d %s", status, b)
	}
	// The Experiments page shows it like a run of driftd's own, until MLflow deletes it.
	s := uiLogin(t, app, "admin", "correct-horse")
	if got := nodeText(mustTestID(t, s.mustGet("/experiments/1"), "runs")); !strings.Contains(got, "from-mlflow") {
		t.Fatalf("the experiment page does not list the MLflow run: %q", got)
	}
	if st, out := call(http.MethodPost, "/api/2.0/mlflow/runs/delete", token, `{"run_id":"1"}`); st != 200 {
		t.Fatalf("delete run: %d %v", st, out)
	}
	if _, _, body := s.get("/experiments/1"); strings.Contains(body, "from-mlflow") || !strings.Contains(body, "This experiment has no runs yet") {
		t.Errorf("a run deleted through MLflow is still listed")
	}
	if st, out := call(http.MethodPost, "/api/2.0/mlflow/runs/restore", token, `{"run_id":"1"}`); st != 200 {
		t.Fatalf("restore run: %d %v", st, out)
	}
	if got := nodeText(mustTestID(t, s.mustGet("/experiments/1"), "runs")); !strings.Contains(got, "from-mlflow") {
		t.Errorf("a restored run is not listed again: %q", got)
	}
	if byTestID(s.mustGet("/experiments"), "experiment-1") == nil {
		t.Fatal("the experiments page does not list churn")
	}
	if st, out := call(http.MethodPost, "/api/2.0/mlflow/experiments/delete", token, `{"experiment_id":"1"}`); st != 200 {
		t.Fatalf("delete experiment: %d %v", st, out)
	}
	if byTestID(s.mustGet("/experiments"), "experiment-1") != nil {
		t.Error("an experiment deleted through MLflow is still listed")
	}
}

// TestMLflowExternalVersionNotDeployable registers through MLflow a version
// driftd cannot score (an s3:// source) and checks driftd's own API shows it
// as not scorable, and that the deploy API, the UI's deploy form, the
// artifact download and scoring by version refuse it with a 400 naming the
// version, its source and why.
func TestMLflowExternalVersionNotDeployable(t *testing.T) {
	app := mustStartApp(t, testConfig(t))
	const source = "s3://bucket/churn/model.pkl"
	for _, step := range []struct{ path, body string }{
		{"/api/2.0/mlflow/registered-models/create", `{"name":"churn"}`},
		{"/api/2.0/mlflow/model-versions/create", `{"name":"churn","source":"` + source + `","tags":[{"key":"flavor","value":"sklearn"}]}`},
	} {
		if st, b := app.do(t, http.MethodPost, step.path, app.token, "application/json", strings.NewReader(step.body)); st != http.StatusOK {
			t.Fatalf("POST %s: %d %s", step.path, st, b)
		}
	}
	st, b := app.do(t, http.MethodGet, "/api/v1/models/churn/versions/1.0.0", app.token, "", nil)
	var v struct {
		Scorable bool              `json:"scorable"`
		Tags     map[string]string `json:"tags"`
		External *struct {
			Source string `json:"source"`
			Reason string `json:"reason"`
		} `json:"external"`
	}
	if err := json.Unmarshal(b, &v); st != http.StatusOK || err != nil || v.Scorable || v.External == nil || v.External.Source != source ||
		v.External.Reason == "" || v.Tags["flavor"] != "sklearn" {
		t.Fatalf("GET version: %d %s (%v)", st, b, err)
	}
	refusals := []struct {
		name, method, path, body string
	}{
		{"deploy", http.MethodPost, "/api/v1/models/churn/deploy", `{"version":"1.0.0","environment":"production","reason":"try"}`},
		{"download", http.MethodGet, "/api/v1/models/churn/versions/1.0.0/artifact", ""},
		{"score by version", http.MethodPost, "/api/v1/models/churn/predict?version=1.0.0", `{"age":30}`},
	}
	for _, r := range refusals {
		st, b := app.do(t, r.method, r.path, app.token, "application/json", strings.NewReader(r.body))
		var e struct{ Error, Field string }
		if err := json.Unmarshal(b, &e); st != http.StatusBadRequest || err != nil || e.Field != "version" ||
			!strings.Contains(e.Error, "version 1.0.0 of model churn is not scorable") || !strings.Contains(e.Error, source) {
			t.Errorf("%s: %d %s, want a 400 naming the version, its source and why", r.name, st, b)
		}
	}
	s := uiLogin(t, app, "admin", "correct-horse")
	st, loc, body := s.post("/models/churn/deploy", url.Values{"environment": {"production"}, "version": {"1.0.0"}, "reason": {"try"}})
	if q, err := url.Parse(loc); st != http.StatusSeeOther || err != nil || !strings.Contains(q.Query().Get("err"), "not scorable") {
		t.Fatalf("UI deploy: %d %q %s", st, loc, body)
	}
	if d, err := app.store.Deployed(context.Background(), "churn", "production"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("production after the refusals: %+v (%v)", d, err)
	}
}

func bigBatch() string {
	var sb strings.Builder
	sb.WriteString(`{"run_id":"1","metrics":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"key":"m0","value":0.123456789,"timestamp":1772366400000,"step":` + strings.Repeat("1", 1+i%9) + `}`)
	}
	sb.WriteString(`]}`)
	return sb.String()
}
