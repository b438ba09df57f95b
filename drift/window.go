package drift

import (
	"fmt"
	"math"
	"slices"
)

// Window holds the bin counts of the last Size records (a ring of bin
// indices) or, when Size is 0, of every record since the last Reset (a
// tumbling window). It is not safe for concurrent use; Monitor serialises it.
type Window struct {
	p      *Profile
	size   int // ring capacity; 0 = unbounded
	nf     int // features, plus one for the prediction when profiled
	numIdx []int
	catIdx []int
	edges  [][]float64 // per feature: inner edges padded with +Inf to a power of two (≥ 1 + len)
	cats   []*catBinner
	off    []int // offset of each feature's bins in counts
	counts []int64
	ring   []uint16
	pos    int
	n      int
	total  int64 // records added since reset (unbounded mode)

	// raw values of the numeric features whose test needs them (ks,
	// wasserstein): valFeat lists the features, vals is a ring of
	// len(valFeat) values per record (unbounded mode keeps the first
	// valCap records).
	valFeat []int
	vals    []float64
	valCap  int
	sv      sortedSet // the value features' sorted values, kept in step incrementally
}

// NewWindow returns a window over the profile's features (and prediction)
// holding the last size records, or all records until Reset when size is 0.
func NewWindow(p *Profile, size int) (*Window, error) {
	return newWindow(p, size, nil, 0)
}

func newWindow(p *Profile, size int, valFeat []int, valCap int) (*Window, error) {
	if p == nil || len(p.Features) == 0 {
		return nil, fmt.Errorf("new window: empty profile")
	}
	if size < 0 {
		return nil, fmt.Errorf("new window: size %d is negative", size)
	}
	w := &Window{p: p, size: size, nf: len(p.Features), valFeat: valFeat}
	if p.Prediction != nil {
		w.nf++
	}
	w.edges = make([][]float64, w.nf)
	w.cats = make([]*catBinner, w.nf)
	w.off = make([]int, w.nf+1)
	for i := 0; i < w.nf; i++ {
		f := w.feature(i)
		nb := f.Bins()
		if f.Categorical {
			w.cats[i] = newCatBinner(f, p.MaxCategories)
			nb = w.cats[i].bins()
			w.catIdx = append(w.catIdx, i)
		} else {
			w.edges[i] = padEdges(f.Edges)
			if f.Bins() > math.MaxUint16 {
				return nil, fmt.Errorf("new window: feature %q has too many bins", f.Name)
			}
			if i < len(p.Features) {
				w.numIdx = append(w.numIdx, i)
			}
		}
		if nb > math.MaxUint16 {
			return nil, fmt.Errorf("new window: feature %q has too many bins", f.Name)
		}
		w.off[i+1] = w.off[i] + nb
	}
	w.counts = make([]int64, w.off[w.nf])
	if size > 0 {
		w.ring = make([]uint16, size*w.nf)
		w.valCap = size
	} else {
		w.valCap = valCap
	}
	if len(valFeat) > 0 && w.valCap > 0 {
		w.vals = make([]float64, 0, w.valCap*len(valFeat))
		w.sv.init(len(valFeat), w.valCap)
	}
	return w, nil
}

// feature returns feature i, the prediction being the last.
func (w *Window) feature(i int) *Feature {
	if i < len(w.p.Features) {
		return &w.p.Features[i]
	}
	return w.p.Prediction
}

// Len returns the number of records the window holds.
func (w *Window) Len() int {
	if w.size == 0 {
		return int(w.total)
	}
	return w.n
}

// Add adds one record: num[i] is the value of feature i when numeric (NaN
// missing), cat[i] its category when categorical ("" missing); prediction is
// ignored when the profile has no prediction. It does not allocate, except
// the first time an unseen category is met.
func (w *Window) Add(num []float64, cat []string, prediction float64) {
	if w.size == 0 {
		w.addUnbounded(num, cat, prediction)
		return
	}
	base := w.pos * w.nf
	row := w.ring[base : base+w.nf : base+w.nf]
	full := w.n == w.size
	counts := w.counts
	off := w.off
	for _, i := range w.numIdx {
		b := paddedBin(w.edges[i], num[i])
		if full {
			counts[off[i]+int(row[i])]--
		}
		row[i] = uint16(b)
		counts[off[i]+b]++
	}
	for _, i := range w.catIdx {
		cb := w.cats[i]
		b := cb.bin(cat[i])
		counts[off[i]+b]++
		if full {
			old := int(row[i])
			counts[off[i]+old]--
			if old > len(cb.f.Categories)+1 && counts[off[i]+old] == 0 {
				cb.release(old)
			}
		}
		row[i] = uint16(b)
	}
	if w.p.Prediction != nil {
		i := w.nf - 1
		b := paddedBin(w.edges[i], prediction)
		if full {
			counts[off[i]+int(row[i])]--
		}
		row[i] = uint16(b)
		counts[off[i]+b]++
	}
	if len(w.valFeat) > 0 {
		k := len(w.valFeat)
		if full {
			w.sv.evictedRecs++
			dst := w.vals[w.pos*k : w.pos*k+k]
			for j, fi := range w.valFeat {
				if old := dst[j]; old == old {
					w.sv.evict(j, old)
				}
				dst[j] = num[fi]
			}
		} else {
			for _, fi := range w.valFeat {
				w.vals = append(w.vals, num[fi])
			}
		}
	}
	w.sv.since++
	w.pos++
	if w.pos == w.size {
		w.pos = 0
	}
	if !full {
		w.n++
	}
}

