package train

import "math"

// Gradient quantization (as LightGBM's quantized training): each row's
// gradient and hessian become integers packed into one int64, gradient in the
// high 32 bits and hessian in the low 32, so a histogram update is a single
// integer add, histograms are half the size, and sums are exact and
// independent of the thread split. Stochastic rounding keeps every quantized
// value unbiased; leaf values are computed from the exact gradients.
//
// The levels are chosen so no sum over the n rows can overflow: |Σg| < 2^31
// and Σh < 2^32.

const (
	maxGradLevels = 2047
	maxHessLevels = 4095
)

// quantize writes the packed quantized gradient of the first n rows (or of
// rows g.sample[:n] when sampled) into their records in the bin matrix.
func (g *grower) quantize(n int, sampled bool) {
	gl := min(maxGradLevels, (math.MaxInt32-1)/max(n, 1))
	hl := min(maxHessLevels, (math.MaxUint32-1)/max(n, 1))
	gh := g.gh
	t := g.threads
	// scales from the objective's bounds, or from the largest magnitudes
	ga, ha := g.gBound, g.hBound
	if ga <= 0 || ha <= 0 {
		gmax := make([]float64, t)
		hmax := make([]float64, t)
		parallelBlocks(len(gh)/2, t, func(k, lo, hi int) {
			var a, b float32
			for r := lo; r < hi; r++ {
				a = max(a, abs32(gh[2*r]))
				b = max(b, gh[2*r+1])
			}
			gmax[k], hmax[k] = float64(a), float64(b)
		})
		for k := range gmax {
			ga, ha = max(ga, gmax[k]), max(ha, hmax[k])
		}
	}
	if ga == 0 {
		ga = 1
	}
	if ha == 0 {
		ha = 1
	}
	g.gScale, g.hScale = ga/float64(gl), ha/float64(hl)
	gi, hi := 1/g.gScale, 1/g.hScale
	g.seq++
	seed := uint64(g.p.Seed)*0x9E3779B97F4A7C15 ^ g.seq*0xD1B54A32D192ED03
	q, rs, w := g.bm.words, g.rs, g.w
	off := float64(gl + 2)
	fill := func(r int) {
		u := splitmix(seed ^ uint64(r))
		ug := float64(u>>40) / (1 << 24)
		uh := float64(u&(1<<24-1)) / (1 << 24)
		// floor by truncation of a value made positive by an offset
		gq := int64(float64(gh[2*r])*gi+ug+off) - int64(off)
		hq := int64(float64(gh[2*r+1])*hi + uh)
		gq = min(max(gq, -int64(gl)), int64(gl))
		hq = min(max(hq, 0), int64(hl))
		q[r*rs+w] = uint64(gq<<32 + hq)
	}
	if sampled {
		rows := g.sample[:n]
		parallelBlocks(n, t, func(_, lo, hi int) {
			for _, r := range rows[lo:hi] {
				fill(int(r))
			}
		})
		return
	}
	parallelBlocks(n, t, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			fill(r)
		}
	})
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// splitmix is the SplitMix64 finalizer: a cheap, well-mixed hash.
func splitmix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}
