package train

// Lane walks: eight walks at once, each step i = i + delta + (q > cut) on
// 4-byte nodes, until all eight sit on leaves (a round in which every node
// is a leaf). The amd64 versions (predict_walk_amd64.s) keep the eight
// indexes in registers; walkGroupsGo and walkTreesGo are the same walks in
// Go, used elsewhere and as the reference in tests.

// walkGroupsGo walks the rows of each quantized group (gs bytes apart in q)
// through the tree whose root is tr[0] and adds the value of the leaf row k
// of group g reaches (leaf, parallel to tr) to acc[8g+k].
func walkGroupsGo(tr []lnode, leaf []float64, q []byte, groups, gs int, acc []float64) {
	for g := 0; g < groups; g++ {
		grp := q[g*gs : g*gs+gs]
		var idx [laneRows]int
		for {
			all := uint8(255)
			for k, i := range idx {
				n := tr[i]
				all &= n.cut
				idx[k] = i + int(n.delta) + int(b2u(grp[int(n.slot)*laneRows+k] > n.cut))
			}
			if all == 255 {
				break
			}
		}
		for k, i := range idx {
			acc[g*laneRows+k] += leaf[i]
		}
	}
}

// walkTreesGo walks one quantized row through eight trees (roots: node
// indexes in nodes) and writes the leaves reached (node indexes) to leaves.
func walkTreesGo(nodes []lnode, q *qRow, roots, leaves *[laneRows]uint32) {
	idx := *roots
	for {
		all := uint8(255)
		for k, i := range idx {
			n := nodes[i]
			all &= n.cut
			idx[k] = i + uint32(n.delta) + b2u(q[n.slot&511] > n.cut)
		}
		if all == 255 {
			break
		}
	}
	*leaves = idx
}

// walkTreesSumGo is walkTreesGo followed by *s += leaf[leaf k] for k = 0..7
// in order.
func walkTreesSumGo(nodes []lnode, leaf []float64, q *qRow, roots *[laneRows]uint32, s *float64) {
	var leaves [laneRows]uint32
	walkTreesGo(nodes, q, roots, &leaves)
	for _, i := range leaves {
		*s += leaf[i]
	}
}
