package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/robfig/cron/v3"
)

// ErrNotStarted is returned by Submit before Start.
var ErrNotStarted = errors.New("the scheduler has not started")

// Log attribute keys.
const (
	attrRun      = "run"
	attrFlow     = "flow"
	attrSchedule = "schedule"
	attrErr      = "err"
)

const (
	// shutdownNote is the history note of runs cancelled by Close.
	shutdownNote = "the server shut down"
	// onEndTimeout bounds the context given to Flow.OnEnd.
	onEndTimeout = 30 * time.Second
	// defaultCancelGrace is how long an attempt whose context ended may take to
	// return before the engine gives up on it.
	defaultCancelGrace = time.Minute
)

// Options configures New; zero values select defaults.
type Options struct {
	Store   Store
	Now     func() time.Time // clock of all run and schedule logic (default time.Now)
	Logger  *slog.Logger     // default: discard
	Metrics *metrics.Set     // where the engine's series go (nil: a private set)
	// Queues is the concurrency limit per queue, merged over the defaults
	// {"training": 1, "monitoring": 2, "default": 4}.
	Queues map[string]int
	// QueueMax is how many runs may wait (scheduled or pending) per queue
	// before Submit returns ErrQueueFull; default 8 for "training", 1000 for
	// others.
	QueueMax map[string]int
	// Jitter returns a number in [0, 1) that scales retry backoffs by
	// 0.5 + Jitter() (default math/rand/v2).
	Jitter func() float64
	// TickEvery is how often schedules are checked (default 1s).
	TickEvery time.Duration
	// CancelGrace is how long an attempt whose context was cancelled or timed
	// out may take to return before the engine ends the run without it, so a
	// flow that ignores its context cannot hold its queue slot for ever
	// (default 1m).
	CancelGrace time.Duration
}

// Engine runs registered flows on work queues, from schedules or on demand.
// Register flows, then Start; Close stops it. It is safe for concurrent use.
type Engine struct {
	store     Store
	now       func() time.Time
	log       *slog.Logger
	metrics   engineMetrics
	jitter    func() float64
	tickEvery time.Duration
	grace     time.Duration
	queues    map[string]*queue // fixed at New; counters guarded by mu

	schedMu  sync.Mutex // serialises Tick, catch-up and schedule changes
	notifyMu sync.Mutex // serialises deliveries to subscribers
	specMu   sync.Mutex
	specs    map[string]cron.Schedule // specMu: parsed timings by their fields

	mu    sync.Mutex
	flows map[string]Flow
	runs  map[string]*liveRun // runs not yet terminal, by id
	// creating counts Submits between their stored run and its entry in
	// runs; released is closed (and replaced) whenever one of them ends, so
	// Wait can tell a run being created here from one of another process.
	creating  int
	released  chan struct{}
	subs      map[int]func(Run)
	nextSub   int
	events    []Run // state changes not yet delivered to subscribers
	frozen    bool  // Start was called: no more Register
	started   bool
	closed    bool
	baseCtx   context.Context
	runCtx    context.Context // parent of every attempt; cancelled by Close
	stopRuns  context.CancelFunc
	stopLoops context.CancelFunc
	closeDone chan struct{}

	wake    chan struct{} // events were queued
	workers sync.WaitGroup
	loops   sync.WaitGroup
}

// New builds an engine; it starts nothing. It fails when Store is nil or a
// queue setting is invalid.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("new scheduler: no store")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if opts.TickEvery <= 0 {
		opts.TickEvery = time.Second
	}
	if opts.CancelGrace <= 0 {
		opts.CancelGrace = defaultCancelGrace
	}
	limits := defaultQueues()
	maps.Copy(limits, opts.Queues)
	e := &Engine{
		store: opts.Store, now: opts.Now, log: opts.Logger.With("component", "scheduler"),
		metrics: engineMetrics{set: opts.Metrics}, jitter: opts.Jitter, tickEvery: opts.TickEvery,
		grace: opts.CancelGrace, queues: map[string]*queue{}, flows: map[string]Flow{},
		runs: map[string]*liveRun{}, released: make(chan struct{}), specs: map[string]cron.Schedule{}, subs: map[int]func(Run){}, closeDone: make(chan struct{}),
		wake: make(chan struct{}, 1),
	}
	for name, limit := range limits {
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("new scheduler: queue: %w", err)
		}
		if limit < 1 {
			return nil, fmt.Errorf("new scheduler: queue %s: concurrency %d is below 1", name, limit)
		}
		q := &queue{name: name, limit: limit, max: defaultQueueMax}
		if name == "training" {
			q.max = defaultTrainingQueueMax
		}
		q.depthG, q.runningG = e.metrics.queue(name)
		e.queues[name] = q
	}
	for name, max := range opts.QueueMax {
		q, ok := e.queues[name]
		if !ok {
			return nil, fmt.Errorf("new scheduler: queue max for unknown queue %q", name)
		}
		if max < 1 {
			return nil, fmt.Errorf("new scheduler: queue %s: max waiting %d is below 1", name, max)
		}
		q.max = max
	}
	return e, nil
}

