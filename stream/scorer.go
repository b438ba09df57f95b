package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ScorerConfig configures a Scorer.
type ScorerConfig struct {
	Client       Config
	Group        string // consumer group id (default "driftd")
	Topics       Topics
	Logger       *slog.Logger
	Metrics      *metrics.Set
	OnPrediction func(id string, score float64, label string) // called after the prediction is acknowledged; may be nil
	// MaxPollRecords bounds one batch (default 4096): the scorer never holds
	// more than one batch of fetched records in processing.
	MaxPollRecords int
	// Workers decode and score a batch in parallel (default 2); outputs keep input order.
	Workers int
	// Partitions and Replication are used when the scorer creates missing topics.
	Partitions  int32
	Replication int16
	// Compression compresses produced batches (snappy); off suits the embedded broker.
	Compression bool
	// SessionTimeout is how long the group waits for a silent member before
	// its partitions move to the others (default 10s, Kafka's own is 45s): a
	// scorer killed with -9 stalls its partitions that long.
	SessionTimeout time.Duration
}

// Status is a snapshot of the scorer's state for the API and /readyz.
type Status struct {
	State          string // starting, running, paused, stopped
	Reason         string // why the scorer is paused or stopped
	Model, Version string
	Consumed       uint64 // input records processed (scored or dead-lettered)
	Produced       uint64 // predictions acknowledged
	DeadLettered   uint64
	Dropped        uint64 // inputs whose dead letter could not be produced either (logged)
	ProduceErrors  uint64
	Commits        uint64
	LastError      string
	LastErrorAt    time.Time
	// Partitions are the features topic's partitions assigned to this
	// scorer now, in order.
	Partitions []int32
	// Lag is the records behind the high watermark summed over the assigned
	// partitions, as of each one's latest fetch; -1 before any is known.
	Lag int64
}

// deployment is a model and its observer, swapped atomically.
type deployment struct {
	model Model
	obs   Observer
}

// Scorer consumes feature records, scores them with the deployed model and
// produces predictions, committing offsets only after every output of a batch
// is acknowledged (at-least-once).
type Scorer struct {
	cfg    ScorerConfig
	log    *slog.Logger
	m      *scorerMetrics
	dep    atomic.Pointer[deployment]
	wake   chan struct{}
	client *kgo.Client
	// solo produces one record at a time (at most one buffered), so a
	// record retried after its batch was refused as too large is judged on
	// its own size, not batched again with the records around it.
	solo *kgo.Client

	mu         sync.Mutex
	pollCancel context.CancelFunc
	pl         *pipeline // batches in flight (set by run)
	status     Status
	// lags holds, per assigned partition, its lag as of its latest fetch
	// (-1 until one); the keys are the assignment.
	lags map[int32]int64

	consumed, produced, deadLettered, dropped, produceErrs, commits atomic.Uint64

	stopSoft, stopHard context.CancelFunc
	done               chan struct{}
}

// NewScorer validates the configuration and returns a scorer with no model
// deployed (it will not consume until SetModel).
func NewScorer(cfg ScorerConfig) (*Scorer, error) {
	if len(cfg.Client.Brokers) == 0 {
		return nil, errors.New("scorer: no kafka brokers configured")
	}
	if cfg.Group == "" {
		cfg.Group = "driftd"
	}
	cfg.Topics = cfg.Topics.withDefaults()
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 4096
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scorer{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "scorer", "group", cfg.Group, "topic", cfg.Topics.Features),
		m:    newScorerMetrics(cfg.Metrics, cfg.Topics),
		wake: make(chan struct{}, 1),
	}
	s.status = Status{State: "starting"}
	return s, nil
}

