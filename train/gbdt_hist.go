package train

import (
	"sort"
	"sync"
)

// bin2 is one dequantized histogram bin: sums of gradients and hessians.
type bin2 struct{ g, h float64 }

// histStride is the number of histogram bins reserved per feature.
const histStride = 256

// featHist is the histogram of one feature: per bin, the packed sum of the
// rows' quantized gradients (high 32 bits) and hessians (low 32 bits; see
// quantize). Indexing it with a uint8 bin needs no bounds check.
type featHist [histStride]int64

// unpack splits a packed sum into its gradient and hessian quanta.
func unpack(v int64) (g, h int64) {
	h = int64(uint32(v))
	return (v - h) >> 32, h
}

// Categorical split settings (as LightGBM's defaults).
const (
	catSmooth       = 10.0 // added to hessians when ordering categories
	catL2           = 10.0 // extra L2 on categorical splits
	maxCatThreshold = 32   // most categories on one side of a partition split
	maxCatOneHot    = 4    // up to this many categories: one-vs-rest splits
)

// split is the best split found for a leaf.
type split struct {
	gain    float64
	feature int
	bin     int // numeric: rows with bin <= bin go left
	defLeft bool
	cat     bool
	catSet  [4]uint64 // categorical: bins going left
	lg, lh  float64   // left sums (missing included when defLeft)
}

func (s *split) valid() bool { return s.feature >= 0 }

// histRange accumulates records lo..hi-1 (rs words each, gradient in word
// w; see grower) into h, one featHist per feature. Two records are handled
// per pass over their bin words, which keeps more independent updates in
// flight.
func histRange(h []featHist, recs []uint64, rs, w, lo, hi int) {
	nf := len(h)
	full := nf / 8 // words holding 8 features
	recs = recs[lo*rs : hi*rs]
	n := hi - lo
	k := 0
	for ; k+1 < n; k += 2 {
		row0 := recs[k*rs : k*rs+rs]
		row1 := recs[(k+1)*rs : (k+1)*rs+rs]
		row1 = row1[:len(row0)]
		q0, q1 := int64(row0[w]), int64(row1[w])
		for x := 0; x < full; x++ {
			a, b := row0[x], row1[x]
			hh := h[8*x : 8*x+8 : 8*x+8]
			hh[0][uint8(a)] += q0
			hh[0][uint8(b)] += q1
			hh[1][uint8(a>>8)] += q0
			hh[1][uint8(b>>8)] += q1
			hh[2][uint8(a>>16)] += q0
			hh[2][uint8(b>>16)] += q1
			hh[3][uint8(a>>24)] += q0
			hh[3][uint8(b>>24)] += q1
			hh[4][uint8(a>>32)] += q0
			hh[4][uint8(b>>32)] += q1
			hh[5][uint8(a>>40)] += q0
			hh[5][uint8(b>>40)] += q1
			hh[6][uint8(a>>48)] += q0
			hh[6][uint8(b>>48)] += q1
			hh[7][uint8(a>>56)] += q0
			hh[7][uint8(b>>56)] += q1
		}
		if full < w {
			a, b := row0[full], row1[full]
			for f := 8 * full; f < nf; f++ {
				h[f][uint8(a)] += q0
				h[f][uint8(b)] += q1
				a >>= 8
				b >>= 8
			}
		}
	}
	for ; k < n; k++ {
		row := recs[k*rs : k*rs+rs]
		qk := int64(row[w])
		for f := 0; f < nf; f++ {
			h[f][uint8(row[f>>3]>>(8*(f&7)))] += qk
		}
	}
}

// buildHist fills dst with the histogram of records lo..hi-1 of recs.
// Integer sums make the result independent of how the rows are split over
// threads.
func (g *grower) buildHist(dst []featHist, recs []uint64, lo, hi int) {
	clear(dst)
	n := hi - lo
	t := g.threads
	if n < 16384 {
		t = 1
	}
	dst = dst[:g.nf]
	if t == 1 {
		histRange(dst, recs, g.rs, g.w, lo, hi)
		return
	}
	var wg sync.WaitGroup
	for k := 1; k < t; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			h := g.thrHist[k]
			clear(h)
			histRange(h, recs, g.rs, g.w, lo+k*n/t, lo+(k+1)*n/t)
		}(k)
	}
	histRange(dst, recs, g.rs, g.w, lo, lo+n/t)
	wg.Wait()
	for k := 1; k < t; k++ {
		src := g.thrHist[k]
		for f := range dst {
			d, s := &dst[f], &src[f]
			for b := range d {
				d[b] += s[b]
			}
		}
	}
}

// subtractHist sets parent -= child.
func subtractHist(parent, child []featHist) {
	child = child[:len(parent)]
	for f := range parent {
		p, c := &parent[f], &child[f]
		for b := range p {
			p[b] -= c[b]
		}
	}
}

