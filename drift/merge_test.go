package drift

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// testClock is a clock the test moves while monitors read it from their
// own goroutines.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.Set(t)
	return c
}

func (c *testClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *testClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// contributions collects what a contributor monitor hands over.
type contributions struct {
	mu  sync.Mutex
	got []WindowCounts
}

func (c *contributions) add(wc WindowCounts) {
	c.mu.Lock()
	c.got = append(c.got, wc)
	c.mu.Unlock()
}

func (c *contributions) list() []WindowCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// mergeTestProfile is a profile of genData's features and a prediction,
// with bands.
func mergeTestProfile(t *testing.T, seed uint64) (*Profile, []Column) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	ref := genData(rng, 3000, 0)
	preds := make([]float64, len(ref[0].Values))
	for i := range preds {
		preds[i] = rng.Float64()
	}
	p, err := BuildProfile(ref, preds, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p, ref
}

// TestContributorsMergeToOneWindow feeds two contributor monitors the
// disjoint halves of a stream spanning three tumbling periods and one
// ordinary monitor all of it: each period's contributions carry the same
// window id and bounds, and their merged check has the PSI of the ordinary
// monitor's check of that period (bin-based, identical) and the binned
// tests CheckCounts picks.
func TestContributorsMergeToOneWindow(t *testing.T) {
	p, _ := mergeTestProfile(t, 21)
	rng := rand.New(rand.NewPCG(22, 23))
	cur := genData(rng, 1200, 0.3)
	preds := make([]float64, 1200)
	for i := range preds {
		preds[i] = rng.Float64() * 1.2
	}
	// The stream starts 5s into a period and spans two more: records
	// every 100ms, so periods close on Observe at records 550 and 1150,
	// and the third by Tick.
	period := time.Minute
	first := time.Unix(1_700_000_000, 0).Truncate(period)
	clock := newTestClock(first.Add(5 * time.Second))
	var parts [2]contributions
	var contributors [2]*Monitor
	for k := range contributors {
		m, err := NewMonitor(p, MonitorOptions{Model: "m", Version: "1", Tumbling: period, WindowSize: 1000,
			Now: clock.Now, Contribute: parts[k].add})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		contributors[k] = m
	}
	local, err := NewMonitor(p, MonitorOptions{Model: "m", Version: "1", Tumbling: period, WindowSize: 1000, MinWindow: 10, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.Close)
	var localEvents []Event
	local.Subscribe(func(ev Event) { localEvents = append(localEvents, ev) })
	num, cat := make([]float64, 4), make([]string, 4)
	for i := range 1200 {
		row(cur, i, num, cat)
		contributors[i%2].Observe(num, cat, preds[i])
		local.Observe(num, cat, preds[i])
		clock.Add(100 * time.Millisecond)
	}
	end := first.Add(3 * period)
	for _, m := range append(contributors[:], local) {
		m.Tick(end)
		m.Flush()
	}
	a, b := parts[0].list(), parts[1].list()
	if len(a) != 3 || len(b) != 3 || len(localEvents) != 3 {
		t.Fatalf("%d and %d contributions, %d local checks; want 3 each", len(a), len(b), len(localEvents))
	}
	wantRecords := []int{550, 600, 50}
	var ev Event
	for w := range 3 {
		start := first.Add(time.Duration(w) * period).UTC()
		id := start.Format(time.RFC3339Nano)
		for k, wc := range []WindowCounts{a[w], b[w]} {
			if wc.Window != id || !wc.Start.Equal(start) || !wc.End.Equal(start.Add(period)) || wc.Model != "m" || wc.Version != "1" {
				t.Errorf("window %d, contributor %d: %s [%v, %v) of %s %s, want %s [%v, %v)", w, k, wc.Window, wc.Start, wc.End, wc.Model, wc.Version, id, start, start.Add(period))
			}
			if wc.Counts.Records != int64(wantRecords[w]/2) {
				t.Errorf("window %d, contributor %d: %d records, want %d", w, k, wc.Counts.Records, wantRecords[w]/2)
			}
		}
		merged := a[w].Counts
		if err := merged.Merge(b[w].Counts); err != nil {
			t.Fatal(err)
		}
		ev, err = contributors[0].CheckMerged(MergedWindow{Window: id, Start: a[w].Start, End: a[w].End, Counts: merged, Processes: 2, Time: end})
		if err != nil {
			t.Fatal(err)
		}
		want := localEvents[w]
		if ev.WindowRecords != wantRecords[w] || want.WindowRecords != wantRecords[w] || ev.Processes != 2 || ev.Window != id || !ev.Time.Equal(end) {
			t.Errorf("window %d: merged event of %d records, %d processes, window %q at %v; local %d records",
				w, ev.WindowRecords, ev.Processes, ev.Window, ev.Time, want.WindowRecords)
		}
		binned, pred, err := p.CheckCounts(merged, CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range ev.Features {
			if !closeTo(f.PSI, want.Features[i].PSI, 1e-12) {
				t.Errorf("window %d, %s: merged PSI %v, one monitor %v", w, f.Name, f.PSI, want.Features[i].PSI)
			}
			if f.Test != binned[i].Test || !closeTo(f.Statistic, binned[i].Statistic, 1e-12) {
				t.Errorf("window %d, %s: merged %s %v, CheckCounts %s %v", w, f.Name, f.Test, f.Statistic, binned[i].Test, binned[i].Statistic)
			}
		}
		if !closeTo(ev.PredictionPSI, want.PredictionPSI, 1e-12) || !closeTo(ev.PredictionPSI, pred.PSI, 1e-12) {
			t.Errorf("window %d: merged prediction PSI %v, one monitor %v, CheckCounts %v", w, ev.PredictionPSI, want.PredictionPSI, pred.PSI)
		}
		// The profile has a PCA, no calibrator and no loss reference: the
		// merged window's mean error is the one monitor's.
		if ev.Estimated != nil || ev.EstimatedLoss != nil || ev.Multivariate == nil || want.Multivariate == nil ||
			ev.Multivariate.Records != want.Multivariate.Records || !closeTo(ev.Multivariate.Error, want.Multivariate.Error, 1e-9) ||
			ev.Multivariate.Hi != want.Multivariate.Hi || ev.Multivariate.Drifted != want.Multivariate.Drifted {
			t.Errorf("window %d: merged estimates %+v %+v %+v, one monitor's multivariate %+v", w, ev.Estimated, ev.Multivariate, ev.EstimatedLoss, want.Multivariate)
		}
	}
	// A numeric feature tested locally on its values gets a binned test
	// merged.
	if lt := localEvents[2].Features[0].Test; (lt != TestKS && lt != TestWasserstein) || ev.Features[0].Test == lt {
		t.Errorf("feature a: local test %s, merged %s; want a value test and a binned one", lt, ev.Features[0].Test)
	}
}

// TestSlidingContributor proves a sliding contributor hands its window's
// counts over every CheckInterval records from the first, below MinWindow,
// on the checker goroutine (Observe goes on while Contribute blocks), and
// that Close delivers the contributions still queued.
func TestSlidingContributor(t *testing.T) {
	p, _ := mergeTestProfile(t, 31)
	rng := rand.New(rand.NewPCG(32, 33))
	cur := genData(rng, 110, 0)
	clock := newTestClock(time.Unix(5000, 0))
	release := make(chan struct{})
	var got contributions
	m, err := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: 50, CheckInterval: 20, Now: clock.Now,
		ContributeEvery: -1, Contribute: func(wc WindowCounts) {
			<-release
			got.add(wc)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ref := mustNewWindow(t, p, 50) // what the contributor's window must hold
	var published atomic.Int32
	m.Subscribe(func(Event) { published.Add(1) })
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		num, cat := make([]float64, 4), make([]string, 4)
		for i := range 110 {
			row(cur, i, num, cat)
			m.Observe(num, cat, 0.5)
			ref.Add(num, cat, 0.5)
			clock.Add(time.Second)
		}
	}()
	// Five contributions are due: one blocks in Contribute, the checker's
	// queue holds the others (checkQueue), so Observe never waits for
	// Contribute.
	select {
	case <-observed:
	case <-time.After(time.Minute):
		t.Fatal("Observe blocked while Contribute was blocked: contributions run on the Observe path")
	}
	if n := len(got.list()); n != 0 {
		t.Fatalf("%d contributions passed a blocked Contribute", n)
	}
	close(release)
	m.Close()
	list := got.list()
	var records []int64
	for _, wc := range list {
		records = append(records, wc.Counts.Records)
	}
	if want := []int64{20, 40, 50, 50, 50}; !slices.Equal(records, want) {
		t.Fatalf("contributions of %v records, want %v", records, want)
	}
	for k, wc := range list {
		if wc.Window != SlidingWindow || !wc.Start.IsZero() || !wc.End.Equal(time.Unix(5000+int64(20*k+19), 0)) {
			t.Errorf("contribution %d: window %q [%v, %v]", k, wc.Window, wc.Start, wc.End)
		}
	}
	last, want := list[len(list)-1].Counts, ref.Counts()
	// The contributor's window holds what a plain window of the same
	// records holds.
	if c := m.Counts(); c.Records != want.Records || !slices.EqualFunc(c.Bins, want.Bins, slices.Equal) {
		t.Errorf("contributor counts %v, window %v", c.Bins, want.Bins)
	}
	if last.Records != 50 || len(last.Bins) != len(p.Features)+1 {
		t.Errorf("last contribution %+v", last)
	}
	if n := published.Load(); n != 0 {
		t.Errorf("a contributor published %d events of its own", n)
	}
	// Labels still make the rolling performance.
	m.ObserveValue(1, 3)
	if perf := m.Performance(); perf.Labels != 1 || perf.RMSE != 2 {
		t.Errorf("performance %+v, want 1 label of RMSE 2", perf)
	}
}

func mustNewWindow(t *testing.T, p *Profile, size int) *Window {
	t.Helper()
	w, err := NewWindow(p, size)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestTumblingAlignment proves tumbling windows start on multiples of the
// period whatever the time of the first record, that the window after a
// closed one is the period holding now (idle periods are skipped), and
// that a contributor hands over every window with records, however few.
func TestTumblingAlignment(t *testing.T) {
	p, _ := mergeTestProfile(t, 41)
	base := time.Unix(1_800_000_000, 0).Truncate(time.Hour)
	type step struct {
		at   time.Duration // after base
		tick bool          // Tick at that time, else Observe one record
	}
	type window struct {
		start   time.Duration // after base
		records int64
	}
	for _, tc := range []struct {
		name   string
		period time.Duration
		steps  []step
		want   []window
	}{
		{"first record mid-period", time.Minute,
			[]step{{42 * time.Second, false}, {59 * time.Second, false}, {60 * time.Second, true}},
			[]window{{0, 2}}},
		{"closed by the next record", time.Minute,
			[]step{{10 * time.Second, false}, {70 * time.Second, false}, {2 * time.Minute, true}},
			[]window{{0, 1}, {time.Minute, 1}}},
		{"idle periods skipped", time.Minute,
			[]step{{30 * time.Second, false}, {5*time.Minute + 10*time.Second, false}, {5*time.Minute + 50*time.Second, false}, {6 * time.Minute, true}},
			[]window{{0, 1}, {5 * time.Minute, 2}}},
		{"empty windows not contributed", 5 * time.Minute,
			[]step{{time.Minute, true}, {7 * time.Minute, true}, {8 * time.Minute, false}, {11 * time.Minute, true}, {16 * time.Minute, true}},
			[]window{{5 * time.Minute, 1}}},
		{"tick before the period's end", 15 * time.Minute,
			[]step{{20 * time.Minute, false}, {29 * time.Minute, true}, {29 * time.Minute, false}, {30 * time.Minute, true}},
			[]window{{15 * time.Minute, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock(base)
			var got contributions
			m, err := NewMonitor(p, MonitorOptions{Model: "m", Tumbling: tc.period, Now: clock.Now, Contribute: got.add})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			num, cat := make([]float64, 4), make([]string, 4)
			for _, s := range tc.steps {
				clock.Set(base.Add(s.at))
				if s.tick {
					m.Tick(clock.Now())
				} else {
					m.Observe(num, cat, 0)
				}
			}
			m.Flush()
			list := got.list()
			var windows []window
			for _, wc := range list {
				windows = append(windows, window{wc.Start.Sub(base), wc.Counts.Records})
				if wc.Window != wc.Start.UTC().Format(time.RFC3339Nano) || wc.End.Sub(wc.Start) != tc.period || wc.Start.Location() != time.UTC {
					t.Errorf("window %q [%v, %v]", wc.Window, wc.Start, wc.End)
				}
			}
			if !slices.Equal(windows, tc.want) {
				t.Errorf("windows %+v, want %+v", windows, tc.want)
			}
		})
	}
}

// TestCheckMerged checks merged counts against the monitor's rules: the
// warm-up status, the verdicts on a shifted window, errors for counts of
// another profile, the metrics, the subscribers and Snapshot.
func TestCheckMerged(t *testing.T) {
	p, _ := mergeTestProfile(t, 51)
	if !p.HasBands() {
		t.Fatal("profile without bands")
	}
	set := metrics.NewSet()
	clock := newTestClock(time.Unix(9000, 0))
	m, err := NewMonitor(p, MonitorOptions{Model: "m", Version: "2", WindowSize: 2000, MinWindow: 50, Metrics: set, Now: clock.Now,
		Contribute: func(WindowCounts) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	var mu sync.Mutex
	var published []Event
	m.Subscribe(func(ev Event) { mu.Lock(); published = append(published, ev); mu.Unlock() })
	ready := m.Ready()
	if ready <= 50 || ready > 2000 {
		t.Fatalf("ready at %d records, want in (50, 2000]", ready)
	}
	rng := rand.New(rand.NewPCG(52, 53))
	// counts returns the counts of n records of genData shifted by shift,
	// scored pred.
	counts := func(n int, shift, pred float64) *Counts {
		w := mustNewWindow(t, p, 0)
		cols := genData(rng, n, shift)
		num, cat := make([]float64, 4), make([]string, 4)
		for i := range n {
			row(cols, i, num, cat)
			w.Add(num, cat, pred*rng.Float64())
		}
		return w.Counts()
	}
	okCounts := counts(ready, 0, 1)
	wrongBins := counts(100, 0, 1)
	wrongBins.Bins[0] = wrongBins.Bins[0][1:]
	wrongRecords := counts(100, 0, 1)
	wrongRecords.Records++
	for _, tc := range []struct {
		name           string
		w              MergedWindow
		wantErr        string
		status         string
		retrain, alert bool
	}{
		{name: "warming up", w: MergedWindow{Window: "2026-01-01T00:00:00Z", Counts: counts(ready-1, 0, 1), Processes: 3},
			status: fmt.Sprintf("warming up: %d of %d records", ready-1, ready)},
		{name: "ready, no drift", w: MergedWindow{Window: SlidingWindow, Counts: okCounts, Processes: 2}, status: "ok"},
		{name: "shifted", w: MergedWindow{Window: SlidingWindow, Counts: counts(2000, 1.5, 1.3), Processes: 4},
			status: "ok", retrain: true, alert: true},
		{name: "another feature count", w: MergedWindow{Window: SlidingWindow, Processes: 1,
			Counts: &Counts{Records: 1, Bins: [][]int64{{1}}, Unseen: [][]string{nil}}}, wantErr: "1 features, want 5"},
		{name: "another bin count", w: MergedWindow{Window: SlidingWindow, Counts: wrongBins, Processes: 1}, wantErr: `feature "a" has`},
		{name: "records not counted", w: MergedWindow{Window: SlidingWindow, Counts: wrongRecords, Processes: 1}, wantErr: "counts 100 records, want 101"},
		{name: "no counts", w: MergedWindow{Window: SlidingWindow, Processes: 1}, wantErr: "no records"},
		{name: "no process", w: MergedWindow{Window: SlidingWindow, Counts: okCounts}, wantErr: "0 processes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			before := len(published)
			mu.Unlock()
			prev := m.Snapshot()
			clock.Add(time.Second)
			ev, err := m.CheckMerged(tc.w)
			mu.Lock()
			n := len(published)
			var last Event
			if n > 0 {
				last = published[n-1]
			}
			mu.Unlock()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				if n != before || !m.Snapshot().Time.Equal(prev.Time) {
					t.Fatalf("failed check published (%d events, was %d) or stored", n, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Status != tc.status || ev.ReadyRecords != ready || ev.Retrain != tc.retrain || ev.Alert != tc.alert {
				t.Errorf("status %q, ready %d, retrain %v, alert %v; want %q, %d, %v, %v", ev.Status, ev.ReadyRecords, ev.Retrain, ev.Alert, tc.status, ready, tc.retrain, tc.alert)
			}
			if ev.WindowRecords != int(tc.w.Counts.Records) || ev.Processes != tc.w.Processes || ev.Window != tc.w.Window || !ev.Time.Equal(clock.Now()) {
				t.Errorf("event of %d records, %d processes, window %q at %v", ev.WindowRecords, ev.Processes, ev.Window, ev.Time)
			}
			if ev.Thresholds != RuleBand {
				t.Errorf("thresholds %q, want band", ev.Thresholds)
			}
			for _, f := range ev.Features {
				if f.Rule != RuleBand || math.IsNaN(f.PSIUpper) || f.Rows != ev.WindowRecords {
					t.Errorf("%s: rule %s, PSI upper %v, %d rows", f.Name, f.Rule, f.PSIUpper, f.Rows)
				}
			}
			if tc.retrain && (!ev.DatasetDrift || ev.MaxPSI < 0.25 || ev.PredictionPSI < 0.1) {
				t.Errorf("shifted window: dataset drift %v, max PSI %v, prediction PSI %v", ev.DatasetDrift, ev.MaxPSI, ev.PredictionPSI)
			}
			if n != before+1 || last.Time != ev.Time || last.Processes != ev.Processes || last.Window != ev.Window {
				t.Fatalf("%d events published (was %d), last %+v", n, before, last)
			}
			if s := m.Snapshot(); !s.Time.Equal(ev.Time) || s.Processes != ev.Processes || s.Window != ev.Window || s.Status != ev.Status {
				t.Errorf("snapshot %+v is not the merged event", s)
			}
			var buf bytes.Buffer
			set.WritePrometheus(&buf)
			for _, want := range []string{
				fmt.Sprintf(`driftd_feature_psi{model="m",feature="b"} %g`, ev.Features[1].PSI),
				fmt.Sprintf(`driftd_prediction_psi{model="m"} %g`, ev.PredictionPSI),
				fmt.Sprintf(`driftd_drifted_features{model="m"} %d`, ev.DriftedFeatures),
				fmt.Sprintf(`driftd_drift_checks_total{model="m"} %d`, n),
			} {
				if !strings.Contains(buf.String(), want+"\n") {
					t.Errorf("metrics lack %q:\n%s", want, buf.String())
				}
			}
		})
	}
}

// TestContributorKeepsNoRawValues proves a contributor keeps no raw values
// for ks or wasserstein, which the same profile's ordinary monitor keeps,
// but keeps CBPE's scores and PCA's records for its statistics; and that
// its own Check uses the binned tests, estimates as the ordinary monitor
// does, and contributes nothing.
func TestContributorKeepsNoRawValues(t *testing.T) {
	p, _ := mergeTestProfile(t, 61)
	cal := &Calibrator{X: []float64{0, 1}, Y: []float64{0, 1}, Threshold: 0.5}
	withCal := *p
	withCal.Calibration = cal
	plain, err := NewMonitor(&withCal, MonitorOptions{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if len(plain.w.valFeat) == 0 || plain.pca == nil || plain.cbpe == nil {
		t.Fatalf("ordinary monitor: %d value features, PCA %v, CBPE %v: the test proves nothing", len(plain.w.valFeat), plain.pca != nil, plain.cbpe != nil)
	}
	var contributed atomic.Int32
	m, err := NewMonitor(&withCal, MonitorOptions{Model: "m", CheckInterval: 1000, Contribute: func(WindowCounts) { contributed.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Raw values serve only ks and Wasserstein, which merged counts cannot
	// run; CBPE's scores and PCA's records give the statistics.
	if len(m.w.valFeat) != 0 || len(m.w.vals) != 0 || m.pca == nil || m.cbpe == nil {
		t.Errorf("contributor keeps %d value features, PCA %v, CBPE %v", len(m.w.valFeat), m.pca != nil, m.cbpe != nil)
	}
	rng := rand.New(rand.NewPCG(62, 63))
	cols := genData(rng, 300, 0)
	num, cat := make([]float64, 4), make([]string, 4)
	for i := range 300 {
		row(cols, i, num, cat)
		m.Observe(num, cat, float64(i%10)/10)
		plain.Observe(num, cat, float64(i%10)/10)
	}
	ev := m.Check()
	want := plain.Check()
	binned, _, err := p.CheckCounts(m.Counts(), CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.WindowRecords != 300 || ev.Processes != 0 || ev.Window != "" || ev.Estimated == nil || ev.Multivariate == nil {
		t.Fatalf("contributor's own check %+v", ev)
	}
	// Its estimates come from its statistics: a plain monitor's over the
	// same records (isotonic-free scores tied in tenths: the AUC is exact).
	compareEstimates(t, ev, want, 1e-9)
	for i, f := range ev.Features {
		if f.Test != binned[i].Test || !closeTo(f.PSI, binned[i].PSI, 1e-12) {
			t.Errorf("%s: %s PSI %v, CheckCounts %s PSI %v", f.Name, f.Test, f.PSI, binned[i].Test, binned[i].PSI)
		}
	}
	if n := contributed.Load(); n != 0 {
		t.Errorf("Check contributed %d times", n)
	}
}

// TestSlidingContributeEvery proves a sliding contributor sends at most one
// contribution per ContributeEvery however many checks pass, that the next
// one holds every record counted meanwhile, and that Tick sends it once the
// time has passed on a stream that went quiet (and nothing when nothing is
// waiting).
func TestSlidingContributeEvery(t *testing.T) {
	p, _ := mergeTestProfile(t, 41)
	rng := rand.New(rand.NewPCG(42, 43))
	cur := genData(rng, 200, 0)
	clock := newTestClock(time.Unix(9000, 0))
	var got contributions
	m, err := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: 1000, CheckInterval: 10, Now: clock.Now,
		ContributeEvery: time.Second, Contribute: got.add})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	num, cat := make([]float64, 4), make([]string, 4)
	observe := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row(cur, i, num, cat)
			m.Observe(num, cat, 0.5)
		}
		m.Flush()
	}
	records := func() []int64 {
		var out []int64
		for _, wc := range got.list() {
			out = append(out, wc.Counts.Records)
		}
		return out
	}
	observe(0, 100) // ten checks within the same instant: the first contributes
	if r := records(); !slices.Equal(r, []int64{10}) {
		t.Fatalf("contributions after 100 records at one instant: %v, want one of 10 records", r)
	}
	clock.Add(500 * time.Millisecond)
	m.Tick(clock.Now())
	if r := records(); len(r) != 1 {
		t.Fatalf("a Tick before ContributeEvery contributed: %v", r)
	}
	clock.Add(500 * time.Millisecond)
	m.Tick(clock.Now())
	if r := records(); !slices.Equal(r, []int64{10, 100}) {
		t.Fatalf("contributions after the quiet second's Tick: %v, want [10 100]", r)
	}
	clock.Add(2 * time.Second)
	m.Tick(clock.Now()) // nothing counted since: nothing to send
	observe(100, 110)
	if r := records(); !slices.Equal(r, []int64{10, 100, 110}) {
		t.Fatalf("contributions after the next check past ContributeEvery: %v, want [10 100 110]", r)
	}
}
