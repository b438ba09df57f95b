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

// countsMagic starts a counts record; its last byte is the format's
// version. Version 2 appends the window statistics (drift.WindowStats);
// version 1 records, written before them, still decode, without.
var (
	countsMagic   = []byte("DRIFTDW2")
	countsMagicV1 = []byte("DRIFTDW1")
)

// Bits of the statistics' flags: which parts follow.
const (
	statsLoss = 1 << iota
	statsPCA
	statsPerf
)

// Limits of the statistics the decoder enforces before it allocates: the
// histograms are dense in memory, so their size may not follow from the
// record's length.
const (
	maxStatsBins  = 1 << 12 // bins of one histogram
	maxStatsCells = 1 << 18 // bins of all histograms together
)

// EncodeCounts serialises c: a magic (its last byte the format's version),
// the instance, model, version and window names (length-prefixed), the
// window's start and end and the time taken (Unix nanoseconds, 0 for a
// zero time), then the counts as unsigned varints: the record count, the
// number of features and per feature the number of bins, the number of
// unseen categories plus one (0: none recorded, a numeric feature), the
// bins' counts and the unseen categories' names (varint length, bytes);
// then the window statistics (appendStats).
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
	return appendStats(out, cs.Stats)
}

// appendStats writes window statistics: a varint of flags saying which
// parts follow (0: none, nil statistics), then DLE's record count and
// sums of predicted absolute and squared errors; PCA's record count and
// sum of errors; CBPE's record count, number of classes (0: binary), the
// expected confusion matrix (4 or classes² float64s), for a multiclass
// model the records predicted per class, the bins per histogram, and each
// histogram (one, or one per class) sparsely: the number of non-empty
// bins, then per bin its index (increasing), record count and sum of
// probabilities. Counts are varints, sums big-endian IEEE 754 float64s.
func appendStats(out []byte, s *drift.WindowStats) []byte {
	if s == nil {
		return binary.AppendUvarint(out, 0)
	}
	var flags uint64
	if s.Loss != nil {
		flags |= statsLoss
	}
	if s.PCA != nil {
		flags |= statsPCA
	}
	if s.Perf != nil {
		flags |= statsPerf
	}
	out = binary.AppendUvarint(out, flags)
	if l := s.Loss; l != nil {
		out = binary.AppendUvarint(out, uint64(l.Records))
		out = appendF64(out, l.Abs, l.Sq)
	}
	if p := s.PCA; p != nil {
		out = binary.AppendUvarint(out, uint64(p.Records))
		out = appendF64(out, p.Error)
	}
	if p := s.Perf; p != nil {
		out = binary.AppendUvarint(out, uint64(p.Records))
		out = binary.AppendUvarint(out, uint64(p.Classes))
		out = appendF64(out, p.Confusion...)
		for _, n := range p.Predicted {
			out = binary.AppendUvarint(out, uint64(n))
		}
		out = binary.AppendUvarint(out, uint64(p.Bins))
		for h := 0; p.Bins > 0 && h < len(p.Count)/p.Bins; h++ {
			count, sum := p.Count[h*p.Bins:(h+1)*p.Bins], p.Sum[h*p.Bins:(h+1)*p.Bins]
			full := 0
			for _, n := range count {
				if n != 0 {
					full++
				}
			}
			out = binary.AppendUvarint(out, uint64(full))
			for b, n := range count {
				if n != 0 {
					out = binary.AppendUvarint(out, uint64(b))
					out = binary.AppendUvarint(out, uint64(n))
					out = appendF64(out, sum[b])
				}
			}
		}
	}
	return out
}

func appendF64(out []byte, vs ...float64) []byte {
	for _, v := range vs {
		out = binary.BigEndian.AppendUint64(out, math.Float64bits(v))
	}
	return out
}

// statsSize estimates the encoded size of s.
func statsSize(s *drift.WindowStats) int {
	n := 64
	if s != nil && s.Perf != nil {
		n += 8*len(s.Perf.Confusion) + 10*len(s.Perf.Predicted)
		for _, c := range s.Perf.Count {
			if c != 0 {
				n += 14
			}
		}
	}
	return n
}

