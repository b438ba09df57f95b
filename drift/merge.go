package drift

import (
	"fmt"
	"math"
	"time"
)

// Drift merged across processes. Several processes scoring shares of one
// stream each keep a window of their own records. A contributor monitor
// (MonitorOptions.Contribute) evaluates nothing itself: at each check it
// hands its window's counts (WindowCounts) to whoever merges them; the
// merged counts come back to one monitor through CheckMerged, which
// evaluates them with the monitor's rules and publishes the event as a
// check would. Counts carry no raw values, so every test is a binned one;
// the estimators behind CBPE, PCA and DLE are carried as sums that add
// across processes (Counts.Stats, WindowStats), from which the merged
// event's Estimated, Multivariate and EstimatedLoss are computed.

// SlidingWindow is WindowCounts.Window of a sliding window's counts.
const SlidingWindow = "sliding"

// WindowCounts is one process's contribution to a drift window: the counts
// of its records in the window, mergeable with other processes' (Counts.Merge).
type WindowCounts struct {
	Model, Version string
	// Window names the window: SlidingWindow for the sliding window (each
	// process's latest counts replace its previous ones), or the tumbling
	// window's start as time.RFC3339Nano in UTC (every process names the
	// same interval alike, because tumbling windows start at
	// now.Truncate(period)).
	Window string
	// Start and End are a tumbling window's bounds; a sliding window's
	// Start is zero and End is when the counts were taken.
	Start, End time.Time
	Counts     *Counts
}

// MergedWindow is the counts of one window merged from several processes'
// WindowCounts, for CheckMerged.
type MergedWindow struct {
	Window     string // as WindowCounts.Window
	Start, End time.Time
	Counts     *Counts   // merged
	Processes  int       // how many processes' counts were merged
	Time       time.Time // when merged (the event's time; zero: now)
}

// tumblingID names a tumbling window by its start.
func tumblingID(start time.Time) string { return start.UTC().Format(time.RFC3339Nano) }

// CheckMerged evaluates counts merged from several processes (w.Processes
// of them, w.Counts.Records records) with the monitor's rules: the binned
// tests of Profile.CheckCounts (KS and Wasserstein need raw values, so a
// feature tested with them locally gets the bin-based test Evidently would
// pick, and FeatureResult.Test says which ran), thresholds from the bands
// at the merged window's size, the retrain and alert verdicts and the
// dataset drift share; Status is "warming up: n of m records" while the
// merged window holds fewer than Ready() records. It exports the drift
// metrics as a check does, stores the event as Snapshot() and publishes it
// to the subscribers, in order with the monitor's other checks on its
// checker goroutine. The event's Estimated, Multivariate and EstimatedLoss
// come from the merged statistics (w.Counts.Stats) when they carry the
// part and the monitor estimates it, with bands at the part's merged
// record count; they are nil otherwise (no statistics, or some process
// sent none of that part). The mean PCA error, the DLE MAE and RMSE and
// CBPE's confusion-based figures equal a single monitor's over all the
// records; CBPE's AUC comes from histograms (histAUC), within 0.001.
// Counts that do not fit the profile (another feature or bin count, bins
// that do not add up to Records, statistics of another shape or with
// negative or non-finite sums) or hold no record give an error and
// publish nothing.
// Subscribers and Contribute must not call CheckMerged.
func (m *Monitor) CheckMerged(w MergedWindow) (Event, error) {
	if w.Processes < 1 {
		return Event{}, fmt.Errorf("check merged window %q of %s %s: %d processes, want at least 1", w.Window, m.opts.Model, m.opts.Version, w.Processes)
	}
	if w.Time.IsZero() {
		w.Time = m.now()
	}
	it := &checkItem{merged: &w, done: make(chan struct{})}
	m.handMu.Lock()
	m.handLocked(it)
	m.handMu.Unlock()
	<-it.done
	return it.ev, it.err
}

// evaluateMerged computes the event of merged (or, with Processes 0, this
// process's own) counts, stores it as the latest and exports the metrics;
// only the checker goroutine calls it (or, once closed, a caller holding
// handMu).
func (m *Monitor) evaluateMerged(w *MergedWindow) (Event, error) {
	c := w.Counts
	if c == nil || c.Records <= 0 {
		return Event{}, fmt.Errorf("check merged window %q of %s %s: no records", w.Window, m.opts.Model, m.opts.Version)
	}
	res, pred, err := m.p.binnedResults(c, m.opts.Test, m.opts.TestThreshold, m.bands)
	if err != nil {
		return Event{}, fmt.Errorf("check merged window %q of %s %s: %w", w.Window, m.opts.Model, m.opts.Version, err)
	}
	n := int(c.Records)
	ev := Event{Model: m.opts.Model, Version: m.opts.Version, Time: w.Time, WindowRecords: n,
		Features: res, PredictionPSI: math.NaN(), Processes: w.Processes, Window: w.Window}
	if pred != nil {
		ev.PredictionPSI = pred.PSI
	}
	if err := m.estimateMerged(&ev, c.Stats); err != nil {
		return Event{}, fmt.Errorf("check merged window %q of %s %s: %w", w.Window, m.opts.Model, m.opts.Version, err)
	}
	m.verdicts(&ev)
	m.record(ev)
	return ev, nil
}

