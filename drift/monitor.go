package drift

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// checkQueue is how many check snapshots may wait for the checker goroutine
// before Observe blocks.
const checkQueue = 4

// Defaults of MonitorOptions.
const (
	DefaultWindowSize       = 10000
	DefaultCheckInterval    = 1000
	DefaultMinWindow        = 1000
	DefaultRetrainThreshold = 0.15
	DefaultAlertThreshold   = 0.25
	DefaultDriftShare       = 0.5
	DefaultLabelWindow      = 1000
	DefaultContributeEvery  = 250 * time.Millisecond
)

// MonitorOptions configures a Monitor; zero values take the defaults.
type MonitorOptions struct {
	Model, Version   string
	Environment      string        // label of the performance metrics
	WindowSize       int           // records in the sliding window (default 10000)
	CheckInterval    int           // records between checks (default 1000)
	MinWindow        int           // records needed before the first check (default 1000, at most WindowSize)
	Tumbling         time.Duration // > 0: time-based tumbling windows checked when they close, instead of the sliding window
	RetrainThreshold float64       // Event.Retrain when MaxPSI exceeds it (default 0.15)
	AlertThreshold   float64       // Event.Alert when MaxPSI exceeds it (default 0.25)
	DriftShare       float64       // dataset drift when the drifted share reaches it (default 0.5)
	Test             string        // companion test, "auto" (default) or one of Tests
	TestThreshold    float64       // drift threshold of the test (0 = the test's default); set, it forces RuleFixed
	Thresholds       string        // RuleBand (default when the profile has bands) or RuleFixed
	LabelWindow      int           // labelled records in the rolling performance (default 1000)
	PositiveClass    string        // binary classification: the class whose score is the prediction (for AUC)
	Metrics          *metrics.Set  // where the driftd_* series are exported (nil = not exported)
	Now              func() time.Time
	// Loss predicts a regression model's per-record error for DLE; with
	// a profile carrying a loss reference, each check estimates the
	// window's MAE and RMSE (Event.EstimatedLoss). nil: no DLE.
	Loss LossEstimator
	// Contribute, when set, makes the monitor a contributor to a drift
	// window merged across processes: it evaluates no check of its own.
	// Instead, at every check (sliding: every CheckInterval records,
	// whatever MinWindow, since the merged window decides readiness;
	// tumbling: when a window holding at least one record closes) it
	// hands the window's counts to Contribute on the checker goroutine,
	// off the Observe path, in window order. Events are then made by
	// CheckMerged (and Check). Contribute must not block for long: the
	// observers wait once a few contributions are queued. It must not
	// call the monitor's Check, CheckMerged, Tick, Flush or Close. Labels
	// (ObserveLabel, ObserveValue) and Performance work as without it.
	// CBPE, PCA and DLE keep their records as without it, and each
	// contribution carries their mergeable sums (Counts.Stats), computed
	// on the checker goroutine as a check's estimates are.
	Contribute func(WindowCounts)
	// ContributeEvery spaces a contributor's sliding-window contributions
	// at least this far apart (default 250ms; negative: every check): the
	// merger merges at most once a second, and a contribution costs the
	// window's statistics and a Kafka record. Records counted meanwhile go
	// in the next one, which Tick sends once the time has passed on a
	// stream that went quiet.
	ContributeEvery time.Duration
}

// Event is the result of one drift check.
type Event struct {
	Model, Version  string
	Time            time.Time
	WindowRecords   int
	Features        []FeatureResult
	PredictionPSI   float64
	DriftShare      float64
	DriftedFeatures int
	DatasetDrift    bool
	MaxPSI          float64
	Retrain         bool // a feature's PSI > RetrainThreshold (raised to the PSI band's upper edge under RuleBand)
	Alert           bool // a feature's PSI > AlertThreshold (raised likewise)
	// Status is "ok", or "warming up: n of m records" while the window is
	// too small to tell drift from noise (Snapshot before the first check;
	// a Check or tumbling window forced early).
	Status string
	// ReadyRecords is m: the window size from which a check can tell drift
	// from noise, where the first interval check runs.
	ReadyRecords int
	// Thresholds is the rule of the verdicts: RuleBand or RuleFixed.
	Thresholds string
	// Estimated is the performance estimated without labels from the
	// window's calibrated scores (CBPE); nil when the profile carries no
	// calibrator (a regression model, or trained before calibration; a
	// multiclass model's records need their probabilities: ObserveProba).
	Estimated *Estimated
	// EstimatedLoss is a regression model's error estimated without labels
	// (DLE); nil without loss models (not a regression model, trained
	// before DLE, or MonitorOptions.Loss unset).
	EstimatedLoss *EstimatedLoss
	// Multivariate is the window's mean PCA reconstruction error against
	// its band learned from the reference; nil when the profile has no
	// PCA (too few features or rows, or written before PCA existed).
	Multivariate *MultivariateResult
	// Processes is 0 for this process's own check, else the number of
	// processes whose counts were merged into the window (CheckMerged).
	Processes int
	// Window names a merged window (MergedWindow.Window); "" for a
	// process's own check.
	Window string
}

