package mlflow

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"driftd/registry"
)

// BenchmarkRunSearch searches 2,000 runs (5 params, 5 metrics, 3 tags each)
// with a filter on a metric, a param and a tag, ordered by a metric, one page
// of 100: what runs/search costs when every search reads every run of the
// experiments asked.
func BenchmarkRunSearch(b *testing.B) {
	s := newTestServer(b)
	ctx := context.Background()
	exp, err := s.store.CreateExperiment(ctx, "bench", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		r, err := s.store.CreateRun(ctx, exp.ID, registry.RunOptions{Name: fmt.Sprintf("run-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		batch := registry.RunBatch{}
		for k := range 5 {
			batch.Params = append(batch.Params, registry.KeyValue{Key: fmt.Sprintf("p%d", k), Value: fmt.Sprint((i + k) % 7)})
			batch.Metrics = append(batch.Metrics, registry.MetricPoint{Key: fmt.Sprintf("m%d", k), Value: float64((i*31+k)%1000) / 1000})
		}
		for k := range 3 {
			batch.Tags = append(batch.Tags, registry.KeyValue{Key: fmt.Sprintf("t%d", k), Value: fmt.Sprint(i % (k + 2))})
		}
		if err := s.store.LogRunBatch(ctx, r.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	body := `{"experiment_ids":["` + exp.ID + `"],"filter":"metrics.m0 > 0.5 and params.p1 = '3' and tags.t0 = '0'","order_by":["metrics.m1 DESC"],"max_results":100}`
	b.ResetTimer()
	for b.Loop() {
		status, out := s.do(b, http.MethodPost, "/api/2.0/mlflow/runs/search", strings.NewReader(body), nil)
		if status != http.StatusOK {
			b.Fatalf("search: %d %s", status, out)
		}
	}
}
