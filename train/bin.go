package train

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
)

// binSampleRows is the number of rows sampled to find quantile cuts (as
// LightGBM's bin_construct_sample_cnt).
const binSampleRows = 200000

// binner maps raw feature values to uint8 bins learned from training data.
// Per feature, bins 0..nv-1 hold values and bin nv holds missing values, so a
// feature uses at most maxBins+1 <= 256 bins.
type binner struct {
	names  []string
	kinds  []ColumnKind
	edges  [][]float64 // numeric: bin b holds edges[b-1] < v <= edges[b]
	levels [][]string  // categorical: kept levels in bin order; bin len(levels) = "other"
	nv     []int       // value bins per feature; the missing bin is nv[f]
}

// newBinner learns bins for every feature of ds.
func newBinner(ds *Dataset, maxBins, threads int) *binner {
	if maxBins <= 1 || maxBins > 255 {
		maxBins = 255
	}
	nf := len(ds.Names)
	b := &binner{names: ds.Names, kinds: ds.Kinds, edges: make([][]float64, nf),
		levels: make([][]string, nf), nv: make([]int, nf)}
	// one scratch set per worker keeps garbage (and so peak memory) low
	scratch := make(chan *sortScratch, max(threads, 1))
	for i := 0; i < max(threads, 1); i++ {
		scratch <- &sortScratch{}
	}
	parallelFor(nf, threads, func(f int) {
		if ds.Kinds[f] == Categorical {
			b.levels[f] = catLevels(ds.Codes[f], ds.Levels[f], maxBins)
			b.nv[f] = len(b.levels[f]) + 1
			return
		}
		s := <-scratch
		b.edges[f] = numEdges(ds.Num[f], maxBins, s)
		scratch <- s
		b.nv[f] = len(b.edges[f]) + 1
	})
	return b
}

// sortScratch holds reusable buffers for numEdges.
type sortScratch struct {
	vals      []float64
	keys, tmp []uint64
}

