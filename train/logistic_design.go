package train

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/floats"
)

// lrBlock is the row-block size of the logistic-regression passes. Partial
// sums are kept per block and reduced in block order, so results do not
// depend on the number of workers.
const lrBlock = 4096

// lrEncoding is the input encoding learned on the training set: numeric
// features standardised with Mean/Scale (missing = mean), categorical
// features one-hot encoded over the training levels (missing = all zeros).
type lrEncoding struct {
	numFeat []int     // dataset feature index of each numeric input
	mean    []float64 // per numeric input
	scale   []float64 // per numeric input (1 for constant columns)
	catFeat []int     // dataset feature index of each categorical feature
	catOff  []int     // offset of each categorical feature's one-hot block
	levels  [][]string
	nCoef   int // numeric inputs + one-hot inputs
}

// newLREncoding computes the encoding on the training data.
func newLREncoding(ds *Dataset) *lrEncoding {
	e := &lrEncoding{}
	for f, k := range ds.Kinds {
		if k == Categorical {
			e.catFeat = append(e.catFeat, f)
			continue
		}
		var n, sum float64
		for _, v := range ds.Num[f] {
			if !math.IsNaN(v) {
				n++
				sum += v
			}
		}
		mu := 0.0
		if n > 0 {
			mu = sum / n
		}
		var ss float64
		for _, v := range ds.Num[f] {
			if !math.IsNaN(v) {
				d := v - mu
				ss += d * d
			}
		}
		sd := 1.0
		if n > 0 && ss > 0 {
			sd = math.Sqrt(ss / n)
		}
		e.numFeat = append(e.numFeat, f)
		e.mean = append(e.mean, mu)
		e.scale = append(e.scale, sd)
	}
	e.nCoef = len(e.numFeat)
	for _, f := range e.catFeat {
		e.catOff = append(e.catOff, e.nCoef)
		e.levels = append(e.levels, ds.Levels[f])
		e.nCoef += len(ds.Levels[f])
	}
	return e
}

// lrDesign is a dataset seen through an encoding, ready for the passes.
// Numeric columns are used in place when they have no missing value and a
// moderate mean; otherwise a centred copy (missing = 0) is made, and shift
// records what was subtracted.
type lrDesign struct {
	rows  int
	num   [][]float64 // raw or centred numeric columns
	shift []float64   // per numeric input: mean still to subtract (0 for centred copies)
	codes [][]int32   // per categorical feature, in training codes (-1 = missing)
	y     []float64   // class index per row (nil without target)
}

func newLRDesign(e *lrEncoding, ds *Dataset, train *Dataset) (*lrDesign, error) {
	col := make(map[string]int, len(ds.Names))
	for j, n := range ds.Names {
		col[n] = j
	}
	find := func(f int, kind ColumnKind) (int, error) {
		name := train.Names[f]
		if ds != train {
			j, ok := col[name]
			if !ok {
				return 0, fmt.Errorf("column %q: in the training data but not in the validation data", name)
			}
			if ds.Kinds[j] != kind {
				return 0, fmt.Errorf("column %q: %s in the training data, %s in the validation data", name, kind, ds.Kinds[j])
			}
			return j, nil
		}
		return f, nil
	}
	d := &lrDesign{rows: ds.Rows, y: ds.Target}
	for i, f := range e.numFeat {
		j, err := find(f, Numeric)
		if err != nil {
			return nil, err
		}
		src := ds.Num[j]
		mu, sd := e.mean[i], e.scale[i]
		missing := false
		for _, v := range src {
			if math.IsNaN(v) {
				missing = true
				break
			}
		}
		if !missing && math.Abs(mu) <= 16*sd {
			d.num = append(d.num, src)
			d.shift = append(d.shift, mu)
			continue
		}
		c := make([]float64, len(src))
		for r, v := range src {
			if !math.IsNaN(v) {
				c[r] = v - mu
			}
		}
		d.num = append(d.num, c)
		d.shift = append(d.shift, 0)
	}
	for ci, f := range e.catFeat {
		j, err := find(f, Categorical)
		if err != nil {
			return nil, err
		}
		codes := ds.Codes[j]
		if ds != train && !sameLevels(ds.Levels[j], e.levels[ci]) {
			pos := make(map[string]int32, len(e.levels[ci]))
			for c, lv := range e.levels[ci] {
				pos[lv] = int32(c)
			}
			remap := make([]int32, len(ds.Levels[j]))
			for c, lv := range ds.Levels[j] {
				p, ok := pos[lv]
				if !ok {
					p = -1 // unseen level: no one-hot input, like handle_unknown="ignore"
				}
				remap[c] = p
			}
			nc := make([]int32, len(codes))
			for r, c := range codes {
				nc[r] = -1
				if c >= 0 {
					nc[r] = remap[c]
				}
			}
			codes = nc
		}
		d.codes = append(d.codes, codes)
	}
	return d, nil
}

