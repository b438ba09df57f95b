// Package demo runs driftd's demo mode (`driftd serve --demo`): it trains a
// model on built-in synthetic data, deploys it, and streams feature records
// and their labels, a few seconds later, through Kafka. After a while it
// shifts some features and the concept, so that drift rises, the retrain
// flow promotes a challenger and drift falls; a while after the promotion it
// shifts again. It is never on by default.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"driftd/scheduler"
	"driftd/stream"
)

// Phases of the demo, as Status reports them; after a shift the phase is
// "shifted: concept <k>" until a new version is deployed.
const (
	PhaseStarting  = "starting"
	PhaseTraining  = "training"
	PhaseRetrying  = "training failed, retrying"
	PhaseStreaming = "streaming"
	PhaseStopped   = "stopped"
)

// Defaults of Config.
const (
	DefaultRate       = 50
	DefaultLabelDelay = 5 * time.Second
	DefaultShiftAfter = 2 * time.Minute
	DefaultRepeat     = 3 * time.Minute
)

const (
	trainRows   = 5000 // rows of concept 0 in train.csv
	trainRounds = 60   // boosting rounds of the demo's first model
	// maxRate bounds Config.Rate, as DRIFTD_DEMO_RATE does.
	maxRate = 1e6
	// depsTimeout bounds one call of Deployed.
	depsTimeout = 5 * time.Second
)

// Config configures the demo.
type Config struct {
	Model, Environment string        // the scored model name and scoring environment
	DataDir            string        // demo files go under DataDir/demo/
	Rate               float64       // feature records per second (default 50)
	LabelDelay         time.Duration // labels arrive this long after their features (default 5s)
	ShiftAfter         time.Duration // first shift this long after scoring starts (default 2m)
	Repeat             time.Duration // the next shift comes this long after the last promotion that followed a shift (default 3m)
	Seed               uint64        // seeds the synthetic data
}

// Deps are what the demo calls outside itself; the server wires them.
type Deps struct {
	// Kafka returns the client settings; it is called by Start, once the
	// pipeline knows the broker's address.
	Kafka  func() stream.Config
	Topics stream.Topics
	// Submit starts a flow run and Wait waits until a run has ended.
	Submit func(ctx context.Context, flow string, params map[string]any, t scheduler.Trigger) (scheduler.Run, error)
	Wait   func(ctx context.Context, id string) (scheduler.Run, error)
	// Deployed returns the version deployed to env, "" and nil when nothing is.
	Deployed func(ctx context.Context, model, env string) (version string, err error)
	Logger   *slog.Logger     // nil discards
	Now      func() time.Time // nil means time.Now
}

// Status is what the demo is doing, for the UI banner and the API.
type Status struct {
	Phase         string    `json:"phase"`
	Concept       int       `json:"concept"`
	Sent          int64     `json:"sent"`   // feature records produced
	Labels        int64     `json:"labels"` // label records produced
	Failed        int64     `json:"failed"` // records the broker never acknowledged
	NextShiftAt   time.Time `json:"next_shift_at,omitzero"`
	Shifts        int       `json:"shifts"`
	Deployed      string    `json:"deployed,omitempty"`       // the version seen deployed
	LastPromotion string    `json:"last_promotion,omitempty"` // the version deployed after the last shift
	TrainRun      string    `json:"train_run,omitempty"`      // the demo's training run
	Error         string    `json:"error,omitempty"`          // why training is being retried
	Started       time.Time `json:"started,omitzero"`
}

// Runner runs the demo: Start it once, Close it once.
type Runner struct {
	cfg Config
	d   Deps
	log *slog.Logger

	// Timings; tests shorten them.
	tick  time.Duration // pacing tick
	poll  time.Duration // how often Deployed is read
	retry time.Duration // wait before training again after a failure
	save  time.Duration // how often the state file is written

	mu sync.Mutex
	st Status

	prod        *stream.Producer
	produceCtx  context.Context // outlives the loop, so Close can flush what it buffered
	stopProduce context.CancelFunc
	cancel      context.CancelFunc
	done        chan struct{}
	closeOnce   sync.Once

	loop loop // owned by the demo's goroutine
}

