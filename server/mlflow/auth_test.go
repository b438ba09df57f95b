package mlflow

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"driftd/registry"
)

// TestAuth checks that Deps.Auth guards reads and writes, that Deps.Writer
// guards only the routes that change data (searches are POSTs that read), and
// that their refusals come in MLflow's shape.
func TestAuth(t *testing.T) {
	s := newTestServer(t)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/experiments/create", map[string]any{"name": "e"}, http.StatusOK)
	tests := []struct {
		name         string
		auth         string
		method, path string
		body         string
		wantStatus   int
		wantCode     string
	}{
		{"no credentials, read", "", http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=1", "", http.StatusUnauthorized, codeUnauthenticated},
		{"no credentials, write", "", http.MethodPost, "/api/2.0/mlflow/experiments/create", `{"name":"x"}`, http.StatusUnauthorized, codeUnauthenticated},
		{"wrong token", "Bearer nope", http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=1", "", http.StatusUnauthorized, codeUnauthenticated},
		{"no credentials, ajax-api", "", http.MethodPost, "/ajax-api/2.0/mlflow/runs/search", `{}`, http.StatusUnauthorized, codeUnauthenticated},
		{"no credentials, unknown route", "", http.MethodGet, "/api/2.0/mlflow/nope", "", http.StatusUnauthorized, codeUnauthenticated},
		{"wrong password", "Basic YWxpY2U6YWxpY2U=", http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=1", "", http.StatusUnauthorized, codeUnauthenticated},
		{"bearer token reads", "Bearer " + testToken, http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=1", "", http.StatusOK, ""},
		{"viewer reads", basic(testViewer), http.MethodGet, "/api/2.0/mlflow/experiments/get?experiment_id=1", "", http.StatusOK, ""},
		{"viewer searches by POST", basic(testViewer), http.MethodPost, "/api/2.0/mlflow/runs/search", `{"experiment_ids":["1"]}`, http.StatusOK, ""},
		{"viewer searches experiments by POST", basic(testViewer), http.MethodPost, "/api/2.0/mlflow/experiments/search", `{}`, http.StatusOK, ""},
		{"viewer may not write", basic(testViewer), http.MethodPost, "/api/2.0/mlflow/experiments/create", `{"name":"v"}`, http.StatusForbidden, codePermissionDenied},
		{"viewer may not upload", basic(testViewer), http.MethodPut, "/api/2.0/mlflow-artifacts/artifacts/1/1/artifacts/x", `x`, http.StatusForbidden, codePermissionDenied},
		{"basic user writes", basic("alice"), http.MethodPost, "/api/2.0/mlflow/runs/create", `{"experiment_id":"1"}`, http.StatusOK, ""},
	}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		status, out := s.do(t, tt.method, tt.path, body, map[string]string{"Authorization": tt.auth})
		if status != tt.wantStatus {
			t.Errorf("%s: status %d, want %d: %s", tt.name, status, tt.wantStatus, out)
			continue
		}
		var e Error
		if err := json.Unmarshal(out, &e); err != nil {
			t.Errorf("%s: answer is not JSON: %s", tt.name, out)
			continue
		}
		if e.Code != tt.wantCode {
			t.Errorf("%s: error_code %q, want %q: %s", tt.name, e.Code, tt.wantCode, out)
		}
	}
	// The run Alice created through Basic auth is hers.
	r, err := s.store.GetRun(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if r.CreatedBy != "alice" {
		t.Fatalf("run created by %q, want alice", r.CreatedBy)
	}
}

// TestAuditUser checks that registry changes made through MLflow carry the
// authenticated user into driftd's audit history.
func TestAuditUser(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	if _, err := s.store.Register(ctx, mustDriftdModel(t), "churn", registry.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	status, out := s.do(t, http.MethodPost, "/api/2.0/mlflow/model-versions/transition-stage",
		strings.NewReader(`{"name":"churn","version":"1","stage":"Production"}`), map[string]string{"Authorization": basic("alice")})
	if status != http.StatusOK {
		t.Fatalf("transition: %d %s", status, out)
	}
	evs, err := s.store.History(ctx, registry.HistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].User != "alice" || evs[0].Action != registry.ActionDeploy || evs[0].Environment != "production" ||
		evs[0].To != "1.0.0" || evs[0].Reason != "MLflow transition-stage to Production" {
		t.Fatalf("history: %+v", evs)
	}
}
