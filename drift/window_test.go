package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
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
		m.Close() // evaluates and publishes the queued check
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
		m.Close()
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
			// Fixed thresholds: checks from MinWindow on, not from the bands' ready size.
			m, err := NewMonitor(p, MonitorOptions{WindowSize: c.size, MinWindow: 50, CheckInterval: c.interval, Test: test, Thresholds: RuleFixed})
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
					t.Error(err) // on the checker goroutine: no Fatal
					return
				}
				for k := range rep.Features {
					if got, want := e.Features[k].Statistic, rep.Features[k].Statistic; !closeTo(got, want, 1e-12) {
						t.Errorf("%s size %d every %d, record %d, %s: %v, batch %v", test, c.size, c.interval, i, rep.Features[k].Name, got, want)
						return
					}
				}
			})
			num, cat := make([]float64, 3), make([]string, 3)
			for i = 0; i < 4000; i++ {
				row(cur, i, num, cat)
				m.Observe(num, cat, 0)
				m.Flush() // the subscriber sees i of the record that triggered the check
			}
			m.Close()
			if t.Failed() {
				t.FailNow()
			}
			if seen < 4000/c.interval-2 {
				t.Fatalf("%d checks", seen)
			}
		}
	}
}
