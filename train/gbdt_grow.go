package train

// tnode is a tree node in bin space, used while training.
type tnode struct {
	feature int // -1 for a leaf
	bin     int
	defLeft bool
	cat     bool
	catSet  [4]uint64
	left    int
	right   int
	value   float64
	gain    float64
}

// goLeft reports the direction of bin b at this node.
func (n *tnode) goLeft(b uint8, miss uint8) bool {
	if b == miss {
		return n.defLeft
	}
	if n.cat {
		return n.catSet[b>>6]&(1<<(b&63)) != 0
	}
	return int(b) <= n.bin
}

// leafState is a leaf being grown.
type leafState struct {
	node   int
	lo, hi int // range of records in its row set
	set    int // row set holding its rows: 0, 1 or rootSet
	depth  int
	g, h   float64
	hist   int // histogram pool slot, -1 when released
	best   split
}

// Rows are kept as records of g.rs words: the row's packed bins (g.w words,
// see binMatrix), its packed quantized gradient (word g.w, see quantize) and
// its row number (the top half of word g.w-1 when the bins leave 4 bytes
// free, else word g.w+1). Leaves own ranges of records in one of two row
// sets, so a leaf's histogram reads memory sequentially however its rows are
// spread over the data; splitting a leaf moves its records into the other
// set (see partition). The training bin matrix holds the records of every
// row in row order: rootSet.
const rootSet = -1

// grower grows one tree at a time from a binned matrix.
type grower struct {
	p        Params
	bm       *binMatrix
	nf       int
	w        int // bin words per record
	rs       int // words per record
	rowWord  int // word of a record holding its row number
	rowShift uint
	nv       []int
	cat      []bool
	threads  int
	gh       []float32 // packed gradient/hessian per row (float32, as XGBoost)
	sample   []int32   // rows of a subsampled tree, ascending (see booster.sample)
	sets     [2][]uint64
	leafOf   []int32 // leaf index (in leaves) of every row after a tree is grown
	pool     [][]featHist
	free     []int
	thrHist  [][]featHist
	featOK   []bool
	gScale   float64 // gradient per quantum
	hScale   float64 // hessian per quantum
	gBound   float64 // known bound of |gradient| (0: measure each tree)
	hBound   float64 // known bound of the hessian (0: measure each tree)
	seq      uint64  // trees grown (seeds the stochastic rounding)
	fbuf     [histStride]bin2
	catBuf   []int
	nodes    []tnode
	leaves   []*leafState
	sums     []bin2 // exact gradient sums per leaf
}

// recordExtra is the number of words a training bin matrix needs per row
// after its bins (see grower): the gradient, and the row number when the
// bins leave no 4 free bytes.
func recordExtra(nf int) int {
	if 8*rowWords(nf)-nf >= 4 {
		return 1
	}
	return 2
}

// newGrower makes a grower for bm, a bin matrix made with recordExtra(nf)
// extra words per row; it writes the row numbers into bm.
func newGrower(p Params, bm *binMatrix, b *binner) *grower {
	n := bm.rows
	g := &grower{p: p, bm: bm, nf: bm.nf, w: bm.w, rs: bm.stride, nv: b.nv, cat: make([]bool, bm.nf), threads: p.Threads,
		gh: make([]float32, 2*n), leafOf: make([]int32, n),
		featOK: make([]bool, bm.nf)}
	g.rowWord, g.rowShift = g.w+1, 0
	if 8*g.w-g.nf >= 4 {
		g.rowWord, g.rowShift = g.w-1, 32
	}
	if bm.stride != g.w+recordExtra(g.nf) {
		panic("train: grower needs a bin matrix with room for its records")
	}
	for r := 0; r < n; r++ {
		bm.words[r*g.rs+g.rowWord] |= uint64(r) << g.rowShift
	}
	for k := range g.sets {
		g.sets[k] = make([]uint64, n*g.rs)
	}
	if p.Subsample < 1 {
		g.sample = make([]int32, n)
	}
	for f, k := range b.kinds {
		g.cat[f] = k == Categorical
	}
	g.thrHist = make([][]featHist, g.threads)
	for t := 1; t < g.threads; t++ {
		g.thrHist[t] = make([]featHist, g.nf)
	}
	return g
}

// rowOf returns the row number of a record.
func (g *grower) rowOf(rec []uint64) int32 { return int32(uint32(rec[g.rowWord] >> g.rowShift)) }

// qOf returns the packed quantized gradient of row r.
func (g *grower) qOf(r int) int64 { return int64(g.bm.words[r*g.rs+g.w]) }

func (g *grower) takeHist() int {
	if n := len(g.free); n > 0 {
		s := g.free[n-1]
		g.free = g.free[:n-1]
		return s
	}
	g.pool = append(g.pool, make([]featHist, g.nf))
	return len(g.pool) - 1
}

func (g *grower) release(l *leafState) {
	if l.hist >= 0 {
		g.free = append(g.free, l.hist)
		l.hist = -1
	}
}

