package drift

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestMonitorPCAEqualsBatch streams records through monitors (sliding
// windows checked more and less often than they turn over, tumbling
// windows) and checks every event's mean error against the mean of
// Reconstructor.Error over the records the window holds.
func TestMonitorPCAEqualsBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	p := mustPCAProfile(t, correlated(rng, 3000, 5), ProfileOptions{})
	cur := correlated(rng, 2600, 5)
	r := mustReconstructor(t, p)
	errs := make([]float64, 2600)
	num, cat := make([]float64, 6), make([]string, 6)
	for i := range errs {
		row(cur, i, num, cat)
		errs[i] = r.Error(num, cat)
	}
	mean := func(from, to int) float64 {
		var s float64
		for _, e := range errs[from:to] {
			s += e
		}
		return s / float64(to-from)
	}
	for _, tc := range []struct {
		name           string
		window, every  int
		closes         []int // tumbling: the records at which periods close (nil: sliding)
		wantChecks     int
		wantLastRecord int
	}{ // fixed thresholds: the first check waits for MinWindow records only
		{"sliding, checked often", 500, 100, nil, 26, 500},
		{"sliding, checked at turnover", 500, 500, nil, 5, 500},
		{"sliding, checked rarely", 500, 1200, nil, 2, 500},
		{"sliding, window not full", 5000, 700, nil, 3, 2100},
		// The first period is too short to check: its records must not
		// count in the next one's.
		{"tumbling", 400, 0, []int{30, 680, 1330, 1980}, 3, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			o := MonitorOptions{WindowSize: tc.window, MinWindow: 50, CheckInterval: max(tc.every, 1),
				Thresholds: RuleFixed, Now: func() time.Time { return now }}
			if tc.closes != nil {
				o.Tumbling = time.Minute
				o.CheckInterval = 1 << 30
			}
			m, err := NewMonitor(p, o)
			if err != nil {
				t.Fatal(err)
			}
			var evs []Event
			var ends []int // records observed at each event
			seen := 0
			cancel := m.Subscribe(func(ev Event) { evs = append(evs, ev) })
			defer cancel()
			for i := range 2600 {
				if slices.Contains(tc.closes, i) {
					now = now.Add(time.Minute)
				}
				row(cur, i, num, cat)
				before := len(ends)
				m.Observe(num, cat, 0)
				m.Flush()
				if len(evs) > before {
					ends = append(ends, seen)
				}
				seen++
			}
			m.Close()
			if len(evs) != tc.wantChecks {
				t.Fatalf("%d checks, want %d", len(evs), tc.wantChecks)
			}
			for k, ev := range evs {
				mv := ev.Multivariate
				if mv == nil {
					t.Fatal("no multivariate result")
				}
				var from, to int
				if tc.closes != nil { // the closed period, its first WindowSize records
					j := slices.Index(tc.closes, ends[k])
					from = tc.closes[j-1]
					to = from + min(tc.window, ends[k]-from)
				} else {
					to = ends[k] + 1
					from = max(0, to-tc.window)
				}
				if mv.Records != to-from || !closeTo(mv.Error, mean(from, to), 1e-9) {
					t.Fatalf("check %d: %d records of error %v, want %d of %v", k, mv.Records, mv.Error, to-from, mean(from, to))
				}
				if mv.RefError != p.PCA.RefError || mv.Components != p.PCA.K || mv.Dimensions != p.PCA.Dims() {
					t.Errorf("check %d: %+v", k, mv)
				}
				if lo, hi, _ := p.PCALimits(mv.Records); mv.Lo != lo || mv.Hi != hi || mv.Drifted != (mv.Error < lo || mv.Error > hi) {
					t.Errorf("check %d: band [%v, %v] drifted %v, want [%v, %v]", k, mv.Lo, mv.Hi, mv.Drifted, lo, hi)
				}
			}
			if last := evs[len(evs)-1].Multivariate; last.Records != tc.wantLastRecord {
				t.Errorf("last check on %d records, want %d", last.Records, tc.wantLastRecord)
			}
		})
	}
}

// butterfly returns NannyML's "butterfly" data: x1 = s + ε1/8,
// x2 = s + ε2/8, x3 = ε3/8 (s, ε standard normal), and, rotated, the
// same rows turned 90° about the third axis, (x1, x2, x3) → (−x2, x1, x3):
// the first two features become anti-correlated, every marginal
// distribution unchanged.
func butterfly(rng *rand.Rand, n int, rotated bool) []Column {
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		s := rng.NormFloat64()
		x1, x2, x3 := s+rng.NormFloat64()/8, s+rng.NormFloat64()/8, rng.NormFloat64()/8
		if rotated {
			x1, x2 = -x2, x1
		}
		a[i], b[i], c[i] = x1, x2, x3
	}
	return []Column{numCol("feature1", a...), numCol("feature2", b...), numCol("feature3", c...)}
}

