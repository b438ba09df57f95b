package train

// binTree is a bin-space tree laid out for walking bin matrices: each split
// holds the direction of all 256 bins of its feature as a bitmap (missing,
// numeric threshold and categorical sets alike), so a step is a table lookup
// with no branch on the split kind.
type binTree []binNode

type binNode struct {
	left  int32 // -1 for a leaf; the right child is left+1
	word  int32 // word of the packed row holding the feature's bin
	shift uint32
	bits  [4]uint64 // bit b set: bin b goes left
	value float64
}

// newBinTree lays out nodes (children of a split at consecutive indexes),
// reusing t's storage.
func newBinTree(t binTree, nodes []tnode, nv []int) binTree {
	t = t[:0]
	for i := range nodes {
		n := &nodes[i]
		bn := binNode{left: -1, value: n.value}
		if n.feature >= 0 {
			if n.right != n.left+1 {
				panic("train: split children not adjacent")
			}
			bn.left, bn.word, bn.shift = int32(n.left), int32(n.feature>>3), 8*uint32(n.feature&7)
			miss := uint8(nv[n.feature])
			for b := 0; b < histStride; b++ {
				if n.goLeft(uint8(b), miss) {
					bn.bits[b>>6] |= 1 << (b & 63)
				}
			}
		}
		t = append(t, bn)
	}
	return t
}

// leaf returns the leaf value for row r of bm.
func (t binTree) leaf(bm *binMatrix, r int) float64 {
	row := bm.words[r*bm.stride : r*bm.stride+bm.w]
	i := 0
	for t[i].left >= 0 {
		n := &t[i]
		b := uint8(row[n.word] >> (n.shift & 63))
		i = int(n.left) + 1 - int(n.bits[b>>6]>>(b&63)&1)
	}
	return t[i].value
}

// add adds the tree's value for every row of bm to dst[r*K+k].
func (t binTree) add(bm *binMatrix, dst []float64, K, k, threads int) {
	parallelBlocks(bm.rows, threads, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			dst[r*K+k] += t.leaf(bm, r)
		}
	})
}