// set returns the records of row set k.
func (g *grower) set(k int) []uint64 {
	if k == rootSet {
		return g.bm.words
	}
	return g.sets[k]
}

// grow builds one tree over every row (sampled false) or over the n rows in
// g.sample, with the gradients in g.gh, and returns its nodes. Afterwards
// g.leafOf holds the leaf of every row grown on and g.leaves the leaves.
func (g *grower) grow(n int, sampled bool) []tnode {
	g.nodes = g.nodes[:0]
	g.leaves = g.leaves[:0]
	root := &leafState{node: 0, lo: 0, hi: n, set: rootSet, hist: g.takeHist()}
	g.nodes = append(g.nodes, tnode{feature: -1})
	g.quantize(n, sampled)
	if sampled {
		g.gatherSample(n)
		root.set = 0
	}
	g.buildHist(g.pool[root.hist], g.set(root.set), root.lo, root.hi)
	root.g, root.h = g.histTotals(g.pool[root.hist])
	g.evaluate(root)
	g.leaves = append(g.leaves, root)
	depthwise := g.p.Grow == "depthwise"
	for len(g.leaves) < g.p.MaxLeaves {
		pick := -1
		for i, l := range g.leaves {
			if !l.best.valid() {
				continue
			}
			if pick < 0 {
				pick = i
				continue
			}
			p := g.leaves[pick]
			if depthwise && l.depth != p.depth {
				if l.depth < p.depth {
					pick = i
				}
				continue
			}
			if l.best.gain > p.best.gain {
				pick = i
			}
		}
		if pick < 0 {
			break
		}
		g.splitLeaf(pick)
	}
	for _, l := range g.leaves {
		g.release(l)
	}
	g.leafValues(n, sampled)
	return g.nodes
}

// gatherSample copies the records of the sampled rows into row set 0, in
// sample order.
func (g *grower) gatherSample(n int) {
	dst, src, rs := g.sets[0], g.bm.words, g.rs
	parallelBlocks(n, g.threads, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(g.sample[i])
			copy(dst[i*rs:i*rs+rs], src[r*rs:r*rs+rs])
		}
	})
}

// leafValues sets the leaf values from the exact (unquantized) gradient
// sums, and g.leafOf. Each leaf's rows are added in ascending row order (a
// pass over the rows), so the sums do not depend on where partitions left
// the rows or on the thread count.
func (g *grower) leafValues(n int, sampled bool) {
	leafOf, rs := g.leafOf, g.rs
	parallelFor(len(g.leaves), g.threads, func(i int) {
		l := g.leaves[i]
		recs := g.set(l.set)[l.lo*rs : l.hi*rs]
		for k := 0; k < len(recs); k += rs {
			leafOf[g.rowOf(recs[k:k+rs])] = int32(i)
		}
	})
	sums := append(g.sums[:0], make([]bin2, len(g.leaves))...)
	g.sums = sums
	gh := g.gh
	if sampled {
		for _, r := range g.sample[:n] {
			s := &sums[leafOf[r]]
			s.g += float64(gh[2*r])
			s.h += float64(gh[2*r+1])
		}
	} else {
		leafOf = leafOf[:n]
		gh = gh[:2*n]
		for r, l := range leafOf {
			s := &sums[l]
			s.g += float64(gh[2*r])
			s.h += float64(gh[2*r+1])
		}
	}
	for i, l := range g.leaves {
		g.nodes[l.node].value = -sums[i].g / (sums[i].h + g.p.Lambda) * g.p.LearningRate
	}
}

// evaluate finds a leaf's best split, releasing its histogram if none.
func (g *grower) evaluate(l *leafState) {
	l.best = split{feature: -1}
	if g.p.MaxDepth <= 0 || l.depth < g.p.MaxDepth {
		l.best = g.findSplit(g.pool[l.hist], l.g, l.h, l.hi-l.lo)
	}
	if !l.best.valid() {
		g.release(l)
	}
}

