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
	lo, hi int // range in grower.idx
	depth  int
	g, h   float64
	hist   int // histogram pool slot, -1 when released
	best   split
}

// grower grows one tree at a time from a binned matrix.
type grower struct {
	p       Params
	bm      *binMatrix
	nf      int
	nv      []int
	cat     []bool
	threads int
	gh      []float32 // packed gradient/hessian per row (float32, as XGBoost)
	idx     []int32   // row partition
	tmp     []int32
	pool    [][]featHist
	free    []int
	thrHist [][]featHist
	featOK  []bool
	q       []int64 // packed quantized gradient/hessian per row (see quantize)
	gScale  float64 // gradient per quantum
	hScale  float64 // hessian per quantum
	gBound  float64 // known bound of |gradient| (0: measure each tree)
	hBound  float64 // known bound of the hessian (0: measure each tree)
	seq     uint64  // trees grown (seeds the stochastic rounding)
	fbuf    [histStride]bin2
	cols    [][]uint8 // column-major copy of the bins (for partitioning)
	catBuf  []int
	nodes   []tnode
	leaves  []*leafState
}

func newGrower(p Params, bm *binMatrix, b *binner) *grower {
	g := &grower{p: p, bm: bm, nf: bm.nf, nv: b.nv, cat: make([]bool, bm.nf), threads: p.Threads,
		gh: make([]float32, 2*bm.rows), q: make([]int64, bm.rows), idx: make([]int32, bm.rows), tmp: make([]int32, bm.rows),
		featOK: make([]bool, bm.nf)}
	for f, k := range b.kinds {
		g.cat[f] = k == Categorical
	}
	g.cols = bm.cols
	g.thrHist = make([][]featHist, g.threads)
	for t := 1; t < g.threads; t++ {
		g.thrHist[t] = make([]featHist, g.nf)
	}
	return g
}

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

// rowsOf returns the row list of a leaf (nil = identity range for the root
// of a full-data tree).
func (g *grower) rowsOf(l *leafState, identity bool) []int32 {
	if identity {
		return nil
	}
	return g.idx[l.lo:l.hi]
}

// grow builds one tree over the first n entries of g.idx (identity when
// sampled is false) with the gradients in g.gh, and returns its nodes.
func (g *grower) grow(n int, sampled bool) []tnode {
	g.nodes = g.nodes[:0]
	g.leaves = g.leaves[:0]
	if !sampled {
		for i := range g.idx[:n] {
			g.idx[i] = int32(i)
		}
	}
	root := &leafState{node: 0, lo: 0, hi: n, hist: g.takeHist()}
	g.nodes = append(g.nodes, tnode{feature: -1})
	g.quantize(n, sampled)
	g.buildHist(g.pool[root.hist], g.rowsOf(root, !sampled), n)
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
	// leaf values from the exact (unquantized) gradient sums
	leaves := g.leaves
	parallelFor(len(leaves), g.threads, func(i int) {
		l := leaves[i]
		var sg, sh float64
		for _, r := range g.idx[l.lo:l.hi] {
			sg += float64(g.gh[2*r])
			sh += float64(g.gh[2*r+1])
		}
		g.nodes[l.node].value = -sg / (sh + g.p.Lambda) * g.p.LearningRate
	})
	for _, l := range leaves {
		g.release(l)
	}
	return g.nodes
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
	mid := g.partition(l, &tn)
	li, ri := len(g.nodes), len(g.nodes)+1
	tn.left, tn.right = li, ri
	g.nodes[l.node] = tn
	g.nodes = append(g.nodes, tnode{feature: -1}, tnode{feature: -1})
	left := &leafState{node: li, lo: l.lo, hi: mid, depth: l.depth + 1, g: s.lg, h: s.lh, hist: -1}
	right := &leafState{node: ri, lo: mid, hi: l.hi, depth: l.depth + 1, g: l.g - s.lg, h: l.h - s.lh, hist: -1}
	// children that can never split need no histograms
	depthOK := g.p.MaxDepth <= 0 || l.depth+1 < g.p.MaxDepth
	if !depthOK || len(g.leaves)+1 >= g.p.MaxLeaves {
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
	g.buildHist(g.pool[small.hist], g.idx[small.lo:small.hi], small.hi-small.lo)
	large.hist = l.hist
	l.hist = -1
	subtractHist(g.pool[large.hist], g.pool[small.hist])
	g.evaluate(left)
	g.evaluate(right)
	g.leaves[i] = left
	g.leaves = append(g.leaves, right)
}

// partition reorders idx[lo:hi] so rows going left come first (stable) and
// returns the boundary. It reads the column-major bins (rows ascend, so the
// reads are nearly sequential) through a 256-entry direction table.
func (g *grower) partition(l *leafState, tn *tnode) int {
	var dir [histStride]uint8
	miss := uint8(g.nv[tn.feature])
	for b := 0; b < histStride; b++ {
		if tn.goLeft(uint8(b), miss) {
			dir[b] = 1
		}
	}
	col := g.cols[tn.feature]
	idx := g.idx[l.lo:l.hi]
	tmp := g.tmp[:len(idx)]
	n := len(idx)
	t := g.threads
	if n < 65536 {
		t = 1
	}
	if t == 1 {
		nl := partitionChunk(idx, tmp, col, &dir)
		copy(idx[nl:], tmp[:n-nl])
		return l.lo + nl
	}
	// Each chunk partitions itself (lefts in place, rights into tmp at the
	// same offset); the parts are then joined in chunk order, so the result
	// equals the serial stable partition.
	left := make([]int, t)
	parallelBlocks(n, t, func(k, a, b int) {
		left[k] = partitionChunk(idx[a:b], tmp[a:b], col, &dir)
	})
	pos := 0
	for k := 0; k < t; k++ {
		a := k * n / t
		pos += copy(idx[pos:], idx[a:a+left[k]])
	}
	nl := pos
	for k := 0; k < t; k++ {
		a, b := k*n/t, (k+1)*n/t
		pos += copy(idx[pos:], tmp[a:a+(b-a-left[k])])
	}
	return l.lo + nl
}

// partitionChunk moves the rows of idx going left to its front (stable) and
// the others to the front of tmp; it returns the number going left.
func partitionChunk(idx, tmp []int32, col []uint8, dir *[histStride]uint8) int {
	tmp = tmp[:len(idx)]
	nl, nr := 0, 0
	for _, r := range idx {
		d := int(dir[col[r]])
		idx[nl] = r
		tmp[nr] = r
		nl += d
		nr += 1 - d
	}
	return nl
}

// treeLeafValue walks a bin-space tree for row r of a bin matrix.
func treeLeafValue(nodes []tnode, bm *binMatrix, nv []int, r int) float64 {
	row := bm.bins[r*bm.nf : r*bm.nf+bm.nf]
	i := 0
	for nodes[i].feature >= 0 {
		n := &nodes[i]
		if n.goLeft(row[n.feature], uint8(nv[n.feature])) {
			i = n.left
		} else {
			i = n.right
		}
	}
	return nodes[i].value
}
