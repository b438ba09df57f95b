package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/stream"
)

// MergerConfig configures a Merger.
type MergerConfig struct {
	Kafka   stream.Config
	Logger  *slog.Logger
	Metrics *metrics.Set // a new set when nil
	Now     func() time.Time
	// Live reports whether an instance is alive (Instances.IsLive): a
	// sliding merge takes the counts of the live instances only, and the
	// counts of an instance neither live nor heard from within LiveTTL are
	// forgotten. Nil: an instance is live while its latest sliding counts
	// are younger than LiveTTL.
	Live    func(instance string) bool
	LiveTTL time.Duration // default 30s
	// Grace is how long after a tumbling window's end the merger waits for
	// the counts of processes whose window closed later (default 2s).
	Grace time.Duration
	// SlidingEvery bounds how often the sliding window of one model
	// version is merged (default 1s); the last update is merged when the
	// interval has passed, so none is lost.
	SlidingEvery time.Duration
	// OnMerged receives every merged window and the instances whose counts
	// it merged (sorted), on one goroutine, in order. It must not call Add
	// or Due.
	OnMerged func(model, version string, w drift.MergedWindow, instances []string)
}

// keepPeriods is how many periods after its end plus grace the merger
// remembers a tumbling window: counts for it arriving until then are late
// (dropped and counted), and the memory of emitted windows stays bounded.
const keepPeriods = 3

// Merger, run by the primary, merges the drift window counts every scoring
// process publishes to DriftCountsTopic into one window per model, version
// and window, and hands each merged window to OnMerged:
//
//   - a tumbling window once, when its end plus Grace has passed, merged
//     from every instance that contributed to it (an instance contributing
//     twice to a window replaces its first counts). Counts arriving for a
//     window already merged, or older than keepPeriods periods, are late:
//     dropped and counted in driftd_cluster_drift_counts_late_total.
//   - the sliding window of a model version from the latest counts of each
//     live instance, at most every SlidingEvery, after new counts arrive.
//
// Counts whose bin layout does not match the others' (another profile) are
// logged, counted in driftd_cluster_drift_counts_unmergeable_total and
// left out; the layout most instances share wins.
//
// Add and Due are the merger's pure core (no Kafka, the clock passed in),
// safe for concurrent use; Start drives them from the topic and a ticker.
type Merger struct {
	cfg MergerConfig
	log *slog.Logger

	// step serialises Add and Due, and so the OnMerged calls they make.
	step     sync.Mutex
	tumbling map[string]*tumblingWindow // by model/version/window
	emitted  map[string]time.Time       // tumbling windows merged: when to forget them
	sliding  map[string]*slidingWindows // by model/version

	late, merged, unmergeable, bad *metrics.Counter

	kl     *kafkaLog
	cancel context.CancelFunc
	done   chan struct{}
}

// tumblingWindow holds the contributions to one tumbling window.
type tumblingWindow struct {
	model, version, window string
	start, end             time.Time
	counts                 map[string]*drift.Counts // by instance
}

// forget is when the merger stops remembering the window.
func (w *tumblingWindow) forget(grace time.Duration) time.Time {
	return w.end.Add(grace + keepPeriods*w.end.Sub(w.start))
}

// slidingWindows holds the latest sliding counts of each instance scoring
// one model version.
type slidingWindows struct {
	model, version string
	entries        map[string]slidingEntry // by instance
	dirty          bool                    // counts arrived since the last merge
	last           time.Time               // the last merge
}

type slidingEntry struct {
	counts *drift.Counts
	end    time.Time // when the process took them
	at     time.Time // when they arrived
}