// pairPlus returns the brief's rotation: x2 = x1 + noise/10 in the
// reference, x2 = −x1 + noise/10 rotated (x1 symmetric), beside four
// independent normal features and a categorical one.
func pairPlus(rng *rand.Rand, n int, rotated bool) []Column {
	cols := make([]Column, 6)
	for j := range cols {
		cols[j] = Column{Name: "g" + strconv.Itoa(j), Values: make([]float64, n)}
	}
	cat := make([]string, n)
	for i := range n {
		x1 := rng.NormFloat64()
		sign := 1.0
		if rotated {
			sign = -1
		}
		cols[0].Values[i], cols[1].Values[i] = x1, sign*x1+rng.NormFloat64()/10
		for j := 2; j < 6; j++ {
			cols[j].Values[i] = rng.NormFloat64()
		}
		cat[i] = []string{"red", "green", "blue"}[rng.IntN(3)]
	}
	return append(cols, catCol("colour", cat...))
}

// TestPCARotation streams windows of undrifted and of rotated data: in the
// rotated ones no feature's PSI reaches 0.1, and the mean reconstruction
// error leaves its band; in the undrifted ones it stays inside.
func TestPCARotation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gen    func(*rand.Rand, int, bool) []Column
		window int
	}{
		{"butterfly", butterfly, 2016}, // NannyML's chunks: a week of 5-minute records
		{"correlated pair among others", pairPlus, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(13, 14))
			p := mustPCAProfile(t, tc.gen(rng, 10*tc.window, false), ProfileOptions{})
			m, err := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: tc.window, MinWindow: tc.window, CheckInterval: tc.window})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			nf := len(p.Features)
			num, cat := make([]float64, nf), make([]string, nf)
			for _, rotated := range []bool{false, true} {
				for w := range 5 {
					cur := tc.gen(rng, tc.window, rotated)
					for i := range tc.window {
						row(cur, i, num, cat)
						m.Observe(num, cat, 0)
					}
					m.Flush()
					ev := m.Snapshot()
					mv := ev.Multivariate
					if mv == nil || mv.Records != tc.window {
						t.Fatalf("window %d: multivariate %+v", w, mv)
					}
					if mv.Drifted != rotated {
						t.Errorf("rotated %v, window %d: error %.4f, band [%.4f, %.4f], drifted %v", rotated, w, mv.Error, mv.Lo, mv.Hi, mv.Drifted)
					}
					if rotated {
						for _, f := range ev.Features {
							if f.PSI >= 0.1 {
								t.Errorf("window %d: feature %s has PSI %.4f", w, f.Name, f.PSI)
							}
						}
					}
				}
			}
		})
	}
}

// independent returns n rows of nf independent standard normal features,
// as `driftd gen` writes them: the PCA keeps 65% of nearly equal
// eigenvalues, where a fit is most tempted to over-fit its sample.
func independent(rng *rand.Rand, n, nf int) []Column {
	cols := make([]Column, nf)
	for j := range cols {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		cols[j] = Column{Name: "f" + strconv.Itoa(j), Values: v}
	}
	return cols
}

// TestPCABandUndrifted streams undrifted windows, drawn afresh from the
// reference distribution, and counts the checks whose mean error leaves
// its band: at most 1% at every window size (NannyML's ±3σ leaves 0.3% of
// normal chunk means outside), on correlated data with a categorical
// feature and missing values, and on 28 independent features up to the
// default window of 10,000 records.
func TestPCABandUndrifted(t *testing.T) {
	type data struct {
		name string
		gen  func(*rand.Rand, int) []Column
		rows int
	}
	corr := data{"correlated", func(rng *rand.Rand, n int) []Column { return correlated(rng, n, 8) }, 20000}
	indep := data{"independent", func(rng *rand.Rand, n int) []Column { return independent(rng, n, 28) }, 16000}
	profiles := map[string]*Profile{}
	for _, tc := range []struct {
		data
		window, checks int
	}{
		{corr, 50, 600}, {corr, 120, 400}, {corr, 500, 300}, {corr, 1500, 200}, {corr, 4000, 100},
		{indep, 100, 400}, {indep, 1000, 150}, {indep, 10000, 30},
	} {
		t.Run(tc.name+"/"+strconv.Itoa(tc.window), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(15, uint64(tc.window)))
			p, ok := profiles[tc.name]
			if !ok {
				p = mustPCAProfile(t, tc.gen(rand.New(rand.NewPCG(15, 17)), tc.rows), ProfileOptions{})
				profiles[tc.name] = p
			}
			m, err := NewMonitor(p, MonitorOptions{WindowSize: tc.window, MinWindow: tc.window, CheckInterval: tc.window, Test: TestPSI})
			if err != nil {
				t.Fatal(err)
			}
			drifted, checks := 0, 0
			var worst float64 // largest distance from the band's centre, in band half-widths
			cancel := m.Subscribe(func(ev Event) {
				mv := ev.Multivariate
				checks++
				if mv.Drifted {
					drifted++
				}
				mid := (mv.Lo + mv.Hi) / 2
				worst = math.Max(worst, math.Abs(mv.Error-mid)/((mv.Hi-mv.Lo)/2))
			})
			defer cancel()
			nf := len(p.Features)
			num, cat := make([]float64, nf), make([]string, nf)
			cur := tc.gen(rng, tc.window*tc.checks)
			for i := range tc.window * tc.checks {
				row(cur, i, num, cat)
				m.Observe(num, cat, 0)
			}
			m.Close()
			if checks != tc.checks {
				t.Fatalf("%d checks, want %d", checks, tc.checks)
			}
			if float64(drifted) > 0.01*float64(checks) {
				t.Errorf("%d of %d undrifted windows out of band (worst %.2f half-widths)", drifted, checks, worst)
			}
			t.Logf("%d of %d out of band, worst %.2f half-widths", drifted, checks, worst)
		})
	}
}

