package drift

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Fitting the PCA of a profile. The reference's errors, which set the band,
// must be those of rows the PCA has not seen: fitted rows reconstruct
// better than new ones (the fit chooses, among directions of nearly equal
// variance, those where the sample happens to vary most), so in-sample
// errors put the band below the errors of undrifted windows. Measured with
// bench/drift/rotation's 28 features and 10,000 reference rows: in-sample
// mean error 3.005, undrifted windows of 1,000 about 3.07 against a band
// half-width of 0.07, 2 of 5 of them out of band. The fitted rows are
// therefore split into pcaFolds folds; each row's error comes from the PCA
// fitted on the other folds (the same number of components, covariance =
// total − the fold's), and the monitor uses the PCA fitted on all of them.
// With it, 3 of 480 undrifted windows were out of band over four seeds.

const (
	pcaFolds      = 10   // cross-fitting folds of the reference errors
	pcaBandChunks = 1000 // reference chunks per band size (the errors are computed once, a chunk costs its size in additions)
)

// columnEncoder encodes reference rows from the profile's columns.
type columnEncoder struct {
	enc      *pcaEncoder
	cols     []Column
	codeSlot [][]int // per categorical input: slot of each column code
}

func newColumnEncoder(p *Profile, c *PCA, cols []Column) *columnEncoder {
	ce := &columnEncoder{enc: newPCAEncoder(p, c), cols: cols}
	for _, in := range ce.enc.cat {
		levels := cols[in.feature].Levels
		cs := make([]int, len(levels))
		for code, l := range levels {
			cs[code] = in.slot(l)
		}
		ce.codeSlot = append(ce.codeSlot, cs)
	}
	return ce
}

// with returns an encoder of the PCA c (same layout) with its own scratch.
func (ce *columnEncoder) with(p *Profile, c *PCA) *columnEncoder {
	return &columnEncoder{enc: newPCAEncoder(p, c), cols: ce.cols, codeSlot: ce.codeSlot}
}

// encodeRow encodes reference row r into ce.enc.x.
func (ce *columnEncoder) encodeRow(r int) {
	e := ce.enc
	for k, in := range e.num {
		e.encodeNumeric(k, ce.cols[in.feature].Values[r])
	}
	for k, in := range e.cat {
		s := -1
		if code := ce.cols[in.feature].Codes[r]; code >= 0 {
			s = ce.codeSlot[k][code]
		}
		e.encodeCategorical(k, s)
	}
}

// fitPCA fits the PCA of the profile's reference columns and learns its
// band from reference chunks of the profile's band sizes. It returns nil
// and the reason when the reference is not fit for it.
func fitPCA(p *Profile, cols []Column, o ProfileOptions) (*PCA, string) {
	slots, center, scale := pcaLayout(p)
	d := len(center)
	switch {
	case d < 2:
		return nil, fmt.Sprintf("%d encoded dimensions, need 2", d)
	case d > pcaMaxDims:
		return nil, fmt.Sprintf("%d encoded dimensions, more than %d", d, pcaMaxDims)
	case min(p.Rows, o.PCASampleRows) < max(pcaMinRows, 5*d):
		return nil, fmt.Sprintf("%d reference rows to fit on, need %d for %d encoded dimensions", min(p.Rows, o.PCASampleRows), max(pcaMinRows, 5*d), d)
	}
	c := &PCA{Slots: slots, Center: center, Scale: scale}
	rows := fitRows(p.Rows, o.PCASampleRows)
	c.FitRows = len(rows)
	ce := newColumnEncoder(p, c, cols) // no components yet: encodes only
	folds := foldMoments(ce, rows, d)
	total := mat.NewSymDense(d, nil)
	for _, f := range folds {
		total.AddSym(total, f)
	}
	cov := mat.NewSymDense(d, nil)
	cov.ScaleSym(1/float64(len(rows)), total)
	varying := 0
	for j := range d {
		if cov.At(j, j) > 1e-9 {
			varying++
		}
	}
	if varying < 2 {
		return nil, fmt.Sprintf("%d encoded dimensions vary in the reference, need 2", varying)
	}
	var ok bool
	if c.Components, c.K, c.Explained, ok = principal(cov, 0, o.PCAVariance); !ok {
		return nil, "eigendecomposition did not converge"
	}
	// The fold PCAs, for the reference errors.
	foldPCA := make([]*PCA, len(folds))
	for f, m := range folds {
		n := len(rows) - foldSize(len(rows), f)
		cov.ScaleSym(-1, m)
		cov.AddSym(total, cov)
		cov.ScaleSym(1/float64(n), cov)
		fc := *c
		if fc.Components, _, _, ok = principal(cov, c.K, 0); !ok {
			return nil, "eigendecomposition did not converge"
		}
		foldPCA[f] = &fc
	}
	errs := foldErrors(p, ce, rows, foldPCA)
	var sum float64
	for _, e := range errs {
		sum += e
	}
	c.RefError = sum / float64(len(errs))
	c.Bands = pcaBands(errs, p.BandSizes)
	return c, ""
}