// Monitor scores drift of one model version record by record. It is safe
// for concurrent use; Observe is the hot path.
type Monitor struct {
	p    *Profile
	opts MonitorOptions
	now  func() time.Time

	mu    sync.Mutex
	w     *Window
	since int // records since the last check
	// lastContrib is when a sliding contributor last contributed.
	lastContrib time.Time
	windowStart time.Time
	tests       []string // per feature (prediction last)
	valIndex    []int    // per feature: index in the window's value features, or -1
	refExt      [][]int64
	radix       radixScratch
	padNum      []float64 // short records are padded with missing values
	padCat      []string

	subsMu  sync.Mutex // guards subs and nextSub
	subs    map[int]func(Event)
	nextSub int

	// Checks are evaluated off the observing goroutines: a check snapshots
	// the window under mu (counts and the changes of the sorted values) and
	// takes handMu before releasing mu, then hands the snapshot to the
	// checker goroutine through queue, so snapshots reach it in window
	// order; the checker sorts and merges the changes into the sorted
	// values, evaluates and publishes, one snapshot after the other. A full
	// queue blocks the handing goroutine (no check is dropped). Once closed,
	// checks are evaluated inline under handMu. Lock order: mu, then
	// handMu, then subsMu or lastMu; the checker takes neither mu nor handMu.
	handMu      sync.Mutex
	queue       chan *checkItem // nil until the first check is handed over
	checkerDone chan struct{}   // closed when the checker has drained queue
	closed      bool
	jobs        chan *syncJob // free sync jobs, reused across checks
	lastMu      sync.Mutex
	last        Event

	featurePSI []*metrics.Gauge
	predPSI    *metrics.Gauge
	share      *metrics.Gauge
	drifted    *metrics.Gauge
	checks     *metrics.Counter

	bands *Profile // p when verdicts use its bands, else nil
	ready int      // records the window needs before the first interval check

	perf perfState
	cbpe *cbpeState // nil without a calibrator
	pca  *pcaStream // nil without a PCA
	dle  *dleStream // nil without loss models
}