// parallelFor runs fn(0..n-1) on up to threads goroutines.
func parallelFor(n, threads int, fn func(i int)) {
	if threads <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for t := 0; t < min(threads, n); t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// catLevels keeps the most frequent levels (up to maxBins-1; ties by code).
func catLevels(codes []int32, levels []string, maxBins int) []string {
	cnt := make([]int, len(levels))
	for _, c := range codes {
		if c >= 0 {
			cnt[c]++
		}
	}
	order := make([]int, 0, len(levels))
	for c, n := range cnt {
		if n > 0 {
			order = append(order, c)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return cnt[order[i]] > cnt[order[j]] })
	if len(order) > maxBins-1 {
		order = order[:maxBins-1]
	}
	kept := make([]string, len(order))
	for i, c := range order {
		kept[i] = levels[c]
	}
	return kept
}

// numEdges finds up to maxBins-1 quantile cut points from a row sample.
func numEdges(col []float64, maxBins int, s *sortScratch) []float64 {
	n := len(col)
	step := 1
	if n > binSampleRows {
		step = (n + binSampleRows - 1) / binSampleRows
	}
	vals := s.vals[:0]
	defer func() { s.vals = vals[:0] }()
	for i := 0; i < n; i += step {
		if v := col[i]; v == v {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	sortFloats(vals, s)
	distinct := 1
	for i := 1; i < len(vals) && distinct <= maxBins; i++ {
		if vals[i] != vals[i-1] {
			distinct++
		}
	}
	var edges []float64
	if distinct <= maxBins {
		for i := 1; i < len(vals); i++ {
			if vals[i] != vals[i-1] {
				edges = append(edges, midpoint(vals[i-1], vals[i]))
			}
		}
		return edges
	}
	m := len(vals)
	for k := 1; k < maxBins; k++ {
		pos := k * m / maxBins
		if pos <= 0 || pos >= m {
			continue
		}
		a := vals[pos-1]
		j := pos + sort.SearchFloat64s(vals[pos:], math.Nextafter(a, math.Inf(1)))
		if j >= m {
			break
		}
		e := midpoint(a, vals[j])
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	return edges
}

// sortFloats sorts NaN-free values with an LSD radix sort on order-preserving
// integer keys (several times faster than a comparison sort here).
func sortFloats(vals []float64, s *sortScratch) {
	n := len(vals)
	if n < 256 {
		slices.Sort(vals)
		return
	}
	keys := slices.Grow(s.keys[:0], n)[:n]
	tmp := slices.Grow(s.tmp[:0], n)[:n]
	s.keys, s.tmp = keys, tmp
	for i, v := range vals {
		u := math.Float64bits(v)
		if u>>63 == 1 {
			u = ^u
		} else {
			u |= 1 << 63
		}
		keys[i] = u
	}
	var cnt [1 << 11]int
	for shift := uint(0); shift < 64; shift += 11 {
		clear(cnt[:])
		for _, k := range keys {
			cnt[(k>>shift)&(1<<11-1)]++
		}
		if cnt[(keys[0]>>shift)&(1<<11-1)] == n {
			continue // every key shares this digit
		}
		sum := 0
		for i, c := range cnt {
			cnt[i] = sum
			sum += c
		}
		for _, k := range keys {
			d := (k >> shift) & (1<<11 - 1)
			tmp[cnt[d]] = k
			cnt[d]++
		}
		keys, tmp = tmp, keys
	}
	for i, u := range keys {
		if u>>63 == 1 {
			u &^= 1 << 63
		} else {
			u = ^u
		}
		vals[i] = math.Float64frombits(u)
	}
}

func midpoint(a, b float64) float64 {
	m := a + (b-a)/2
	if m >= b || m < a {
		return a
	}
	return m
}

// searchEdge returns the number of edges below v (branch-light lower bound).
func searchEdge(edges []float64, v float64) int {
	n := len(edges)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		base += half & -int(b2u(edges[base+half-1] < v)) // no branch to mispredict
		n -= half
	}
	if edges[base] < v {
		base++
	}
	return base
}

// binMatrix is a row-major bin matrix packed into words: row r starts at
// words[r*stride], and feature f is byte f%8 of the row's word f/8 (bytes
// past nf are zero). Words w..stride-1 of a row are left to the trainer,
// which keeps each row's gradient and row number there (see grower), so a
// row moves as one record when rows are reordered.
type binMatrix struct {
	rows, nf  int
	w, stride int // bin words per row: ceil(nf/8); words per row
	words     []uint64
}

// rowWords is the number of packed words a row of nf bins takes.
func rowWords(nf int) int { return max(1, (nf+7)/8) }

// bin returns the bin of feature f in row r.
func (bm *binMatrix) bin(r, f int) uint8 {
	return uint8(bm.words[r*bm.stride+f>>3] >> (8 * (f & 7)))
}

// apply bins a dataset with the same columns (matched by name) as the
// training data, reserving extra words per row after the bins. Categorical
// values are matched by level name.
func (b *binner) apply(ds *Dataset, threads, extra int) (*binMatrix, error) {
	nf := len(b.names)
	src := make([]int, nf)
	idx := map[string]int{}
	for j, n := range ds.Names {
		idx[n] = j
	}
	catMap := make([][]uint8, nf)
	for f, name := range b.names {
		j, ok := idx[name]
		if !ok {
			return nil, fmt.Errorf("column %q: in the training data but missing here", name)
		}
		if ds.Kinds[j] != b.kinds[f] {
			return nil, fmt.Errorf("column %q: %s here, %s in the training data", name, ds.Kinds[j], b.kinds[f])
		}
		src[f] = j
		if b.kinds[f] == Categorical {
			pos := make(map[string]int, len(b.levels[f]))
			for i, l := range b.levels[f] {
				pos[l] = i
			}
			m := make([]uint8, len(ds.Levels[j]))
			for c, l := range ds.Levels[j] {
				if p, ok := pos[l]; ok {
					m[c] = uint8(p)
				} else {
					m[c] = uint8(len(b.levels[f])) // other
				}
			}
			catMap[f] = m
		}
	}
	w := rowWords(nf)
	stride := w + extra
	bm := &binMatrix{rows: ds.Rows, nf: nf, w: w, stride: stride, words: make([]uint64, ds.Rows*stride)}
	looks := make([]*edgeLookup, nf)
	for f := range looks {
		if b.kinds[f] == Numeric {
			looks[f] = newEdgeLookup(b.edges[f])
		}
	}
	const block = 8192
	nblocks := (ds.Rows + block - 1) / block
	parallelFor(nblocks, threads, func(k int) {
		lo, hi := k*block, min((k+1)*block, ds.Rows)
		var buf [block]uint8
		for f := 0; f < nf; f++ {
			col := buf[:hi-lo]
			miss := uint8(b.nv[f])
			if b.kinds[f] == Categorical {
				cm := catMap[f]
				for i, c := range ds.Codes[src[f]][lo:hi] {
					v := miss
					if c >= 0 {
						v = cm[c]
					}
					col[i] = v
				}
			} else {
				lk := looks[f]
				for i, v := range ds.Num[src[f]][lo:hi] {
					bin := miss
					if v == v {
						bin = uint8(lk.find(v))
					}
					col[i] = bin
				}
			}
			out, shift := bm.words[lo*stride+f>>3:], 8*uint(f&7)
			for i, v := range col {
				out[i*stride] |= uint64(v) << shift
			}
		}
	})
	return bm, nil
}

// edgeLookup finds bins fast: a uniform grid over the edge range gives a
// starting bin, and short scans make the answer exact (it always equals
// searchEdge).
type edgeLookup struct {
	edges     []float64
	lo, scale float64
	start     []uint8
}

const lookupCells = 4096

func newEdgeLookup(edges []float64) *edgeLookup {
	lk := &edgeLookup{edges: edges}
	if len(edges) < 2 {
		return lk
	}
	lo, hi := edges[0], edges[len(edges)-1]
	lk.lo, lk.scale = lo, float64(lookupCells)/(hi-lo)
	if math.IsInf(lk.scale, 0) || math.IsNaN(lk.scale) {
		return lk
	}
	lk.start = make([]uint8, lookupCells+1)
	for c := range lk.start {
		lk.start[c] = uint8(searchEdge(edges, lo+float64(c)/lk.scale))
	}
	return lk
}

// find returns the number of edges below v (v is not NaN).
func (lk *edgeLookup) find(v float64) int {
	e := lk.edges
	if lk.start == nil {
		return searchEdge(e, v)
	}
	x := (v - lk.lo) * lk.scale
	c := 0
	if x > 0 {
		c = lookupCells
		if x < lookupCells {
			c = int(x)
		}
	}
	b := int(lk.start[c])
	for b < len(e) && e[b] < v {
		b++
	}
	for b > 0 && e[b-1] >= v {
		b--
	}
	return b
}
