package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/registry"
)

// mustStartPipeline starts a pipeline with its embedded broker on a fresh
// registry, with loaded as its reload hook, and closes both at test end.
func mustStartPipeline(tb testing.TB, loaded func(version string)) (*pipeline, *registry.Store) {
	tb.Helper()
	cfg := testConfig(tb)
	store, err := registry.Open(filepath.Join(cfg.DataDir, registry.FileName), registry.Options{Environments: cfg.Environments})
	if err != nil {
		tb.Fatal(err)
	}
	p := newPipeline(cfg, store, metrics.NewSet(), newStatusBoard(time.Now), slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	p.loaded = loaded
	if err := p.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			tb.Errorf("close pipeline: %v", err)
		}
		_ = store.Close()
	})
	return p, store
}

// scoringVersion is the version the pipeline scores with, "" for none.
func (p *pipeline) scoringVersion() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deployed == nil {
		return ""
	}
	return p.deployed.model.version
}

// TestReloadRunsOffTheLocks holds a reload inside its load (where a big
// artifact is decoded and the drift monitor built) and checks that nothing
// waits for it: deploys of newer versions return, the live drift view,
// label joins and Pause/Resume answer with the version still scoring. Once
// released, the load that was superseded meanwhile is dropped, the pending
// deploys coalesce, and the latest one scores. Before reloads had their own
// goroutine, the load ran in the registry's notification under its order
// lock and the pipeline's mutex, and the second Deploy waited for it.
func TestReloadRunsOffTheLocks(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var loads []string
	entered, hold := make(chan struct{}), make(chan struct{})
	p, store := mustStartPipeline(t, func(v string) {
		mu.Lock()
		loads = append(loads, v)
		mu.Unlock()
		if v == "1.1.0" {
			close(entered)
			<-hold
		}
	})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release)
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		mustRegisterModel(t, store, v, uint64(i+1))
	}
	deploy := func(v string) error { return store.Deploy(ctx, "drift-model", v, "production", "") }
	if err := deploy("1.0.0"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "1.0.0 scoring", 10*time.Second, func() bool { return p.scoringVersion() == "1.0.0" })

	if err := deploy("1.1.0"); err != nil {
		t.Fatal(err)
	}
	<-entered // the reloader is inside the load of 1.1.0
	done := make(chan error, 1)
	go func() {
		err := deploy("1.2.0")
		if err == nil {
			err = deploy("1.3.0")
		}
		if v, ok := p.Drift(); !ok || v.Version != "1.0.0" {
			err = fmt.Errorf("drift view during the load: %+v %v, want 1.0.0", v, ok)
		}
		p.onLabel("r1", 0.9, "1", "1")
		p.Pause("test")
		p.Resume()
		done <- err
	}()
	// Fault bound: these take milliseconds; 10s means they wait for the load.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("deploys, the drift view or label joins waited for a model load")
	}
	// The notifications of 1.2.0 and 1.3.0 reach the pipeline on the
	// registry's goroutine: wait for their (one, coalesced) reload request.
	uiWaitFor(t, "a pending reload", 10*time.Second, func() bool { return len(p.reloadReq) == 1 })
	release()
	uiWaitFor(t, "1.3.0 scoring", 10*time.Second, func() bool { return p.scoringVersion() == "1.3.0" })
	mu.Lock()
	got := slices.Clone(loads)
	mu.Unlock()
	if want := []string{"1.0.0", "1.1.0", "1.3.0"}; !slices.Equal(got, want) {
		t.Errorf("loaded %v, want %v (1.1.0 dropped once superseded, 1.2.0 never loaded)", got, want)
	}
	if st := p.status.list(); !slices.ContainsFunc(st, func(c ComponentStatus) bool {
		return c.Name == "scorer" && c.State == StateReady && strings.Contains(c.Detail, "1.3.0")
	}) {
		t.Errorf("scorer status %+v does not say it scores 1.3.0", st)
	}
}

// TestQuickDeploysLatestWins deploys several versions back to back, then
// undeploys and redeploys: the pipeline ends on what the registry says is
// deployed. Each awaited state appears only after the changes before it.
func TestQuickDeploysLatestWins(t *testing.T) {
	ctx := context.Background()
	p, store := mustStartPipeline(t, nil)
	versions := []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"}
	for i, v := range versions {
		mustRegisterModel(t, store, v, uint64(i+1))
	}
	for _, v := range versions {
		if err := store.Deploy(ctx, "drift-model", v, "production", ""); err != nil {
			t.Fatal(err)
		}
	}
	uiWaitFor(t, "the last deploy scoring", 10*time.Second, func() bool { return p.scoringVersion() == "1.4.0" })
	if err := store.Undeploy(ctx, "drift-model", "production", ""); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "nothing scoring after the undeploy", 10*time.Second, func() bool { return p.scoringVersion() == "" })
	if err := store.Rollback(ctx, "drift-model", "production", ""); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "1.4.0 scoring again after the rollback", 10*time.Second, func() bool { return p.scoringVersion() == "1.4.0" })
}

// mustRegisterModel registers a small trained version of drift-model.
func mustRegisterModel(tb testing.TB, store *registry.Store, version string, seed uint64) {
	tb.Helper()
	art := uiModelFile(tb, seed)
	opts, err := registerOptions(art)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Version = version
	if _, err := store.Register(context.Background(), art, "drift-model", opts); err != nil {
		tb.Fatal(err)
	}
}
