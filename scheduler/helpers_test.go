package scheduler_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"driftd/registry"
	"driftd/scheduler"
)

// t0 is the start of the fake clock: Sunday 1 March 2026, 12:00 UTC.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// mustStore opens a registry store in a temp dir, closed at test end.
func mustStore(tb testing.TB) (*registry.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), registry.FileName)
	return mustReopen(tb, path), path
}

// mustReopen opens the store at path, closed at test end.
func mustReopen(tb testing.TB, path string) *registry.Store {
	tb.Helper()
	s, err := registry.Open(path, registry.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// mustEngine builds an engine on store with flows registered, starts it and
// closes it at test end. A nil opts.Now is a fake clock at t0; TickEvery
// defaults to an hour, so only the test's own Tick calls fire schedules.
func mustEngine(tb testing.TB, store scheduler.Store, opts scheduler.Options, flows ...scheduler.Flow) *scheduler.Engine {
	tb.Helper()
	e := mustNew(tb, store, opts, flows...)
	if err := e.Start(context.Background()); err != nil {
		tb.Fatalf("start: %v", err)
	}
	return e
}

// mustNew builds an engine with flows registered, closed at test end.
func mustNew(tb testing.TB, store scheduler.Store, opts scheduler.Options, flows ...scheduler.Flow) *scheduler.Engine {
	tb.Helper()
	opts.Store = store
	if opts.Now == nil {
		opts.Now = newClock(t0).Now
	}
	if opts.TickEvery == 0 {
		opts.TickEvery = time.Hour
	}
	e, err := scheduler.New(opts)
	if err != nil {
		tb.Fatalf("new engine: %v", err)
	}
	for _, f := range flows {
		if err := e.Register(f); err != nil {
			tb.Fatalf("register %s: %v", f.Name, err)
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			tb.Errorf("close engine: %v", err)
		}
	})
	return e
}

// okFlow is a flow that returns its "n" param doubled.
func okFlow(name string) scheduler.Flow {
	return scheduler.Flow{Name: name, Params: []scheduler.Param{{Name: "n", Type: scheduler.TypeInt, Default: 1}},
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			return map[string]int64{"double": 2 * rc.Params.Int("n")}, nil
		}}
}

// gate blocks flow runs until it is opened, and tells when each run starts.
type gate struct {
	started chan string // run ids, as they start
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{started: make(chan string, 100), open: make(chan struct{})} }

// Release lets every blocked and later run finish.
func (g *gate) Release() { g.once.Do(func() { close(g.open) }) }

// flow returns a flow that waits for the gate (or its context) on queue.
func (g *gate) flow(name, queue string) scheduler.Flow {
	return scheduler.Flow{Name: name, Queue: queue, Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
		g.started <- rc.ID
		select {
		case <-g.open:
			return "released", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
}

// nextStart returns the id of the next run to start.
func (g *gate) nextStart(tb testing.TB) string {
	tb.Helper()
	select {
	case id := <-g.started:
		return id
	case <-time.After(10 * time.Second):
		tb.Fatal("no run started within 10s")
		return ""
	}
}

// mustWait waits up to 10s for run id to end.
func mustWait(tb testing.TB, e *scheduler.Engine, id string) scheduler.Run {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := e.Wait(ctx, id)
	if err != nil {
		tb.Fatalf("wait for run %s: %v", id, err)
	}
	return r
}

// eventually polls cond until it holds or 10s pass.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// must fails the test on err.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// wantErr asserts errors.Is(err, target).
func wantErr(tb testing.TB, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("got error %v, want %v", err, target)
	}
}

// wantField asserts err is a *scheduler.ParamError on field whose message
// contains msg.
func wantField(tb testing.TB, err error, field, msg string) {
	tb.Helper()
	var pe *scheduler.ParamError
	if !errors.As(err, &pe) || pe.Field != field || !strings.Contains(pe.Msg, msg) {
		tb.Fatalf("got error %v, want a ParamError on %q containing %q", err, field, msg)
	}
}

// states lists the states of a run's history.
func states(r scheduler.Run) []string {
	var out []string
	for _, h := range r.History {
		out = append(out, h.State)
	}
	return out
}

// runsOf lists the stored runs of a schedule, newest first.
func runsOf(tb testing.TB, e *scheduler.Engine, scheduleID string) []scheduler.Run {
	tb.Helper()
	runs, err := e.List(context.Background(), scheduler.RunFilter{ScheduleID: scheduleID})
	must(tb, err)
	return runs
}

// logsContain reports whether a run's log has a line containing s.
func logsContain(tb testing.TB, e *scheduler.Engine, id, s string) bool {
	tb.Helper()
	lines, err := e.Logs(context.Background(), id, 0)
	must(tb, err)
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, s) })
}
