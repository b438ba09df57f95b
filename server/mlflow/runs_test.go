package mlflow

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"driftd/registry"
)

// batch builds a log-batch body with n metrics, p params and g tags.
func batch(runID string, n, p, g int) map[string]any {
	metrics := make([]map[string]any, n)
	for i := range metrics {
		metrics[i] = map[string]any{"key": fmt.Sprintf("m%d", i%7), "value": float64(i), "timestamp": startMillis + int64(i), "step": i}
	}
	params := make([]map[string]any, p)
	for i := range params {
		params[i] = map[string]any{"key": fmt.Sprintf("p%d", i), "value": "v"}
	}
	tags := make([]map[string]any, g)
	for i := range tags {
		tags[i] = map[string]any{"key": fmt.Sprintf("t%d", i), "value": "v"}
	}
	return map[string]any{"run_id": runID, "metrics": metrics, "params": params, "tags": tags}
}

func TestLogBatchLimits(t *testing.T) {
	tests := []struct {
		name             string
		metrics, params  int
		tags, wantStatus int
	}{
		{"1000 metrics", 1000, 0, 0, http.StatusOK},
		{"1001 metrics", 1001, 0, 0, http.StatusBadRequest},
		{"100 params", 0, 100, 0, http.StatusOK},
		{"101 params", 0, 101, 0, http.StatusBadRequest},
		{"100 tags", 0, 0, 100, http.StatusOK},
		{"101 tags", 0, 0, 101, http.StatusBadRequest},
		{"900+50+50 = 1000 items", 900, 50, 50, http.StatusOK},
		{"900+50+51 = 1001 items (MLflow's own example)", 900, 50, 51, http.StatusBadRequest},
		{"empty batch", 0, 0, 0, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			s.call(t, http.MethodPost, "/api/2.0/mlflow/experiments/create", map[string]any{"name": "e"}, http.StatusOK)
			s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "1"}, http.StatusOK)
			out := s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/log-batch", batch("1", tt.metrics, tt.params, tt.tags), tt.wantStatus)
			r, err := s.store.GetRun(context.Background(), "1")
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantStatus != http.StatusOK {
				if out["error_code"] != codeInvalidParameter {
					t.Fatalf("error_code %v, want %s", out["error_code"], codeInvalidParameter)
				}
				// Nothing of a refused batch is written.
				if len(r.Metrics) != 0 || len(r.Params) != 0 || len(r.Tags) != 1 {
					t.Fatalf("refused batch wrote %d metrics, %d params, %d tags", len(r.Metrics), len(r.Params), len(r.Tags))
				}
				return
			}
			wantMetrics := min(tt.metrics, 7)
			if len(r.Metrics) != wantMetrics || len(r.Params) != tt.params || len(r.Tags) != tt.tags+1 {
				t.Fatalf("run has %d metrics, %d params, %d tags; want %d, %d, %d+1", len(r.Metrics), len(r.Params), len(r.Tags), wantMetrics, tt.params, tt.tags)
			}
			if tt.metrics > 0 {
				h, err := s.store.MetricHistory(context.Background(), "1", "m0")
				if err != nil {
					t.Fatal(err)
				}
				if want := (tt.metrics + 6) / 7; len(h) != want {
					t.Fatalf("m0 has %d points, want %d", len(h), want)
				}
			}
		})
	}
}

func TestLogParamWriteOnce(t *testing.T) {
	tests := []struct {
		name       string
		value      string
		wantStatus int
	}{
		{"first value", "0.5", http.StatusOK},
		{"same value again", "0.5", http.StatusOK},
		{"another value", "0.6", http.StatusBadRequest},
		{"empty value", "", http.StatusBadRequest},
		{"same value once more", "0.5", http.StatusOK},
	}
	s := newTestServer(t)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/experiments/create", map[string]any{"name": "e"}, http.StatusOK)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "1"}, http.StatusOK)
	for _, tt := range tests {
		out := s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/log-parameter",
			map[string]any{"run_id": "1", "key": "alpha", "value": tt.value}, tt.wantStatus)
		if tt.wantStatus != http.StatusOK && out["error_code"] != codeInvalidParameter {
			t.Errorf("%s: error_code %v, want %s", tt.name, out["error_code"], codeInvalidParameter)
		}
	}
	r, err := s.store.GetRun(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Params["alpha"] != "0.5" {
		t.Fatalf("alpha = %q, want the first value 0.5", r.Params["alpha"])
	}
}

