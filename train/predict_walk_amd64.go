package train

// walkGroups: see walkGroupsGo. The walks stay inside the tree and the
// groups (a node's slot is below 2 × features), checked here once.
func walkGroups(tr []lnode, leaf []float64, q []byte, groups, gs int, acc []float64) {
	if groups <= 0 {
		return
	}
	_, _, _, _ = tr[0], leaf[len(tr)-1], q[groups*gs-1], acc[groups*laneRows-1]
	walkGroupsAsm(&tr[0], &leaf[0], &q[0], groups, gs, &acc[0])
}

// walkTrees: see walkTreesGo.
func walkTrees(nodes []lnode, q *qRow, roots, leaves *[laneRows]uint32) {
	walkTreesAsm(&nodes[0], q, roots, leaves)
}

//go:noescape
func walkGroupsAsm(tr *lnode, leaf *float64, q *byte, groups, gs int, acc *float64)

//go:noescape
func walkTreesAsm(nodes *lnode, q *qRow, roots, leaves *[laneRows]uint32)

// searchCuts: see searchCutsGo. Every search stays inside keys (starts and
// sizes come from addCuts), and the outputs are checked here.
func searchCuts(keys []uint64, chunks []qchunk, kb []uint64, out []byte) {
	if len(chunks) == 0 {
		return
	}
	_ = kb[len(chunks)*laneRows-1]
	for c := range chunks {
		_ = out[chunks[c].out+15]
	}
	searchCutsAsm(&keys[0], &chunks[0], len(chunks), &kb[0], &out[0])
}

//go:noescape
func searchCutsAsm(keys *uint64, chunks *qchunk, n int, kb *uint64, out *byte)

// walkTreesSum: see walkTreesSumGo.
func walkTreesSum(nodes []lnode, leaf []float64, q *qRow, roots *[laneRows]uint32, s *float64) {
	_ = leaf[len(nodes)-1]
	walkTreesSumAsm(&nodes[0], &leaf[0], q, roots, s)
}

//go:noescape
func walkTreesSumAsm(nodes *lnode, leaf *float64, q *qRow, roots *[laneRows]uint32, s *float64)
