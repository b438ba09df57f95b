package train

// predictBlock is the number of rows scored together, tree by tree.
const predictBlock = 64

// PredictBatch scores rows into dst (len(dst) >= len(rows)) with PredictRow
// semantics, splitting the rows over threads goroutines. Binary and
// regression tree models are scored tree-major over blocks of rows: the lane
// walker (predict_lanes.go) quantizes a block's rows once, then eight rows at
// a time walk each tree in lockstep; without it (no tree in lane form) four
// rows walk each tree on the float values. Multiclass and linear models are
// scored row by row (PredictRow, which uses the lane walker too).
func (m *Model) PredictBatch(rows [][]float64, dst []float64, threads int) {
	parallelBlocks(len(rows), threads, func(_, lo, hi int) {
		if m.lin != nil || m.groups != 1 || m.objective == "multiclass" {
			for i := lo; i < hi; i++ {
				dst[i] = m.PredictRow(rows[i])
			}
			return
		}
		var acc [predictBlock]float64
		var sc *blockScratch
		if m.lanes != nil {
			sc = m.lanes.newBlockScratch(predictBlock)
		}
		for b := lo; b < hi; b += predictBlock {
			blk := rows[b:min(b+predictBlock, hi)]
			if m.lanes != nil {
				m.lanes.sumBlock(m, blk, sc, acc[:len(blk)])
			} else {
				m.sumBlock(blk, acc[:len(blk)])
			}
			for j, s := range acc[:len(blk)] {
				s += m.base[0]
				if m.objective == "binary" {
					s = sigmoid(s)
				}
				dst[b+j] = s
			}
		}
	})
}

// sumBlock writes the summed tree values of each row into acc.
func (m *Model) sumBlock(rows [][]float64, acc []float64) {
	clear(acc)
	fast, leafVal := m.fast, m.leafVal
	// per group of four rows: none has a missing value
	var noNaN [predictBlock / 4]bool
	for j := 0; j+3 < len(rows); j += 4 {
		noNaN[j>>2] = !hasNaN(rows[j]) && !hasNaN(rows[j+1]) && !hasNaN(rows[j+2]) && !hasNaN(rows[j+3])
	}
	for t, root := range m.roots {
		d := m.depth[t]
		if d < 0 {
			for j, row := range rows {
				acc[j] += m.treeValue(root, row)
			}
			continue
		}
		j := 0
		for ; j+3 < len(rows); j += 4 {
			r0, r1, r2, r3 := rows[j], rows[j+1], rows[j+2], rows[j+3]
			i0, i1, i2, i3 := uint32(root), uint32(root), uint32(root), uint32(root)
			for s := d; s > 0; s-- {
				n0, n1, n2, n3 := &fast[i0], &fast[i1], &fast[i2], &fast[i3]
				p0, p1, p2, p3 := i0, i1, i2, i3
				if noNaN[j>>2] { // one comparison per step
					i0 = n0.left&fIndex + b2u(r0[n0.feat] > n0.thr)
					i1 = n1.left&fIndex + b2u(r1[n1.feat] > n1.thr)
					i2 = n2.left&fIndex + b2u(r2[n2.feat] > n2.thr)
					i3 = n3.left&fIndex + b2u(r3[n3.feat] > n3.thr)
				} else {
					i0 = n0.left&fIndex + step(n0, r0)
					i1 = n1.left&fIndex + step(n1, r1)
					i2 = n2.left&fIndex + step(n2, r2)
					i3 = n3.left&fIndex + step(n3, r3)
				}
				if (p0^i0)|(p1^i1)|(p2^i2)|(p3^i3) == 0 {
					break // all four walks sit on leaves
				}
			}
			acc[j] += leafVal[i0]
			acc[j+1] += leafVal[i1]
			acc[j+2] += leafVal[i2]
			acc[j+3] += leafVal[i3]
		}
		for ; j < len(rows); j++ {
			acc[j] += m.treeValue(root, rows[j])
		}
	}
}
