package drift

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// genData returns n rows of three numeric features (one with missing
// values) and one categorical feature, shifted by shift.
func genData(rng *rand.Rand, n int, shift float64) []Column {
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	cat := make([]string, n)
	for i := 0; i < n; i++ {
		a[i] = rng.NormFloat64() + shift
		b[i] = math.Round(rng.ExpFloat64()*3) + shift // ties
		c[i] = rng.Float64()
		if rng.IntN(10) == 0 {
			c[i] = math.NaN()
		}
		cat[i] = "k" + strconv.Itoa(int(math.Abs(rng.NormFloat64()*2+shift*3)))
		if rng.IntN(20) == 0 {
			cat[i] = ""
		}
	}
	return []Column{numCol("a", a...), numCol("b", b...), numCol("c", c...), catCol("cat", cat...)}
}

// row returns record i of cols in Observe's form.
func row(cols []Column, i int, num []float64, cat []string) {
	for j, c := range cols {
		if c.Categorical {
			cat[j] = ""
			if c.Codes[i] >= 0 {
				cat[j] = c.Levels[c.Codes[i]]
			}
		} else {
			num[j] = c.Values[i]
		}
	}
}

// slice returns rows [from, to) of cols.
func sliceCols(cols []Column, from, to int) []Column {
	out := make([]Column, len(cols))
	for j, c := range cols {
		out[j] = c
		if c.Categorical {
			out[j].Codes = c.Codes[from:to]
		} else {
			out[j].Values = c.Values[from:to]
		}
	}
	return out
}

// TestWindowEqualsBatch feeds more records than the window holds and checks
// the monitor's check against Compare over the last WindowSize records.
func TestWindowEqualsBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, refRows := range []int{600, 5000} { // ks (exact summary) and wasserstein regimes
		ref := genData(rng, refRows, 0)
		cur := genData(rng, 3000, 0.3)
		const size = 1200
		p, err := BuildProfile(ref, nil, ProfileOptions{SummarySize: 10000})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: size, CheckInterval: 3000, MinWindow: size})
		if err != nil {
			t.Fatal(err)
		}
		var events []Event
		m.Subscribe(func(e Event) { events = append(events, e) })
		num, cat := make([]float64, 4), make([]string, 4)
		for i := 0; i < 3000; i++ {
			row(cur, i, num, cat)
			m.Observe(num, cat, 0)
		}
		if len(events) != 1 || events[0].WindowRecords != size {
			t.Fatalf("%d events (%+v), want one check of %d records", len(events), events, size)
		}
		rep, err := Compare(ref, sliceCols(cur, 3000-size, 3000), ProfileOptions{}, CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range rep.Features {
			got := events[0].Features[i]
			if got.Test != want.Test || math.Abs(got.PSI-want.PSI) > 1e-12 || !closeTo(got.Statistic, want.Statistic, 1e-12) ||
				!(closeTo(got.PValue, want.PValue, 1e-12)) || got.Drifted != want.Drifted {
				t.Errorf("ref %d, %s: window %+v\nbatch %+v", refRows, want.Name, got, want)
			}
		}
		if s := m.Snapshot(); s.WindowRecords != size || len(s.Features) != 4 {
			t.Errorf("snapshot %+v", s)
		}
	}
}

func TestMergedWindowsEqualOneWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ref := genData(rng, 2000, 0)
	cur := genData(rng, 1000, 0.5)
	p, err := BuildProfile(ref, nil, ProfileOptions{MaxCategories: 4})
	if err != nil {
		t.Fatal(err)
	}
	one, _ := NewWindow(p, 1000)
	w1, _ := NewWindow(p, 1000)
	w2, _ := NewWindow(p, 0)
	num, cat := make([]float64, 4), make([]string, 4)
	for i := 0; i < 1000; i++ {
		row(cur, i, num, cat)
		one.Add(num, cat, 0)
		if i%3 == 0 {
			w1.Add(num, cat, 0)
		} else {
			w2.Add(num, cat, 0)
		}
	}
	merged := w1.Counts()
	if err := merged.Merge(w2.Counts()); err != nil {
		t.Fatal(err)
	}
	want := one.Counts()
	if merged.Records != want.Records {
		t.Fatalf("records %d, want %d", merged.Records, want.Records)
	}
	got, _, err := p.CheckCounts(merged, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp, _, _ := p.CheckCounts(want, CompareOptions{})
	for i := range got {
		if math.Abs(got[i].PSI-exp[i].PSI) > 1e-12 || !closeTo(got[i].Statistic, exp[i].Statistic, 1e-12) {
			t.Errorf("%s: merged %+v, one window %+v", got[i].Name, got[i], exp[i])
		}
	}
	// The same categories carry the same counts whatever their bin order.
	for i := range want.Bins {
		if sumOf(merged.Bins[i]) != sumOf(want.Bins[i]) || !slices.Equal(merged.Bins[i][:p.Features[i].Bins()], want.Bins[i][:p.Features[i].Bins()]) {
			t.Errorf("feature %d: merged %v, one %v", i, merged.Bins[i], want.Bins[i])
		}
	}
	bad := &Counts{Bins: [][]int64{{1}}, Unseen: [][]string{nil}}
	if err := merged.Merge(bad); err == nil {
		t.Error("merging counts of another profile succeeded")
	}
}

