package scheduler_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"driftd/scheduler"
)

func TestSubmitCompletes(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	var ended atomic.Int32
	f := okFlow("double")
	f.Queue = "monitoring"
	f.OnEnd = func(ctx context.Context, r scheduler.Run) { ended.Add(1) }
	e := mustEngine(t, store, scheduler.Options{}, f)
	r, err := e.Submit(ctx, "double", map[string]any{"n": 21.0}, scheduler.SubmitOptions{Trigger: scheduler.Trigger{By: "bob"}})
	must(t, err)
	if r.ID == "" || r.Queue != "monitoring" || r.Trigger.Kind != scheduler.TriggerManual || r.MaxAttempts != 1 {
		t.Fatalf("submitted %+v", r)
	}
	r = mustWait(t, e, r.ID)
	if r.State != scheduler.StateCompleted || string(r.Result) != `{"double":42}` || r.Attempts != 1 || r.EndedAt.IsZero() {
		t.Fatalf("ended %+v", r)
	}
	want := []string{scheduler.StateScheduled, scheduler.StatePending, scheduler.StateRunning, scheduler.StateCompleted}
	if got := states(r); !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	if ended.Load() != 1 {
		t.Fatalf("OnEnd called %d times", ended.Load())
	}
	stored, err := e.Get(ctx, r.ID)
	must(t, err)
	if stored.State != scheduler.StateCompleted || len(stored.History) != 4 {
		t.Fatalf("stored %+v", stored)
	}
	for _, line := range []string{"attempt 1 of 1 started", "completed in"} {
		if !logsContain(t, e, r.ID, line) {
			t.Errorf("log has no line with %q", line)
		}
	}
	_, err = e.Get(ctx, "404")
	wantErr(t, err, scheduler.ErrNotFound)
	_, err = e.Submit(ctx, "nope", nil, scheduler.SubmitOptions{})
	wantErr(t, err, scheduler.ErrUnknownFlow)
	_, err = e.Submit(ctx, "double", nil, scheduler.SubmitOptions{Queue: "gpu"})
	wantField(t, err, "queue", "gpu")
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	g := newGate()
	defer g.Release()
	var mu sync.Mutex
	ended := map[string]string{}
	f := g.flow("train", "training")
	f.Retries = 3
	f.OnEnd = func(ctx context.Context, r scheduler.Run) {
		mu.Lock()
		defer mu.Unlock()
		ended[r.ID] += r.State
	}
	e := mustEngine(t, store, scheduler.Options{}, f)
	running, err := e.Submit(ctx, "train", nil, scheduler.SubmitOptions{})
	must(t, err)
	if id := g.nextStart(t); id != running.ID {
		t.Fatalf("started %s, want %s", id, running.ID)
	}
	pending, err := e.Submit(ctx, "train", nil, scheduler.SubmitOptions{})
	must(t, err)
	if pending.State != scheduler.StatePending {
		t.Fatalf("second run on a queue of 1 is %s", pending.State)
	}

	got, err := e.Cancel(ctx, pending.ID, "alice")
	must(t, err)
	if got.State != scheduler.StateCancelled || got.History[len(got.History)-1].Note != "cancelled by alice" || got.Attempts != 0 {
		t.Fatalf("cancelled pending run: %+v", got)
	}

	got, err = e.Cancel(ctx, running.ID, "alice")
	must(t, err)
	if got.State != scheduler.StateRunning {
		t.Fatalf("a running run is %s right after Cancel", got.State)
	}
	got = mustWait(t, e, running.ID)
	if got.State != scheduler.StateCancelled || got.Attempts != 1 || got.History[len(got.History)-1].Note != "cancelled by alice" {
		t.Fatalf("cancelled running run (no retry expected): %+v", got)
	}
	if !logsContain(t, e, running.ID, "cancel requested by alice") {
		t.Error("no cancel line in the log")
	}

	_, err = e.Cancel(ctx, running.ID, "alice")
	wantErr(t, err, scheduler.ErrTerminal)
	_, err = e.Cancel(ctx, "404", "alice")
	wantErr(t, err, scheduler.ErrNotFound)
	mu.Lock()
	defer mu.Unlock()
	if ended[pending.ID] != scheduler.StateCancelled || ended[running.ID] != scheduler.StateCancelled {
		t.Fatalf("OnEnd calls %v", ended)
	}
}