// TestPCAMetricsAndJSON checks the exported gauges and the result's JSON.
func TestPCAMetricsAndJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	p := mustPCAProfile(t, pairPlus(rng, 6000, false), ProfileOptions{})
	set := metrics.NewSet()
	m, err := NewMonitor(p, MonitorOptions{Model: `m"1`, WindowSize: 1000, MinWindow: 1000, CheckInterval: 1000, Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	num, cat := make([]float64, 7), make([]string, 7)
	cur := pairPlus(rng, 1000, true)
	for i := range 1000 {
		row(cur, i, num, cat)
		m.Observe(num, cat, 0)
	}
	m.Flush()
	mv := m.Snapshot().Multivariate
	if mv == nil || !mv.Drifted {
		t.Fatalf("rotated window: %+v", mv)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		`driftd_multivariate_drift{model="m\"1"} 1` + "\n",
		`driftd_multivariate_drift_error{model="m\"1"} ` + strconv.FormatFloat(mv.Error, 'g', -1, 64) + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	js, err := json.Marshal(MultivariateResult{Error: nan, RefError: 1.5, Lo: nan, Hi: nan, Components: 2, Dimensions: 5})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"components":2,"dimensions":5,"drifted":false,"error":null,"hi":null,"lo":null,"records":0,"ref_error":1.5}`; string(js) != want {
		t.Errorf("JSON %s, want %s", js, want)
	}
}

// BenchmarkMonitorPCA measures the multivariate drift of 28 numeric
// features (independent normals, as `driftd gen` writes them, so the PCA
// keeps 18 components) with a window of 10,000 records: "error" is the
// check side, the encoding and reconstruction error of one record on the
// checker goroutine; "scoring-path" what Observe adds under the monitor's
// lock (the ring copy, and the batch taken every 1,000 records); "observe"
// is Observe with PCA (checks every 1,000 records, all evaluated) and
// "observe-nopca" the same without. cpu-ns/record is the process's CPU time
// per record, the fairer figure on a shared machine.
func BenchmarkMonitorPCA(b *testing.B) {
	rng := rand.New(rand.NewPCG(19, 20))
	cols := make([]Column, 28)
	for j := range cols {
		v := make([]float64, 20000)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		cols[j] = Column{Name: "f" + strconv.Itoa(j), Values: v}
	}
	p, err := BuildProfile(cols, nil, ProfileOptions{})
	if err != nil || p.PCA == nil {
		b.Fatal(err, p.PCASkipped)
	}
	rows := make([][]float64, 4096)
	for i := range rows {
		rows[i] = make([]float64, 28)
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64() * 1.1
		}
	}
	cat := make([]string, 28)
	b.Run("error", func(b *testing.B) {
		s := newPCAStream(p, MonitorOptions{WindowSize: DefaultWindowSize})
		for i := range 1000 {
			s.add(rows[i&4095], cat)
		}
		batch := s.takeBatch()
		b.ReportAllocs()
		b.ResetTimer()
		cpu := processCPU()
		for range b.N {
			batch.rebuild = false
			s.apply(batch)
		}
		cpu = processCPU() - cpu
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/record")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1000, "cpu-ns/record")
		b.ReportMetric(float64(p.PCA.K), "components")
	})
	b.Run("scoring-path", func(b *testing.B) {
		s := newPCAStream(p, MonitorOptions{WindowSize: DefaultWindowSize})
		b.ReportAllocs()
		b.ResetTimer()
		cpu := processCPU()
		for i := range b.N {
			s.add(rows[i&4095], cat)
			if i%DefaultCheckInterval == DefaultCheckInterval-1 {
				s.free <- s.takeBatch()
			}
		}
		cpu = processCPU() - cpu
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
	})
	for _, name := range []string{"observe", "observe-nopca"} {
		b.Run(name, func(b *testing.B) {
			q := *p
			if name == "observe-nopca" {
				q.PCA = nil
			}
			m, err := NewMonitor(&q, MonitorOptions{Model: "m", Test: TestPSI})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := range b.N {
				m.Observe(rows[i&4095], cat, 0)
			}
			m.Flush()
			cpu = processCPU() - cpu
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
			m.Close()
		})
	}
}