// splitLeaf applies the best split of leaf i, building the smaller child's
// histogram and deriving the larger one by subtraction.
func (g *grower) splitLeaf(i int) {
	l := g.leaves[i]
	s := l.best
	tn := tnode{feature: s.feature, bin: s.bin, defLeft: s.defLeft, cat: s.cat, catSet: s.catSet, gain: s.gain}
	li, ri := len(g.nodes), len(g.nodes)+1
	tn.left, tn.right = li, ri
	// children that can never split need no histograms
	depthOK := g.p.MaxDepth <= 0 || l.depth+1 < g.p.MaxDepth
	final := !depthOK || len(g.leaves)+1 >= g.p.MaxLeaves
	to := 0
	if l.set == 0 {
		to = 1
	}
	mid := g.partition(g.set(l.set), g.sets[to], l.lo, l.hi, &tn)
	g.nodes[l.node] = tn
	g.nodes = append(g.nodes, tnode{feature: -1}, tnode{feature: -1})
	left := &leafState{node: li, lo: l.lo, hi: mid, set: to, depth: l.depth + 1, g: s.lg, h: s.lh, hist: -1}
	right := &leafState{node: ri, lo: mid, hi: l.hi, set: to, depth: l.depth + 1, g: l.g - s.lg, h: l.h - s.lh, hist: -1}
	if final {
		left.best.feature, right.best.feature = -1, -1
		g.release(l)
		g.leaves[i] = left
		g.leaves = append(g.leaves, right)
		return
	}
	small, large := left, right
	if left.hi-left.lo > right.hi-right.lo {
		small, large = right, left
	}
	small.hist = g.takeHist()
	g.buildHist(g.pool[small.hist], g.sets[to], small.lo, small.hi)
	large.hist = l.hist
	l.hist = -1
	subtractHist(g.pool[large.hist], g.pool[small.hist])
	g.evaluate(left)
	g.evaluate(right)
	g.leaves[i] = left
	g.leaves = append(g.leaves, right)
}

// partition moves the records at lo..hi of src to the same range of dst,
// those going left first, and returns the boundary. Each record is read once
// and written once (lefts forward from the start of a block, rights backward
// from its end), so the order within a child is not kept: nothing depends on
// it (leafValues sums in row order).
//
// With several threads each takes a block and the blocks' [lefts rights]
// pieces are then joined by swapping records between neighbouring pieces.
func (g *grower) partition(src, dst []uint64, lo, hi int, tn *tnode) int {
	var dir [histStride]uint8
	miss := uint8(g.nv[tn.feature])
	for b := 0; b < histStride; b++ {
		if tn.goLeft(uint8(b), miss) {
			dir[b] = 1
		}
	}
	n := hi - lo
	t := g.threads
	if n < 65536 {
		t = 1
	}
	rs := g.rs
	word, shift := tn.feature>>3, 8*uint(tn.feature&7)
	part := func(a, b int) int {
		s, d := src[a*rs:b*rs], dst[a*rs:b*rs]
		if rs == 5 {
			return partitionRecords5(s, d, word, shift, &dir)
		}
		return partitionRecords(s, d, rs, word, shift, &dir)
	}
	if t == 1 {
		return lo + part(lo, hi)
	}
	left := make([]int, t)
	parallelBlocks(n, t, func(k, a, b int) {
		left[k] = part(lo+a, lo+b)
	})
	// join: [L0 R0 | L1 R1 | ...] -> [L0 L1 ... | R...]
	nl := left[0]
	for k := 1; k < t; k++ {
		a := lo + k*n/t
		x := a - (lo + nl) // rights gathered so far, just before block k
		y := left[k]       // lefts of block k
		p := lo + nl
		if y <= x {
			g.swapRecords(dst, p, a, y)
		} else {
			g.swapRecords(dst, p, a+y-x, x)
		}
		nl += y
	}
	return lo + nl
}

// swapRecords exchanges the c records at i.. with the c records at j.. of s.
func (g *grower) swapRecords(s []uint64, i, j, c int) {
	rs := g.rs
	parallelBlocks(c, g.threads, func(_, a, b int) {
		x := s[(i+a)*rs : (i+b)*rs]
		y := s[(j+a)*rs : (j+b)*rs]
		y = y[:len(x)]
		for k := range x {
			x[k], y[k] = y[k], x[k]
		}
	})
}

// partitionRecords moves the records of src (rs words each) to dst, lefts
// forward from the start and rights backward from the end, and returns the
// number of lefts. The split feature's bin is the byte at shift of each
// record's word word.
func partitionRecords(src, dst []uint64, rs, word int, shift uint, dir *[histStride]uint8) int {
	n := len(src) / rs
	dst = dst[:len(src)]
	nl, nr := 0, n-1
	for i := 0; i < n; i++ {
		rec := src[i*rs : i*rs+rs]
		d := int(dir[uint8(rec[word]>>shift)])
		p := nr ^ ((nl ^ nr) & -d) // nl when going left, else nr
		copy(dst[p*rs:p*rs+rs], rec)
		nl += d
		nr += d - 1
	}
	return nl
}

// partitionRecords5 is partitionRecords for records of 5 words (25 to 28
// features).
func partitionRecords5(src, dst []uint64, word int, shift uint, dir *[histStride]uint8) int {
	n := len(src) / 5
	dst = dst[:5*n]
	word = min(word, 4)
	shift &= 63
	nl, nr := 0, n-1
	for len(src) >= 5 {
		s := src[:5:5]
		src = src[5:]
		d := int(dir[uint8(s[word]>>shift)])
		p := nr ^ ((nl ^ nr) & -d) // nl when going left, else nr
		o := dst[5*p : 5*p+5 : 5*p+5]
		o[0], o[1], o[2], o[3], o[4] = s[0], s[1], s[2], s[3], s[4]
		nl += d
		nr += d - 1
	}
	return nl
}