func TestPanicRecovery(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	f := scheduler.Flow{Name: "fragile", Params: []scheduler.Param{{Name: "panic", Type: scheduler.TypeBool}},
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			if rc.Params.Bool("panic") {
				var m map[string]int
				m["x"] = 1 // a real runtime panic
			}
			return "fine", nil
		}}
	e := mustEngine(t, store, scheduler.Options{}, f)
	bad, err := e.Submit(ctx, "fragile", map[string]any{"panic": true}, scheduler.SubmitOptions{})
	must(t, err)
	got := mustWait(t, e, bad.ID)
	if got.State != scheduler.StateFailed || !strings.HasPrefix(got.Error, "panic: assignment to entry in nil map") {
		t.Fatalf("panicking run: %s %q", got.State, got.Error)
	}
	if !logsContain(t, e, bad.ID, "goroutine ") || !logsContain(t, e, bad.ID, "engine_test.go") {
		t.Error("the stack is not in the run's log")
	}
	good, err := e.Submit(ctx, "fragile", nil, scheduler.SubmitOptions{})
	must(t, err)
	if got := mustWait(t, e, good.ID); got.State != scheduler.StateCompleted {
		t.Fatalf("the next run %s", got.State)
	}
}

func TestQueueLimit(t *testing.T) {
	t.Run("one at a time", func(t *testing.T) {
		store, _ := mustStore(t)
		var cur, peak atomic.Int32
		f := scheduler.Flow{Name: "train", Queue: "training", Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			n := cur.Add(1)
			defer cur.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			for range 100 {
				runtime.Gosched()
			}
			return nil, nil
		}}
		e := mustEngine(t, store, scheduler.Options{QueueMax: map[string]int{"training": 20}}, f)
		ids := make(chan string, 10)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				r, err := e.Submit(context.Background(), "train", nil, scheduler.SubmitOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- r.ID
			})
		}
		wg.Wait()
		close(ids)
		for id := range ids {
			if r := mustWait(t, e, id); r.State != scheduler.StateCompleted {
				t.Fatalf("run %s %s", id, r.State)
			}
		}
		if peak.Load() != 1 {
			t.Fatalf("%d runs ran at once on a queue of 1", peak.Load())
		}
	})
	t.Run("full", func(t *testing.T) {
		store, _ := mustStore(t)
		g := newGate()
		defer g.Release()
		e := mustEngine(t, store, scheduler.Options{QueueMax: map[string]int{"training": 8}}, g.flow("train", "training"))
		first, err := e.Submit(context.Background(), "train", nil, scheduler.SubmitOptions{})
		must(t, err)
		g.nextStart(t)
		var accepted, full atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := e.Submit(context.Background(), "train", nil, scheduler.SubmitOptions{})
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, scheduler.ErrQueueFull):
					full.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if accepted.Load() != 8 || full.Load() != 2 {
			t.Fatalf("%d accepted, %d refused as full; want 8 and 2", accepted.Load(), full.Load())
		}
		qs := e.Queues()
		i := slices.IndexFunc(qs, func(q scheduler.QueueStatus) bool { return q.Name == "training" })
		if q := qs[i]; q.Limit != 1 || q.Running != 1 || q.Waiting != 8 || q.MaxWaiting != 8 {
			t.Fatalf("training queue %+v", q)
		}
		if active := e.Active("train"); len(active) != 9 || active[0].ID != first.ID {
			t.Fatalf("%d active runs", len(active))
		}
		g.Release()
		eventually(t, "the queue to drain", func() bool { return len(e.Active("train")) == 0 })
	})
}

func TestCrashRecovery(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0.Add(time.Hour))
	store, _ := mustStore(t)
	ids := map[string]string{}
	for _, st := range []string{scheduler.StateScheduled, scheduler.StatePending, scheduler.StateRunning, scheduler.StateCompleted} {
		r := scheduler.Run{Flow: "train", Queue: "training", State: st, CreatedAt: t0, StartedAt: t0,
			History: []scheduler.Transition{{State: st, At: t0}}}
		must(t, store.CreateFlowRun(ctx, &r))
		ids[st] = r.ID
	}
	var mu sync.Mutex
	var ended []string
	f := okFlow("train")
	f.OnEnd = func(ctx context.Context, r scheduler.Run) {
		mu.Lock()
		defer mu.Unlock()
		ended = append(ended, r.ID+":"+r.State)
	}
	e := mustEngine(t, store, scheduler.Options{Now: clk.Now}, f)
	for _, st := range []string{scheduler.StateScheduled, scheduler.StatePending, scheduler.StateRunning} {
		r, err := e.Get(ctx, ids[st])
		must(t, err)
		note := "the process stopped while the run was " + st
		if r.State != scheduler.StateCrashed || !r.EndedAt.Equal(clk.Now()) || r.History[len(r.History)-1].Note != note || r.Error != note {
			t.Fatalf("run left %s: %+v", st, r)
		}
	}
	if r, _ := e.Get(ctx, ids[scheduler.StateCompleted]); r.State != scheduler.StateCompleted {
		t.Fatalf("a completed run became %s", r.State)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(ended)
	want := []string{ids["pending"] + ":crashed", ids["running"] + ":crashed", ids["scheduled"] + ":crashed"}
	slices.Sort(want)
	if !slices.Equal(ended, want) {
		t.Fatalf("OnEnd calls %v, want %v", ended, want)
	}
}