// NewMonitor returns a monitor of the profile's features.
func NewMonitor(p *Profile, opts MonitorOptions) (*Monitor, error) {
	if p == nil || len(p.Features) == 0 {
		return nil, fmt.Errorf("new monitor: empty profile")
	}
	if err := checkTest(opts.Test); err != nil {
		return nil, fmt.Errorf("new monitor: %w", err)
	}
	o := opts
	if o.WindowSize == 0 {
		o.WindowSize = DefaultWindowSize
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.ContributeEvery == 0 {
		o.ContributeEvery = DefaultContributeEvery
	}
	if o.MinWindow == 0 {
		o.MinWindow = min(DefaultMinWindow, o.WindowSize)
	}
	if o.RetrainThreshold == 0 {
		o.RetrainThreshold = DefaultRetrainThreshold
	}
	if o.AlertThreshold == 0 {
		o.AlertThreshold = DefaultAlertThreshold
	}
	if o.DriftShare == 0 {
		o.DriftShare = DefaultDriftShare
	}
	if o.LabelWindow == 0 {
		o.LabelWindow = DefaultLabelWindow
	}
	switch {
	case o.WindowSize < 1, o.CheckInterval < 1, o.MinWindow < 1, o.LabelWindow < 1:
		return nil, fmt.Errorf("new monitor: window size, check interval, min window and label window must be positive")
	case o.MinWindow > o.WindowSize && o.Tumbling == 0:
		return nil, fmt.Errorf("new monitor: min window %d exceeds window size %d", o.MinWindow, o.WindowSize)
	case o.Tumbling < 0:
		return nil, fmt.Errorf("new monitor: tumbling window %v is negative", o.Tumbling)
	case o.DriftShare < 0 || o.DriftShare > 1:
		return nil, fmt.Errorf("new monitor: drift share %v must be in [0, 1]", o.DriftShare)
	case o.Thresholds != "" && o.Thresholds != RuleBand && o.Thresholds != RuleFixed:
		return nil, fmt.Errorf("new monitor: thresholds %q: must be band or fixed", o.Thresholds)
	}
	m := &Monitor{p: p, opts: o, now: o.Now, subs: map[int]func(Event){}, jobs: make(chan *syncJob, checkQueue+2)}
	if m.now == nil {
		m.now = time.Now
	}
	nf := len(p.Features)
	m.valIndex = make([]int, nf)
	var valFeat []int
	for i := range p.Features {
		f := &p.Features[i]
		t := o.Test
		if t == "" || t == TestAuto {
			t = ChooseTest(f.Categorical, f.NonMissing(), f.Unique)
		}
		m.tests = append(m.tests, t)
		m.valIndex[i] = -1
		if !f.Categorical && f.NonMissing() > 0 && (t == TestKS || t == TestWasserstein) {
			m.valIndex[i] = len(valFeat)
			valFeat = append(valFeat, i)
		}
	}
	size := o.WindowSize
	if o.Tumbling > 0 {
		size = 0
	}
	if o.Contribute != nil {
		// A contributor's checks are counts: nobody reads raw values.
		valFeat = nil
		for i := range m.valIndex {
			m.valIndex[i] = -1
		}
	}
	w, err := newWindow(p, size, valFeat, o.WindowSize)
	if err != nil {
		return nil, fmt.Errorf("new monitor: %w", err)
	}
	m.w = w
	m.refExt = make([][]int64, w.nf)
	for i := 0; i < w.nf; i++ {
		ext := make([]int64, w.off[i+1]-w.off[i])
		copy(ext, w.feature(i).RefCounts)
		m.refExt[i] = ext
	}
	if s := o.Metrics; s != nil {
		model := escapeLabel(o.Model)
		for _, f := range p.Features {
			m.featurePSI = append(m.featurePSI, s.GetOrCreateGauge(
				fmt.Sprintf(`driftd_feature_psi{model="%s",feature="%s"}`, model, escapeLabel(f.Name)), nil))
		}
		m.predPSI = s.GetOrCreateGauge(fmt.Sprintf(`driftd_prediction_psi{model="%s"}`, model), nil)
		m.share = s.GetOrCreateGauge(fmt.Sprintf(`driftd_drift_share{model="%s"}`, model), nil)
		m.drifted = s.GetOrCreateGauge(fmt.Sprintf(`driftd_drifted_features{model="%s"}`, model), nil)
		m.checks = s.GetOrCreateCounter(fmt.Sprintf(`driftd_drift_checks_total{model="%s"}`, model))
	}
	if o.Thresholds != RuleFixed && p.HasBands() && o.TestThreshold == 0 {
		m.bands = p
	}
	m.ready = m.readyRecords()
	m.perf.init(o)
	// A contributor keeps CBPE's scores and PCA's and DLE's records too:
	// its contributions carry their sums (WindowStats), from which
	// CheckMerged estimates the merged window.
	m.cbpe = newCBPE(p, o)
	m.pca = newPCAStream(p, o)
	m.dle = newDLEStream(p, o)
	return m, nil
}

// readyRecords returns the smallest window size, from MinWindow up to
// WindowSize, at which every feature's noise stays below the level the
// fixed rules call drift: the upper edge of the PSI's band at most 0.1
// (moderate) and, for distance tests, the upper edge of the statistic's
// band at most the test's fixed threshold. Without bands it is MinWindow.
func (m *Monitor) readyRecords() int {
	lo, hi := m.opts.MinWindow, m.opts.WindowSize
	if m.bands == nil || lo >= hi {
		return lo
	}
	quiet := func(n int) bool {
		for i := range m.p.Features {
			f := &m.p.Features[i]
			if _, hi, ok := m.p.Limits(f, TestPSI, n); ok && hi > 0.1 {
				return false
			}
			if t := m.tests[i]; !IsPValueTest(t) {
				if _, hi, ok := m.p.Limits(f, t, n); ok && hi > DefaultThreshold(t) {
					return false
				}
			}
		}
		return true
	}
	if quiet(lo) {
		return lo
	}
	for lo < hi { // the bands narrow as n grows: the first quiet size
		mid := lo + (hi-lo)/2
		if quiet(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// Ready returns the window size at which the first interval check runs.
func (m *Monitor) Ready() int { return m.ready }

// status returns the Status of a check on n records.
func (m *Monitor) status(n int) string {
	if n < m.ready {
		return fmt.Sprintf("warming up: %d of %d records", n, m.ready)
	}
	return "ok"
}

// thresholds returns the rule of the monitor's verdicts.
func (m *Monitor) thresholds() string {
	if m.bands != nil {
		return RuleBand
	}
	return RuleFixed
}

// escapeLabel escapes a Prometheus label value.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// Tests returns the companion test used for each profiled feature.
func (m *Monitor) Tests() []string { return append([]string(nil), m.tests...) }

// Observe takes one record: num[i] is the value of profile feature i (NaN
// missing) for numeric features; cat[i] the category string for
// categorical ones ("" = missing). Entries beyond the end of a short slice
// count as missing. A check runs every CheckInterval records once the window holds
// MinWindow records (or when a tumbling window closes): Observe snapshots
// the window and hands the snapshot to the monitor's checker goroutine,
// which evaluates the checks in order and calls the subscribers; Observe
// blocks only while a few snapshots already wait. Flush waits for the
// checks handed over so far. A multiclass model's records should come
// through ObserveProba: without the class probabilities CBPE skips them.
// A contributor (MonitorOptions.Contribute) hands its counts over instead
// of checking.
func (m *Monitor) Observe(num []float64, cat []string, prediction float64) {
	m.observe(num, cat, prediction, nil)
}

// ObserveProba is Observe for a multiclass model: proba holds the record's
// class probabilities in the model's class order (the profile's
// Multiclass.Classes), from which CBPE estimates the window's performance.
// It copies proba and does not keep it.
func (m *Monitor) ObserveProba(num []float64, cat []string, prediction float64, proba []float64) {
	m.observe(num, cat, prediction, proba)
}

func (m *Monitor) observe(num []float64, cat []string, prediction float64, proba []float64) {
	var it *checkItem
	m.mu.Lock()
	if m.opts.Tumbling > 0 {
		it = m.rollLocked(m.now())
	}
	if nf := len(m.p.Features); len(num) < nf || len(cat) < nf {
		num, cat = m.pad(num, cat)
	}
	m.w.Add(num, cat, prediction)
	if m.cbpe != nil {
		m.cbpe.add(prediction, proba)
	}
	if m.pca != nil {
		m.pca.add(num, cat)
	}
	if m.dle != nil {
		m.dle.add(num, cat, prediction)
	}
	m.since++
	// Tumbling and interval checks exclude each other: at most one item.
	if m.opts.Tumbling == 0 && m.since >= m.opts.CheckInterval {
		switch {
		case m.opts.Contribute != nil:
			it = m.slidingContributionLocked(m.now())
		case m.w.Len() >= m.ready:
			it = &checkItem{snap: m.snapshotLocked()}
		}
	}
	if it == nil {
		m.mu.Unlock()
		return
	}
	m.handMu.Lock()
	m.mu.Unlock()
	m.handLocked(it)
	m.handMu.Unlock()
}

// slidingContributionLocked returns the sliding window's contribution
// when ContributeEvery has passed since the previous one at now, else nil;
// mu must be held.
func (m *Monitor) slidingContributionLocked(now time.Time) *checkItem {
	if m.opts.ContributeEvery > 0 && !m.lastContrib.IsZero() && now.Sub(m.lastContrib) < m.opts.ContributeEvery {
		return nil
	}
	m.lastContrib = now
	return m.contributionLocked()
}

// contributionLocked returns the sliding window's counts for Contribute;
// mu must be held.
func (m *Monitor) contributionLocked() *checkItem {
	m.since = 0
	return &checkItem{contrib: &WindowCounts{Model: m.opts.Model, Version: m.opts.Version,
		Window: SlidingWindow, End: m.now(), Counts: m.w.Counts()}, stats: m.statsInputsLocked()}
}

// statsInputs is what the checker needs to compute a contributor's window
// statistics (WindowStats): as a check's snapshot, the window's CBPE
// scores and the PCA and DLE records added since the previous one.
type statsInputs struct {
	scores []float64 // nil without CBPE
	pca    *pcaBatch // nil without a PCA
	dle    *dleBatch // nil without loss models
}

// statsInputsLocked takes the inputs of the window's statistics, nil when
// the monitor estimates nothing; mu must be held.
func (m *Monitor) statsInputsLocked() *statsInputs {
	if m.cbpe == nil && m.pca == nil && m.dle == nil {
		return nil
	}
	in := &statsInputs{}
	if m.cbpe != nil {
		in.scores = m.cbpe.scores()
	}
	if m.pca != nil {
		in.pca = m.pca.takeBatch()
	}
	if m.dle != nil {
		in.dle = m.dle.takeBatch()
	}
	return in
}

// windowStats computes the window's statistics from in (nil: none); only
// the checker goroutine calls it (or, once closed, a caller holding
// handMu), since it applies the PCA and DLE batches to their rings.
func (m *Monitor) windowStats(in *statsInputs) *WindowStats {
	if in == nil {
		return nil
	}
	s := &WindowStats{}
	if m.cbpe != nil {
		s.Perf = m.cbpe.perfStats(in.scores)
	}
	if m.pca != nil {
		m.pca.absorb(in.pca)
		s.PCA = m.pca.stats()
	}
	if m.dle != nil {
		m.dle.absorb(in.dle)
		s.Loss = m.dle.stats()
	}
	if s.Perf == nil && s.PCA == nil && s.Loss == nil {
		return nil
	}
	return s
}

// pad copies a short record into the padding buffers, the rest missing.
func (m *Monitor) pad(num []float64, cat []string) ([]float64, []string) {
	nf := len(m.p.Features)
	if m.padNum == nil {
		m.padNum, m.padCat = make([]float64, nf), make([]string, nf)
	}
	for i := range m.padNum {
		m.padNum[i], m.padCat[i] = math.NaN(), ""
	}
	copy(m.padNum, num)
	copy(m.padCat, cat)
	return m.padNum, m.padCat
}

// Tick closes the tumbling window when it has expired at now, checking it
// (if it holds MinWindow records) or contributing it (if it holds any) and
// starting the next one; for streams too quiet to close their windows by
// Observe. It returns once the closed window's check or contribution is
// done. Without Tumbling it does nothing, except on a contributor: there
// it sends the sliding window's counts held back by ContributeEvery once
// that time has passed.
func (m *Monitor) Tick(now time.Time) {
	if m.opts.Tumbling <= 0 {
		if m.opts.Contribute == nil {
			return
		}
		// A sliding contributor sends the records a quiet stream left
		// waiting for ContributeEvery.
		m.mu.Lock()
		var it *checkItem
		if m.since > 0 {
			it = m.slidingContributionLocked(now)
		}
		if it == nil {
			m.mu.Unlock()
			return
		}
		m.checkNow(it)
		return
	}
	m.mu.Lock()
	it := m.rollLocked(now)
	if it == nil {
		m.mu.Unlock()
		return
	}
	m.checkNow(it)
}

// rollLocked closes the tumbling window when it has expired at now,
// returning the item of its check or contribution (nil when none is due);
// mu must be held. Windows start on multiples of the period
// (now.Truncate(Tumbling)), so that every process names the same interval
// alike: the first one is the period holding the first record (or Tick),
// and the window after a closed one is the period holding now.
func (m *Monitor) rollLocked(now time.Time) *checkItem {
	if m.windowStart.IsZero() {
		m.windowStart = now.Truncate(m.opts.Tumbling)
		return nil
	}
	if now.Sub(m.windowStart) < m.opts.Tumbling {
		return nil
	}
	var it *checkItem
	switch {
	case m.opts.Contribute != nil:
		if m.w.Len() > 0 {
			start := m.windowStart.UTC()
			it = &checkItem{contrib: &WindowCounts{Model: m.opts.Model, Version: m.opts.Version,
				Window: tumblingID(start), Start: start, End: start.Add(m.opts.Tumbling), Counts: m.w.Counts()},
				stats: m.statsInputsLocked()}
		}
	case m.w.Len() >= m.opts.MinWindow:
		it = &checkItem{snap: m.snapshotLocked()}
	}
	m.w.Reset()
	if m.cbpe != nil {
		m.cbpe.reset()
	}
	if m.pca != nil {
		m.pca.reset()
	}
	if m.dle != nil {
		m.dle.reset()
	}
	m.windowStart = now.Truncate(m.opts.Tumbling)
	return it
}

// Check runs a check now on the current window, whatever its size, and
// publishes the event; it returns once the checks handed over before it and
// its own are evaluated and published. An empty window gives an event
// without features that is neither published nor exported. A contributor
// (MonitorOptions.Contribute) checks its own counts and statistics as
// CheckMerged checks merged ones, with binned tests only, and contributes
// nothing. Subscribers
// must not call Check, CheckMerged, Tick, Flush or Close.
func (m *Monitor) Check() Event {
	m.mu.Lock()
	if m.w.Len() == 0 {
		m.mu.Unlock()
		return Event{Model: m.opts.Model, Version: m.opts.Version, Time: m.now(), PredictionPSI: math.NaN()}
	}
	if m.opts.Contribute != nil {
		return m.checkNow(&checkItem{merged: &MergedWindow{Counts: m.w.Counts(), Time: m.now()}, stats: m.statsInputsLocked()})
	}
	return m.checkNow(&checkItem{snap: m.snapshotLocked()})
}

// checkNow hands it to the checker and waits until it is processed,
// returning its event; mu must be held and checkNow releases it.
func (m *Monitor) checkNow(it *checkItem) Event {
	it.done = make(chan struct{})
	m.handMu.Lock()
	m.mu.Unlock()
	m.handLocked(it)
	m.handMu.Unlock()
	<-it.done
	return it.ev
}

// checkSnapshot is what a check reads of the window: a copy of the bin
// counts and the changes of the sorted values, applied by the evaluation.
type checkSnapshot struct {
	time   time.Time
	n      int
	counts []int64
	job    *syncJob
	scores []float64 // raw scores of the window's records, for CBPE (nil without it)
	pca    *pcaBatch // PCA inputs of the records added since the previous check (nil without a PCA)
	dle    *dleBatch // DLE inputs of the records added since the previous check (nil without loss models)
}

// snapshotLocked copies the counts and takes the sorted values' changes; mu
// must be held.
func (m *Monitor) snapshotLocked() checkSnapshot {
	m.since = 0
	var job *syncJob
	select {
	case job = <-m.jobs:
	default:
		job = new(syncJob)
	}
	m.w.takeSync(job)
	snap := checkSnapshot{time: m.now(), n: m.w.Len(), counts: slices.Clone(m.w.counts), job: job}
	if m.cbpe != nil {
		snap.scores = m.cbpe.scores()
	}
	if m.pca != nil {
		snap.pca = m.pca.takeBatch()
	}
	if m.dle != nil {
		snap.dle = m.dle.takeBatch()
	}
	return snap
}

// evaluateSnapshot computes the check's event from a snapshot; only the
// checker goroutine calls it (or, once closed, a caller holding handMu).
func (m *Monitor) evaluateSnapshot(snap checkSnapshot) Event {
	// The sorted values are the check side of the window: only evaluations,
	// serialised by the checker (or handMu once closed), touch them.
	sv := &m.w.sv
	sv.apply(snap.job, len(m.w.valFeat), &m.radix)
	select {
	case m.jobs <- snap.job:
	default:
	}
	p, off := m.p, m.w.off
	bins := func(i int) []int64 { return snap.counts[off[i]:off[i+1]] }
	ev := Event{Model: m.opts.Model, Version: m.opts.Version, Time: snap.time, WindowRecords: snap.n,
		Features: make([]FeatureResult, len(p.Features)), PredictionPSI: math.NaN()}
	for i := range p.Features {
		f := &p.Features[i]
		in := evalInput{f: f, ref: m.refExt[i], cur: bins(i), refN: f.NonMissing(),
			unique: f.Unique, test: m.tests[i], threshold: m.opts.TestThreshold, bands: m.bands}
		if j := m.valIndex[i]; j >= 0 {
			in.refValues, in.curValues = f.Summary, sv.sorted[j]
		}
		ev.Features[i] = evaluate(in)
	}
	if p.Prediction != nil && snap.n > 0 {
		i := m.w.nf - 1
		ev.PredictionPSI = PSI(m.refExt[i], bins(i))
	}
	m.verdicts(&ev)
	if m.cbpe != nil {
		ev.Estimated = m.cbpe.evaluate(snap.scores)
	}
	if m.pca != nil {
		ev.Multivariate = m.pca.evaluate(snap.pca)
	}
	if m.dle != nil {
		ev.EstimatedLoss = m.dle.evaluate(snap.dle)
	}
	m.record(ev)
	return ev
}

// verdicts completes an event whose Features, WindowRecords and
// PredictionPSI are set: MaxPSI, the dataset drift, the retrain and alert
// verdicts, the status and the rule.
func (m *Monitor) verdicts(ev *Event) {
	for _, r := range ev.Features {
		if r.PSI > ev.MaxPSI {
			ev.MaxPSI = r.PSI
		}
	}
	ev.DriftShare, ev.DriftedFeatures, ev.DatasetDrift = datasetVerdict(ev.Features, m.opts.DriftShare)
	ev.Retrain, ev.Alert = m.psiVerdicts(ev.Features)
	ev.Status, ev.ReadyRecords, ev.Thresholds = m.status(ev.WindowRecords), m.ready, m.thresholds()
}

// record stores the event as the latest and exports its metrics; checker
// side.
func (m *Monitor) record(ev Event) {
	m.lastMu.Lock()
	m.last = ev
	m.lastMu.Unlock()
	if m.checks != nil {
		for i, g := range m.featurePSI {
			g.Set(ev.Features[i].PSI)
		}
		if !math.IsNaN(ev.PredictionPSI) {
			m.predPSI.Set(ev.PredictionPSI)
		}
		m.share.Set(ev.DriftShare)
		m.drifted.Set(float64(ev.DriftedFeatures))
		m.checks.Inc()
	}
}

func (m *Monitor) publish(ev Event) {
	m.subsMu.Lock()
	fns := make([]func(Event), 0, len(m.subs))
	for _, fn := range m.subs {
		fns = append(fns, fn)
	}
	m.subsMu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// Subscribe calls fn with every check's event, in check order on the
// monitor's checker goroutine, until cancel is called.
func (m *Monitor) Subscribe(fn func(Event)) (cancel func()) {
	m.subsMu.Lock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = fn
	m.subsMu.Unlock()
	return func() {
		m.subsMu.Lock()
		delete(m.subs, id)
		m.subsMu.Unlock()
	}
}

// psiVerdicts returns Event.Retrain and Event.Alert: some feature's PSI is
// above the retrain (alert) threshold, raised to the upper edge of the
// feature's PSI band at this window's size when there is one.
func (m *Monitor) psiVerdicts(res []FeatureResult) (retrain, alert bool) {
	for _, r := range res {
		rt, at := m.opts.RetrainThreshold, m.opts.AlertThreshold
		if !math.IsNaN(r.PSIUpper) {
			rt, at = math.Max(rt, r.PSIUpper), math.Max(at, r.PSIUpper)
		}
		retrain = retrain || r.PSI > rt
		alert = alert || r.PSI > at
	}
	return retrain, alert
}

// Snapshot returns the latest evaluated check's event; call Flush first to
// include the checks still queued. Before the first check it is an event
// without features or time whose Status says how far the warm-up is
// ("warming up: n of m records").
func (m *Monitor) Snapshot() Event {
	m.lastMu.Lock()
	ev := m.last
	m.lastMu.Unlock()
	if !ev.Time.IsZero() {
		return ev
	}
	m.mu.Lock()
	n := m.w.Len()
	m.mu.Unlock()
	return Event{Model: m.opts.Model, Version: m.opts.Version, PredictionPSI: math.NaN(),
		Status: fmt.Sprintf("warming up: %d of %d records", n, m.ready), ReadyRecords: m.ready, Thresholds: m.thresholds()}
}

// Counts returns a copy of the window's counts, to merge with other
// processes' windows and evaluate with Profile.CheckCounts.
func (m *Monitor) Counts() *Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.w.Counts()
}

// CheckCounts evaluates (possibly merged) window counts against the
// profile. Counts carry no raw values, so features whose test is ks or
// wasserstein are tested with the bin-based test Evidently would pick for a
// feature with few values (chisquare/z for a small reference,
// jensenshannon otherwise). The prediction result is nil when not profiled.
func (p *Profile) CheckCounts(c *Counts, opts CompareOptions) ([]FeatureResult, *FeatureResult, error) {
	if err := checkTest(opts.Test); err != nil {
		return nil, nil, fmt.Errorf("check counts: %w", err)
	}
	res, pred, err := p.binnedResults(c, opts.Test, opts.Threshold, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("check counts: %w", err)
	}
	return res, pred, nil
}
