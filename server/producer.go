package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"driftd/drift"
	"driftd/registry"
	"driftd/stream"
)

// Bounds of a synthetic producer run.
const (
	synthMaxRate = 5000       // records per second
	synthMaxRows = 10_000_000 // records per run
	// synthFlushTimeout bounds the wait for the last records' acknowledgements
	// when a run ends or is stopped.
	synthFlushTimeout = 5 * time.Second
)

// SynthSpec says what the synthetic producer sends: Rate records per second,
// Rows records in all (0 = until stopped), with Drift (stream.ParseDriftSpec
// syntax, e.g. "f0:shift=1.5") applied to the sampled values.
type SynthSpec struct {
	Rate  float64 `json:"rate"`
	Rows  int     `json:"rows"`
	Drift string  `json:"drift,omitempty"`
}

// SynthStatus is what the synthetic producer is doing or last did.
type SynthStatus struct {
	Running               bool
	Model, Version, Topic string
	Spec                  SynthSpec
	Sent, Acked, Failed   int64
	// Rate is the requested rate in records per second.
	Rate               float64
	StartedAt, EndedAt time.Time
	LastError          string
}

// versionReader is what the synthetic producer reads from the registry.
type versionReader interface {
	Deployed(ctx context.Context, name, environment string) (registry.Version, error)
	Profile(ctx context.Context, name, version string) ([]byte, error)
}

// synthConfig are the dependencies of a synthetic producer.
type synthConfig struct {
	Store versionReader
	// Kafka is the client configuration, Topic the features topic.
	Kafka stream.Config
	Topic string
	// Model and Environment name the scoring model whose deployed version's
	// reference profile the records are sampled from.
	Model, Environment string
	Now                func() time.Time
	Logger             *slog.Logger
	// Seed seeds the sampler; 0 picks one from the clock.
	Seed uint64
}

// synthProducer produces JSON feature records for the deployed scoring
// model to the features topic, sampled from that version's drift reference
// profile, optionally drifted, at a steady rate. One run at a time.
type synthProducer struct {
	cfg synthConfig

	mu     sync.Mutex
	st     SynthStatus
	prod   *stream.Producer // of the current run, nil between runs
	cancel context.CancelFunc
	done   chan struct{}
	seq    int64 // last id number used, so ids stay unique across runs
}

// newSynthProducer returns a stopped synthetic producer.
func newSynthProducer(cfg synthConfig) *synthProducer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &synthProducer{cfg: cfg}
}

// Start begins a run of spec in the background. It returns a field error
// (400) for a bad spec, an error wrapping registry.ErrConflict (409) while a
// run is going or when the deployed version cannot be sampled, and an error
// wrapping registry.ErrNotFound when nothing is deployed.
func (p *synthProducer) Start(ctx context.Context, spec SynthSpec) error {
	switch {
	case math.IsNaN(spec.Rate) || spec.Rate <= 0 || spec.Rate > synthMaxRate:
		return badRequest("rate", "must be more than 0 and at most %d records per second", synthMaxRate)
	case spec.Rows < 0 || spec.Rows > synthMaxRows:
		return badRequest("rows", "must be between 0 (until stopped) and %d", synthMaxRows)
	}
	ops, err := stream.ParseDriftSpec(spec.Drift)
	if err != nil {
		return badRequest("drift", "%v", err)
	}
	p.mu.Lock()
	running := p.st.Running
	p.mu.Unlock()
	if running {
		return fmt.Errorf("%w: the synthetic producer is already running; stop it first", registry.ErrConflict)
	}
	ver, err := p.cfg.Store.Deployed(ctx, p.cfg.Model, p.cfg.Environment)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("%w: no version of model %q is deployed to %s, so there are no features to produce: deploy one first", registry.ErrConflict, p.cfg.Model, p.cfg.Environment)
		}
		return fmt.Errorf("read the deployed version: %w", err)
	}
	raw, err := p.cfg.Store.Profile(ctx, p.cfg.Model, ver.Version)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("read the profile of %s %s: %w", p.cfg.Model, ver.Version, err)
	}
	if len(raw) == 0 {
		return fmt.Errorf("%w: %s %s has no drift reference profile to sample records from", registry.ErrConflict, p.cfg.Model, ver.Version)
	}
	prof, err := drift.DecodeProfile(raw)
	if err != nil {
		return fmt.Errorf("profile of %s %s: %w", p.cfg.Model, ver.Version, err)
	}
	seed := p.cfg.Seed
	if seed == 0 {
		seed = uint64(p.cfg.Now().UnixNano())
	}
	smp, err := newSampler(prof, ops, seed)
	if err != nil {
		return badRequest("drift", "%v", err)
	}
	prod, err := stream.NewProducer(p.cfg.Kafka)
	if err != nil {
		return fmt.Errorf("synthetic producer: %w", err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st.Running { // another Start won the race
		prod.Close()
		return fmt.Errorf("%w: the synthetic producer is already running; stop it first", registry.ErrConflict)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.prod, p.cancel, p.done = prod, cancel, make(chan struct{})
	p.st = SynthStatus{Running: true, Model: p.cfg.Model, Version: ver.Version, Topic: p.cfg.Topic, Spec: spec,
		Rate: spec.Rate, StartedAt: p.cfg.Now()}
	first := p.seq
	go p.run(runCtx, prod, smp, spec, first, p.done)
	p.cfg.Logger.Info("synthetic producer started", "model", p.cfg.Model, "version", ver.Version, "rate", spec.Rate, "rows", spec.Rows, "drift", spec.Drift)
	return nil
}

// run paces records at spec.Rate until spec.Rows are sent or ctx ends, then
// waits briefly for the last acknowledgements.
func (p *synthProducer) run(ctx context.Context, prod *stream.Producer, smp *sampler, spec SynthSpec, first int64, done chan struct{}) {
	defer close(done)
	start := time.Now()
	tick := time.Duration(float64(time.Second) / spec.Rate)
	tick = min(max(tick, 10*time.Millisecond), 200*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var sent int64
	var buf []byte
loop:
	for {
		due := int64(spec.Rate*time.Since(start).Seconds()) + 1
		if spec.Rows > 0 {
			due = min(due, int64(spec.Rows))
		}
		for ; sent < due; sent++ {
			id := "synth-" + strconv.FormatInt(first+sent+1, 10)
			buf = smp.record(buf[:0], id)
			// The record's own context: stopping the run must not fail
			// records already handed over.
			prod.Produce(context.WithoutCancel(ctx), p.cfg.Topic, []byte(id), append([]byte(nil), buf...))
		}
		if spec.Rows > 0 && sent >= int64(spec.Rows) {
			break
		}
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), synthFlushTimeout)
	err := prod.Flush(fctx)
	cancel()
	prod.Close()
	ps := prod.Stats()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Running, p.st.EndedAt = false, p.cfg.Now()
	p.st.Sent, p.st.Acked, p.st.Failed = ps.Sent, ps.Acked, ps.Failed
	p.seq = first + sent
	switch {
	case err != nil:
		p.st.LastError = err.Error()
	case ps.FirstError != "":
		p.st.LastError = ps.FirstError
	}
	if p.prod == prod {
		p.prod = nil
	}
	p.cfg.Logger.Info("synthetic producer stopped", "sent", sent, "acked", ps.Acked, "failed", ps.Failed, "err", err)
}

// Stop ends the current run, if any, and waits for its last records to be
// acknowledged (within a few seconds) or for ctx to end. Stopping a stopped
// producer does nothing.
func (p *synthProducer) Stop(ctx context.Context) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop the synthetic producer: %w", ctx.Err())
	}
}

