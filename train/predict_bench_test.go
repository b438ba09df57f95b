package train

import "testing"

// BenchmarkPredictRowWalkers scores one row at a time with the lane walker
// (PredictRow's default) and with the float walker, in one run, reporting
// CPU time and allocations per row:
//
//	go test -run '^$' -bench PredictRowWalkers -count 3 ./train/
func BenchmarkPredictRowWalkers(b *testing.B) {
	m, rows := benchModel(b)
	ref := *m
	ref.lanes = nil
	for _, c := range []struct {
		name string
		m    *Model
	}{{"lanes", m}, {"float", &ref}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			c0 := cpuTime()
			s := 0.0
			for i := 0; i < b.N; i++ {
				s += c.m.PredictRow(rows[i%len(rows)])
			}
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/row")
			if s != s {
				b.Fatal("NaN score")
			}
		})
	}
}

// BenchmarkPredictLaneParts times the lane walker's two phases on blocks of
// 64 rows, single-threaded: quantizing the rows, and walking the 100 trees
// (the same quantized block over and over):
//
//	go test -run '^$' -bench PredictLaneParts -count 3 ./train/
func BenchmarkPredictLaneParts(b *testing.B) {
	m, rows := benchModel(b)
	w := m.lanes
	sc := w.newBlockScratch(predictBlock)
	gs := 16 * w.nf
	groups := predictBlock / laneRows
	b.Run("quantize", func(b *testing.B) {
		c0 := cpuTime()
		n := 0
		for i := 0; i < b.N; i++ {
			for lo := 0; lo+predictBlock <= len(rows); lo += predictBlock {
				for g := 0; g < groups; g++ {
					w.quantizeGroup(rows[lo+g*laneRows:lo+g*laneRows+laneRows], sc.q[g*gs:], sc.keys)
				}
				n += predictBlock
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(n), "cpu-ns/row")
	})
	b.Run("walk", func(b *testing.B) {
		c0 := cpuTime()
		n := 0
		for i := 0; i < b.N; i++ {
			for lo := 0; lo+predictBlock <= len(rows); lo += predictBlock {
				for _, in := range w.info {
					walkGroups(w.nodes[in.tree:], w.leaf[in.tree:], sc.q, groups, gs, sc.acc)
				}
				n += predictBlock
			}
		}
		b.ReportMetric(float64(cpuTime()-c0)/float64(n), "cpu-ns/row")
	})
}
