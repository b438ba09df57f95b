package drift

import (
	"math"
	"slices"
)

// Binning names accepted by ProfileOptions.Binning.
const (
	BinningQuantile = "quantile"
	BinningUniform  = "uniform"
)

// Quantile returns the p-quantile of sorted (NaN-free, non-empty) values with
// linear interpolation between order statistics, exactly as numpy.quantile's
// default method ("linear", including its two-sided lerp).
func Quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	vi := float64(n-1) * p
	if vi <= 0 {
		return sorted[0]
	}
	if vi >= float64(n-1) {
		return sorted[n-1]
	}
	lo := math.Floor(vi)
	i := int(lo)
	g := vi - lo
	a, b := sorted[i], sorted[i+1]
	d := b - a
	if g >= 0.5 {
		return b - d*(1-g)
	}
	return a + d*g
}

// QuantileEdges returns the inner bin edges at the quantiles 1/B … (B−1)/B
// of sorted values, duplicates dropped.
func QuantileEdges(sorted []float64, bins int) []float64 {
	if len(sorted) == 0 || bins < 2 {
		return nil
	}
	edges := make([]float64, 0, bins-1)
	for i := 1; i < bins; i++ {
		edges = append(edges, Quantile(sorted, float64(i)/float64(bins)))
	}
	return slices.Compact(edges)
}

// UniformEdges returns B−1 equal-width inner edges over [lo, hi] (as
// numpy.linspace(lo, hi, B+1)[1:-1]), duplicates dropped.
func UniformEdges(lo, hi float64, bins int) []float64 {
	if math.IsNaN(lo) || math.IsNaN(hi) || bins < 2 {
		return nil
	}
	step := (hi - lo) / float64(bins)
	edges := make([]float64, 0, bins-1)
	for i := 1; i < bins; i++ {
		edges = append(edges, float64(i)*step+lo)
	}
	if step == 0 {
		edges = edges[:1]
	}
	return slices.Compact(edges)
}

// numericBin returns the bin of v for the inner edges: 0 for missing (NaN),
// else 1 + the number of edges strictly below v (right-closed intervals,
// outer edges −∞ and +∞).
func numericBin(edges []float64, v float64) int {
	if v != v {
		return 0
	}
	b := 1
	for _, e := range edges {
		if e < v {
			b++
		}
	}
	return b
}

// binCountsSorted counts the sorted, NaN-free values per value bin using the
// edges, into dst[1:] (dst[0] is the missing bin and is left untouched).
func binCountsSorted(sorted, edges []float64, dst []int64) {
	prev := 0
	for k, e := range edges {
		// first index with value > e (right-closed bins).
		idx, _ := slices.BinarySearchFunc(sorted[prev:], e, func(x, t float64) int {
			if x <= t {
				return -1
			}
			return 1
		})
		dst[1+k] += int64(idx)
		prev += idx
	}
	dst[1+len(edges)] += int64(len(sorted) - prev)
}

// sortedValues returns the non-NaN values of v, sorted ascending, and the
// number of NaN values. It uses an LSD radix sort on order-preserving keys.
func sortedValues(v []float64) ([]float64, int) {
	var s radixScratch
	return s.sortedValues(v, nil)
}

// sortedValues is sortedValues reusing the scratch buffers and dst's
// capacity.
func (s *radixScratch) sortedValues(v, dst []float64) ([]float64, int) {
	if len(v) < 256 {
		out := dst[:0]
		for _, x := range v {
			if x == x {
				out = append(out, x)
			}
		}
		slices.Sort(out)
		return out, len(v) - len(out)
	}
	// One pass: drop NaNs, build the keys and every digit histogram.
	s.grow(len(v))
	keys := s.keys[:len(v)]
	var count radixCounts
	c0, c1, c2, c3, c4, c5 := &count[0], &count[1], &count[2], &count[3], &count[4], &count[5]
	n := 0
	for _, x := range v {
		if x == x {
			k := floatKey(x)
			keys[n] = k
			n++
			c0[k&radixMask]++
			c1[(k>>11)&radixMask]++
			c2[(k>>22)&radixMask]++
			c3[(k>>33)&radixMask]++
			c4[(k>>44)&radixMask]++
			c5[(k>>55)&radixMask]++
		}
	}
	out := dst[:0]
	if cap(out) < n {
		out = make([]float64, n)
	}
	out = out[:n]
	if n == 0 {
		return out, len(v)
	}
	for i, k := range s.scatter(keys[:n], &count) {
		out[i] = keyFloat(k)
	}
	return out, len(v) - n
}

