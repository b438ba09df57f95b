package train

// PredictBatch scores rows into dst (len(dst) >= len(rows)) with PredictRow
// semantics, splitting the rows over threads goroutines. Binary and
// regression models score two rows at a time so more tree walks overlap.
func (m *Model) PredictBatch(rows [][]float64, dst []float64, threads int) {
	parallelBlocks(len(rows), threads, func(_, lo, hi int) {
		i := lo
		if m.lin == nil && m.groups == 1 && m.objective != "multiclass" {
			for ; i+1 < hi; i += 2 {
				a, b := m.sumTreesPair(rows[i], rows[i+1])
				a += m.base[0]
				b += m.base[0]
				if m.objective == "binary" {
					a, b = sigmoid(a), sigmoid(b)
				}
				dst[i], dst[i+1] = a, b
			}
		}
		for ; i < hi; i++ {
			dst[i] = m.PredictRow(rows[i])
		}
	})
}

// sumTreesPair sums all trees for two rows, walking two trees for each row
// in lockstep (four independent walks).
func (m *Model) sumTreesPair(ra, rb []float64) (float64, float64) {
	fast, roots, depth := m.fast, m.roots, m.depth
	var sa, sb float64
	t := 0
	for ; t+1 < len(roots); t += 2 {
		d0, d1 := depth[t], depth[t+1]
		if d0 < 0 || d1 < 0 {
			sa += m.treeValue(roots[t], ra) + m.treeValue(roots[t+1], ra)
			sb += m.treeValue(roots[t], rb) + m.treeValue(roots[t+1], rb)
			continue
		}
		a0, a1 := uint32(roots[t]), uint32(roots[t+1])
		b0, b1 := a0, a1
		for d := max(d0, d1); d > 0; d-- {
			na0, na1, nb0, nb1 := &fast[a0], &fast[a1], &fast[b0], &fast[b1]
			p0, p1, q0, q1 := a0, a1, b0, b1
			a0 = na0.left&fIndex + step(na0, ra)
			a1 = na1.left&fIndex + step(na1, ra)
			b0 = nb0.left&fIndex + step(nb0, rb)
			b1 = nb1.left&fIndex + step(nb1, rb)
			if (p0^a0)|(p1^a1)|(q0^b0)|(q1^b1) == 0 {
				break // all four walks sit on leaves
			}
		}
		sa += m.leafVal[a0] + m.leafVal[a1]
		sb += m.leafVal[b0] + m.leafVal[b1]
	}
	for ; t < len(roots); t++ {
		sa += m.treeValue(roots[t], ra)
		sb += m.treeValue(roots[t], rb)
	}
	return sa, sb
}