func TestCloseCancelsRuns(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	g := newGate()
	defer g.Release()
	e := mustNew(t, store, scheduler.Options{}, g.flow("train", "training"))
	_, err := e.Submit(ctx, "train", nil, scheduler.SubmitOptions{})
	wantErr(t, err, scheduler.ErrNotStarted)
	must(t, e.Start(ctx))
	if err := e.Start(ctx); err == nil {
		t.Fatal("a second Start succeeded")
	}
	if err := e.Register(okFlow("late")); err == nil {
		t.Fatal("Register after Start succeeded")
	}
	running, err := e.Submit(ctx, "train", nil, scheduler.SubmitOptions{})
	must(t, err)
	g.nextStart(t)
	pending, err := e.Submit(ctx, "train", nil, scheduler.SubmitOptions{})
	must(t, err)
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	must(t, e.Close(closeCtx))
	must(t, e.Close(closeCtx))
	for _, id := range []string{running.ID, pending.ID} {
		r, err := store.FlowRun(ctx, id)
		must(t, err)
		if r.State != scheduler.StateCancelled || r.History[len(r.History)-1].Note != "the server shut down" {
			t.Fatalf("run %s after Close: %s %+v", id, r.State, r.History)
		}
	}
	_, err = e.Submit(ctx, "train", nil, scheduler.SubmitOptions{})
	wantErr(t, err, scheduler.ErrClosed)
}

// A flow that ignores its context does not keep Close waiting beyond the grace.
func TestCancelGrace(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	f := scheduler.Flow{Name: "deaf", Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
		close(started)
		<-release
		return nil, nil
	}}
	e := mustEngine(t, store, scheduler.Options{CancelGrace: 10 * time.Millisecond}, f)
	r, err := e.Submit(ctx, "deaf", nil, scheduler.SubmitOptions{})
	must(t, err)
	<-started
	_, err = e.Cancel(ctx, r.ID, "bob")
	must(t, err)
	got := mustWait(t, e, r.ID)
	if got.State != scheduler.StateCancelled {
		t.Fatalf("state %s", got.State)
	}
	if !logsContain(t, e, r.ID, "did not return within 10ms") {
		t.Error("no line about the flow that did not return")
	}
}

func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	e := mustEngine(t, store, scheduler.Options{}, okFlow("f"))
	var mu sync.Mutex
	seen := map[string][]string{}
	done := make(chan struct{})
	stop := e.Subscribe(func(r scheduler.Run) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.ID] = append(seen[r.ID], r.State)
		if scheduler.Terminal(r.State) {
			close(done)
		}
	})
	defer stop()
	r, err := e.Submit(ctx, "f", nil, scheduler.SubmitOptions{})
	must(t, err)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no terminal state delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"scheduled", "pending", "running", "completed"}
	if !slices.Equal(seen[r.ID], want) {
		t.Fatalf("states delivered %v, want %v", seen[r.ID], want)
	}
}

func TestProgress(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	step := make(chan struct{})
	f := scheduler.Flow{Name: "f", Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
		rc.SetProgress(map[string]int{"round": 1})
		rc.Logf("round %d", 1)
		<-step
		rc.SetProgress(map[string]int{"round": 2})
		return nil, nil
	}}
	e := mustEngine(t, store, scheduler.Options{}, f)
	r, err := e.Submit(ctx, "f", nil, scheduler.SubmitOptions{})
	must(t, err)
	eventually(t, "live progress", func() bool {
		got, err := e.Get(ctx, r.ID)
		must(t, err)
		return string(got.Progress) == `{"round":1}`
	})
	if runs, err := e.List(ctx, scheduler.RunFilter{}); err != nil || string(runs[0].Progress) != `{"round":1}` {
		t.Fatalf("List progress: %v %+v", err, runs)
	}
	if stored, _ := store.FlowRun(ctx, r.ID); stored.Progress != nil {
		t.Fatalf("progress stored while running: %s", stored.Progress)
	}
	close(step)
	mustWait(t, e, r.ID)
	stored, err := store.FlowRun(ctx, r.ID)
	must(t, err)
	if string(stored.Progress) != `{"round":2}` {
		t.Fatalf("stored progress %s", stored.Progress)
	}
	if !logsContain(t, e, r.ID, "round 1") {
		t.Error("Logf line missing")
	}
	lines, err := e.Logs(ctx, r.ID, 1)
	must(t, err)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "completed in") {
		t.Fatalf("last line %q", lines)
	}
}