// NewMerger validates cfg; Start starts consuming.
func NewMerger(cfg MergerConfig) (*Merger, error) {
	if cfg.OnMerged == nil {
		return nil, errors.New("drift counts merger: OnMerged is required")
	}
	defaultDeps(&cfg.Logger, &cfg.Metrics, &cfg.Now)
	if cfg.LiveTTL <= 0 {
		cfg.LiveTTL = 30 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.SlidingEvery <= 0 {
		cfg.SlidingEvery = time.Second
	}
	return &Merger{cfg: cfg, log: cfg.Logger.With("component", "cluster-drift-merger"),
		tumbling: map[string]*tumblingWindow{}, emitted: map[string]time.Time{}, sliding: map[string]*slidingWindows{},
		late:        cfg.Metrics.GetOrCreateCounter(`driftd_cluster_drift_counts_late_total`),
		merged:      cfg.Metrics.GetOrCreateCounter(`driftd_cluster_drift_windows_merged_total`),
		unmergeable: cfg.Metrics.GetOrCreateCounter(`driftd_cluster_drift_counts_unmergeable_total`),
		bad:         cfg.Metrics.GetOrCreateCounter(`driftd_cluster_bad_records_total`),
	}, nil
}

// Add takes instance's counts wc, arrived at at. The merger keeps wc.Counts
// and never changes them: the caller must not change them either.
func (m *Merger) Add(instance string, wc drift.WindowCounts, at time.Time) {
	m.step.Lock()
	defer m.step.Unlock()
	if err := mergeable(wc.Counts); err != nil || instance == "" || wc.Model == "" || wc.Version == "" || wc.Window == "" {
		m.bad.Inc()
		m.log.Error("skipping drift counts that cannot be merged", "instance", instance, "model", wc.Model, "version", wc.Version, "window", wc.Window, "err", err)
		return
	}
	mv := wc.Model + "/" + wc.Version
	if wc.Window == drift.SlidingWindow {
		// An instance scores one version of a model at a time: its sliding
		// counts of the model's other versions are over.
		for k, s := range m.sliding {
			if s.model == wc.Model && s.version != wc.Version {
				delete(s.entries, instance)
				if len(s.entries) == 0 {
					delete(m.sliding, k)
				}
			}
		}
		s := m.sliding[mv]
		if s == nil {
			s = &slidingWindows{model: wc.Model, version: wc.Version, entries: map[string]slidingEntry{}}
			m.sliding[mv] = s
		}
		s.entries[instance] = slidingEntry{counts: wc.Counts, end: wc.End, at: at}
		s.dirty = true
		return
	}
	key := mv + "/" + wc.Window
	if _, done := m.emitted[key]; done {
		m.late.Inc()
		m.log.Warn("late drift counts dropped: their window is merged already (raise the grace period if this recurs)",
			"instance", instance, "model", wc.Model, "version", wc.Version, "window", wc.Window, "grace", m.cfg.Grace)
		return
	}
	w := m.tumbling[key]
	if w == nil {
		w = &tumblingWindow{model: wc.Model, version: wc.Version, window: wc.Window, start: wc.Start, end: wc.End, counts: map[string]*drift.Counts{}}
		if at.After(w.forget(m.cfg.Grace)) {
			m.late.Inc()
			m.log.Warn("late drift counts dropped: their window ended long ago", "instance", instance, "model", wc.Model,
				"version", wc.Version, "window", wc.Window, "end", wc.End)
			return
		}
		m.tumbling[key] = w
	} else if !w.start.Equal(wc.Start) || !w.end.Equal(wc.End) {
		m.unmergeable.Inc()
		m.log.Error("skipping drift counts whose window bounds differ from other instances' (another tumbling period?)", "instance", instance,
			"model", wc.Model, "version", wc.Version, "window", wc.Window, "start", wc.Start, "end", wc.End, "want_start", w.start, "want_end", w.end)
		return
	}
	w.counts[instance] = wc.Counts
}

// Due merges and hands to OnMerged every tumbling window whose end plus
// Grace is not after now, and the sliding windows with new counts whose
// last merge is SlidingEvery old; it forgets what is past remembering.
func (m *Merger) Due(now time.Time) {
	m.step.Lock()
	defer m.step.Unlock()
	var due []*tumblingWindow
	for _, w := range m.tumbling {
		if !now.Before(w.end.Add(m.cfg.Grace)) {
			due = append(due, w)
		}
	}
	slices.SortFunc(due, func(a, b *tumblingWindow) int {
		return cmp.Or(a.end.Compare(b.end), strings.Compare(a.model, b.model), strings.Compare(a.version, b.version))
	})
	for _, w := range due {
		key := w.model + "/" + w.version + "/" + w.window
		delete(m.tumbling, key)
		m.emitted[key] = w.forget(m.cfg.Grace)
		m.emit(w.model, w.version, w.window, w.start, w.end, w.counts, now)
	}
	for key, forget := range m.emitted {
		if now.After(forget) {
			delete(m.emitted, key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(m.sliding)) {
		s := m.sliding[key]
		live := map[string]*drift.Counts{}
		var end time.Time
		for inst, e := range s.entries {
			fresh := now.Sub(e.at) <= m.cfg.LiveTTL
			alive := fresh
			if m.cfg.Live != nil {
				alive = m.cfg.Live(inst)
			}
			switch {
			case alive:
				live[inst] = e.counts
				if e.end.After(end) {
					end = e.end
				}
			case !fresh:
				delete(s.entries, inst)
			}
		}
		if len(s.entries) == 0 {
			delete(m.sliding, key)
			continue
		}
		if !s.dirty || (!s.last.IsZero() && now.Sub(s.last) < m.cfg.SlidingEvery) {
			continue
		}
		s.dirty = false
		if len(live) > 0 {
			s.last = now
			m.emit(s.model, s.version, drift.SlidingWindow, time.Time{}, end, live, now)
		}
	}
}

// emit merges counts (by instance) and calls OnMerged.
func (m *Merger) emit(model, version, window string, start, end time.Time, counts map[string]*drift.Counts, now time.Time) {
	merged, used := m.merge(model, version, window, counts)
	if merged == nil {
		return
	}
	m.merged.Inc()
	m.cfg.OnMerged(model, version, drift.MergedWindow{Window: window, Start: start, End: end, Counts: merged, Processes: len(used), Time: now}, used)
}

// merge sums the counts of the instances that share the bin layout most
// of them have (ties: the most records, then the first instance by name)
// into new counts; the others are logged and left out. It returns the sum
// and the instances merged, sorted.
func (m *Merger) merge(model, version, window string, counts map[string]*drift.Counts) (*drift.Counts, []string) {
	groups := map[string][]string{}
	for _, inst := range slices.Sorted(maps.Keys(counts)) {
		l := layout(counts[inst])
		groups[l] = append(groups[l], inst)
	}
	records := func(insts []string) (n int64) {
		for _, i := range insts {
			n += counts[i].Records
		}
		return n
	}
	var best []string
	for _, g := range groups {
		if best == nil || len(g) > len(best) || (len(g) == len(best) && (records(g) > records(best) ||
			(records(g) == records(best) && g[0] < best[0]))) {
			best = g
		}
	}
	if len(best) == 0 {
		return nil, nil
	}
	sum := cloneCounts(counts[best[0]])
	merged := best[:1:1]
	for _, inst := range best[1:] {
		// Same bin layout, but the estimate statistics may differ in shape
		// (another class count): left out, and the sum is unchanged.
		if err := sum.Merge(counts[inst]); err != nil {
			m.unmergeable.Inc()
			m.log.Error("left out drift counts that do not merge", "model", model, "version", version, "window", window, "instance", inst, "err", err)
			continue
		}
		merged = append(merged, inst)
	}
	if len(best) < len(counts) {
		for _, inst := range slices.Sorted(maps.Keys(counts)) {
			if !slices.Contains(best, inst) {
				m.unmergeable.Inc()
				m.log.Error("left out drift counts whose bins differ from the other instances' (another profile?)", "model", model,
					"version", version, "window", window, "instance", inst, "layout", layout(counts[inst]), "merged_layout", layout(counts[best[0]]),
					"merged_instances", best)
			}
		}
	}
	return sum, merged
}

// layout names the bin layout of c: its feature count and each feature's
// bins before the unseen categories (what drift.Counts.Merge matches).
func layout(c *drift.Counts) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(c.Bins)))
	for i := range c.Bins {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(len(c.Bins[i]) - len(c.Unseen[i])))
	}
	return b.String()
}