// Register adds a flow; it must be called before Start. It fails on an empty,
// invalid or duplicate name, a nil Run, an unknown queue or a bad param schema.
func (e *Engine) Register(f Flow) error {
	if err := validName(f.Name); err != nil {
		return fmt.Errorf("register flow: %w", err)
	}
	if f.Run == nil {
		return fmt.Errorf("register flow %s: no Run function", f.Name)
	}
	if f.Queue == "" {
		f.Queue = "default"
	}
	if _, ok := e.queues[f.Queue]; !ok {
		return fmt.Errorf("register flow %s: unknown queue %q (known: %v)", f.Name, f.Queue, slices.Sorted(maps.Keys(e.queues)))
	}
	if f.Retries < 0 || f.Timeout < 0 || f.RetryBackoff < 0 {
		return fmt.Errorf("register flow %s: negative retries, backoff or timeout", f.Name)
	}
	if f.RetryBackoff == 0 {
		f.RetryBackoff = time.Second
	}
	ps, err := checkSchema(f.Params)
	if err != nil {
		return fmt.Errorf("register flow %s: %w", f.Name, err)
	}
	f.Params = ps
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.frozen || e.closed {
		return fmt.Errorf("register flow %s: the scheduler has already started", f.Name)
	}
	if _, dup := e.flows[f.Name]; dup {
		return fmt.Errorf("register flow %s: already registered", f.Name)
	}
	e.flows[f.Name] = f
	e.metrics.flow(f.Name)
	return nil
}

// Flows returns the registered flows sorted by name.
func (e *Engine) Flows() []Flow {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Collect(maps.Values(e.flows))
	slices.SortFunc(out, func(a, b Flow) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Flow returns the flow registered as name, and whether there is one.
func (e *Engine) Flow(name string) (Flow, bool) { return e.flow(name) }

func (e *Engine) flow(name string) (Flow, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.flows[name]
	return f, ok
}

// Start marks the runs a previous process left unfinished as crashed, applies
// the catch-up policy of every schedule, then starts the queue workers and the
// schedule loop. It fails when called twice, after Close, or when the store
// cannot be read.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return fmt.Errorf("start scheduler: %w", ErrClosed)
	case e.frozen:
		e.mu.Unlock()
		return errors.New("start scheduler: already started")
	}
	e.frozen = true
	e.baseCtx = context.WithoutCancel(ctx)
	e.mu.Unlock()

	if err := e.recoverRuns(ctx); err != nil {
		return fmt.Errorf("start scheduler: %w", err)
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return fmt.Errorf("start scheduler: %w", ErrClosed)
	}
	e.runCtx, e.stopRuns = context.WithCancel(e.baseCtx)
	loopCtx, stopLoops := context.WithCancel(e.baseCtx)
	e.stopLoops = stopLoops
	e.started = true
	e.loops.Add(1)
	go e.notifyLoop(loopCtx)
	e.mu.Unlock()

	if err := e.catchUp(ctx); err != nil {
		e.log.Error("schedule catch-up failed", attrErr, err)
	}
	e.mu.Lock()
	if !e.closed { // Close may have run during the catch-up
		e.loops.Add(1)
		go e.tickLoop(loopCtx)
	}
	e.mu.Unlock()
	e.log.Info("scheduler started", "queues", len(e.queues), "flows", len(e.Flows()))
	return nil
}