// loop is the state of the demo's goroutine.
type loop struct {
	concept      Concept
	rng          *rand.Rand
	seq          int64
	shifts       int
	nextShift    time.Time
	awaiting     bool   // a shift happened and no new version followed yet
	awaitingFrom string // the version deployed at that shift
	deployed     string
	labels       labelQueue
	credit       float64 // records owed to the pacing
	last         time.Time
	lastPoll     time.Time
	lastSave     time.Time
	sent, nLabel int64
	failedSeen   int64
	started      bool
}

// New checks cfg, fills its defaults and returns a Runner ready to Start.
func New(cfg Config, d Deps) (*Runner, error) {
	switch {
	case cfg.Model == "" || cfg.Environment == "":
		return nil, errors.New("demo: a model name and a scoring environment are required")
	case cfg.DataDir == "":
		return nil, errors.New("demo: a data directory is required")
	case cfg.Rate < 0 || cfg.Rate > maxRate:
		return nil, fmt.Errorf("demo: rate %g records/s is out of range (0, %g]", cfg.Rate, float64(maxRate))
	case cfg.LabelDelay < 0 || cfg.ShiftAfter < 0 || cfg.Repeat < 0:
		return nil, errors.New("demo: label delay, shift after and repeat must not be negative")
	case d.Kafka == nil || d.Submit == nil || d.Wait == nil || d.Deployed == nil:
		return nil, errors.New("demo: Kafka, Submit, Wait and Deployed are required")
	case d.Topics.Features == "" || d.Topics.Labels == "":
		return nil, errors.New("demo: the features and labels topics are required")
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.LabelDelay == 0 {
		cfg.LabelDelay = DefaultLabelDelay
	}
	if cfg.ShiftAfter == 0 {
		cfg.ShiftAfter = DefaultShiftAfter
	}
	if cfg.Repeat == 0 {
		cfg.Repeat = DefaultRepeat
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Runner{
		cfg: cfg, d: d, log: d.Logger.With("component", "demo"),
		tick: 100 * time.Millisecond, poll: time.Second, retry: 30 * time.Second, save: 5 * time.Second,
		st: Status{Phase: PhaseStarting},
	}, nil
}

// dir is where the demo's files go.
func (r *Runner) dir() string { return filepath.Join(r.cfg.DataDir, "demo") }

// Start creates DataDir/demo and the producer, then runs the demo in a
// goroutine and returns: it never waits for training. It returns an error
// when the directory cannot be made, the Kafka settings are unusable, or the
// demo was started before.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return errors.New("demo: already started")
	}
	if err := os.MkdirAll(r.dir(), 0o750); err != nil {
		return fmt.Errorf("demo: create %s: %w", r.dir(), err)
	}
	prod, err := stream.NewProducer(r.d.Kafka())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	saved, err := loadState(filepath.Join(r.dir(), "state.json"))
	if err != nil {
		r.log.Warn("starting the demo afresh", "err", err)
	}
	base := context.WithoutCancel(ctx)
	var loopCtx context.Context
	loopCtx, r.cancel = context.WithCancel(base)
	r.produceCtx, r.stopProduce = context.WithCancel(base)
	r.prod, r.done = prod, make(chan struct{})
	r.st.Started = r.d.Now()
	go r.run(loopCtx, saved)
	r.log.Info("demo mode: synthetic records will be produced", "rate", r.cfg.Rate, "label_delay", r.cfg.LabelDelay,
		"shift_after", r.cfg.ShiftAfter, "repeat", r.cfg.Repeat, "dir", r.dir())
	return nil
}

// Close stops the demo: it stops producing, waits for its goroutine, flushes
// the records it produced and closes the producer, all within ctx; labels
// not yet due are dropped. It returns an error when ctx ends first.
func (r *Runner) Close(ctx context.Context) error {
	var err error
	r.closeOnce.Do(func() {
		r.mu.Lock()
		done := r.done
		r.mu.Unlock()
		if done == nil {
			return
		}
		r.cancel()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("close demo: its goroutine did not stop: %w", ctx.Err())
		}
		if ferr := r.prod.Flush(ctx); ferr != nil {
			if ctx.Err() != nil {
				err = errors.Join(err, fmt.Errorf("close demo: %w", ferr))
			} else {
				r.log.Warn("some demo records were not delivered", "err", ferr)
			}
		}
		r.stopProduce()
		r.prod.Close()
		r.update(func(s *Status) { s.Phase = PhaseStopped })
	})
	return err
}