// SetModel deploys m (with its drift observer, which may be nil); it applies
// between batches. A nil model pauses consumption until a model is set.
func (s *Scorer) SetModel(m Model, obs Observer) {
	if m == nil {
		s.dep.Store(nil)
	} else {
		s.dep.Store(&deployment{model: m, obs: obs})
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.mu.Lock()
	if s.pollCancel != nil {
		s.pollCancel()
	}
	s.mu.Unlock()
}

// Status returns a snapshot of the scorer's state and counters.
func (s *Scorer) Status() Status {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	if d := s.dep.Load(); d != nil {
		st.Model, st.Version = d.model.Name(), d.model.Version()
	}
	st.Consumed, st.Produced, st.DeadLettered = s.consumed.Load(), s.produced.Load(), s.deadLettered.Load()
	st.Dropped = s.dropped.Load()
	st.ProduceErrors, st.Commits = s.produceErrs.Load(), s.commits.Load()
	s.mu.Lock()
	st.Partitions, st.Lag = make([]int32, 0, len(s.lags)), -1
	for p, l := range s.lags {
		st.Partitions = append(st.Partitions, p)
		if l >= 0 {
			st.Lag = max(st.Lag, 0) + l
		}
	}
	s.mu.Unlock()
	slices.Sort(st.Partitions)
	return st
}

// assign records the partitions of the features topic added to (or, with
// add false, taken from) this scorer's assignment.
func (s *Scorer) assign(parts map[string][]int32, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lags == nil {
		s.lags = map[int32]int64{}
	}
	for _, p := range parts[s.cfg.Topics.Features] {
		if add {
			s.lags[p] = -1
		} else {
			delete(s.lags, p)
		}
	}
}

func (s *Scorer) setState(state, reason string) {
	s.mu.Lock()
	s.status.State, s.status.Reason = state, reason
	s.mu.Unlock()
	if state == "running" {
		s.m.up.Set(1)
	} else {
		s.m.up.Set(0)
	}
}

func (s *Scorer) setError(err error) {
	s.mu.Lock()
	s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now()
	s.mu.Unlock()
}

// Start creates the missing topics, joins the consumer group and runs the
// scoring loop in the background until Close.
func (s *Scorer) Start(ctx context.Context) error {
	t := s.cfg.Topics
	if err := EnsureTopics(ctx, s.cfg.Client, t.All(), s.cfg.Partitions, s.cfg.Replication); err != nil {
		return fmt.Errorf("scorer: %w", err)
	}
	comp := kgo.NoCompression()
	if s.cfg.Compression {
		comp = kgo.SnappyCompression()
	}
	cl, err := NewClient(s.cfg.Client,
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(t.Features),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MaxBufferedRecords((pipelineDepth+1)*s.cfg.MaxPollRecords+1024),
		kgo.ProducerBatchCompression(comp),
		kgo.ProducerLinger(0),
		// Before partitions move, finish the batches in flight so their
		// offsets are committed by the member that owns them.
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
			s.drain()
			s.assign(parts, false)
		}),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, parts map[string][]int32) { s.assign(parts, true) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, parts map[string][]int32) { s.assign(parts, false) }),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.HeartbeatInterval(max(s.cfg.SessionTimeout/10, 100*time.Millisecond)),
	)
	if err != nil {
		return fmt.Errorf("scorer: %w", err)
	}
	solo, err := NewClient(s.cfg.Client, kgo.ProducerBatchCompression(comp), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1))
	if err != nil {
		cl.Close()
		return fmt.Errorf("scorer: %w", err)
	}
	s.client, s.solo = cl, solo
	soft, stopSoft := context.WithCancel(context.WithoutCancel(ctx))
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	s.stopSoft, s.stopHard = stopSoft, stopHard
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.run(soft, hard)
	}()
	return nil
}

// Close stops consuming, lets the batch in flight finish (its outputs acked
// and offsets committed) while ctx allows, then closes the client.
func (s *Scorer) Close(ctx context.Context) error {
	if s.done == nil {
		return nil
	}
	s.stopSoft()
	var err error
	select {
	case <-s.done:
	case <-ctx.Done():
		s.stopHard()
		<-s.done
		err = fmt.Errorf("scorer close: in-flight batch abandoned (it will be redelivered): %w", ctx.Err())
	}
	s.stopHard()
	closed := make(chan struct{})
	go func() { s.client.CloseAllowingRebalance(); s.solo.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		err = errors.Join(err, errors.New("scorer close: kafka client did not close within 5s"))
	}
	s.setState("stopped", "closed")
	return err
}

// drain waits for the batches in flight to be acknowledged and committed.
func (s *Scorer) drain() {
	s.mu.Lock()
	pl := s.pl
	s.mu.Unlock()
	if pl != nil {
		pl.drain()
	}
}

// run is the consume loop. soft stops polling; hard aborts in-flight produces.
func (s *Scorer) run(soft, hard context.Context) {
	cl, topic := s.client, s.cfg.Topics.Features
	paused := false
	var pool *workPool
	pl := newPipeline(s, hard)
	s.mu.Lock()
	s.pl = pl
	s.mu.Unlock()
	defer pl.close()
	for soft.Err() == nil {
		dep := s.dep.Load()
		if dep == nil {
			if !paused {
				cl.PauseFetchTopics(topic)
				paused = true
				s.setState("paused", "no model deployed")
				s.log.Info("scorer paused: no model deployed")
			}
			select {
			case <-s.wake:
			case <-soft.Done():
			}
			continue
		}
		if paused {
			cl.ResumeFetchTopics(topic)
			paused = false
		}
		s.setState("running", "")
		pollCtx, cancel := context.WithCancel(soft)
		s.mu.Lock()
		s.pollCancel = cancel
		s.mu.Unlock()
		fetches := cl.PollRecords(pollCtx, s.cfg.MaxPollRecords)
		s.mu.Lock()
		s.pollCancel = nil
		s.mu.Unlock()
		cancel()
		if fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
				s.setError(fmt.Errorf("fetch %s/%d: %w", t, p, err))
			}
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		// A swap made while polling applies to this batch; a removal made
		// while polling lets the previous model finish the batch in hand.
		if d := s.dep.Load(); d != nil {
			dep = d
		}
		if pool == nil || dep != pool.dep {
			pool = newWorkPool(dep, s.cfg.Workers)
			s.log.Info("scoring with model", "model", dep.model.Name(), "version", dep.model.Version())
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				lag := p.HighWatermark - p.Records[n-1].Offset - 1
				s.m.lag(p.Topic, p.Partition, lag)
				s.mu.Lock()
				if _, ok := s.lags[p.Partition]; ok {
					s.lags[p.Partition] = lag
				}
				s.mu.Unlock()
			}
		})
		// The batch's outputs are acknowledged and its offsets committed
		// by the pipeline while the next batch is polled and scored.
		w := pool.get()
		dead := s.scoreBatch(w, recs)
		pl.submit(&inflight{w: w, pool: pool, recs: recs, dead: dead})
		cl.AllowRebalance()
	}
}