// cloneCounts returns a deep copy of c.
func cloneCounts(c *drift.Counts) *drift.Counts { return c.Clone() }

// Start creates DriftCountsTopic when missing and consumes it from the
// start until Close, merging on a ticker. The topic is compacted and keeps
// CountsRetention: a restarted primary replays the recent windows, and
// merges once (again) the tumbling windows it replays that are not older
// than keepPeriods periods, as it has no record of which its previous run
// merged; older ones are dropped quietly. Sliding counts read back are
// dated by when their process took them, so dead instances' counts do not
// look live.
func (m *Merger) Start(ctx context.Context) error {
	if err := ensureCompactedTopics(ctx, m.cfg.Kafka, -1, CountsRetention, DriftCountsTopic); err != nil {
		return fmt.Errorf("drift counts merger: %w", err)
	}
	kl, err := newKafkaLog(m.cfg.Kafka, DriftCountsTopic)
	if err != nil {
		return fmt.Errorf("drift counts merger: %w", err)
	}
	end, err := kl.replayEnd(ctx, DriftCountsTopic)
	if err != nil {
		kl.close()
		return fmt.Errorf("drift counts merger: %w", err)
	}
	m.kl = kl
	ctx, m.cancel = context.WithCancel(ctx)
	m.done = make(chan struct{})
	go func() {
		defer close(m.done)
		m.run(ctx, end)
	}()
	return nil
}

