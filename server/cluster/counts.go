package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/stream"
)

// DriftCountsTopic carries every scoring process's drift window counts to
// the primary, keyed "model/version/window/instance" (CountsKey): a
// process's newer contribution to a window replaces its older one when the
// topic is compacted.
//
// It has one partition: its one reader, the primary's Merger, reads all of
// it, so partitions would buy no parallelism, and the volume is small (a
// record per process, model and check or closed window).
const DriftCountsTopic = "driftd-drift-counts"

// CountsRetention is how long DriftCountsTopic keeps a record: its keys
// name windows and instances (a new key per window and per process run),
// so compaction alone would keep them all; the merger forgets a tumbling
// window a few periods after it closes, and a restarted primary needs only
// the recent ones.
const CountsRetention = 24 * time.Hour

// Limits the counts decoder enforces before it allocates.
const (
	maxCountsFeatures = 1 << 16
	// maxCountsBytes keeps a counts record under the 1 MiB message size
	// limit brokers default to, with room for its key.
	maxCountsBytes = 900 << 10
)

// Contribution is one record of DriftCountsTopic: a process's counts of a
// drift window, who sent them and when.
type Contribution struct {
	Instance string
	// Taken is when the process handed the counts over (its clock).
	Taken time.Time
	drift.WindowCounts
}

// CountsKey is the record key of instance's counts of window of model
// version: the topic compacts to the latest contribution of each.
func CountsKey(model, version, window, instance string) string {
	return model + "/" + version + "/" + window + "/" + instance
}

// key returns c's record key.
func (c Contribution) key() string { return CountsKey(c.Model, c.Version, c.Window, c.Instance) }

var countsMagic = []byte("DRIFTDW1")

// EncodeCounts serialises c: a magic (its last byte the format's version),
// the instance, model, version and window names (length-prefixed), the
// window's start and end and the time taken (Unix nanoseconds, 0 for a
// zero time), then the counts as unsigned varints: the record count, the
// number of features and per feature the number of bins, the number of
// unseen categories plus one (0: none recorded, a numeric feature), the
// bins' counts and the unseen categories' names (varint length, bytes).
func EncodeCounts(c Contribution) []byte {
	var cs drift.Counts
	if c.Counts != nil {
		cs = *c.Counts
	}
	out := make([]byte, 0, 64+len(c.Instance)+len(c.Model)+len(c.Version)+len(c.Window)+countsSize(&cs))
	out = append(out, countsMagic...)
	for _, s := range []string{c.Instance, c.Model, c.Version, c.Window} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	for _, t := range []time.Time{c.Start, c.End, c.Taken} {
		out = binary.BigEndian.AppendUint64(out, uint64(unixNano(t)))
	}
	out = binary.AppendUvarint(out, uint64(cs.Records))
	out = binary.AppendUvarint(out, uint64(len(cs.Bins)))
	for i, bins := range cs.Bins {
		var unseen []string
		if i < len(cs.Unseen) {
			unseen = cs.Unseen[i]
		}
		out = binary.AppendUvarint(out, uint64(len(bins)))
		if unseen == nil {
			out = binary.AppendUvarint(out, 0)
		} else {
			out = binary.AppendUvarint(out, uint64(len(unseen))+1)
		}
		for _, n := range bins {
			out = binary.AppendUvarint(out, uint64(n))
		}
		for _, name := range unseen {
			out = binary.AppendUvarint(out, uint64(len(name)))
			out = append(out, name...)
		}
	}
	return out
}

