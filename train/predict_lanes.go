package train

import "math"

// The lane walker scores numeric trees with one comparison per step and no
// missing-value branch. A row is first widened to two values per feature:
// x[2f] is the value with NaN replaced by -Inf (read by default-left nodes:
// NaN must go left, and -Inf > thr is false) and x[2f+1] the value with NaN
// replaced by +Inf (read by default-right nodes: +Inf > thr is true). For a
// finite threshold "x > thr" then decides exactly as the float walker's step
// does, so the same leaf is reached and scores are bit-identical.
//
// Trees are stored with tree-local node indexes in fixed 256-node arrays, so
// a step needs no bounds check on the node; leaves point at themselves with
// threshold +Inf, so walks may run past them. Trees with a categorical split,
// a non-finite threshold or more than 256 nodes keep the float walker
// (treeValue), and so does every tree of a model with more than 256 features.

// lnode is one node of a lane tree: the row goes to left+1 when
// x[slot] > thr, else to left.
type lnode struct {
	thr  float64
	meta uint32 // bits 0-8: slot in the widened row; bits 16-23: local left child
}

func (n *lnode) slot() uint32 { return n.meta & 511 }
func (n *lnode) left() uint32 { return n.meta >> 16 & 255 }

// ltree is a lane tree.
type ltree [256]lnode

// wideRow is a widened row (two values per feature, see above).
type wideRow = [512]float64

// linfo locates tree t's lane form.
type linfo struct {
	tree  int32 // index in laneWalker.trees, -1 for the float walker
	leaf  int32 // the leaf value of tree-local node i is at leaf+i
	depth int32 // longest root-to-leaf path
}

// laneWalker holds the lane form of a tree model.
type laneWalker struct {
	trees []ltree
	info  []linfo // per tree of the model
	leaf  []float64
}

// buildLanes returns the lane walker of m, or nil when no tree can use it.
// It reads m.nodes, m.roots and m.groups.
func buildLanes(m *Model) *laneWalker {
	if len(m.features) > 256 || len(m.roots) == 0 {
		return nil
	}
	w := &laneWalker{info: make([]linfo, len(m.roots))}
	// Trees are stored group by group (one group per class of a multiclass
	// model), so four consecutive trees of a group sit side by side.
	groups := max(m.groups, 1)
	for g := 0; g < groups; g++ {
		for t := g; t < len(m.roots); t += groups {
			w.addTree(m, m.roots[t], &w.info[t])
		}
	}
	if len(w.trees) == 0 {
		return nil
	}
	return w
}

// addTree appends the lane form of the tree at root and fills info (tree -1
// when the tree must keep the float walker).
func (w *laneWalker) addTree(m *Model, root int32, info *linfo) {
	info.tree = -1
	loc, ok := localNodes(m.nodes, root)
	if !ok {
		return
	}
	info.tree, info.leaf = int32(len(w.trees)), int32(len(w.leaf))
	w.trees = append(w.trees, ltree{})
	lt := &w.trees[len(w.trees)-1]
	w.leaf = append(w.leaf, make([]float64, len(loc))...)
	depth := make([]int32, len(loc))
	next := 1 // localNodes numbered the children breadth-first, in pairs
	for li, i := range loc {
		n := &m.nodes[i]
		if n.feature < 0 {
			lt[li] = lnode{thr: math.Inf(1), meta: uint32(li) << 16}
			w.leaf[int(info.leaf)+li] = n.value
			info.depth = max(info.depth, depth[li])
			continue
		}
		slot := 2 * uint32(n.feature)
		if !n.defLeft {
			slot++
		}
		lt[li] = lnode{thr: n.threshold, meta: slot | uint32(next)<<16}
		depth[next], depth[next+1] = depth[li]+1, depth[li]+1
		next += 2
	}
}

// localNodes lists the nodes of the tree at root breadth-first, children in
// pairs (as training stores them). It reports false when the tree has a
// categorical split, a non-finite threshold or more than 256 nodes.
func localNodes(nodes []node, root int32) ([]int32, bool) {
	loc := []int32{root}
	for q := 0; q < len(loc); q++ {
		n := &nodes[loc[q]]
		if n.feature < 0 {
			continue
		}
		if n.catWords > 0 || math.IsNaN(n.threshold) || math.IsInf(n.threshold, 0) || len(loc)+2 > 256 {
			return nil, false
		}
		loc = append(loc, n.left, n.left+1)
	}
	return loc, true
}

// widen writes the widened form of row into x.
func widen(row []float64, x *wideRow) {
	for f, v := range row[:min(len(row), 256)] {
		lo, hi := v, v
		if v != v {
			lo, hi = math.Inf(-1), math.Inf(1)
		}
		x[2*f&511], x[(2*f+1)&511] = lo, hi
	}
}