// fitRows returns the rows the PCA is fitted on: all of them, or limit of
// them sampled without replacement (seeded by the row count), ascending.
func fitRows(rows, limit int) []int {
	out := make([]int, rows)
	for i := range out {
		out[i] = i
	}
	if rows <= limit {
		return out
	}
	rng := rand.New(rand.NewPCG(0x70636131, uint64(rows))) // "pca1"
	for i := range limit {                                 // partial Fisher–Yates
		j := i + rng.IntN(rows-i)
		out[i], out[j] = out[j], out[i]
	}
	out = out[:limit]
	slices.Sort(out)
	return out
}

// foldSize returns the number of the n fitted rows in fold f: rows[i] is in
// fold i mod pcaFolds.
func foldSize(n, f int) int {
	return (n - f + pcaFolds - 1) / pcaFolds
}

// foldMoments returns, per fold, Σ xxᵀ over its rows' encodings,
// accumulated block by block (a rank-k update per block).
func foldMoments(ce *columnEncoder, rows []int, d int) []*mat.SymDense {
	folds := make([]*mat.SymDense, pcaFolds)
	block := mat.NewDense(pcaBlockRows, d, nil)
	for f := range folds {
		folds[f] = mat.NewSymDense(d, nil)
		n := 0
		flush := func() {
			if n > 0 {
				folds[f].SymRankK(folds[f], 1, block.Slice(0, n, 0, d).T())
				n = 0
			}
		}
		for i := f; i < len(rows); i += pcaFolds {
			ce.encodeRow(rows[i])
			block.SetRow(n, ce.enc.x)
			if n++; n == pcaBlockRows {
				flush()
			}
		}
		flush()
	}
	return folds
}

// principal returns the principal axes of the covariance cov as rows: the
// first k, or (k = 0) the fewest explaining share of the variance, with the
// share they explain. Each axis's entry of largest magnitude is positive,
// so the result is deterministic. ok is false when the eigendecomposition
// fails.
func principal(cov *mat.SymDense, k int, share float64) (comps []float64, kept int, explained float64, ok bool) {
	d := cov.SymmetricDim()
	var es mat.EigenSym
	if !es.Factorize(cov, true) {
		return nil, 0, 0, false
	}
	vals := es.Values(nil)
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	order := make([]int, d)
	var total float64
	for j := range order {
		order[j] = j
		vals[j] = math.Max(0, vals[j])
		total += vals[j]
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(vals[b], vals[a]) })
	var sum float64
	for kept < d && (kept < k || k == 0 && sum < share*total) {
		sum += vals[order[kept]]
		kept++
	}
	comps = make([]float64, kept*d)
	for j := range kept {
		row := comps[j*d : j*d+d]
		mat.Col(row, order[j], &vecs)
		big := 0
		for i := range row {
			if math.Abs(row[i]) > math.Abs(row[big]) {
				big = i
			}
		}
		if row[big] < 0 {
			for i := range row {
				row[i] = -row[i]
			}
		}
	}
	if total > 0 {
		explained = sum / total
	}
	return comps, kept, explained, true
}

// foldErrors returns the reconstruction error of each fitted row (rows[i]
// in fold i mod pcaFolds) by the PCA of the other folds, computed in
// parallel.
func foldErrors(p *Profile, ce *columnEncoder, rows []int, foldPCA []*PCA) []float64 {
	errs := make([]float64, len(rows))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(rows)/4096))
	var wg sync.WaitGroup
	for w := range workers {
		from, to := w*len(rows)/workers, (w+1)*len(rows)/workers
		encs := make([]*columnEncoder, len(foldPCA))
		for f, fc := range foldPCA {
			encs[f] = ce.with(p, fc)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from; i < to; i++ {
				e := encs[i%pcaFolds]
				e.encodeRow(rows[i])
				errs[i] = e.enc.reconstructionError()
			}
		}()
	}
	wg.Wait()
	return errs
}

// pcaBands returns, per band size, the mean and SD of the mean error of
// pcaBandChunks chunks of the reference errors drawn as the features'
// bands draw theirs. A chunk of n rows drawn without replacement from N has
// a mean whose variance is (N−n)/(N−1) that of an independent window's,
// so the SD is scaled by √((N−1)/(N−n)). Nil without band sizes.
func pcaBands(errs []float64, sizes []int) []Band {
	n := len(errs)
	if len(sizes) == 0 || sizes[len(sizes)-1] >= n {
		return nil
	}
	accs := make([]bandAcc, len(sizes))
	eachChunk(n, sizes, pcaBandChunks, func(si int, chunk []int) {
		var s float64
		for _, r := range chunk {
			s += errs[r]
		}
		accs[si].add(s / float64(len(chunk)))
	})
	out := make([]Band, len(sizes))
	for si, size := range sizes {
		b := accs[si].band(1)
		if math.IsNaN(b.Mean) {
			return nil
		}
		b.SD *= math.Sqrt(float64(n-1) / float64(n-size))
		out[si] = b
	}
	return out
}