func floatKey(x float64) uint64 {
	b := math.Float64bits(x)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func keyFloat(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// radixSortFloat64 sorts NaN-free values ascending (-0 before +0).
func radixSortFloat64(v []float64) {
	var s radixScratch
	s.sort(v)
}

// radixScratch holds the key buffers of an LSD radix sort, reused across
// sorts.
type radixScratch struct{ keys, tmp []uint64 }

func (s *radixScratch) grow(n int) {
	if cap(s.keys) < n {
		s.keys, s.tmp = make([]uint64, n), make([]uint64, n)
	}
}

// sort sorts NaN-free values ascending (-0 before +0).
func (s *radixScratch) sort(v []float64) {
	n := len(v)
	if n < 256 {
		slices.Sort(v)
		return
	}
	s.grow(n)
	keys := s.keys[:n]
	for i, x := range v {
		keys[i] = floatKey(x)
	}
	for i, k := range s.sortKeys(keys) {
		v[i] = keyFloat(k)
	}
}

// Radix sort parameters: 6 passes of 11-bit digits cover the 64-bit keys.
const (
	radixBits   = 11
	radixSize   = 1 << radixBits
	radixMask   = radixSize - 1
	radixPasses = 6
)

// radixCounts holds one histogram per digit (uint32: n < 2³² is checked).
type radixCounts [radixPasses][radixSize]uint32

// sortKeys sorts keys (which alias s.keys) and returns the sorted keys (in
// s.keys or s.tmp).
func (s *radixScratch) sortKeys(keys []uint64) []uint64 {
	var count radixCounts
	c0, c1, c2, c3, c4, c5 := &count[0], &count[1], &count[2], &count[3], &count[4], &count[5]
	for _, k := range keys {
		c0[k&radixMask]++
		c1[(k>>11)&radixMask]++
		c2[(k>>22)&radixMask]++
		c3[(k>>33)&radixMask]++
		c4[(k>>44)&radixMask]++
		c5[(k>>55)&radixMask]++
	}
	return s.scatter(keys, &count)
}

// scatter runs the LSD passes given every digit's histogram, skipping the
// digits all keys share.
func (s *radixScratch) scatter(keys []uint64, count *radixCounts) []uint64 {
	n := len(keys)
	if uint64(n) >= 1<<32 { // uint32 counters
		slices.Sort(keys)
		return keys
	}
	tmp := s.tmp[:n]
	for p := 0; p < radixPasses; p++ {
		shift := uint(p * radixBits)
		c := &count[p]
		if int(c[(keys[0]>>shift)&radixMask]) == n {
			continue // every key has the same digit
		}
		var sum uint32
		for i := range c {
			x := c[i]
			c[i] = sum
			sum += x
		}
		for _, k := range keys {
			d := (k >> shift) & radixMask
			tmp[c[d]] = k
			c[d]++
		}
		keys, tmp = tmp, keys
	}
	return keys
}

// countUniqueSorted returns the number of distinct values in the union of
// two sorted slices, stopping early once it exceeds limit.
func countUniqueSorted(a, b []float64, limit int) int {
	i, j, n := 0, 0, 0
	for (i < len(a) || j < len(b)) && n <= limit {
		var x float64
		switch {
		case i >= len(a):
			x = b[j]
		case j >= len(b):
			x = a[i]
		default:
			x = a[i]
			if b[j] < x {
				x = b[j]
			}
		}
		n++
		for i < len(a) && a[i] <= x {
			i++
		}
		for j < len(b) && b[j] <= x {
			j++
		}
	}
	return n
}
