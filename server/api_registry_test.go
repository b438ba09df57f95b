package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"driftd/registry"
	"driftd/train"
)

// mustModelFile trains a tiny GBDT model and returns the bytes `driftd train --out` writes.
func mustModelFile(tb testing.TB, seed int) []byte {
	tb.Helper()
	var csv strings.Builder
	csv.WriteString("age,plan,churn\n")
	for i := 0; i < 200; i++ {
		plan := []string{"basic", "pro", "max"}[(i+seed)%3]
		churn := 0
		if (i*7+seed)%10 < 4 || plan == "basic" && i%2 == 0 {
			churn = 1
		}
		fmt.Fprintf(&csv, "%d,%s,%d\n", 18+(i*13+seed)%60, plan, churn)
	}
	ds, err := train.ReadCSV(strings.NewReader(csv.String()), train.CSVOptions{Target: "churn", Name: "churn.csv"})
	if err != nil {
		tb.Fatal(err)
	}
	p := train.DefaultParams()
	p.Rounds, p.MinSamplesLeaf, p.Threads = 3, 5, 1
	m, err := train.Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// apiJSON sends a JSON (or nil) body with the API token and decodes the answer into out.
func (t *testApp) apiJSON(tb testing.TB, method, path string, body any, wantStatus int, out any) []byte {
	tb.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	status, b := t.do(tb, method, path, t.token, "application/json", rd)
	if status != wantStatus {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, status, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

// TestRegistryAPIDeployFlow is the "done when": register three versions, deploy
// 1.0.0 then 1.1.0 to production, roll back, and read exactly that history after a restart.
func TestRegistryAPIDeployFlow(t *testing.T) {
	cfg := testConfig(t)
	a := mustStartApp(t, cfg)
	for i, want := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		status, b := a.do(t, http.MethodPost, "/api/v1/models/churn/versions?description=round+"+want, a.token,
			"application/octet-stream", bytes.NewReader(mustModelFile(t, i)))
		var v registry.Version
		if status != http.StatusCreated || json.Unmarshal(b, &v) != nil {
			t.Fatalf("register: %d %s", status, b)
		}
		if v.Name != "churn" || v.Version != want || v.Algo != "gbdt" || len(v.Schema) != 2 ||
			v.Schema[1].Type != registry.FeatureCategorical || v.Description != "round "+want {
			t.Fatalf("registered %+v", v)
		}
	}
	var list struct{ Versions []registry.Version }
	a.apiJSON(t, http.MethodGet, "/api/v1/models/churn/versions", nil, http.StatusOK, &list)
	if len(list.Versions) != 3 || list.Versions[2].Version != "1.2.0" {
		t.Fatalf("versions = %+v", list.Versions)
	}
	deploy := func(v, reason string) {
		a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/deploy",
			map[string]string{"version": v, "environment": "production", "reason": reason}, http.StatusOK, nil)
	}
	deploy("1.0.0", "first")
	deploy("1.1.0", "better auc")
	var m registry.Model
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/rollback",
		map[string]string{"environment": "production", "reason": "latency"}, http.StatusOK, &m)
	if m.Environments["production"] != "1.0.0" {
		t.Fatalf("after rollback environments = %v", m.Environments)
	}

	// Restart on the same data directory.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b := mustStartApp(t, cfg)
	var got registry.Model
	b.apiJSON(t, http.MethodGet, "/api/v1/models/churn", nil, http.StatusOK, &got)
	if got.Environments["production"] != "1.0.0" || got.VersionCount != 3 {
		t.Fatalf("after restart model = %+v", got)
	}
	var hist struct {
		Deployments []map[string]any `json:"deployments"`
	}
	b.apiJSON(t, http.MethodGet, "/api/v1/models/churn/deployments", nil, http.StatusOK, &hist)
	want := []string{"rollback production 1.1.0->1.0.0 latency", "deploy production 1.0.0->1.1.0 better auc",
		"deploy production ->1.0.0 first"}
	if len(hist.Deployments) != len(want) {
		t.Fatalf("deployments = %+v", hist.Deployments)
	}
	for i, d := range hist.Deployments {
		line := fmt.Sprintf("%s %s %s->%s %s", d["action"], d["environment"], d["from"], d["to"], d["reason"])
		if line != want[i] || d["user"] != "api-token" || d["time"] == "" {
			t.Errorf("deployment %d = %q (%v), want %q", i, line, d, want[i])
		}
	}
}