// recoverRuns marks every stored run in a live state as crashed: no process
// runs it any more.
func (e *Engine) recoverRuns(ctx context.Context) error {
	const page = 1000
	for _, st := range []string{StateScheduled, StatePending, StateRunning} {
		for {
			runs, err := e.store.ListFlowRuns(ctx, RunFilter{State: st, Limit: page})
			if err != nil {
				return fmt.Errorf("recover %s runs: %w", st, err)
			}
			for _, r := range runs {
				if err := e.crash(ctx, r); err != nil {
					return err
				}
			}
			if len(runs) < page {
				break
			}
		}
	}
	return nil
}

// crash stores r as crashed and calls its flow's OnEnd.
func (e *Engine) crash(ctx context.Context, r Run) error {
	now := e.now().UTC()
	note := "the process stopped while the run was " + r.State
	r.State, r.EndedAt, r.Error = StateCrashed, now, note
	r.History = append(r.History, Transition{State: StateCrashed, At: now, Note: note})
	if err := e.store.AppendFlowRunLog(ctx, r.ID, "crashed: "+note); err != nil {
		e.log.Warn("log crashed run", attrRun, r.ID, attrErr, err)
	}
	if err := e.store.SaveFlowRun(ctx, r); err != nil {
		return fmt.Errorf("mark run %s crashed: %w", r.ID, err)
	}
	e.log.Warn("run crashed", attrRun, r.ID, attrFlow, r.Flow, "note", note)
	f, ok := e.flow(r.Flow)
	if !ok {
		return nil // a flow no longer registered: keep its series out of the metrics
	}
	e.metrics.ended(r)
	e.mu.Lock()
	e.queueEventLocked(r)
	e.mu.Unlock()
	e.onEnd(f, r)
	return nil
}

// tickLoop calls Tick every TickEvery until ctx ends.
func (e *Engine) tickLoop(ctx context.Context) {
	defer e.loops.Done()
	t := time.NewTicker(e.tickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.Tick(e.now())
		}
	}
}

// Close stops the schedule loop, cancels waiting runs and the running ones
// (all end cancelled with the note "the server shut down"), and waits for the
// workers until ctx ends; then it marks the runs still running as cancelled
// and returns ctx's error. Calling it again waits for the first call.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		select {
		case <-e.closeDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("close scheduler: %w", ctx.Err())
		}
	}
	e.closed = true
	if e.stopLoops != nil {
		e.stopLoops()
	}
	var ended []*liveRun
	for _, lr := range e.runs {
		switch lr.run.State {
		case StateScheduled, StatePending:
			ended = append(ended, lr)
		case StateRunning:
			if lr.stopNote == "" {
				lr.stopNote = shutdownNote
			}
		}
	}
	if e.stopRuns != nil {
		e.stopRuns()
	}
	e.mu.Unlock()
	for _, lr := range ended {
		lr.log.add("cancelled: " + shutdownNote)
		e.end(lr, StateCancelled, shutdownNote, nil)
	}

	var err error
	if !waitCtx(ctx, &e.workers) {
		err = fmt.Errorf("close scheduler: runs still running: %w", ctx.Err())
		e.mu.Lock()
		left := slices.Collect(maps.Values(e.runs))
		e.mu.Unlock()
		for _, lr := range left {
			e.end(lr, StateCancelled, shutdownNote+" (the run did not stop in time)", nil)
		}
	}
	if !waitCtx(ctx, &e.loops) && err == nil {
		err = fmt.Errorf("close scheduler: schedule loop still busy: %w", ctx.Err())
	}
	e.deliver()
	close(e.closeDone)
	e.log.Info("scheduler stopped")
	return err
}

// waitCtx waits for wg until ctx ends; it reports whether wg finished.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// onEnd calls f.OnEnd with a context Close does not cancel, recovering a panic.
func (e *Engine) onEnd(f Flow, r Run) {
	if f.OnEnd == nil {
		return
	}
	base := context.Background()
	e.mu.Lock()
	if e.baseCtx != nil {
		base = e.baseCtx
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(base, onEndTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("OnEnd panicked", attrRun, r.ID, attrFlow, r.Flow, "panic", p)
		}
	}()
	f.OnEnd(ctx, r)
}