func sameLevels(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lrPass evaluates the model with parameters x on a design: the summed log
// loss and, when grad is non-nil, the summed gradient with respect to x
// (before penalty and scaling). k is the number of coefficient rows (1 for
// binary, K for multinomial); x holds k rows of nCoef coefficients plus an
// intercept. When proba is non-nil it receives P(class 1) (binary) or the
// class probabilities row-major (multinomial).
type lrPass struct {
	e       *lrEncoding
	d       *lrDesign
	k       int
	workers int
	blocks  int
	// per block partial results, reduced in block order
	bLoss []float64
	bGrad []float64 // blocks × (k × (nNum + 1)) raw numeric sums and residual sums
	bCat  []float64 // blocks × (k × nOneHot)
	// per worker scratch
	scratch [][]float64
	// per-evaluation derived weights
	a  []float64 // k × nNum: coefficient / scale
	c0 []float64 // k: folded intercept
}

func newLRPass(e *lrEncoding, d *lrDesign, k, workers int) *lrPass {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	blocks := (d.rows + lrBlock - 1) / lrBlock
	workers = max(1, min(workers, blocks))
	nNum := len(e.numFeat)
	p := &lrPass{
		e: e, d: d, k: k, workers: workers, blocks: blocks,
		bLoss: make([]float64, blocks),
		bGrad: make([]float64, blocks*k*(nNum+1)),
		bCat:  make([]float64, blocks*k*(e.nCoef-nNum)),
		a:     make([]float64, k*nNum),
		c0:    make([]float64, k),
	}
	p.scratch = make([][]float64, workers)
	for w := range p.scratch {
		p.scratch[w] = make([]float64, 2*k*lrBlock)
	}
	return p
}

// run computes the loss (summed over rows) and, if grad != nil, the gradient
// (summed over rows, no penalty) at x; proba, if non-nil, receives the
// predicted probabilities.
func (p *lrPass) run(x, grad, proba []float64) float64 {
	e, k := p.e, p.k
	nNum, stride := len(e.numFeat), e.nCoef+1
	for r := 0; r < k; r++ {
		w := x[r*stride:]
		c := w[e.nCoef]
		for j := 0; j < nNum; j++ {
			a := w[j] / e.scale[j]
			p.a[r*nNum+j] = a
			c -= a * p.d.shift[j]
		}
		p.c0[r] = c
	}
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < p.workers; w++ {
		wg.Add(1)
		go func(s []float64) {
			defer wg.Done()
			for {
				mu.Lock()
				b := next
				next++
				mu.Unlock()
				if b >= p.blocks {
					return
				}
				p.block(b, x, s, grad != nil, proba)
			}
		}(p.scratch[w])
	}
	wg.Wait()
	var loss float64
	for b := 0; b < p.blocks; b++ {
		loss += p.bLoss[b]
	}
	if grad == nil {
		return loss
	}
	clear(grad)
	gw := k * (nNum + 1)
	nOne := e.nCoef - nNum
	raw := make([]float64, gw)
	for b := 0; b < p.blocks; b++ {
		floats.Add(raw, p.bGrad[b*gw:(b+1)*gw])
		for r := 0; r < k; r++ {
			floats.Add(grad[r*stride+nNum:r*stride+e.nCoef], p.bCat[(b*k+r)*nOne:(b*k+r+1)*nOne])
		}
	}
	for r := 0; r < k; r++ {
		rs := raw[r*(nNum+1)+nNum] // sum of residuals
		for j := 0; j < nNum; j++ {
			grad[r*stride+j] = (raw[r*(nNum+1)+j] - p.d.shift[j]*rs) / e.scale[j]
		}
		grad[r*stride+e.nCoef] = rs
	}
	return loss
}

// block processes rows [b*lrBlock, ...) with scratch s.
func (p *lrPass) block(b int, x, s []float64, wantGrad bool, proba []float64) {
	e, d, k := p.e, p.d, p.k
	nNum, stride := len(e.numFeat), e.nCoef+1
	lo := b * lrBlock
	hi := min(lo+lrBlock, d.rows)
	m := hi - lo
	z := s[:k*m] // class-major: z[r*m+i]
	for r := 0; r < k; r++ {
		zr := z[r*m : (r+1)*m]
		c := p.c0[r]
		for i := range zr {
			zr[i] = c
		}
		for j := 0; j < nNum; j++ {
			if a := p.a[r*nNum+j]; a != 0 {
				floats.AddScaled(zr, a, d.num[j][lo:hi])
			}
		}
		w := x[r*stride:]
		for ci, codes := range d.codes {
			wc := w[e.catOff[ci]:]
			for i, cd := range codes[lo:hi] {
				if cd >= 0 {
					zr[i] += wc[cd]
				}
			}
		}
	}
	var y []float64
	if d.y != nil {
		y = d.y[lo:hi]
	}
	var loss float64
	if k == 1 {
		// z becomes the residual p - y in place.
		for i, zi := range z {
			t := math.Exp(-math.Abs(zi))
			var pr float64
			if zi >= 0 {
				pr = 1 / (1 + t)
			} else {
				pr = t / (1 + t)
			}
			if proba != nil {
				proba[lo+i] = pr
			}
			if y != nil {
				loss += math.Log1p(t) + max(zi, 0) - y[i]*zi
				z[i] = pr - y[i]
			}
		}
	} else {
		ex := s[k*m : 2*k*m]
		for i := 0; i < m; i++ {
			mx := z[i]
			for r := 1; r < k; r++ {
				mx = max(mx, z[r*m+i])
			}
			var sum float64
			for r := 0; r < k; r++ {
				v := math.Exp(z[r*m+i] - mx)
				ex[r*m+i] = v
				sum += v
			}
			inv := 1 / sum
			if y != nil {
				yi := int(y[i])
				loss += math.Log(sum) + mx - z[yi*m+i]
			}
			for r := 0; r < k; r++ {
				pr := ex[r*m+i] * inv
				if proba != nil {
					proba[(lo+i)*k+r] = pr
				}
				if y != nil {
					if int(y[i]) == r {
						pr--
					}
					z[r*m+i] = pr
				}
			}
		}
	}
	p.bLoss[b] = loss
	if !wantGrad {
		return
	}
	gw := k * (nNum + 1)
	g := p.bGrad[b*gw : (b+1)*gw]
	nOne := e.nCoef - nNum
	for r := 0; r < k; r++ {
		res := z[r*m : (r+1)*m]
		for j := 0; j < nNum; j++ {
			g[r*(nNum+1)+j] = floats.Dot(d.num[j][lo:hi], res)
		}
		g[r*(nNum+1)+nNum] = floats.Sum(res)
		gc := p.bCat[(b*k+r)*nOne : (b*k+r+1)*nOne]
		clear(gc)
		for ci, codes := range d.codes {
			off := e.catOff[ci] - nNum
			for i, cd := range codes[lo:hi] {
				if cd >= 0 {
					gc[off+int(cd)] += res[i]
				}
			}
		}
	}
}