func sumOf(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

func TestWindowAddDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ref := genData(rng, 3000, 0)
	p, _ := BuildProfile(ref, []float64{0.1, 0.5, 0.9}, ProfileOptions{})
	w, _ := NewWindow(p, 100)
	num, cat := make([]float64, 4), make([]string, 4)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		row(ref, i%3000, num, cat)
		i++
		w.Add(num, cat, 0.3)
	})
	if allocs != 0 {
		t.Errorf("Window.Add allocates %v times per record", allocs)
	}
}

func TestMonitorChecksAndMetrics(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	ref := genData(rng, 3000, 0)
	preds := make([]float64, 3000)
	for i := range preds {
		preds[i] = rng.Float64()
	}
	p, err := BuildProfile(ref, preds, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := metrics.NewSet()
	m, err := NewMonitor(p, MonitorOptions{Model: `fraud"x`, Version: "3", WindowSize: 500, CheckInterval: 100, MinWindow: 300,
		Metrics: set, Now: func() time.Time { return time.Unix(100, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Snapshot(); s.WindowRecords != 0 || s.Features != nil {
		t.Fatalf("snapshot before the first check: %+v", s)
	}
	// A second monitor on the same set does not panic (GetOrCreate).
	if _, err := NewMonitor(p, MonitorOptions{Model: `fraud"x`, Metrics: set}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	cancel := m.Subscribe(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	cur := genData(rng, 1000, 1.5)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			num, cat := make([]float64, 4), make([]string, 4)
			for i := g; i < 1000; i += 4 {
				row(cur, i, num, cat)
				m.Observe(num, cat, 0.99)
			}
		}(g)
	}
	wg.Wait()
	cancel()
	num, cat := make([]float64, 4), make([]string, 4)
	for i := 0; i < 200; i++ {
		m.Observe(num, cat, 0.5)
	}
	// Checks at 300, 400, …, 1000 records while subscribed: 8; none after cancel.
	if len(events) != 8 {
		t.Fatalf("%d events, want 8", len(events))
	}
	e := events[len(events)-1]
	if e.Model != `fraud"x` || e.Version != "3" || e.WindowRecords != 500 || !e.Time.Equal(time.Unix(100, 0)) {
		t.Errorf("event header %+v", e)
	}
	if !e.DatasetDrift || e.MaxPSI < 0.25 || !e.Retrain || !e.Alert || e.PredictionPSI < 1 {
		t.Errorf("shifted data: %+v, want dataset drift, retrain, alert and prediction drift", e)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		`driftd_feature_psi{model="fraud\"x",feature="a"} `, `driftd_feature_psi{model="fraud\"x",feature="cat"} `,
		`driftd_prediction_psi{model="fraud\"x"} `, `driftd_drift_share{model="fraud\"x"} `,
		`driftd_drifted_features{model="fraud\"x"} `, `driftd_drift_checks_total{model="fraud\"x"} 10`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}

func TestMonitorTumbling(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	ref := genData(rng, 2000, 0)
	p, _ := BuildProfile(ref, nil, ProfileOptions{SummarySize: 5000}) // exact summary
	now := time.Unix(1000, 0)
	m, err := NewMonitor(p, MonitorOptions{Model: "m", Tumbling: time.Minute, MinWindow: 10, WindowSize: 1000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	m.Subscribe(func(e Event) { events = append(events, e) })
	num, cat := make([]float64, 4), make([]string, 4)
	for i := 0; i < 120; i++ { // 120 records in the first minute
		row(ref, i, num, cat)
		m.Observe(num, cat, 0)
		now = now.Add(400 * time.Millisecond)
	}
	if len(events) != 0 {
		t.Fatalf("%d events inside the first period", len(events))
	}
	now = time.Unix(1000, 0).Add(61 * time.Second)
	m.Tick(now)
	if len(events) != 1 || events[0].WindowRecords != 120 {
		t.Fatalf("events %+v, want one check of 120 records", events)
	}
	rep, err := Compare(ref, sliceCols(ref, 0, 120), ProfileOptions{}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range rep.Features {
		if got := events[0].Features[k]; got.Test != want.Test || !closeTo(got.Statistic, want.Statistic, 1e-12) || !closeTo(got.PSI, want.PSI, 1e-12) {
			t.Errorf("tumbling window %+v, batch %+v", got, want)
		}
	}
	for i := 0; i < 5; i++ { // too few records for the next period
		m.Observe(num, cat, 0)
	}
	m.Tick(now.Add(2 * time.Minute))
	if len(events) != 1 {
		t.Fatalf("a window below MinWindow was checked: %d events", len(events))
	}
}

func TestCheckOnEmptyWindow(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	m, _ := NewMonitor(p, MonitorOptions{Model: "m"})
	published := 0
	m.Subscribe(func(Event) { published++ })
	if ev := m.Check(); ev.Features != nil || ev.WindowRecords != 0 || published != 0 {
		t.Fatalf("check of an empty window: %+v, %d published", ev, published)
	}
	m.Observe([]float64{1}, nil, 0)
	if ev := m.Check(); len(ev.Features) != 1 || published != 1 {
		t.Fatalf("check of one record: %+v, %d published", ev, published)
	}
}

func TestObserveShortRecordCountsMissing(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3), catCol("c", "x", "y", "x")}, nil, ProfileOptions{})
	m, _ := NewMonitor(p, MonitorOptions{WindowSize: 2, MinWindow: 2, CheckInterval: 2})
	m.Observe(nil, nil, 0)
	m.Observe([]float64{2}, nil, 0)
	ev := m.Snapshot()
	if ev.WindowRecords != 2 || ev.Features[0].MissingRate != 0.5 || ev.Features[1].MissingRate != 1 {
		t.Fatalf("short records: %+v", ev.Features)
	}
}

func TestObserveLabelPerformance(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	set := metrics.NewSet()
	m, _ := NewMonitor(p, MonitorOptions{Model: "m", Environment: "production", LabelWindow: 4, PositiveClass: "yes", Metrics: set})
	// scores/labels: AUC over the last 4 = pairs (pos, neg) ranked right / all.
	for _, l := range []struct {
		score             float64
		predicted, actual string
	}{{0.9, "yes", "no"}, {0.8, "yes", "yes"}, {0.3, "no", "no"}, {0.7, "yes", "yes"}, {0.2, "no", "yes"}} {
		m.ObserveLabel(l.score, l.predicted, l.actual)
	}
	perf := m.Performance()
	// window: (0.8,yes,yes) (0.3,no,no) (0.7,yes,yes) (0.2,no,yes): 3 correct of 4.
	// positives 0.8, 0.7, 0.2; negative 0.3: pairs won 2 of 3.
	if perf.Labels != 5 || perf.Window != 4 || perf.Accuracy != 0.75 || math.Abs(perf.AUC-2.0/3) > 1e-15 {
		t.Errorf("performance %+v, want 5 labels, window 4, accuracy 0.75, AUC 2/3", perf)
	}
	r, _ := NewMonitor(p, MonitorOptions{Model: "r", Environment: "staging", LabelWindow: 2, Metrics: set})
	r.ObserveValue(1, 2)
	r.ObserveValue(3, 3)
	r.ObserveValue(5, 1) // window: errors 0, 4
	if got := r.Performance().RMSE; math.Abs(got-math.Sqrt(8)) > 1e-12 {
		t.Errorf("rmse %v, want %v", got, math.Sqrt(8))
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, want := range []string{`driftd_model_accuracy{model="m",environment="production"} 0.75`,
		`driftd_model_rmse{model="r",environment="staging"} 2.828`, `driftd_labels_joined_total{model="m"} 5`,
		`driftd_model_auc{model="m",environment="production"} 0.666`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

func TestNewMonitorBadOptions(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	for _, o := range []MonitorOptions{
		{WindowSize: 10, MinWindow: 20}, {Test: "t-test"}, {DriftShare: 2}, {WindowSize: -1}, {Tumbling: -time.Second},
	} {
		if _, err := NewMonitor(p, o); err == nil {
			t.Errorf("NewMonitor(%+v) succeeded", o)
		}
	}
	if _, err := NewMonitor(nil, MonitorOptions{}); err == nil {
		t.Error("nil profile accepted")
	}
}

// TestSummaryErrorBounds checks the documented bound: with a summary
// smaller than the reference, the streaming KS D and normed W1 differ from
// the exact batch values by at most Feature.KSError and W1Error/std.
func TestSummaryErrorBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	ref := genData(rng, 20000, 0)[:3]
	cur := genData(rng, 2000, 0.2)[:3]
	p, err := BuildProfile(ref, nil, ProfileOptions{SummarySize: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []string{TestKS, TestWasserstein} {
		m, err := NewMonitor(p, MonitorOptions{WindowSize: 2000, MinWindow: 2000, CheckInterval: 2000, Test: test})
		if err != nil {
			t.Fatal(err)
		}
		num, cat := make([]float64, 3), make([]string, 3)
		for i := 0; i < 2000; i++ {
			row(cur, i, num, cat)
			m.Observe(num, cat, 0)
		}
		rep, err := Compare(ref, cur, ProfileOptions{}, CompareOptions{Test: test})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range p.Features {
			got, want := m.Snapshot().Features[i].Statistic, rep.Features[i].Statistic
			bound := f.KSError
			if test == TestWasserstein {
				bound = f.W1Error / math.Max(f.Std, 0.001)
			}
			if bound <= 0 || math.Abs(got-want) > bound+1e-12 {
				t.Errorf("%s %s: streaming %v, exact %v, bound %v", test, f.Name, got, want, bound)
			}
		}
	}
}

// TestUnseenCategorySlotsAreRecycled: in a sliding window, the bin of an
// unseen category is freed when its last record leaves, so a later unseen
// category gets a bin of its own instead of "other".
func TestUnseenCategorySlotsAreRecycled(t *testing.T) {
	p, _ := BuildProfile([]Column{catCol("c", "a", "b", "a")}, nil, ProfileOptions{MaxCategories: 2})
	w, _ := NewWindow(p, 3)
	for _, s := range []string{"x", "y", "a", "a", "a", "z"} {
		w.Add(nil, []string{s}, 0)
	}
	c := w.Counts()
	// bins: missing, a, b, other, then unseen; window holds a, a, z.
	if !slices.Equal(c.Unseen[0], []string{"z"}) || !slices.Equal(c.Bins[0], []int64{0, 2, 0, 0, 1}) {
		t.Fatalf("counts %v unseen %v, want [0 2 0 0 1] [z]", c.Bins[0], c.Unseen[0])
	}
	allocs := testing.AllocsPerRun(100, func() { w.Add(nil, []string{"a"}, 0) })
	if allocs != 0 {
		t.Errorf("known category allocates %v", allocs)
	}
}

// TestIncrementalSortedValuesMatchBatch runs many checks over a sliding
// window (the sorted values kept in step by merging) and a tumbling one, and
// compares every check's KS and Wasserstein with Compare over the records
// the window held.
func TestIncrementalSortedValuesMatchBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	ref := genData(rng, 800, 0)[:3]
	cur := genData(rng, 4000, 0.2)[:3]
	p, err := BuildProfile(ref, nil, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []string{TestKS, TestWasserstein} {
		for _, c := range []struct{ size, interval int }{{500, 100}, {500, 37}, {300, 700}} {
			m, err := NewMonitor(p, MonitorOptions{WindowSize: c.size, MinWindow: 50, CheckInterval: c.interval, Test: test})
			if err != nil {
				t.Fatal(err)
			}
			var seen int
			i := 0
			m.Subscribe(func(e Event) {
				seen++
				lo := max(0, i+1-c.size)
				rep, err := Compare(ref, sliceCols(cur, lo, i+1), ProfileOptions{}, CompareOptions{Test: test})
				if err != nil {
					t.Fatal(err)
				}
				for k := range rep.Features {
					if got, want := e.Features[k].Statistic, rep.Features[k].Statistic; !closeTo(got, want, 1e-12) {
						t.Fatalf("%s size %d every %d, record %d, %s: %v, batch %v", test, c.size, c.interval, i, rep.Features[k].Name, got, want)
					}
				}
			})
			num, cat := make([]float64, 3), make([]string, 3)
			for i = 0; i < 4000; i++ {
				row(cur, i, num, cat)
				m.Observe(num, cat, 0)
			}
			if seen < 4000/c.interval-2 {
				t.Fatalf("%d checks", seen)
			}
		}
	}
}
