package drift

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchProfile profiles nf numeric features of 20,000 normal values with
// 10 quantile bins.
func benchProfile(b *testing.B, nf int) (*Profile, [][]float64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	cols := make([]Column, nf)
	for j := range cols {
		v := make([]float64, 20000)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		cols[j] = Column{Name: "f" + strconv.Itoa(j), Values: v}
	}
	p, err := BuildProfile(cols, nil, ProfileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]float64, 4096)
	for i := range rows {
		rows[i] = make([]float64, nf)
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64() * 1.1
		}
	}
	return p, rows
}

// BenchmarkWindowAdd measures the per-record window update of 28 numeric
// features (values/s is features × records per second).
func BenchmarkWindowAdd(b *testing.B) {
	p, rows := benchProfile(b, 28)
	w, err := NewWindow(p, 10000)
	if err != nil {
		b.Fatal(err)
	}
	cat := make([]string, 28)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Add(rows[i&4095], cat, 0)
	}
	b.ReportMetric(float64(b.N)*28/b.Elapsed().Seconds(), "values/s")
}

// BenchmarkMonitorObserve measures Observe (lock + window update, PSI-only
// checks every 1000 records) of 28 numeric features.
func BenchmarkMonitorObserve(b *testing.B) {
	p, rows := benchProfile(b, 28)
	m, err := NewMonitor(p, MonitorOptions{Model: "m", Test: TestPSI})
	if err != nil {
		b.Fatal(err)
	}
	cat := make([]string, 28)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Observe(rows[i&4095], cat, 0)
	}
	b.ReportMetric(float64(b.N)*28/b.Elapsed().Seconds(), "values/s")
}

// BenchmarkMonitorObserveChecked measures Observe of 28 numeric features
// as `driftd serve` runs it by default: a 1000-record window checked every
// 100 records with the auto test (normed Wasserstein against the 1000-value
// summary), so the per-record cost includes a hundredth of a check.
func BenchmarkMonitorObserveChecked(b *testing.B) {
	p, rows := benchProfile(b, 28)
	m, err := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: 1000, CheckInterval: 100})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	cat := make([]string, 28)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Observe(rows[i&4095], cat, 0)
	}
	m.Flush() // the checks run on the checker goroutine: count them all
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCheck measures one check of 28 features with 10 bins over a
// full 10,000-record window, PSI only and with the auto-chosen test
// (Wasserstein against the 1000-value summary).
func BenchmarkCheck(b *testing.B) {
	for _, test := range []string{TestPSI, TestJensenShannon, TestAuto} {
		b.Run(test, func(b *testing.B) {
			p, rows := benchProfile(b, 28)
			m, err := NewMonitor(p, MonitorOptions{Model: "m", Test: test, CheckInterval: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			cat := make([]string, 28)
			for i := 0; i < 10000; i++ {
				m.Observe(rows[i&4095], cat, 0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Check()
			}
		})
	}
}

// BenchmarkCompare1M measures the exact batch comparison of 4 numeric
// features of 1,000,000 reference and current rows (sorts, quantile edges,
// bin counts, normed Wasserstein).
func BenchmarkCompare1M(b *testing.B) {
	ref, cur := normalColumns1M()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Compare(ref, cur, ProfileOptions{}, CompareOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*4/b.Elapsed().Seconds(), "features/s")
}

// BenchmarkRadixSort1M sorts 1,000,000 normal values.
func BenchmarkRadixSort1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	src := make([]float64, 1000000)
	for i := range src {
		src[i] = rng.NormFloat64()
	}
	v := make([]float64, len(src))
	var s radixScratch
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(v, src)
		s.sort(v)
	}
}

// normalColumns1M returns 4 reference and 4 current numeric columns of
// 1,000,000 normal values, the current ones shifted by 0.1.
func normalColumns1M() (ref, cur []Column) {
	rng := rand.New(rand.NewPCG(2, 2))
	mk := func(shift float64) []Column {
		cols := make([]Column, 4)
		for j := range cols {
			v := make([]float64, 1000000)
			for i := range v {
				v[i] = rng.NormFloat64() + shift
			}
			cols[j] = Column{Name: "f" + strconv.Itoa(j), Values: v}
		}
		return cols
	}
	return mk(0), mk(0.1)
}