// replayIdle is how long the merger waits for records it should replay
// (those below the end offsets at start) before merging without them.
const replayIdle = 10 * time.Second

// run polls the topic for at most a tick at a time, so that Add and Due
// (and so OnMerged) run on this one goroutine. Nothing is merged before the
// records that were in the topic at start are read: a window whose
// contributions came in two fetches would otherwise be merged from the
// first, and the rest counted late.
func (m *Merger) run(ctx context.Context, end position) {
	tick := min(max(min(m.cfg.SlidingEvery, m.cfg.Grace)/2, 50*time.Millisecond), time.Second)
	pos := position{}
	replayed := pos.reached(end)
	idleSince := time.Now()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, tick)
		recs, errs, closed := m.kl.poll(pctx)
		cancel()
		if closed {
			return
		}
		for _, err := range errs {
			m.log.Warn("fetch error", "err", err)
		}
		now := m.cfg.Now()
		for _, r := range recs {
			pos.set(r.Topic, r.Partition, r.Offset+1)
			m.apply(r, r.Offset < end[r.Topic][r.Partition], now)
		}
		if !replayed {
			switch {
			case pos.reached(end):
				replayed = true
			case len(recs) > 0:
				idleSince = time.Now()
				continue
			case time.Since(idleSince) < replayIdle:
				continue
			default:
				replayed = true
				m.log.Warn("merging before the drift counts in the topic at start are all read: none arrived for a while", "read", pos, "end", end, "waited", replayIdle)
			}
		}
		m.Due(now)
	}
}

// apply decodes one record and adds it; replayed says it was in the topic
// when the merger started.
func (m *Merger) apply(r logRecord, replayed bool, now time.Time) {
	if r.Value == nil {
		return
	}
	c, err := DecodeCounts(r.Value)
	if err == nil && c.key() != string(r.Key) {
		err = fmt.Errorf("key %q does not name the counts' model, version, window and instance (%s)", r.Key, c.key())
	}
	if err != nil {
		m.bad.Inc()
		m.log.Error("skipping a bad drift counts record", "at", fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset), "err", err)
		return
	}
	at := now
	if replayed {
		if c.Window != drift.SlidingWindow && now.After(c.End.Add(m.cfg.Grace+keepPeriods*c.End.Sub(c.Start))) {
			return // merged by an earlier run, or too old to matter
		}
		if !c.Taken.IsZero() && c.Taken.Before(now) {
			at = c.Taken
		}
	}
	m.Add(c.Instance, c.WindowCounts, at)
}

// Close stops consuming; nothing is merged after it returns.
func (m *Merger) Close() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.kl.close()
}
