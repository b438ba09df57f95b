//go:build !amd64

package train

// walkGroups: see walkGroupsGo.
func walkGroups(tr []lnode, leaf []float64, q []byte, groups, gs int, acc []float64) {
	walkGroupsGo(tr, leaf, q, groups, gs, acc)
}

// walkTrees: see walkTreesGo.
func walkTrees(nodes []lnode, q *qRow, roots, leaves *[laneRows]uint32) {
	walkTreesGo(nodes, q, roots, leaves)
}

// searchCuts: see searchCutsGo.
func searchCuts(keys []uint64, chunks []qchunk, kb []uint64, out []byte) {
	searchCutsGo(keys, chunks, kb, out)
}

// walkTreesSum: see walkTreesSumGo.
func walkTreesSum(nodes []lnode, leaf []float64, q *qRow, roots *[laneRows]uint32, s *float64) {
	walkTreesSumGo(nodes, leaf, q, roots, s)
}
