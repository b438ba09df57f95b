package drift

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// PerformanceBand is the range a window's estimated performance takes when
// nothing has shifted: estimates of windows of Records scores drawn at
// random from the reference's scores (the validation scores the calibrator
// was fitted beside), as NannyML sets CBPE's thresholds from the spread
// across reference chunks. An estimate below Lo is an estimated
// performance drop.
type PerformanceBand struct {
	// Records is the window size the band was drawn for: the window's size
	// rounded down to within 1/8 (a smaller window gives a wider, safer band).
	Records int
	// Replicates is the number of windows drawn.
	Replicates int
	// Accuracy and AUC are the bands of the two estimated metrics.
	Accuracy, AUC Range
}

// Range is a band: the mean of the drawn estimates and mean ± 3 standard
// deviations, clipped to [0, 1].
type Range struct{ Lo, Mean, Hi float64 }

// bandReplicates is the number of reference windows drawn per band.
const bandReplicates = 200

// bandSize rounds a window size down to one of k·2^e with 8 ≤ k < 16, so
// growing windows share a few dozen bands instead of one each.
func bandSize(n int) int {
	if n < 16 {
		return n
	}
	shift := bits.Len(uint(n)) - 4
	return n >> shift << shift
}

// performanceBand draws the band for windows of size n from ref, the
// reference scores (a sorted quantile summary: equal mass per value).
// The draw is seeded by n, so the same window size always gets the same
// band. It reports false when there are too few reference scores.
func performanceBand(c *Calibrator, ref []float64, n int, s *cbpeScratch) (PerformanceBand, bool) {
	if len(ref) < 2 || n < 2 {
		return PerformanceBand{}, false
	}
	rng := rand.New(rand.NewPCG(uint64(n), 0x6472696674)) // "drift"
	sample := make([]float64, n)
	acc := make([]float64, 0, bandReplicates)
	auc := make([]float64, 0, bandReplicates)
	for r := 0; r < bandReplicates; r++ {
		for i := range sample {
			sample[i] = ref[rng.IntN(len(ref))]
		}
		e := s.estimate(c, sample)
		if !math.IsNaN(e.Accuracy) {
			acc = append(acc, e.Accuracy)
		}
		if !math.IsNaN(e.AUC) {
			auc = append(auc, e.AUC)
		}
	}
	return PerformanceBand{Records: n, Replicates: bandReplicates, Accuracy: spread(acc), AUC: spread(auc)}, true
}

// spread is the mean ± 3σ band of xs, clipped to [0, 1]; NaNs when empty.
func spread(xs []float64) Range { return spreadClipped(xs, 0, 1) }

// spreadClipped is the mean ± 3σ band of xs, clipped to [lo, hi]; NaNs
// when empty.
func spreadClipped(xs []float64, lo, hi float64) Range {
	if len(xs) == 0 {
		return Range{math.NaN(), math.NaN(), math.NaN()}
	}
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(sq / float64(len(xs)))
	return Range{Lo: math.Max(lo, mean-3*sd), Mean: mean, Hi: math.Min(hi, mean+3*sd)}
}

// recordRing hands out the slots of a window's ring of records: the
// sliding window overwrites its oldest record; a tumbling window keeps its
// first size records and takes no more until it is reset.
type recordRing struct {
	size     int // records the ring holds at most
	tumbling bool
	pos, n   int  // next slot, records held
	since    int  // records taken since the last batch
	stale    bool // the window was reset: the next batch resends it all
}

// take returns the slot of the next record; ok is false when a tumbling
// window is full.
func (r *recordRing) take() (slot int, ok bool) {
	switch {
	case !r.tumbling:
		slot = r.pos
		if r.pos++; r.pos == r.size {
			r.pos = 0
		}
		if r.n < r.size {
			r.n++
		}
	case r.n < r.size:
		slot = r.n
		r.n++
	default:
		return 0, false
	}
	r.since++
	return slot, true
}

// reset empties the ring; the next batch resends the window.
func (r *recordRing) reset() { r.pos, r.n, r.since, r.stale = 0, 0, 0, true }

// batch calls run(lo, hi) for the slot ranges, oldest first, of the
// records to send to the checker: those taken since the last batch, or the
// whole window (rebuild) after a reset or when more were taken than it
// holds. It returns how many records the ranges hold.
func (r *recordRing) batch(run func(lo, hi int)) (count int, rebuild bool) {
	first := 0
	count, rebuild = r.since, r.stale || r.since > r.n
	switch {
	case rebuild:
		count = r.n
		if !r.tumbling && r.n == r.size {
			first = r.pos // the oldest record
		}
	case r.tumbling:
		first = r.n - r.since
	default:
		if first = r.pos - r.since; first < 0 {
			first += r.size
		}
	}
	for left := count; left > 0; first = 0 {
		k := min(left, r.size-first) // records up to the ring's end
		run(first, first+k)
		left -= k
	}
	r.since, r.stale = 0, false
	return count, rebuild
}

// b2f is 1 for true, 0 for false (a gauge's value).
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