// Close stops the producer; its Kafka client is closed when the run ends.
func (p *synthProducer) Close(ctx context.Context) error { return p.Stop(ctx) }

// Status returns the state and counters of the current or last run.
func (p *synthProducer) Status() SynthStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	if p.prod != nil {
		ps := p.prod.Stats()
		st.Sent, st.Acked, st.Failed = ps.Sent, ps.Acked, ps.Failed
		if st.LastError == "" {
			st.LastError = ps.FirstError
		}
	}
	return st
}

// sampler draws feature records from a reference profile: a bin by its
// reference proportion, then a value uniformly inside it (numeric) or the
// bin's category (categorical), then the feature's drift op.
type sampler struct {
	r     *rand.Rand
	feats []sampledFeature
}

// sampledFeature is one feature's cumulative bin weights and drift op.
type sampledFeature struct {
	f    *drift.Feature
	key  []byte // the JSON-encoded name
	cum  []float64
	op   stream.DriftOp
	drft bool
}

// newSampler prepares the profile's features; every op must name one of them.
func newSampler(prof *drift.Profile, ops stream.DriftSpec, seed uint64) (*sampler, error) {
	s := &sampler{r: rand.New(rand.NewPCG(seed, 0x5eed))}
	known := map[string]bool{}
	for i := range prof.Features {
		f := &prof.Features[i]
		known[f.Name] = true
		key, _ := json.Marshal(f.Name)
		sf := sampledFeature{f: f, key: key, cum: make([]float64, len(f.RefCounts))}
		total := 0.0
		for b, c := range f.RefCounts {
			total += float64(c)
			sf.cum[b] = total
		}
		sf.op, sf.drft = ops.Lookup(f.Name)
		s.feats = append(s.feats, sf)
	}
	for _, op := range ops {
		if !known[op.Feature] {
			return nil, fmt.Errorf("feature %q is not an input of the deployed model (it has %v)", op.Feature, prof.FeatureNames())
		}
	}
	return s, nil
}

// record appends one JSON feature record with the given id to b.
func (s *sampler) record(b []byte, id string) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, id) // ids are ASCII: Go and JSON quoting agree
	for i := range s.feats {
		sf := &s.feats[i]
		b = append(b, ',')
		b = append(b, sf.key...)
		b = append(b, ':')
		b = s.value(b, sf)
	}
	return append(b, '}')
}

// value appends one sampled, drifted value of a feature.
func (s *sampler) value(b []byte, sf *sampledFeature) []byte {
	f := sf.f
	bin := s.bin(sf.cum)
	if bin <= 0 {
		return append(b, "null"...)
	}
	if f.Categorical {
		v := "other"
		if bin <= len(f.Categories) {
			v = f.Categories[bin-1]
		}
		if sf.drft {
			v = sf.op.ApplyCat(v)
		}
		js, _ := json.Marshal(v)
		return append(b, js...)
	}
	lo, hi := f.Min, f.Max
	if bin-2 >= 0 && bin-2 < len(f.Edges) {
		lo = f.Edges[bin-2]
	}
	if bin-1 < len(f.Edges) {
		hi = f.Edges[bin-1]
	}
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return append(b, "null"...)
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	v := lo + s.r.Float64()*(hi-lo)
	if sf.drft {
		v = sf.op.Apply(v)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// bin draws a bin index by the cumulative weights; -1 when they are all 0.
func (s *sampler) bin(cum []float64) int {
	if len(cum) == 0 || cum[len(cum)-1] <= 0 {
		return -1
	}
	x := s.r.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}