// countsSize estimates the encoded size of c's counts.
func countsSize(c *drift.Counts) int {
	n := 16
	for i, b := range c.Bins {
		n += 4 + 3*len(b)
		if i < len(c.Unseen) {
			for _, s := range c.Unseen[i] {
				n += 2 + len(s)
			}
		}
	}
	return n
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// DecodeCounts parses what EncodeCounts wrote and checks that the counts
// can be merged safely (as many unseen names as unseen bins, no negative
// count); the error names the field and byte offset that is wrong.
func DecodeCounts(p []byte) (Contribution, error) {
	r := reader{p: p}
	if !r.magic(countsMagic) {
		return Contribution{}, errors.New("counts: bad magic (not a driftd drift counts record, or a newer format)")
	}
	var c Contribution
	for _, f := range []struct {
		name string
		dst  *string
	}{{"instance", &c.Instance}, {"model", &c.Model}, {"version", &c.Version}, {"window", &c.Window}} {
		s, err := r.str(f.name)
		if err != nil {
			return Contribution{}, fmt.Errorf("counts: %w", err)
		}
		if s == "" {
			return Contribution{}, fmt.Errorf("counts: empty %s", f.name)
		}
		*f.dst = s
	}
	var times [3]time.Time
	for i := range times {
		n, ok := r.u64()
		if !ok {
			return Contribution{}, fmt.Errorf("counts: times cut short at offset %d", r.off)
		}
		times[i] = fromUnixNano(int64(n))
	}
	c.Start, c.End, c.Taken = times[0], times[1], times[2]
	if c.Window != drift.SlidingWindow && !c.End.After(c.Start) {
		return Contribution{}, fmt.Errorf("counts of %s %s window %s from %s: end %s not after start %s", c.Model, c.Version, c.Window, c.Instance, c.End, c.Start)
	}
	cs, err := decodeCountsBody(&r)
	if err != nil {
		return Contribution{}, fmt.Errorf("counts of %s %s window %s from %s: %w", c.Model, c.Version, c.Window, c.Instance, err)
	}
	c.Counts = cs
	return c, nil
}

func decodeCountsBody(r *reader) (*drift.Counts, error) {
	records, err := r.uvarint("record count", math.MaxInt64)
	if err != nil {
		return nil, err
	}
	// Every feature takes at least two bytes and every bin one: a count
	// past what is left is a lie, refused before allocating.
	nf, err := r.uvarint("feature count", uint64(min(maxCountsFeatures, r.left()/2)))
	if err != nil {
		return nil, err
	}
	c := &drift.Counts{Records: int64(records), Bins: make([][]int64, nf), Unseen: make([][]string, nf)}
	for i := range c.Bins {
		nb, err := r.uvarint(fmt.Sprintf("feature %d bin count", i), uint64(r.left()))
		if err != nil {
			return nil, err
		}
		nu, err := r.uvarint(fmt.Sprintf("feature %d unseen count", i), nb+1)
		if err != nil {
			return nil, err
		}
		c.Bins[i] = make([]int64, nb)
		for b := range c.Bins[i] {
			n, err := r.uvarint(fmt.Sprintf("feature %d bin %d", i, b), math.MaxInt64)
			if err != nil {
				return nil, err
			}
			c.Bins[i][b] = int64(n)
		}
		if nu == 0 {
			continue
		}
		c.Unseen[i] = make([]string, 0, min(nu-1, uint64(r.left())))
		for range nu - 1 {
			at := r.off
			n, err := r.uvarint(fmt.Sprintf("feature %d unseen name length", i), maxNameBytes)
			if err != nil {
				return nil, err
			}
			if uint64(r.left()) < n {
				return nil, fmt.Errorf("feature %d unseen name at offset %d: past the end", i, at)
			}
			c.Unseen[i] = append(c.Unseen[i], string(r.p[r.off:r.off+int(n)]))
			r.off += int(n)
		}
	}
	if r.off != len(r.p) {
		return nil, fmt.Errorf("%d trailing bytes at offset %d", len(r.p)-r.off, r.off)
	}
	return c, nil
}

// left returns how many bytes are unread.
func (r *reader) left() int { return len(r.p) - r.off }

// uvarint reads a minimally encoded unsigned varint of at most limit.
func (r *reader) uvarint(field string, limit uint64) (uint64, error) {
	at := r.off
	v, n := binary.Uvarint(r.p[r.off:])
	if n <= 0 {
		return 0, fmt.Errorf("%s at offset %d: varint missing, cut short or too long", field, at)
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		return 0, fmt.Errorf("%s at offset %d: varint not minimally encoded", field, at)
	}
	if v > limit {
		return 0, fmt.Errorf("%s at offset %d: %d over the limit %d", field, at, v, limit)
	}
	r.off += n
	return v, nil
}

// mergeable reports why c's counts cannot be merged with any others
// (drift.Counts.Merge would index past a slice), nil when they can.
func mergeable(c *drift.Counts) error {
	if c == nil {
		return errors.New("no counts")
	}
	if len(c.Unseen) != len(c.Bins) {
		return fmt.Errorf("%d features' unseen categories for %d features", len(c.Unseen), len(c.Bins))
	}
	if c.Records < 0 {
		return fmt.Errorf("negative record count %d", c.Records)
	}
	for i, b := range c.Bins {
		if len(c.Unseen[i]) > len(b) {
			return fmt.Errorf("feature %d: %d unseen categories but %d bins", i, len(c.Unseen[i]), len(b))
		}
		for _, n := range b {
			if n < 0 {
				return fmt.Errorf("feature %d: negative bin count %d", i, n)
			}
		}
	}
	return nil
}

// CountsPublisherConfig configures a CountsPublisher.
type CountsPublisherConfig struct {
	Kafka stream.Config
	// Instance names this process in the records' keys and values.
	Instance string
	Logger   *slog.Logger
	Metrics  *metrics.Set // a new set when nil
	// Now returns the current time (default time.Now): a contribution's
	// Taken.
	Now func() time.Time
}

// Bounds of what a CountsPublisher holds when the brokers are slow or away.
const (
	// maxPendingCounts bounds the contributions waiting to be handed to
	// the Kafka client (one per key: a newer one replaces an older one).
	maxPendingCounts = 1024
	// countsBuffered bounds the records the Kafka client holds unacknowledged.
	countsBuffered = 256
	// countsDeliveryTimeout fails a record the brokers have not
	// acknowledged by then: counts that old are of little use.
	countsDeliveryTimeout = 30 * time.Second
)

// CountsPublisher sends this process's drift window counts to
// DriftCountsTopic without ever making its caller wait: Publish puts the
// record in a bounded map keyed by record key, and a goroutine hands what
// the map holds to the Kafka client. A contribution that has not been
// handed over yet is replaced by a newer one of the same key (a sliding
// window's next counts, or a tumbling window contributed again); a new key
// while the map is full is dropped and counted.
type CountsPublisher struct {
	cfg CountsPublisherConfig
	log *slog.Logger
	kl  *kafkaLog

	mu      sync.Mutex
	pending map[string][]byte
	order   []string // pending keys, oldest first
	closed  bool
	wake    chan struct{}

	published, dropped *metrics.Counter
	dropLogged         bool // guarded by mu: one warning per run of drops

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// NewCountsPublisher starts a publisher; it creates DriftCountsTopic when
// missing before its first send (retrying while the brokers are away).
func NewCountsPublisher(cfg CountsPublisherConfig) (*CountsPublisher, error) {
	if cfg.Instance == "" {
		return nil, errors.New("counts publisher: instance name required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	kl, err := newAsyncLog(cfg.Kafka, countsBuffered, countsDeliveryTimeout)
	if err != nil {
		return nil, fmt.Errorf("counts publisher: %w", err)
	}
	p := &CountsPublisher{cfg: cfg, log: cfg.Logger.With("component", "cluster-counts-publisher"), kl: kl,
		pending: map[string][]byte{}, wake: make(chan struct{}, 1), done: make(chan struct{}),
		published: cfg.Metrics.GetOrCreateCounter(`driftd_cluster_drift_counts_published_total`),
		dropped:   cfg.Metrics.GetOrCreateCounter(`driftd_cluster_drift_counts_dropped_total`)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// Publish queues wc for sending and returns at once. Counts that cannot be
// sent (malformed, too large, the queue full, the publisher closed) are
// dropped, logged and counted in driftd_cluster_drift_counts_dropped_total.
func (p *CountsPublisher) Publish(wc drift.WindowCounts) {
	c := Contribution{Instance: p.cfg.Instance, Taken: p.cfg.Now().UTC(), WindowCounts: wc}
	if err := mergeable(wc.Counts); err != nil || wc.Model == "" || wc.Version == "" || wc.Window == "" {
		p.dropped.Inc()
		p.log.Error("dropping drift counts that cannot be merged", "model", wc.Model, "version", wc.Version, "window", wc.Window, "err", err)
		return
	}
	v := EncodeCounts(c)
	if len(v) > maxCountsBytes {
		p.dropped.Inc()
		p.log.Error("dropping drift counts too large for a Kafka record", "model", wc.Model, "version", wc.Version, "window", wc.Window, "bytes", len(v), "limit", maxCountsBytes)
		return
	}
	key := c.key()
	p.mu.Lock()
	switch _, queued := p.pending[key]; {
	case p.closed:
		p.mu.Unlock()
		p.dropped.Inc()
		p.log.Warn("dropping drift counts published after Close", "model", wc.Model, "window", wc.Window)
		return
	case queued:
		p.pending[key] = v // the newer counts replace the unsent ones, in their place in the queue
	case len(p.pending) >= maxPendingCounts:
		warn := !p.dropLogged
		p.dropLogged = true
		p.mu.Unlock()
		p.dropped.Inc()
		if warn {
			p.log.Warn("dropping drift counts: too many waiting for the brokers (counted in driftd_cluster_drift_counts_dropped_total; logged once until the queue drains)",
				"model", wc.Model, "window", wc.Window, "waiting", maxPendingCounts)
		}
		return
	default:
		p.pending[key] = v
		p.order = append(p.order, key)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run hands the pending records to the Kafka client until Close.
func (p *CountsPublisher) run() {
	defer close(p.done)
	for {
		err := ensureCompactedTopics(p.ctx, p.cfg.Kafka, -1, CountsRetention, DriftCountsTopic)
		if err == nil {
			break
		}
		p.log.Warn("cannot create the drift counts topic (retrying; counts wait, the oldest dropped past the queue's bound)", "topic", DriftCountsTopic, "err", err)
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	for {
		p.mu.Lock()
		for len(p.order) > 0 {
			key := p.order[0]
			v := p.pending[key]
			p.order = p.order[1:]
			delete(p.pending, key)
			p.mu.Unlock()
			// produceAsync waits while the client's buffer is full; the map
			// meanwhile absorbs newer counts of the same keys.
			p.kl.produceAsync(p.ctx, logRecord{Topic: DriftCountsTopic, Key: []byte(key), Value: v}, func(err error) {
				if err != nil {
					p.dropped.Inc()
					p.log.Warn("drift counts not delivered", "key", key, "err", err)
					return
				}
				p.published.Inc()
			})
			p.mu.Lock()
		}
		p.dropLogged = false
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		select {
		case <-p.wake:
		case <-p.ctx.Done():
			return
		}
	}
}

// Close stops accepting counts, hands over those waiting and waits until
// the brokers have acknowledged them or ctx ends (then the rest are
// dropped and counted).
func (p *CountsPublisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	var err error
	select {
	case <-p.done:
		err = p.kl.flush(ctx)
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.cancel()
	<-p.done
	p.mu.Lock()
	lost := len(p.pending)
	p.pending, p.order = map[string][]byte{}, nil
	p.mu.Unlock()
	p.dropped.Add(lost)
	p.kl.close()
	if err != nil {
		return fmt.Errorf("counts publisher: close: counts not all delivered (%d never handed to the client): %w", lost, err)
	}
	return nil
}
