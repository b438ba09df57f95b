package drift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// genWide returns n records of 28 features of mixed kinds, the first
// shifted by shift standard deviations: normal, lognormal, uniform with
// missing values, small integers, and two categoricals (the issue's
// scenario: only f0 drifts).
func genWide(rng *rand.Rand, n int, shift float64) []Column {
	const nf = 28
	cols := make([]Column, nf)
	for j := 0; j < nf-2; j++ {
		v := make([]float64, n)
		for i := range v {
			switch j % 4 {
			case 0:
				v[i] = rng.NormFloat64()
			case 1:
				v[i] = math.Exp(rng.NormFloat64() * 0.7)
			case 2:
				v[i] = rng.Float64()
				if rng.IntN(20) == 0 {
					v[i] = math.NaN()
				}
			default:
				v[i] = float64(rng.IntN(4) + rng.IntN(4))
			}
		}
		cols[j] = numCol("f"+strconv.Itoa(j), v...)
	}
	for j := nf - 2; j < nf; j++ {
		s := make([]string, n)
		for i := range s {
			s[i] = "k" + strconv.Itoa(int(math.Abs(rng.NormFloat64()*2)))
		}
		cols[j] = catCol("f"+strconv.Itoa(j), s...)
	}
	for i := range cols[0].Values {
		cols[0].Values[i] += shift
	}
	return cols
}

