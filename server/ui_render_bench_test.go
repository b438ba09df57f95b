package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"driftd/registry"
)

// BenchmarkUIPages renders every page against a store holding 1,000 runs
// with metric histories, 100 versions of the scored model and 30 days of
// drift history at one check a minute (issue 18's goal: every page under
// 50 ms server-side). Each op is one GET over loopback, read to the end, so
// the figure includes the HTTP round trip. Run:
//
//	go test -run '^$' -bench UIPages -benchtime 20x ./server/
func BenchmarkUIPages(b *testing.B) {
	cfg := testConfig(b)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(b, cfg)
	ids := seedRenderStore(b, a)
	// A live drift check, so the Drift page draws its charts from the history.
	uiWaitFor(b, "the pipeline to load the deployed version", 10*time.Second, func() bool {
		_, ok := a.pipeline.Drift()
		return ok
	})
	produceShifted(b, a, 60)
	uiWaitFor(b, "a drift check", 20*time.Second, func() bool {
		v, ok := a.pipeline.Drift()
		return ok && !v.Event.Time.IsZero()
	})
	s := uiLogin(b, a, "admin", "correct-horse")
	name := a.cfg.ModelName
	pages := []string{
		"/", "/drift", "/models", "/models/" + name, "/models/" + name + "/versions/1.0.99", "/models/" + name + "/diff?a=1.0.98&b=1.0.99",
		"/experiments", "/experiments/" + ids.experiment, "/experiments/" + ids.experiment + "?sort=metrics.valid_auc&q=" + "metrics.valid_auc+>+0.5",
		"/runs/" + ids.run, "/runs/compare?id=" + ids.run + "&id=" + ids.other,
		"/kafka", "/kafka/topics/" + a.pipeline.Topics().Features, "/training", "/pipeline", "/flow-runs", "/schedules", "/settings",
	}
	for _, path := range pages {
		b.Run(path, func(b *testing.B) {
			for range b.N {
				req, err := http.NewRequest(http.MethodGet, a.base+path, nil)
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Accept", "text/html")
				resp, err := s.c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
				b.SetBytes(n)
			}
		})
	}
}

// renderIDs are ids of seeded objects the pages name.
type renderIDs struct{ experiment, run, other string }

// seedRenderStore fills a's store: 100 versions of the scored model (the
// last deployed), 1,000 finished runs with 12 parameters and 3 metrics of
// 100 steps, and 30 days of drift history for 20 features (the model's
// three among them).
func seedRenderStore(tb testing.TB, a *testApp) renderIDs {
	tb.Helper()
	ctx := registry.WithUser(context.Background(), "admin")
	name := a.cfg.ModelName
	arts := [][]byte{uiModelFile(tb, 1), uiModelFile(tb, 2)}
	for i := range 100 {
		art := arts[i%2]
		opts, err := registerOptions(art)
		if err != nil {
			tb.Fatal(err)
		}
		opts.Version = fmt.Sprintf("1.0.%d", i)
		if _, err := a.store.Register(ctx, art, name, opts); err != nil {
			tb.Fatal(err)
		}
	}
	if err := a.store.Deploy(ctx, name, "1.0.99", a.cfg.ScoringEnvironment, "render benchmark"); err != nil {
		tb.Fatal(err)
	}
	exp, err := a.store.EnsureExperiment(ctx, "render-benchmark")
	if err != nil {
		tb.Fatal(err)
	}
	ids := renderIDs{experiment: exp.ID}
	t0 := time.Now().Add(-time.Hour)
	for i := range 1000 {
		run, err := a.store.CreateRun(ctx, exp.ID, registry.RunOptions{Name: fmt.Sprintf("gbdt run %d", i)})
		if err != nil {
			tb.Fatal(err)
		}
		params := map[string]string{"algo": "gbdt", "objective": "binary", "rounds": "100", "learning_rate": "0.1", "max_leaves": strconv.Itoa(15 + i%32),
			"max_depth": "0", "max_bins": "255", "min_child_weight": "1", "lambda": "1", "subsample": "1", "colsample": "1", "seed": strconv.Itoa(i)}
		if err := a.store.LogParams(ctx, run.ID, params); err != nil {
			tb.Fatal(err)
		}
		var pts []registry.MetricPoint
		for step := range 100 {
			at := t0.Add(time.Duration(step) * time.Second)
			x := float64(step) / 100
			pts = append(pts,
				registry.MetricPoint{Key: "train_loss", Value: 0.7 - 0.4*x, Step: int64(step), Time: at},
				registry.MetricPoint{Key: "valid_loss", Value: 0.72 - 0.35*x, Step: int64(step), Time: at},
				registry.MetricPoint{Key: "valid_auc", Value: 0.5 + 0.4*x + float64(i%10)/1000, Step: int64(step), Time: at})
		}
		if err := a.store.LogMetrics(ctx, run.ID, pts); err != nil {
			tb.Fatal(err)
		}
		if _, err := a.store.FinishRun(ctx, run.ID, registry.RunFinished); err != nil {
			tb.Fatal(err)
		}
		switch i {
		case 0:
			ids.run = run.ID
		case 1:
			ids.other = run.ID
		}
	}
	const days, batch = 30, 1440
	start := time.Now().Add(-days * 24 * time.Hour)
	pts := make([]registry.DriftPoint, 0, batch)
	for m := range days * 24 * 60 {
		feats := map[string]float64{"x1": float64(m%100) / 300, "x2": 0.01, "plan": 0.02}
		for f := range 17 {
			feats[fmt.Sprintf("f%d", f)] = float64((m*7+f*13)%100) / 400
		}
		pts = append(pts, registry.DriftPoint{Time: start.Add(time.Duration(m) * time.Minute), Version: "1.0.99", WindowRecords: 1000,
			MaxPSI: 0.25, DriftShare: 0.1, DriftedFeatures: 2, Features: feats, Drifted: []string{"f1", "f2"}})
		if len(pts) == batch {
			if err := a.store.AppendDriftPoints(ctx, name, pts, registry.DriftHistoryOptions{}); err != nil {
				tb.Fatal(err)
			}
			pts = pts[:0]
		}
	}
	return ids
}