// countsSize estimates the encoded size of c's counts.
func countsSize(c *drift.Counts) int {
	n := 16 + statsSize(c.Stats)
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
	v1 := false
	if !r.magic(countsMagic) {
		if v1 = r.magic(countsMagicV1); !v1 {
			return Contribution{}, errors.New("counts: bad magic (not a driftd drift counts record, or a newer format)")
		}
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
	cs, err := decodeCountsBody(&r, !v1)
	if err != nil {
		return Contribution{}, fmt.Errorf("counts of %s %s window %s from %s: %w", c.Model, c.Version, c.Window, c.Instance, err)
	}
	c.Counts = cs
	return c, nil
}

// decodeCountsBody reads the counts and, with stats (format version 2),
// the window statistics.
func decodeCountsBody(r *reader, stats bool) (*drift.Counts, error) {
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
	if stats {
		if c.Stats, err = decodeStats(r); err != nil {
			return nil, err
		}
	}
	if r.off != len(r.p) {
		return nil, fmt.Errorf("%d trailing bytes at offset %d", len(r.p)-r.off, r.off)
	}
	return c, nil
}

// decodeStats reads what appendStats wrote, refusing what would not encode
// back byte for byte or could not be merged and evaluated: unknown flags,
// sums that are negative, NaN or infinite, a bin's sum above its count,
// a binary model with predicted counts or a class count of 1, histogram
// bins out of order, empty or out of range, sizes past the limits.
func decodeStats(r *reader) (*drift.WindowStats, error) {
	flags, err := r.uvarint("statistics flags", statsLoss|statsPCA|statsPerf)
	if err != nil || flags == 0 {
		return nil, err
	}
	s := &drift.WindowStats{}
	if flags&statsLoss != 0 {
		l := &drift.LossStats{}
		n, err := r.uvarint("loss records", math.MaxInt32)
		if err != nil {
			return nil, err
		}
		l.Records = int64(n)
		if err := r.sums("loss sums", &l.Abs, &l.Sq); err != nil {
			return nil, err
		}
		s.Loss = l
	}
	if flags&statsPCA != 0 {
		p := &drift.PCAStats{}
		n, err := r.uvarint("PCA records", math.MaxInt32)
		if err != nil {
			return nil, err
		}
		p.Records = int64(n)
		if err := r.sums("PCA sum", &p.Error); err != nil {
			return nil, err
		}
		s.PCA = p
	}
	if flags&statsPerf != 0 {
		if s.Perf, err = decodePerf(r); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// decodePerf reads CBPE's statistics (appendStats).
func decodePerf(r *reader) (*drift.PerfStats, error) {
	p := &drift.PerfStats{}
	n, err := r.uvarint("performance records", math.MaxInt32)
	if err != nil {
		return nil, err
	}
	p.Records = int64(n)
	// Each confusion cell takes 8 bytes: a class count whose matrix would
	// run past the end is refused before allocating.
	at := r.off
	k, err := r.uvarint("classes", uint64(math.Sqrt(float64(r.left()/8))))
	if err != nil {
		return nil, err
	}
	if k == 1 {
		return nil, fmt.Errorf("classes at offset %d: 1", at)
	}
	p.Classes = int(k)
	cells, hists := 4, 1
	if k > 0 {
		cells, hists = int(k*k), int(k)
	}
	p.Confusion = make([]float64, cells)
	for i := range p.Confusion {
		if err := r.sums("confusion cell", &p.Confusion[i]); err != nil {
			return nil, err
		}
	}
	if k > 0 {
		p.Predicted = make([]int64, k)
		for i := range p.Predicted {
			n, err := r.uvarint(fmt.Sprintf("class %d predicted records", i), math.MaxInt32)
			if err != nil {
				return nil, err
			}
			p.Predicted[i] = int64(n)
		}
	}
	at = r.off
	bins, err := r.uvarint("histogram bins", maxStatsBins)
	if err != nil {
		return nil, err
	}
	if bins == 0 || int(bins)*hists > maxStatsCells {
		return nil, fmt.Errorf("histogram bins at offset %d: %d bins for %d histograms (at most %d cells)", at, bins, hists, maxStatsCells)
	}
	p.Bins = int(bins)
	p.Count, p.Sum = make([]int64, p.Bins*hists), make([]float64, p.Bins*hists)
	for h := range hists {
		full, err := r.uvarint(fmt.Sprintf("histogram %d bins used", h), bins)
		if err != nil {
			return nil, err
		}
		next := uint64(0) // the least index the next bin may have
		for range full {
			at := r.off
			b, err := r.uvarint(fmt.Sprintf("histogram %d bin", h), bins-1)
			if err != nil {
				return nil, err
			}
			if b < next {
				return nil, fmt.Errorf("histogram %d bin at offset %d: %d out of order", h, at, b)
			}
			next = b + 1
			at = r.off
			n, err := r.uvarint(fmt.Sprintf("histogram %d bin %d count", h, b), math.MaxInt32)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, fmt.Errorf("histogram %d bin %d count at offset %d: an empty bin listed", h, b, at)
			}
			i := h*p.Bins + int(b)
			p.Count[i] = int64(n)
			at = r.off
			if err := r.sums(fmt.Sprintf("histogram %d bin %d sum", h, b), &p.Sum[i]); err != nil {
				return nil, err
			}
			if p.Sum[i] > float64(n) {
				return nil, fmt.Errorf("histogram %d bin %d sum at offset %d: %v over its %d records", h, b, at, p.Sum[i], n)
			}
		}
	}
	return p, nil
}

// sums reads float64 sums into dst, refusing negative, NaN and infinite
// ones.
func (r *reader) sums(field string, dst ...*float64) error {
	for _, d := range dst {
		at := r.off
		bits, ok := r.u64()
		if !ok {
			return fmt.Errorf("%s at offset %d: cut short", field, at)
		}
		v := math.Float64frombits(bits)
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%s at offset %d: %v is not a finite non-negative sum", field, at, v)
		}
		*d = v
	}
	return nil
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
// (drift.Counts.Merge would index past a slice) or their statistics not
// evaluated, nil when they can.
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
	if err := c.Stats.Validate(); err != nil {
		return err
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
	defaultDeps(&cfg.Logger, &cfg.Metrics, &cfg.Now)
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