// Status returns what the demo is doing.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// update changes the status under the lock.
func (r *Runner) update(fn func(*Status)) {
	r.mu.Lock()
	fn(&r.st)
	r.mu.Unlock()
}

// run is the demo's goroutine: get a model deployed, then stream until ctx ends.
func (r *Runner) run(ctx context.Context, saved savedState) {
	defer close(r.done)
	version, fresh, ok := r.ensureModel(ctx)
	if !ok {
		return
	}
	if fresh {
		saved = savedState{Seq: saved.Seq}
	}
	r.resume(version, saved)
	defer r.saveState()
	r.stream(ctx)
}

// resume sets up the loop from the saved state and the deployed version.
func (r *Runner) resume(version string, saved savedState) {
	l, now := &r.loop, r.d.Now()
	l.started = true
	l.deployed, l.shifts = version, saved.Shifts
	l.concept = ConceptAt(saved.Shifts)
	l.rng = newRand(r.cfg.Seed, 1<<32+uint64(saved.Shifts))
	l.seq = saved.Seq
	if saved.Seq > 0 {
		// Ids produced after the last save of a process that crashed are
		// skipped: twice the records of one save interval.
		l.seq += int64(2*r.cfg.Rate*r.save.Seconds()) + 1
	}
	l.last, l.lastPoll, l.lastSave = now, now, now
	promoted := ""
	switch {
	case saved.Awaiting && saved.AwaitingFrom == version:
		l.awaiting, l.awaitingFrom = true, version
	case saved.Awaiting: // a new version was deployed while we were down
		l.nextShift, promoted = now.Add(r.cfg.Repeat), version
	default:
		l.nextShift = now.Add(r.cfg.ShiftAfter)
	}
	r.update(func(s *Status) {
		s.Phase, s.Concept, s.Shifts, s.Deployed, s.NextShiftAt, s.Error = r.phase(), l.concept.Index, l.shifts, version, l.nextShift, ""
		if promoted != "" {
			s.LastPromotion = promoted
		}
	})
	r.log.Info("demo: streaming", "concept", l.concept.Index, "deployed", version, "next_shift_at", l.nextShift)
}

// phase is the phase while streaming.
func (r *Runner) phase() string {
	if r.loop.awaiting {
		return "shifted: concept " + strconv.Itoa(r.loop.concept.Index)
	}
	return PhaseStreaming
}

// stream produces at the configured rate until ctx ends.
func (r *Runner) stream(ctx context.Context) {
	t := time.NewTicker(r.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if n := r.loop.labels.len(); n > 0 {
				r.log.Info("demo stopped; labels not yet due are dropped", "labels", n)
			}
			return
		case <-t.C:
			r.step(ctx, r.d.Now())
		}
	}
}

// step does one tick's work: shift when due, produce the records the rate
// owes, produce the labels that are due, and look at the deployment.
func (r *Runner) step(ctx context.Context, now time.Time) {
	l := &r.loop
	if !l.nextShift.IsZero() && !now.Before(l.nextShift) {
		r.shift()
	}
	if d := now.Sub(l.last); d > 0 {
		// At most one second's worth is owed: after a stall (a laptop
		// asleep) the demo goes on at its rate instead of bursting.
		l.credit = min(l.credit+r.cfg.Rate*d.Seconds(), r.cfg.Rate+1)
	}
	l.last = now
	n := int(l.credit)
	l.credit -= float64(n)
	for range n {
		r.produceRecord(now)
	}
	l.labels.popDue(now, func(p pendingLabel) {
		r.prod.Produce(r.produceCtx, r.d.Topics.Labels, []byte(p.id), AppendLabel(make([]byte, 0, 48), p.id, p.label))
		l.nLabel++
	})
	if now.Sub(l.lastPoll) >= r.poll {
		l.lastPoll = now
		r.checkDeployed(ctx, now)
	}
	if now.Sub(l.lastSave) >= r.save {
		l.lastSave = now
		r.saveState()
		if st := r.prod.Stats(); st.Failed > l.failedSeen {
			r.log.Warn("demo records failed", "failed", st.Failed-l.failedSeen, "first_error", st.FirstError)
			l.failedSeen = st.Failed
		}
	}
	failed := l.failedSeen
	r.update(func(s *Status) { s.Sent, s.Labels, s.Failed = l.sent, l.nLabel, failed })
}