// widenBlock widens rows into buf with a stride of 2 values per feature and
// returns a pointer per row. Each pointer's array runs past its row into the
// next ones (buf has a wideRow of slack at the end); a row's walk reads only
// its own 2×features slots.
func widenBlock(rows [][]float64, nf int, buf []float64, xs []*wideRow) {
	stride := 2 * nf
	for j, row := range rows {
		x := (*wideRow)(buf[j*stride : j*stride+len(wideRow{})])
		widen(row[:nf], x)
		xs[j] = x
	}
}

// sumBlock writes the summed tree values of each row into acc, tree by tree
// (one tree's nodes stay in L1 while four rows walk it in lockstep). buf and
// xs are scratch space from newBlockScratch.
func (w *laneWalker) sumBlock(m *Model, rows [][]float64, buf []float64, xs []*wideRow, acc []float64) {
	clear(acc)
	xs = xs[:len(rows)]
	widenBlock(rows, len(m.features), buf, xs)
	leaf := w.leaf
	for t := 0; t < len(w.info); t++ {
		in := &w.info[t]
		if in.tree < 0 {
			for j, row := range rows {
				acc[j] += m.treeValue(m.roots[t], row)
			}
			continue
		}
		if t+1 < len(w.info) && w.info[t+1].tree >= 0 {
			// two trees at once; each row still adds tree t, then t+1
			in2 := &w.info[t+1]
			ta, tb := &w.trees[in.tree], &w.trees[in2.tree]
			la, lb := int(in.leaf), int(in2.leaf)
			d := max(in.depth, in2.depth)
			j := 0
			for ; j+3 < len(xs); j += 4 {
				a0, a1, a2, a3, b0, b1, b2, b3 := walkRows4x2(ta, tb, xs[j], xs[j+1], xs[j+2], xs[j+3], d)
				acc[j] = acc[j] + leaf[la+int(a0)] + leaf[lb+int(b0)]
				acc[j+1] = acc[j+1] + leaf[la+int(a1)] + leaf[lb+int(b1)]
				acc[j+2] = acc[j+2] + leaf[la+int(a2)] + leaf[lb+int(b2)]
				acc[j+3] = acc[j+3] + leaf[la+int(a3)] + leaf[lb+int(b3)]
			}
			for ; j < len(xs); j++ {
				acc[j] += w.walkOne(ta, la, in.depth, xs[j])
				acc[j] += w.walkOne(tb, lb, in2.depth, xs[j])
			}
			t++
			continue
		}
		tr := &w.trees[in.tree]
		for j := range xs {
			acc[j] += w.walkOne(tr, int(in.leaf), in.depth, xs[j])
		}
	}
}

// walkOne returns the leaf value one row reaches in a lane tree.
func (w *laneWalker) walkOne(tr *ltree, leaf int, depth int32, x *wideRow) float64 {
	var i uint32
	for k := depth; k > 0; k-- {
		n := &tr[i&255]
		i = n.left() + b2u(x[n.slot()] > n.thr)
	}
	return w.leaf[leaf+int(i&255)]
}

// newBlockScratch returns the scratch space sumBlock needs for blocks of up
// to rows rows.
func (w *laneWalker) newBlockScratch(m *Model, rows int) ([]float64, []*wideRow) {
	return make([]float64, rows*2*len(m.features)+len(wideRow{})), make([]*wideRow, rows)
}

// walkRows4x2 walks two trees for four rows, depth steps: eight independent
// walks overlap, enough to hide the latency of a step.
func walkRows4x2(ta, tb *ltree, x0, x1, x2, x3 *wideRow, depth int32) (a0, a1, a2, a3, b0, b1, b2, b3 uint32) {
	for k := depth; k > 0; k-- {
		n0, n1, n2, n3 := &ta[a0&255], &ta[a1&255], &ta[a2&255], &ta[a3&255]
		m0, m1, m2, m3 := &tb[b0&255], &tb[b1&255], &tb[b2&255], &tb[b3&255]
		a0 = n0.left() + b2u(x0[n0.slot()] > n0.thr)
		a1 = n1.left() + b2u(x1[n1.slot()] > n1.thr)
		a2 = n2.left() + b2u(x2[n2.slot()] > n2.thr)
		a3 = n3.left() + b2u(x3[n3.slot()] > n3.thr)
		b0 = m0.left() + b2u(x0[m0.slot()] > m0.thr)
		b1 = m1.left() + b2u(x1[m1.slot()] > m1.thr)
		b2 = m2.left() + b2u(x2[m2.slot()] > m2.thr)
		b3 = m3.left() + b2u(x3[m3.slot()] > m3.thr)
	}
	return a0 & 255, a1 & 255, a2 & 255, a3 & 255, b0 & 255, b1 & 255, b2 & 255, b3 & 255
}