func (w *Window) addUnbounded(num []float64, cat []string, prediction float64) {
	for _, i := range w.numIdx {
		w.counts[w.off[i]+paddedBin(w.edges[i], num[i])]++
	}
	for _, i := range w.catIdx {
		w.counts[w.off[i]+w.cats[i].bin(cat[i])]++
	}
	if w.p.Prediction != nil {
		i := w.nf - 1
		w.counts[w.off[i]+paddedBin(w.edges[i], prediction)]++
	}
	if len(w.valFeat) > 0 && w.total < int64(w.valCap) {
		for _, fi := range w.valFeat {
			w.vals = append(w.vals, num[fi])
		}
		w.sv.since++
	}
	w.total++
}

// Reset empties the window and forgets unseen categories. In a sliding
// window an unseen category's bin is also freed for another one as soon as
// its last record leaves the window.
func (w *Window) Reset() {
	clear(w.counts)
	w.pos, w.n, w.total = 0, 0, 0
	w.vals = w.vals[:0]
	w.sv.reset()
	for _, c := range w.cats {
		if c != nil {
			c.reset()
		}
	}
}

// bins returns the live counts of feature i (not a copy).
func (w *Window) bins(i int) []int64 { return w.counts[w.off[i]:w.off[i+1]] }

// Counts is a snapshot of a window's bin counts, mergeable across windows
// built from the same profile (e.g. one per process).
type Counts struct {
	Records int64
	// Bins holds the counts of every feature (the prediction last when
	// profiled), in the Feature bin layout followed by unseen categories.
	Bins [][]int64
	// Unseen names, per feature, the unseen categories counted after the
	// "other" bin (nil for numeric features).
	Unseen [][]string
	// Stats are the window's CBPE, PCA and DLE statistics, mergeable like
	// the bins; nil when the monitor estimates none of them.
	Stats *WindowStats
}

// Counts returns a copy of the window's counts.
func (w *Window) Counts() *Counts {
	c := &Counts{Records: int64(w.Len()), Bins: make([][]int64, w.nf), Unseen: make([][]string, w.nf)}
	for i := 0; i < w.nf; i++ {
		b := w.bins(i)
		cb := w.cats[i]
		if cb == nil {
			c.Bins[i] = slices.Clone(b)
			continue
		}
		base := w.feature(i).Bins()
		c.Bins[i] = slices.Clone(b[:base])
		c.Unseen[i] = []string{}
		for slot, name := range cb.names {
			if name != "" { // skip free slots
				c.Unseen[i] = append(c.Unseen[i], name)
				c.Bins[i] = append(c.Bins[i], b[base+slot])
			}
		}
	}
	return c
}

// Merge adds o's counts to c, matching unseen categories by name, and its
// statistics (mergeStats: a part either lacks is dropped, parts of
// different shapes are an error).
func (c *Counts) Merge(o *Counts) error {
	if len(o.Bins) != len(c.Bins) {
		return fmt.Errorf("merge counts: %d features, want %d", len(o.Bins), len(c.Bins))
	}
	stats, err := mergeStats(c.Stats, o.Stats)
	if err != nil {
		return fmt.Errorf("merge counts: %w", err)
	}
	for i := range c.Bins {
		if base, obase := len(c.Bins[i])-len(c.Unseen[i]), len(o.Bins[i])-len(o.Unseen[i]); base != obase {
			return fmt.Errorf("merge counts: feature %d has %d bins, want %d", i, obase, base)
		}
	}
	for i := range c.Bins {
		base := len(c.Bins[i]) - len(c.Unseen[i])
		obase := len(o.Bins[i]) - len(o.Unseen[i])
		for b := 0; b < base; b++ {
			c.Bins[i][b] += o.Bins[i][b]
		}
		for k, name := range o.Unseen[i] {
			j := slices.Index(c.Unseen[i], name)
			if j < 0 {
				c.Unseen[i] = append(c.Unseen[i], name)
				c.Bins[i] = append(c.Bins[i], 0)
				j = len(c.Unseen[i]) - 1
			}
			c.Bins[i][base+j] += o.Bins[i][obase+k]
		}
	}
	c.Records += o.Records
	c.Stats = stats
	return nil
}

// padEdges returns the edges followed by +Inf up to a power-of-two length
// greater than len(edges), for paddedBin's branch-free search.
func padEdges(edges []float64) []float64 {
	n := 1
	for n <= len(edges) {
		n <<= 1
	}
	out := make([]float64, n)
	copy(out, edges)
	for i := len(edges); i < n; i++ {
		out[i] = math.Inf(1)
	}
	return out
}

// paddedBin is numericBin over padded edges: 0 for NaN, else 1 + the number
// of edges strictly below v, found by a fixed-depth binary search whose
// steps compile to conditional moves.
func paddedBin(edges []float64, v float64) int {
	if v != v {
		return 0
	}
	base := 0
	for half := len(edges) >> 1; half > 0; half >>= 1 {
		c := 0
		if edges[(base+half-1)&(len(edges)-1)] < v {
			c = 1
		}
		base += c * half
	}
	if edges[base&(len(edges)-1)] < v {
		base++
	}
	return base + 1
}