// produceRecord produces one features record of the current concept and
// queues its label.
func (r *Runner) produceRecord(now time.Time) {
	l := &r.loop
	row := l.concept.Sample(l.rng)
	id := "demo-" + strconv.Itoa(l.concept.Index) + "-" + strconv.FormatInt(l.seq, 10)
	l.seq++
	r.prod.Produce(r.produceCtx, r.d.Topics.Features, []byte(id), AppendRecord(make([]byte, 0, 192), id, now, row))
	l.labels.push(pendingLabel{due: now.Add(r.cfg.LabelDelay), id: id, label: row.Label})
	l.sent++
}

// shift moves to the next concept and waits for a new version.
func (r *Runner) shift() {
	l := &r.loop
	l.shifts++
	l.concept = ConceptAt(l.shifts)
	l.awaiting, l.awaitingFrom, l.nextShift = true, l.deployed, time.Time{}
	r.update(func(s *Status) {
		s.Phase, s.Concept, s.Shifts, s.NextShiftAt = r.phase(), l.concept.Index, l.shifts, time.Time{}
	})
	r.log.Info("demo: shifted the features and the concept; drift should rise and a retrain follow",
		"concept", l.concept.Index, "shift", l.shifts, "champion", l.deployed)
	r.saveState()
}

// checkDeployed reads the deployed version; a new one after a shift is the
// promotion the demo waits for, and schedules the next shift.
func (r *Runner) checkDeployed(ctx context.Context, now time.Time) {
	l := &r.loop
	cctx, cancel := context.WithTimeout(ctx, depsTimeout)
	v, err := r.d.Deployed(cctx, r.cfg.Model, r.cfg.Environment)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("demo: cannot read the deployed version", "err", err)
		}
		return
	}
	if v == l.deployed {
		return
	}
	prev := l.deployed
	l.deployed = v
	promoted := false
	switch {
	case v == "":
		r.log.Warn("demo: nothing is deployed any more; records wait in Kafka", "model", r.cfg.Model, "environment", r.cfg.Environment)
	case l.awaiting:
		l.awaiting, l.nextShift, promoted = false, now.Add(r.cfg.Repeat), true
		r.log.Info("demo: a new version is deployed after the shift; next shift scheduled",
			"from", prev, "to", v, "concept", l.concept.Index, "next_shift_at", l.nextShift)
		r.saveState()
	case l.shifts > 0 && prev != "":
		// Another promotion in the same cycle (the first challenger was
		// trained while drift was only beginning): the calm period
		// counts from the latest one.
		l.nextShift, promoted = now.Add(r.cfg.Repeat), true
		r.log.Info("demo: the deployed version changed again; next shift moved", "from", prev, "to", v, "next_shift_at", l.nextShift)
	default:
		promoted = prev != ""
		r.log.Info("demo: the deployed version changed", "from", prev, "to", v)
	}
	r.update(func(s *Status) {
		s.Deployed, s.Phase, s.NextShiftAt = v, r.phase(), l.nextShift
		if promoted {
			s.LastPromotion = v
		}
	})
}

// saveState writes the loop's state to DataDir/demo/state.json.
func (r *Runner) saveState() {
	l := &r.loop
	if !l.started {
		return
	}
	s := savedState{Shifts: l.shifts, Awaiting: l.awaiting, AwaitingFrom: l.awaitingFrom, Seq: l.seq}
	if err := saveState(filepath.Join(r.dir(), "state.json"), s); err != nil {
		r.log.Warn("demo: cannot save its state", "err", err)
	}
}