// histTotals returns the dequantized sums of a histogram (every row is in
// one bin of feature 0).
func (g *grower) histTotals(h []featHist) (float64, float64) {
	var s int64
	for _, v := range h[0] {
		s += v
	}
	gq, hq := unpack(s)
	return float64(gq) * g.gScale, float64(hq) * g.hScale
}

// leafObjective is G²/(H+λ).
func leafObjective(g, h, lambda float64) float64 { return g * g / (h + lambda) }

// findSplit searches the best split of a leaf with sums (G, H) over n rows.
func (g *grower) findSplit(hist []featHist, G, H float64, n int) split {
	best := split{feature: -1, gain: g.p.MinSplitGain}
	if n < 2*max(g.p.MinSamplesLeaf, 1) || H < 2*g.p.MinChildWeight {
		return best
	}
	cf := float64(n) / H // estimated rows per unit of hessian
	for f := 0; f < g.nf; f++ {
		if !g.featOK[f] {
			continue
		}
		fh := &hist[f]
		h := g.fbuf[:]
		for i, v := range fh[:g.nv[f]+1] {
			gq, hq := unpack(v)
			h[i] = bin2{float64(gq) * g.gScale, float64(hq) * g.hScale}
		}
		if g.cat[f] {
			g.catSplit(&best, f, h, G, H, cf)
		} else {
			g.numSplit(&best, f, h, G, H, cf)
		}
	}
	return best
}

func (g *grower) ok(lh, rh, cf float64) bool {
	mcw, msl := g.p.MinChildWeight, float64(g.p.MinSamplesLeaf)
	return lh >= mcw && rh >= mcw && lh*cf >= msl && rh*cf >= msl
}

func (g *grower) numSplit(best *split, f int, h []bin2, G, H, cf float64) {
	nv := g.nv[f]
	if nv < 2 {
		return
	}
	lam := g.p.Lambda
	parent := leafObjective(G, H, lam)
	miss := h[nv]
	hasMiss := miss.h > 0
	var gl, hl float64
	for b := 0; b < nv-1; b++ {
		gl += h[b].g
		hl += h[b].h
		if hr := H - hl; g.ok(hl, hr, cf) {
			if gain := leafObjective(gl, hl, lam) + leafObjective(G-gl, hr, lam) - parent; gain > best.gain {
				*best = split{gain: gain, feature: f, bin: b, defLeft: !hasMiss && hl > hr, lg: gl, lh: hl}
			}
		}
		if hasMiss {
			lg, lh := gl+miss.g, hl+miss.h
			if hr := H - lh; g.ok(lh, hr, cf) {
				if gain := leafObjective(lg, lh, lam) + leafObjective(G-lg, hr, lam) - parent; gain > best.gain {
					*best = split{gain: gain, feature: f, bin: b, defLeft: true, lg: lg, lh: lh}
				}
			}
		}
	}
}

func (g *grower) catSplit(best *split, f int, h []bin2, G, H, cf float64) {
	nv := g.nv[f]
	lam := g.p.Lambda + catL2
	parent := leafObjective(G, H, lam)
	miss := h[nv]
	minCat := max(1, min(g.p.MinSamplesLeaf, 10))
	cats := g.catBuf[:0]
	for b := 0; b < nv; b++ {
		if h[b].h*cf >= float64(minCat) {
			cats = append(cats, b)
		}
	}
	g.catBuf = cats
	if len(cats) < 2 && !(len(cats) == 1 && miss.h > 0) {
		return
	}
	try := func(sel []int, lg, lh float64) {
		for _, withMiss := range [2]bool{false, true} {
			if withMiss && miss.h == 0 {
				continue
			}
			l, lhh := lg, lh
			if withMiss {
				l, lhh = lg+miss.g, lh+miss.h
			}
			hr := H - lhh
			if !g.ok(lhh, hr, cf) {
				continue
			}
			gain := leafObjective(l, lhh, lam) + leafObjective(G-l, hr, lam) - parent
			if gain > best.gain {
				s := split{gain: gain, feature: f, cat: true, defLeft: withMiss || (miss.h == 0 && lhh > hr), lg: l, lh: lhh}
				for _, b := range sel {
					s.catSet[b>>6] |= 1 << (b & 63)
				}
				*best = s
			}
		}
	}
	if len(cats) <= maxCatOneHot {
		for i := range cats {
			b := cats[i]
			try(cats[i:i+1], h[b].g, h[b].h)
		}
		return
	}
	sort.SliceStable(cats, func(i, j int) bool {
		a, b := cats[i], cats[j]
		return h[a].g/(h[a].h+catSmooth) < h[b].g/(h[b].h+catSmooth)
	})
	limit := min(maxCatThreshold, (len(cats)+1)/2)
	var lg, lh float64
	for i := 0; i < limit; i++ {
		b := cats[i]
		lg += h[b].g
		lh += h[b].h
		try(cats[:i+1], lg, lh)
	}
	lg, lh = 0, 0
	for i := len(cats) - 1; i >= len(cats)-limit; i-- {
		b := cats[i]
		lg += h[b].g
		lh += h[b].h
		try(cats[i:], lg, lh)
	}
}