// estimateMerged sets the event's Estimated, Multivariate and
// EstimatedLoss from merged window statistics, each when the statistics
// carry its part and the monitor estimates it (its bands looked up at the
// part's record count, the gauges exported as a check does); statistics of
// the wrong shape are an error. Checker side. The checks come before any
// gauge is set, so that an error exports nothing.
func (m *Monitor) estimateMerged(ev *Event, s *WindowStats) error {
	if s == nil {
		return nil
	}
	if err := s.Validate(); err != nil {
		return err
	}
	var est Estimated
	perf := s.Perf != nil && m.cbpe != nil
	if perf {
		var err error
		if est, err = m.cbpe.estimateFromStats(s.Perf); err != nil {
			return err
		}
	}
	if perf {
		ev.Estimated = m.cbpe.finish(est)
	}
	if s.PCA != nil && m.pca != nil {
		ev.Multivariate = m.pca.result(int(s.PCA.Records), s.PCA.Error)
	}
	if s.Loss != nil && m.dle != nil {
		ev.EstimatedLoss = m.dle.result(int(s.Loss.Records), s.Loss.Abs, s.Loss.Sq)
	}
	return nil
}

// binnedResults evaluates window counts against the profile with tests
// that need only bin counts: test ("" or auto: chosen per feature as a
// monitor does) except that ks and wasserstein, which need raw values,
// become the bin-based test Evidently would pick for a feature with few
// values (chisquare/z for a small reference, jensenshannon otherwise).
// With bands, thresholds come from them at the window's size. The
// prediction's result is nil when the profile has none.
func (p *Profile) binnedResults(c *Counts, test string, threshold float64, bands *Profile) ([]FeatureResult, *FeatureResult, error) {
	if c == nil {
		return nil, nil, fmt.Errorf("no counts")
	}
	nf := len(p.Features)
	if p.Prediction != nil {
		nf++
	}
	if len(c.Bins) != nf || len(c.Unseen) != nf {
		return nil, nil, fmt.Errorf("%d features, want %d", len(c.Bins), nf)
	}
	res := make([]FeatureResult, 0, len(p.Features))
	var pred *FeatureResult
	for i := 0; i < nf; i++ {
		f := p.Prediction
		if i < len(p.Features) {
			f = &p.Features[i]
		}
		if len(c.Bins[i]) != f.Bins()+len(c.Unseen[i]) {
			return nil, nil, fmt.Errorf("feature %q has %d bins, want %d", f.Name, len(c.Bins[i]), f.Bins()+len(c.Unseen[i]))
		}
		var sum int64
		for _, v := range c.Bins[i] {
			if v < 0 {
				return nil, nil, fmt.Errorf("feature %q has a negative count", f.Name)
			}
			sum += v
		}
		if sum != c.Records {
			return nil, nil, fmt.Errorf("feature %q counts %d records, want %d", f.Name, sum, c.Records)
		}
		ref := make([]int64, len(c.Bins[i]))
		copy(ref, f.RefCounts)
		r := evaluate(evalInput{f: f, ref: ref, cur: c.Bins[i], refN: f.NonMissing(), unique: f.Unique,
			test: binnedTest(f, test, ref, c.Bins[i]), threshold: threshold, bands: bands})
		if i < len(p.Features) {
			res = append(res, r)
		} else {
			pred = &r
		}
	}
	return res, pred, nil
}

// binnedTest returns the test of a feature whose window has only bin
// counts: the test a monitor would choose, ks and wasserstein replaced by
// a bin-based one.
func binnedTest(f *Feature, test string, ref, cur []int64) string {
	t := test
	if t == "" || t == TestAuto {
		t = ChooseTest(f.Categorical, f.NonMissing(), f.Unique)
	}
	if t == TestKS || t == TestWasserstein {
		t = ChooseTest(true, f.NonMissing(), 0)
		if f.NonMissing() <= smallReference && countNonZero(ref, cur) > 2 {
			t = TestChiSquare
		}
	}
	return t
}

func countNonZero(a, b []int64) int {
	n := 0
	for i := 1; i < len(a); i++ {
		if a[i]+b[i] > 0 {
			n++
		}
	}
	return n
}