func TestRegistryAPIErrors(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	model := mustModelFile(t, 1)
	post := func(path, token string, body []byte) (int, apiError) {
		status, b := a.do(t, http.MethodPost, path, token, "application/octet-stream", bytes.NewReader(body))
		var e apiError
		_ = json.Unmarshal(b, &e)
		return status, e
	}
	cases := []struct {
		name, path, token string
		body              []byte
		status            int
		field             string
	}{
		{"no token", "/api/v1/models/churn/versions", "", model, http.StatusUnauthorized, ""},
		{"truncated artifact", "/api/v1/models/churn/versions", a.token, model[:len(model)/2], http.StatusBadRequest, "artifact"},
		{"foreign artifact", "/api/v1/models/churn/versions", a.token, []byte("PK\x03\x04 zip file"), http.StatusBadRequest, "artifact"},
		{"empty artifact", "/api/v1/models/churn/versions", a.token, nil, http.StatusBadRequest, "artifact"},
		{"bad name", "/api/v1/models/bad%20name/versions", a.token, model, http.StatusBadRequest, "name"},
		{"bad version", "/api/v1/models/churn/versions?version=1.0", a.token, model, http.StatusBadRequest, "version"},
		{"ok", "/api/v1/models/churn/versions?version=2.0.0", a.token, model, http.StatusCreated, ""},
		{"immutable", "/api/v1/models/churn/versions?version=2.0.0", a.token, model, http.StatusConflict, ""},
	}
	for _, tc := range cases {
		status, e := post(tc.path, tc.token, tc.body)
		if status != tc.status || e.Field != tc.field {
			t.Errorf("%s: %d field %q (%s), want %d field %q", tc.name, status, e.Field, e.Error, tc.status, tc.field)
		}
	}
	a.apiJSON(t, http.MethodGet, "/api/v1/models/nope", nil, http.StatusNotFound, nil)
	a.apiJSON(t, http.MethodGet, "/api/v1/models/churn/versions/9.9.9", nil, http.StatusNotFound, nil)
	var e apiError
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/deploy",
		map[string]string{"version": "2.0.0", "environment": "moon"}, http.StatusBadRequest, &e)
	if e.Field != "environment" {
		t.Errorf("unknown environment error = %+v", e)
	}
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/versions/2.0.0/archive", map[string]string{"reason": "old"}, http.StatusOK, nil)
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/deploy",
		map[string]string{"version": "2.0.0", "environment": "production"}, http.StatusConflict, nil)
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/versions/2.0.0/unarchive", nil, http.StatusOK, nil)
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/deploy",
		map[string]string{"version": "2.0.0", "environment": "staging"}, http.StatusOK, nil)
	a.apiJSON(t, http.MethodDelete, "/api/v1/models/churn/versions/2.0.0", nil, http.StatusConflict, nil)
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/rollback", map[string]string{"environment": "staging"}, http.StatusConflict, nil)
	a.apiJSON(t, http.MethodPut, "/api/v1/models/churn/aliases/champion", map[string]string{"version": "2.0.0"}, http.StatusOK, nil)
	var m registry.Model
	a.apiJSON(t, http.MethodGet, "/api/v1/models/churn", nil, http.StatusOK, &m)
	if m.Aliases["champion"] != "2.0.0" || m.Environments["staging"] != "2.0.0" {
		t.Fatalf("model = %+v", m)
	}
	var at map[string]any
	a.apiJSON(t, http.MethodGet, "/api/v1/models/churn/deployed-at?environment=staging", nil, http.StatusOK, &at)
	if at["version"] != "2.0.0" {
		t.Fatalf("deployed-at = %v", at)
	}
	a.apiJSON(t, http.MethodGet, "/api/v1/models/churn/deployed-at?environment=staging&time=2001-01-01T00:00:00Z", nil, http.StatusNotFound, nil)
	// The artifact downloads byte for byte.
	status, b := a.do(t, http.MethodGet, "/api/v1/models/churn/versions/2.0.0/artifact", a.token, "", nil)
	if status != http.StatusOK || !bytes.Equal(b, model) {
		t.Fatalf("artifact download: %d, %d bytes", status, len(b))
	}
}