// streamChecks streams cur through a monitor with the server's default
// window settings and returns its events.
func streamChecks(t *testing.T, p *Profile, cur []Column, opts MonitorOptions) []Event {
	t.Helper()
	m, err := NewMonitor(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var mu sync.Mutex
	var events []Event
	m.Subscribe(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	num, cat := make([]float64, len(cur)), make([]string, len(cur))
	for i := 0; i < columnLen(cur[0]); i++ {
		row(cur, i, num, cat)
		m.Observe(num, cat, 0)
	}
	m.Flush()
	mu.Lock()
	defer mu.Unlock()
	return events
}

// serverDefaults are driftd serve's default drift settings (DRIFT_WINDOW_SIZE,
// DRIFT_CHECK_INTERVAL, DRIFTD_DRIFT_MIN_WINDOW).
func serverDefaults() MonitorOptions {
	return MonitorOptions{WindowSize: 1000, CheckInterval: 100, MinWindow: 100}
}

// TestBandsNoFalseAlarms streams undrifted data, drawn afresh from the
// reference distribution, through a monitor at the default settings: the
// features are flagged in at most 1% of the checks on average, none in more
// than 3% (a sliding window of 1,000 checked every 100 records repeats an
// excursion over up to 10 checks, so one excursion is 1.7% of 591 checks),
// none triggers a retrain or alert, and a shifted feature is still flagged.
func TestBandsNoFalseAlarms(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	p, err := BuildProfile(genWide(rng, 8000, 0), nil, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasBands() {
		t.Fatal("profile without bands")
	}
	cases := []struct {
		name  string
		shift float64
	}{{"undrifted", 0}, {"f0 shifted by 0.5 sd", 0.5}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events := streamChecks(t, p, genWide(rng, 60000, c.shift), serverDefaults())
			if len(events) < 500 {
				t.Fatalf("%d checks", len(events))
			}
			flagged := make([]int, len(p.Features))
			var retrain, alert int
			for _, e := range events {
				if e.Thresholds != RuleBand {
					t.Fatalf("thresholds %q, want band", e.Thresholds)
				}
				for i, r := range e.Features {
					if r.Drifted {
						flagged[i]++
					}
				}
				if e.Retrain {
					retrain++
				}
				if e.Alert {
					alert++
				}
			}
			var pooled, worst float64
			for i, n := range flagged {
				rate := float64(n) / float64(len(events))
				if i == 0 && c.shift > 0 {
					if rate < 0.99 {
						t.Errorf("shifted f0 flagged in %.3f of %d checks, want ≥ 0.99", rate, len(events))
					}
					continue
				}
				pooled += rate / float64(len(flagged)-1)
				worst = math.Max(worst, rate)
				if rate > 0.03 {
					t.Errorf("%s (%s) flagged in %.4f of %d checks, want ≤ 0.03", p.Features[i].Name, events[0].Features[i].Test, rate, len(events))
				}
			}
			t.Logf("%d checks: undrifted features flagged in %.4f of checks on average, %.4f at most", len(events), pooled, worst)
			if pooled > 0.01 {
				t.Errorf("undrifted features flagged in %.4f of checks on average, want ≤ 0.01", pooled)
			}
			if c.shift == 0 && (retrain > 0 || alert > 0) {
				t.Errorf("undrifted: %d retrain and %d alert verdicts in %d checks", retrain, alert, len(events))
			}
		})
	}
}

// TestFirstCheckWaitsForSignal is the scenario: only f0 shifted, 28
// features, the default settings. With fixed thresholds the first check
// (100 records) flags many features; with bands the first check waits for
// the ready size, the snapshot says so meanwhile, and flags only f0.
func TestFirstCheckWaitsForSignal(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	p, err := BuildProfile(genWide(rng, 8000, 0), nil, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur := genWide(rng, 1000, 1)
	first := func(rule string) Event {
		o := serverDefaults()
		o.Thresholds = rule
		events := streamChecks(t, p, cur, o)
		if len(events) == 0 {
			t.Fatalf("%s: no check", rule)
		}
		return events[0]
	}
	fixed, band := first(RuleFixed), first(RuleBand)
	t.Logf("first check, fixed thresholds: %d records, %d of 28 drifted (share %.2f); bands: %d records, %d of 28 drifted",
		fixed.WindowRecords, fixed.DriftedFeatures, fixed.DriftShare, band.WindowRecords, band.DriftedFeatures)
	if fixed.WindowRecords != 100 {
		t.Errorf("fixed: first check at %d records, want 100", fixed.WindowRecords)
	}
	if band.WindowRecords <= 100 || band.ReadyRecords > band.WindowRecords || band.Status != "ok" {
		t.Errorf("bands: first check at %d records (ready %d, status %q), want after 100 and once ready", band.WindowRecords, band.ReadyRecords, band.Status)
	}
	if band.DriftedFeatures != 1 || !band.Features[0].Drifted {
		t.Errorf("bands: %d features drifted (f0 %v), want only f0", band.DriftedFeatures, band.Features[0].Drifted)
	}

	m, err := NewMonitor(p, serverDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	num, cat := make([]float64, 28), make([]string, 28)
	for i := 0; i < 150; i++ {
		row(cur, i, num, cat)
		m.Observe(num, cat, 0)
	}
	want := fmt.Sprintf("warming up: 150 of %d records", m.Ready())
	if s := m.Snapshot(); s.Status != want || s.Features != nil || s.ReadyRecords != m.Ready() {
		t.Errorf("snapshot while warming up: status %q features %d, want %q", s.Status, len(s.Features), want)
	}
}

// TestBandsMatchIndependentWindows checks the thresholds learned from
// reference chunks against the statistic's spread over windows drawn
// independently of the reference: the band's mean and sd at n agree with
// the empirical ones (both in the transformed units) within 20%, the
// overlap correction included.
func TestBandsMatchIndependentWindows(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	p, err := BuildProfile(genWide(rng, 6000, 0)[:4], nil, ProfileOptions{BandChunks: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		test string
		n    int
	}{{TestWasserstein, 300}, {TestWasserstein, 1000}, {TestPSI, 300}, {TestJensenShannon, 150}, {TestChiSquare, 500}} {
		t.Run(fmt.Sprintf("%s/%d", c.test, c.n), func(t *testing.T) {
			f := &p.Features[0]
			b, ok := p.BandAt(f, c.test, c.n)
			if !ok {
				t.Fatal("no band")
			}
			var acc bandAcc
			pw := BandPower(c.test)
			for k := 0; k < 400; k++ {
				w := genWide(rng, c.n, 0)[0]
				sorted, missing := sortedValues(w.Values)
				cnt := make([]int64, f.Bins())
				cnt[0] = int64(missing)
				binCountsSorted(sorted, f.Edges, cnt)
				switch c.test {
				case TestWasserstein:
					acc.add(math.Pow(NormedWasserstein(f.Summary, sorted, f.Std), pw))
				case TestKS:
					acc.add(math.Pow(KSStatistic(f.Summary, sorted), pw))
				default:
					acc.add(math.Pow(binStatistic(c.test, f.RefCounts, cnt), pw))
				}
			}
			emp := acc.band(1)
			if math.Abs(b.Mean/emp.Mean-1) > 0.2 || math.Abs(b.SD/emp.SD-1) > 0.2 {
				t.Errorf("band %+v, independent windows %+v", b, emp)
			}
		})
	}
}

// TestBandAtInterpolates checks the band between and beyond the chunk
// sizes (in the cube-root units: the distances scale as n^(-½·⅓), the
// quadratic statistics as n^(-1·⅓), |z| not at all) and its edges.
func TestBandAtInterpolates(t *testing.T) {
	p := &Profile{BandSizes: []int{100, 400}}
	f := &Feature{Bands: map[string][]Band{
		TestWasserstein: {{0.2, 0.04}, {0.1, 0.02}},
		TestPSI:         {{0.08, 0.04}, {0.02, 0.01}},
		TestZ:           {{0.8, 0.6}, {0.8, 0.6}},
	}}
	c13, c16 := math.Pow(4, -1.0/3), math.Pow(4, -1.0/6)
	for _, c := range []struct {
		test     string
		n        int
		mean, sd float64
	}{
		{TestWasserstein, 100, 0.2, 0.04},
		{TestWasserstein, 200, 0.2 / math.Sqrt2, 0.04 / math.Sqrt2}, // geometric midpoint
		{TestWasserstein, 1600, 0.1 * c16, 0.02 * c16},              // n^-⅙ beyond
		{TestWasserstein, 25, 0.2 / c16, 0.04 / c16},                // and below
		{TestPSI, 1600, 0.02 * c13, 0.01 * c13},                     // n^-⅓
		{TestZ, 5000, 0.8, 0.6},                                     // no size dependence
	} {
		b, ok := p.BandAt(f, c.test, c.n)
		if !ok || !closeTo(b.Mean, c.mean, 1e-12) || !closeTo(b.SD, c.sd, 1e-12) {
			t.Errorf("%s at %d: %+v %v, want {%v %v}", c.test, c.n, b, ok, c.mean, c.sd)
		}
	}
	if _, ok := p.BandAt(f, TestKS, 100); ok {
		t.Error("band of an unbanded test")
	}
	// Edges in the statistic's units: (0.08 ∓ 0.12)^3 for the PSI at 100.
	if lo, hi, ok := p.Limits(f, TestPSI, 100); !ok || lo != 0 || !closeTo(hi, math.Pow(0.2, 3), 1e-12) {
		t.Errorf("psi edges at 100: %v %v %v", lo, hi, ok)
	}
	if lo, hi, _ := p.Limits(f, TestWasserstein, 100); !closeTo(lo, math.Pow(0.08, 3), 1e-12) || !closeTo(hi, math.Pow(0.32, 3), 1e-12) {
		t.Errorf("wasserstein edges at 100: %v %v", lo, hi)
	}
}

// TestBandsEncodeAndOldProfiles round-trips a profile with bands, and
// checks that a profile without them (format version 1, as written before
// bands) still decodes and is monitored with the fixed thresholds from
// MinWindow on.
func TestBandsEncodeAndOldProfiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	ref := genData(rng, 2000, 0)
	withBands, err := BuildProfile(ref, nil, ProfileOptions{PCAVariance: -1})
	if err != nil {
		t.Fatal(err)
	}
	old, err := BuildProfile(ref, nil, ProfileOptions{BandChunks: -1, PCAVariance: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		p       *Profile
		version byte
		rule    string
	}{{"bands", withBands, 2, RuleBand}, {"no bands", old, 1, RuleFixed}} {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if b[4] != c.version {
				t.Fatalf("format version %d, want %d", b[4], c.version)
			}
			got, err := DecodeProfile(b)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.BandSizes) != fmt.Sprint(c.p.BandSizes) || len(got.Features[0].Bands) != len(c.p.Features[0].Bands) {
				t.Fatalf("bands not round-tripped: %v vs %v", got.BandSizes, c.p.BandSizes)
			}
			for k, bs := range c.p.Features[1].Bands {
				if fmt.Sprint(got.Features[1].Bands[k]) != fmt.Sprint(bs) {
					t.Errorf("band %s: %v, want %v", k, got.Features[1].Bands[k], bs)
				}
			}
			o := serverDefaults()
			o.MinWindow = 100
			m, err := NewMonitor(got, o)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if c.rule == RuleFixed && m.Ready() != 100 {
				t.Errorf("ready %d without bands, want MinWindow", m.Ready())
			}
			num, cat := make([]float64, 4), make([]string, 4)
			for i := 0; i < 1000; i++ {
				row(ref, i, num, cat)
				m.Observe(num, cat, 0)
			}
			m.Flush()
			ev := m.Snapshot()
			if ev.Thresholds != c.rule || ev.Features[0].Rule != c.rule {
				t.Errorf("thresholds %q, feature rule %q, want %q", ev.Thresholds, ev.Features[0].Rule, c.rule)
			}
			if js, _ := ev.MarshalJSON(); !strings.Contains(string(js), `"thresholds":"`+c.rule+`"`) {
				t.Errorf("event JSON lacks the rule: %s", js)
			}
		})
	}
	// A forced fixed rule ignores the bands.
	m, err := NewMonitor(withBands, MonitorOptions{Thresholds: RuleFixed})
	if err != nil || m.Ready() != DefaultMinWindow {
		t.Errorf("fixed rule on a banded profile: ready %d, err %v", m.Ready(), err)
	}
	if _, err := NewMonitor(withBands, MonitorOptions{Thresholds: "loose"}); err == nil {
		t.Error("unknown thresholds rule accepted")
	}
}