func TestRegister(t *testing.T) {
	run := func(ctx context.Context, rc *scheduler.RunContext) (any, error) { return nil, nil }
	store, _ := mustStore(t)
	e := mustNew(t, store, scheduler.Options{}, okFlow("taken"))
	for _, tc := range []struct {
		name string
		f    scheduler.Flow
		msg  string
	}{
		{"empty name", scheduler.Flow{Run: run}, "empty name"},
		{"bad name", scheduler.Flow{Name: `a"b`, Run: run}, "invalid character"},
		{"duplicate", scheduler.Flow{Name: "taken", Run: run}, "already registered"},
		{"nil run", scheduler.Flow{Name: "f"}, "no Run"},
		{"unknown queue", scheduler.Flow{Name: "f", Run: run, Queue: "gpu"}, "unknown queue"},
		{"unknown type", scheduler.Flow{Name: "f", Run: run, Params: []scheduler.Param{{Name: "x", Type: "date"}}}, "unknown type"},
		{"duplicate param", scheduler.Flow{Name: "f", Run: run, Params: []scheduler.Param{{Name: "x", Type: "int"}, {Name: "x", Type: "int"}}}, "twice"},
		{"bad default", scheduler.Flow{Name: "f", Run: run, Params: []scheduler.Param{{Name: "x", Type: "int", Default: "3"}}}, "is not a int"},
		{"duration default", scheduler.Flow{Name: "f", Run: run, Params: []scheduler.Param{{Name: "x", Type: "duration", Default: "1m"}}}, "is not a duration"},
		{"enum on int", scheduler.Flow{Name: "f", Run: run, Params: []scheduler.Param{{Name: "x", Type: "int", Enum: []string{"1"}}}}, "enum"},
		{"default outside enum", scheduler.Flow{Name: "f", Run: run, Params: []scheduler.Param{{Name: "x", Type: "string", Enum: []string{"a"}, Default: "b"}}}, "not one of"},
		{"negative retries", scheduler.Flow{Name: "f", Run: run, Retries: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Register(tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
		})
	}
	must(t, e.Register(scheduler.Flow{Name: "zeta", Run: run}))
	must(t, e.Register(scheduler.Flow{Name: "alpha", Run: run, Params: []scheduler.Param{{Name: "x", Type: "float", Default: 1}}}))
	var names []string
	for _, f := range e.Flows() {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"alpha", "taken", "zeta"}) {
		t.Fatalf("flows %v", names)
	}
	f, ok := e.Flow("alpha")
	if !ok || f.Params[0].Default != 1.0 || f.Queue != "default" || f.RetryBackoff != time.Second {
		t.Fatalf("normalised flow %+v", f)
	}
}

func TestNewOptions(t *testing.T) {
	store, _ := mustStore(t)
	for _, tc := range []struct {
		name string
		opts scheduler.Options
	}{
		{"no store", scheduler.Options{}},
		{"zero concurrency", scheduler.Options{Store: store, Queues: map[string]int{"gpu": 0}}},
		{"bad queue name", scheduler.Options{Store: store, Queues: map[string]int{"a b": 1}}},
		{"max of unknown queue", scheduler.Options{Store: store, QueueMax: map[string]int{"gpu": 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := scheduler.New(tc.opts); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
	e, err := scheduler.New(scheduler.Options{Store: store, Queues: map[string]int{"gpu": 2, "training": 3}, QueueMax: map[string]int{"default": 5}})
	must(t, err)
	want := []scheduler.QueueStatus{
		{Name: "default", Limit: 4, MaxWaiting: 5},
		{Name: "gpu", Limit: 2, MaxWaiting: 1000},
		{Name: "monitoring", Limit: 2, MaxWaiting: 1000},
		{Name: "training", Limit: 3, MaxWaiting: 8},
	}
	if got := e.Queues(); !slices.Equal(got, want) {
		t.Fatalf("queues %+v, want %+v", got, want)
	}
	must(t, e.Close(context.Background()))
}