func TestRegistryAPIRuns(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	var runs [2]registry.Run
	for i := range runs {
		a.apiJSON(t, http.MethodPost, "/api/v1/runs", map[string]any{"experiment": "churn", "name": fmt.Sprint("r", i)}, http.StatusCreated, &runs[i])
		var metrics []map[string]any
		for round := 0; round < 4; round++ {
			metrics = append(metrics, map[string]any{"key": "valid_auc", "value": 0.6 + 0.1*float64(i) + 0.01*float64(round), "step": round})
		}
		a.apiJSON(t, http.MethodPost, "/api/v1/runs/"+runs[i].ID+"/log", map[string]any{
			"params": map[string]string{"algo": "gbdt", "rounds": fmt.Sprint(10 * (i + 1))}, "metrics": metrics,
			"tags": map[string]string{"git": "abc"}, "lines": []string{"round 1", "round 2"}}, http.StatusOK, nil)
	}
	id0, id1 := runs[0].ID, runs[1].ID
	var e apiError
	a.apiJSON(t, http.MethodPost, "/api/v1/runs/"+id0+"/log", map[string]any{"params": map[string]string{"algo": "logistic"}}, http.StatusConflict, &e)
	status, _ := a.do(t, http.MethodPut, "/api/v1/runs/"+id0+"/artifacts/model", a.token, "application/octet-stream", bytes.NewReader(mustModelFile(t, 3)))
	if status != http.StatusOK {
		t.Fatalf("put run artifact: %d", status)
	}
	var fin registry.Run
	a.apiJSON(t, http.MethodPost, "/api/v1/runs/"+id0+"/finish", map[string]string{"status": "finished"}, http.StatusOK, &fin)
	if fin.Status != "finished" || fin.Metrics["valid_auc"].Step != 3 || fin.LogLines != 2 {
		t.Fatalf("finished run = %+v", fin)
	}
	// Register straight from the run's artifact; the version links back to the run.
	var v registry.Version
	a.apiJSON(t, http.MethodPost, "/api/v1/models/churn/versions?run_id="+id0, nil, http.StatusCreated, &v)
	if v.RunID != id0 {
		t.Fatalf("version run = %q", v.RunID)
	}
	var hist struct {
		History []registry.MetricPoint `json:"history"`
	}
	a.apiJSON(t, http.MethodGet, "/api/v1/runs/"+id1+"/metric-history?key=valid_auc", nil, http.StatusOK, &hist)
	if len(hist.History) != 4 || hist.History[3].Step != 3 {
		t.Fatalf("metric history = %+v", hist.History)
	}
	var found struct{ Runs []registry.Run }
	a.apiJSON(t, http.MethodGet, "/api/v1/runs?filter="+url.QueryEscape("metrics.valid_auc > 0.65 and params.algo = gbdt"), nil, http.StatusOK, &found)
	if len(found.Runs) != 1 || found.Runs[0].ID != id1 {
		t.Fatalf("search = %+v", found.Runs)
	}
	a.apiJSON(t, http.MethodGet, "/api/v1/runs?filter="+url.QueryEscape("metrics.valid_auc >"), nil, http.StatusBadRequest, &e)
	if e.Field != "filter" || !strings.Contains(e.Error, "column 20") {
		t.Fatalf("bad filter error = %+v", e)
	}
	var cmp registry.Comparison
	a.apiJSON(t, http.MethodGet, "/api/v1/runs/compare?ids="+id0+","+id1, nil, http.StatusOK, &cmp)
	if len(cmp.Params) != 2 || cmp.Params[1].Key != "rounds" || !cmp.Params[1].Differ || cmp.Params[1].Values[1] != "20" {
		t.Fatalf("compare = %+v", cmp)
	}
	var logs struct{ Lines []string }
	a.apiJSON(t, http.MethodGet, "/api/v1/runs/"+id1+"/logs?tail=1", nil, http.StatusOK, &logs)
	if len(logs.Lines) != 1 || logs.Lines[0] != "round 2" {
		t.Fatalf("logs = %v", logs.Lines)
	}
	var exps struct{ Experiments []registry.Experiment }
	a.apiJSON(t, http.MethodGet, "/api/v1/experiments", nil, http.StatusOK, &exps)
	if len(exps.Experiments) != 1 || exps.Experiments[0].Name != "churn" {
		t.Fatalf("experiments = %+v", exps)
	}
}

func TestRegistryAPIBackup(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	status, _ := a.do(t, http.MethodPost, "/api/v1/models/churn/versions", a.token, "application/octet-stream", bytes.NewReader(mustModelFile(t, 0)))
	if status != http.StatusCreated {
		t.Fatalf("register: %d", status)
	}
	if status, _ := a.do(t, http.MethodGet, "/api/v1/backup", "", "", nil); status != http.StatusUnauthorized {
		t.Fatalf("backup without token: %d, want 401", status)
	}
	status, b := a.do(t, http.MethodGet, "/api/v1/backup", a.token, "", nil)
	if status != http.StatusOK || len(b) == 0 {
		t.Fatalf("backup: %d, %d bytes", status, len(b))
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), registry.FileName)
	if _, err := registry.Restore(path, dst, false); err != nil {
		t.Fatal(err)
	}
	s, err := registry.Open(dst, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vs, err := s.ListVersions(context.Background(), "churn")
	if err != nil || len(vs) != 1 || vs[0].Version != "1.0.0" {
		t.Fatalf("restored versions = %+v, %v", vs, err)
	}
}
