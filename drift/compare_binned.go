package drift

import (
	"math"
	"slices"
)

// binnedOnly reports whether a batch comparison with this test needs only
// the bin counts of a numeric feature, not its sorted values: every test
// but ks and wasserstein (and auto, which may choose them).
func binnedOnly(test string) bool {
	switch test {
	case "", TestAuto, TestKS, TestWasserstein:
		return false
	}
	return true
}

// compareBinned is compareColumn for a numeric feature when the test needs
// only bin counts. It gives the same edges and counts as sorting both
// columns but does no sort: the quantile edges are order statistics found
// by a radix selection, and each value is binned through a table indexed by
// the top bits of its order-preserving key. The order statistics are the
// values a sort would put at those positions, so the results are
// identical. ok is false when an edge is NaN (infinite reference values
// next to each other), which the caller leaves to the sorting path.
func (s *compareScratch) compareBinned(ref, cur *Column, o ProfileOptions, copts CompareOptions) (r FeatureResult, ok bool) {
	s.ref = s.ref[:0]
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range ref.Values {
		if x == x {
			s.ref = append(s.ref, x)
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	missing := len(ref.Values) - len(s.ref)
	f := Feature{Name: ref.Name, Count: int64(len(ref.Values)), Missing: int64(missing)}
	if len(s.ref) > 0 {
		if o.Binning == BinningUniform {
			f.Edges = UniformEdges(lo, hi, o.Bins)
		} else {
			f.Edges = s.sel.quantileEdges(s.ref, o.Bins)
		}
	}
	for _, e := range f.Edges {
		if e != e {
			return FeatureResult{}, false
		}
	}
	f.RefCounts = make([]int64, len(f.Edges)+2)
	f.RefCounts[0] = int64(missing)
	curCounts := make([]int64, len(f.RefCounts))
	s.bins.build(f.Edges)
	s.bins.count(s.ref, f.RefCounts)
	s.bins.count(cur.Values, curCounts)
	return evaluate(evalInput{f: &f, ref: f.RefCounts, cur: curCounts, refN: int64(len(s.ref)),
		test: copts.Test, threshold: copts.Threshold}), true
}

// sortKey is floatKey without a branch on the sign.
func sortKey(x float64) uint64 {
	b := math.Float64bits(x)
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

// selectBits is how many top key bits the selection's histogram uses.
const selectBits = 16

// radixSelect finds order statistics: one pass counts the values per top
// 16 bits of their keys, a second gathers only the values of the buckets
// holding a wanted position, and those few are sorted (or, when a bucket
// holds most of the data, selected by multiSelect).
type radixSelect struct {
	hist    []uint32
	slot    []uint8 // bucket → 1 + index of its gathered slice; 0 = not wanted
	gather  [][]float64
	buckets []int
}

// quantileEdges is QuantileEdges on unsorted NaN-free values.
func (r *radixSelect) quantileEdges(v []float64, bins int) []float64 {
	n := len(v)
	if n == 0 || bins < 2 {
		return nil
	}
	var pos []int
	for i := 1; i < bins; i++ {
		vi := float64(n-1) * (float64(i) / float64(bins))
		k := int(math.Floor(max(vi, 0)))
		pos = append(pos, min(k, n-1), min(k+1, n-1))
	}
	slices.Sort(pos)
	pos = slices.Compact(pos)
	stats := r.orderStats(v, pos)
	at := func(k int) float64 {
		i, _ := slices.BinarySearch(pos, k)
		return stats[i]
	}
	edges := make([]float64, 0, bins-1)
	for i := 1; i < bins; i++ {
		edges = append(edges, quantileAt(n, float64(i)/float64(bins), at))
	}
	return slices.Compact(edges)
}

// orderStats returns, for each position in pos (ascending), the value a
// sort of v would put there. v is not modified.
func (r *radixSelect) orderStats(v []float64, pos []int) []float64 {
	if r.hist == nil {
		r.hist = make([]uint32, 1<<selectBits)
		r.slot = make([]uint8, 1<<selectBits)
	}
	clear(r.hist)
	hist := r.hist
	for _, x := range v {
		hist[sortKey(x)>>(64-selectBits)]++
	}
	// the bucket of each position, and its rank inside the bucket
	r.buckets = r.buckets[:0]
	ranks := make([]int, len(pos))
	bucketOf := make([]int, len(pos))
	below, b := 0, 0
	for i, p := range pos {
		for below+int(hist[b]) <= p {
			below += int(hist[b])
			b++
		}
		ranks[i] = p - below
		if len(r.buckets) == 0 || r.buckets[len(r.buckets)-1] != b {
			r.buckets = append(r.buckets, b)
		}
		bucketOf[i] = len(r.buckets) - 1
	}
	for len(r.gather) < len(r.buckets) {
		r.gather = append(r.gather, nil)
	}
	for i, b := range r.buckets {
		r.slot[b] = uint8(i + 1)
		r.gather[i] = r.gather[i][:0]
	}
	slot := r.slot
	for _, x := range v {
		if j := slot[sortKey(x)>>(64-selectBits)]; j != 0 {
			r.gather[j-1] = append(r.gather[j-1], x)
		}
	}
	out := make([]float64, len(pos))
	for i, b := range r.buckets {
		r.slot[b] = 0
		g := r.gather[i]
		var want []int
		for k := range pos {
			if bucketOf[k] == i {
				want = append(want, ranks[k])
			}
		}
		if len(g) <= 1<<14 {
			slices.Sort(g)
		} else {
			multiSelect(g, 0, len(g), slices.Compact(want))
		}
		for k := range pos {
			if bucketOf[k] == i {
				out[k] = g[ranks[k]]
			}
		}
	}
	return out
}

// quantileAt is Quantile reading the order statistic k through at.
func quantileAt(n int, p float64, at func(int) float64) float64 {
	vi := float64(n-1) * p
	if vi <= 0 {
		return at(0)
	}
	if vi >= float64(n-1) {
		return at(n - 1)
	}
	lo := math.Floor(vi)
	i := int(lo)
	g := vi - lo
	a, b := at(i), at(i+1)
	d := b - a
	if g >= 0.5 {
		return b - d*(1-g)
	}
	return a + d*g
}

// multiSelect reorders v[lo:hi] so that v[k] holds the value a sort would
// put there for every k in pos (ascending, inside [lo, hi)). It partitions
// around a median-of-three pivot and recurses only into the parts that
// hold a wanted position; small parts are sorted.
func multiSelect(v []float64, lo, hi int, pos []int) {
	for len(pos) > 0 && hi-lo > 1 {
		if hi-lo <= 32 {
			slices.Sort(v[lo:hi])
			return
		}
		a, b, c := v[lo], v[lo+(hi-lo)/2], v[hi-1]
		pivot := max(min(a, b), min(max(a, b), c))
		// three-way partition: < pivot | == pivot | > pivot
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch x := v[i]; {
			case x < pivot:
				v[lt], v[i] = v[i], v[lt]
				lt++
				i++
			case x > pivot:
				gt--
				v[gt], v[i] = v[i], v[gt]
			default:
				i++
			}
		}
		left, _ := slices.BinarySearch(pos, lt)
		right, _ := slices.BinarySearch(pos, gt)
		multiSelect(v, lo, lt, pos[:left])
		// positions in [lt, gt) hold the pivot already
		lo, pos = gt, pos[right:]
	}
}

// lutBits is how many top key bits index binTable's table.
const lutBits = 20

// binTable bins values by a table indexed by the top bits of their keys:
// the keys keep the order of the values, so every table entry whose range
// of keys holds no edge has one bin for all its values. Entries holding an
// edge (ambiguous) fall back to counting the edges below the value.
type binTable struct {
	edges []float64
	lut   []uint8 // bin − 1 of the entry's values; ambiguous when > len(edges)
}

const ambiguous = 255

// build fills the table for sorted, NaN-free, duplicate-free edges (at
// most 254 of them; more are binned by search alone).
func (t *binTable) build(edges []float64) {
	t.edges = edges
	if len(edges) >= ambiguous {
		t.lut = t.lut[:0]
		return
	}
	if len(t.lut) != 1<<lutBits {
		t.lut = make([]uint8, 1<<lutBits)
	}
	p := 0
	for k, e := range edges {
		ep := int(sortKey(e) >> (64 - lutBits))
		for ; p < ep; p++ {
			t.lut[p] = uint8(k)
		}
		t.lut[ep] = ambiguous
		p = max(p, ep+1)
	}
	for ; p < len(t.lut); p++ {
		t.lut[p] = uint8(len(edges))
	}
	if _, zero := slices.BinarySearch(edges, 0); zero {
		// −0 and +0 are equal but have different keys: both zero
		// entries are ambiguous.
		t.lut[sortKey(math.Copysign(0, -1))>>(64-lutBits)] = ambiguous
		t.lut[sortKey(0)>>(64-lutBits)] = ambiguous
	}
}

// count adds each value's bin to dst: 0 for NaN, else 1 + the number of
// edges strictly below it (numericBin).
func (t *binTable) count(v []float64, dst []int64) {
	if len(t.lut) == 0 {
		for _, x := range v {
			dst[numericBin(t.edges, x)]++
		}
		return
	}
	lut := t.lut
	for _, x := range v {
		if x != x {
			dst[0]++
			continue
		}
		b := lut[sortKey(x)>>(64-lutBits)]
		if b == ambiguous {
			dst[numericBin(t.edges, x)]++
			continue
		}
		dst[1+int(b)]++
	}
}