// TestDriftdRunsReadThroughMLflow checks that a run driftd's training logs
// (params, per-round metrics, artifacts) reads back through MLflow's API, and
// that a run MLflow logs is a driftd run.
func TestDriftdRunsReadThroughMLflow(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	exp, err := s.store.EnsureExperiment(ctx, "drift-model")
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.store.CreateRun(ctx, exp.ID, registry.RunOptions{Name: "train-1", Tags: map[string]string{"source": "driftd"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.LogParams(ctx, run.ID, map[string]string{"rounds": "3", "eta": "0.1"}); err != nil {
		t.Fatal(err)
	}
	var pts []registry.MetricPoint
	for round, auc := range []float64{0.7, 0.8, 0.9} {
		pts = append(pts, registry.MetricPoint{Key: "valid_auc", Value: auc, Step: int64(round)})
	}
	if err := s.store.LogMetrics(ctx, run.ID, pts); err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutRunArtifact(ctx, run.ID, "model", mustDriftdModel(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.FinishRun(ctx, run.ID, registry.RunFinished); err != nil {
		t.Fatal(err)
	}

	got := s.call(t, http.MethodGet, "/api/2.0/mlflow/runs/get?run_id="+run.ID, nil, http.StatusOK)
	want := map[string]any{"run": map[string]any{
		"info": map[string]any{"run_id": run.ID, "run_name": "train-1", "status": "FINISHED", "experiment_id": exp.ID, "lifecycle_stage": "active"},
		"data": map[string]any{
			"metrics": []any{map[string]any{"key": "valid_auc", "value": 0.9, "step": float64(2)}},
			"params":  []any{map[string]any{"key": "eta", "value": "0.1"}, map[string]any{"key": "rounds", "value": "3"}},
			"tags":    []any{map[string]any{"key": "mlflow.runName", "value": "train-1"}, map[string]any{"key": "source", "value": "driftd"}},
		}}}
	if err := match(want, got, "$"); err != nil {
		t.Fatalf("driftd run through MLflow: %v\n%v", err, got)
	}
	hist := s.call(t, http.MethodGet, "/api/2.0/mlflow/metrics/get-history?run_id="+run.ID+"&metric_key=valid_auc", nil, http.StatusOK)
	if err := match(map[string]any{"metrics": []any{map[string]any{"step": 0.0}, map[string]any{"step": 1.0}, map[string]any{"step": 2.0}}}, hist, "$"); err != nil {
		t.Fatalf("per-round history: %v", err)
	}
	files := s.call(t, http.MethodGet, "/api/2.0/mlflow/artifacts/list?run_id="+run.ID, nil, http.StatusOK)
	if err := match(map[string]any{"files": []any{map[string]any{"path": "model", "is_dir": false}}}, files, "$"); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	search := s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/search",
		map[string]any{"experiment_ids": []string{exp.ID}, "filter": "metrics.valid_auc > 0.85 and params.rounds = '3'"}, http.StatusOK)
	if err := match(map[string]any{"runs": []any{map[string]any{"info": map[string]any{"run_id": run.ID}}}}, search, "$"); err != nil {
		t.Fatalf("search finds driftd's run: %v", err)
	}

	// And the other way: a run logged through MLflow is a driftd run.
	created := s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp.ID, "run_name": "from-mlflow"}, http.StatusOK)
	id := dig(created, "run.info.run_id").(string)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/log-metric", map[string]any{"run_id": id, "key": "auc", "value": 0.8, "timestamp": startMillis, "step": 4}, http.StatusOK)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/update", map[string]any{"run_id": id, "status": "KILLED", "end_time": startMillis + 1}, http.StatusOK)
	runs, err := s.store.SearchRuns(ctx, registry.RunQuery{ExperimentID: exp.ID})
	if err != nil {
		t.Fatal(err)
	}
	var found *registry.Run
	for i := range runs {
		if runs[i].ID == id {
			found = &runs[i]
		}
	}
	if found == nil || found.Name != "from-mlflow" || found.Status != registry.RunKilled || found.Metrics["auc"].Step != 4 {
		t.Fatalf("MLflow's run as driftd sees it: %+v", found)
	}
}

func TestDeletedExperimentHidesRuns(t *testing.T) {
	s := newTestServer(t)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/experiments/create", map[string]any{"name": "e"}, http.StatusOK)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "1"}, http.StatusOK)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/experiments/delete", map[string]any{"experiment_id": "1"}, http.StatusOK)
	tests := []struct {
		name                string
		method, path        string
		body                map[string]any
		wantStatus          int
		wantPath, wantValue string
	}{
		{"run reads deleted", http.MethodGet, "/api/2.0/mlflow/runs/get?run_id=1", nil, http.StatusOK, "run.info.lifecycle_stage", "deleted"},
		{"no new runs", http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "1"}, http.StatusBadRequest, "error_code", codeInvalidParameter},
		{"no new data", http.MethodPost, "/api/2.0/mlflow/runs/set-tag", map[string]any{"run_id": "1", "key": "k", "value": "v"}, http.StatusBadRequest, "error_code", codeInvalidParameter},
	}
	for _, tt := range tests {
		out := s.call(t, tt.method, tt.path, tt.body, tt.wantStatus)
		if got := dig(out, tt.wantPath); got != tt.wantValue {
			t.Errorf("%s: %s = %v, want %v", tt.name, tt.wantPath, got, tt.wantValue)
		}
	}
	search := s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{"1"}}, http.StatusOK)
	if n := len(search["runs"].([]any)); n != 0 {
		t.Fatalf("active search found %d runs of a deleted experiment", n)
	}
	s.call(t, http.MethodPost, "/api/2.0/mlflow/experiments/restore", map[string]any{"experiment_id": "1"}, http.StatusOK)
	out := s.call(t, http.MethodGet, "/api/2.0/mlflow/runs/get?run_id=1", nil, http.StatusOK)
	if got := dig(out, "run.info.lifecycle_stage"); got != "active" {
		t.Fatalf("after restoring the experiment the run is %v", got)
	}
}
