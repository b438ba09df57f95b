package train

import (
	"math"
	"math/bits"
	"slices"
)

// The lane walker scores numeric trees on quantized rows. Per feature, the
// distinct thresholds of the model's numeric splits are sorted into cuts; a
// row value x becomes q = the number of cuts below x, one byte. A split on
// the j-th cut of its feature sends x right iff x > cut[j] iff q > j, so a
// tree step is one byte comparison against 4-byte nodes (a 31-leaf tree takes
// 244 bytes, a 100-tree model 24 KB).
//
// Missing values: a row keeps two bytes per feature, lo and hi, equal for a
// value; for NaN lo = 0 (no split sends it right: default left) and hi = 255
// (every split sends it right: default right, as !(NaN <= thr)). Each node
// reads the byte of its default direction. Infinities need no care: a cut may
// be ±Inf and q counts cuts strictly below x like any other value.
//
// So the walker reaches the float walker's leaf for every row, and the leaf
// values are added in the same order: scores are bit-identical. Trees with a
// categorical split, a NaN threshold or more than 256 nodes, and trees
// splitting on a feature with more than 255 distinct thresholds, keep the
// float walker (treeValue), in their place in the sum; a model with more than
// 256 features keeps it for every tree.
//
// Batches (sumBlock) are scored tree by tree over blocks of rows, eight rows
// walking a tree in lockstep; a single row (sumRow) walks eight trees in
// lockstep. Both loops are in assembly on amd64 (predict_walk_amd64.s: Go's
// register allocator spills eight walks), with the same walks in Go
// (predict_walk.go) elsewhere and as the tests' reference.

// lnode is one lane node. A step from node i goes to i + delta + (q > cut),
// q being the row's byte for slot (slot = 2 × feature, +1 for a default-right
// split). A leaf has cut 255 (no byte exceeds it) and delta 0: it points at
// itself, so a walk may run past it.
type lnode struct {
	slot  uint16
	cut   uint8
	delta uint8 // left child - i: children are stored in pairs after their parent
}

// leafNode is the lane form of a leaf.
var leafNode = lnode{cut: 255}

// laneRows is the number of walks made together; a group of quantized rows
// holds byte slot s of row k at 8s+k.
const laneRows = 8

// qRow is one quantized row (byte slot = 2 × feature + default right).
type qRow = [512]byte

// linfo locates tree t's lane form.
type linfo struct {
	tree int32 // index of its root in laneWalker.nodes; -1 for the float walker
}

// qchunk is one binary search over cut keys for eight keys at once: lane k
// searches the size keys from start[k] (size is a power of two, the keys
// padded with math.MaxUint64, which no key is below) and its count goes to
// bytes out+k and out+8+k of the output.
type qchunk struct {
	start [laneRows]uint32
	size  uint32
	out   uint32
}

// rowChunk is up to eight trees of an output group, walked together for
// one row.
type rowChunk struct {
	roots [laneRows]uint32 // lane roots in laneWalker.nodes; 0 (the spare leaf) for a float tree or no tree
	trees [laneRows]int32  // the model's tree indexes
	n     int              // trees in the chunk
	float bool             // some tree keeps the float walker
}

// laneWalker holds the lane form of a tree model.
type laneWalker struct {
	nf    int          // model features
	used  []int32      // features that some lane node splits on, by padded cut count, largest first
	keys  []uint64     // 256 × MaxUint64, then the cut keys of each used feature, padded
	batch []qchunk     // per used feature: eight rows searching its cuts
	row   []qchunk     // eight used features at a time (in used order) for one row
	nodes []lnode      // nodes[0] is a spare leaf, then the lane trees one after another
	leaf  []float64    // leaf values, parallel to nodes
	info  []linfo      // per tree of the model
	trees [][]rowChunk // per output group: its trees in order, eight at a time
}

// maxLaneCuts bounds the distinct thresholds of a feature (q must fit in a
// byte with 255 left for a missing default-right value).
const maxLaneCuts = 255

// buildLanes returns the lane walker of m, or nil when no tree can use it.
// It reads m.nodes, m.roots, m.groups and m.features.
func buildLanes(m *Model) *laneWalker {
	nf := len(m.features)
	if nf > 256 || len(m.roots) == 0 {
		return nil
	}
	// trees whose nodes are all numeric with a non-NaN threshold
	locs := make([][]int32, len(m.roots))
	for t, r := range m.roots {
		locs[t], _ = localNodes(m.nodes, r)
	}
	// features with too many distinct thresholds exclude their trees
	for {
		cut := distinctCuts(m, locs)
		bad := make([]bool, nf)
		found := false
		for f, c := range cut {
			if len(c) > maxLaneCuts {
				bad[f], found = true, true
			}
		}
		if !found {
			break
		}
		for t, loc := range locs {
			for _, i := range loc {
				if n := &m.nodes[i]; n.feature >= 0 && bad[n.feature] {
					locs[t] = nil
					break
				}
			}
		}
	}
	w := &laneWalker{nf: nf, info: make([]linfo, len(m.roots)), nodes: []lnode{leafNode}, leaf: []float64{0}}
	cut := distinctCuts(m, locs)
	w.addCuts(cut)
	// Trees are stored group by group (one group per class of a multiclass
	// model), so the trees of a group sit side by side.
	groups := max(m.groups, 1)
	w.trees = make([][]rowChunk, groups)
	lanes := false
	for g := 0; g < groups; g++ {
		var ch rowChunk
		for t := g; t < len(m.roots); t += groups {
			w.info[t] = linfo{tree: -1}
			if locs[t] != nil {
				w.addTree(m, locs[t], cut, &w.info[t])
				lanes = true
				ch.roots[ch.n] = uint32(w.info[t].tree)
			} else {
				ch.float = true
			}
			ch.trees[ch.n] = int32(t)
			if ch.n++; ch.n == laneRows {
				w.trees[g] = append(w.trees[g], ch)
				ch = rowChunk{}
			}
		}
		if ch.n > 0 {
			w.trees[g] = append(w.trees[g], ch)
		}
	}
	if !lanes {
		return nil
	}
	return w
}

// addCuts lays out the cut keys and the searches over them.
func (w *laneWalker) addCuts(cut [][]float64) {
	size := func(f int32) uint32 { return 1 << bits.Len(uint(len(cut[f]))) } // >= cuts+1: one padding key at least
	for f, c := range cut {
		if len(c) > 0 {
			w.used = append(w.used, int32(f))
		}
	}
	slices.SortStableFunc(w.used, func(a, b int32) int { return int(size(b)) - int(size(a)) })
	w.keys = make([]uint64, 256, 256+8*len(w.used))
	for i := range w.keys {
		w.keys[i] = math.MaxUint64
	}
	for c := 0; c < len(w.used); c += laneRows {
		chunk := w.used[c:min(c+laneRows, len(w.used))]
		rc := qchunk{size: size(chunk[0]), out: 16 * uint32(c/laneRows)} // the largest first
		for k, f := range chunk {
			at := uint32(len(w.keys))
			rc.start[k] = at
			var b qchunk
			for j := range b.start {
				b.start[j] = at
			}
			b.size, b.out = size(f), 16*uint32(f)
			w.batch = append(w.batch, b)
			for _, v := range cut[f] {
				w.keys = append(w.keys, orderKey(v))
			}
			for j := len(cut[f]); j < int(rc.size); j++ {
				w.keys = append(w.keys, math.MaxUint64)
			}
		}
		w.row = append(w.row, rc) // spare lanes search the 256 MaxUint64s
	}
}

// orderKey maps a non-NaN float64 to a uint64 with the same order; -0 and
// +0 map to the same key, as they compare equal.
func orderKey(v float64) uint64 {
	b := math.Float64bits(v + 0) // -0 + 0 = +0
	return b ^ (uint64(int64(b)>>63) | 1<<63)
}

// rowKey returns the order key of a row value, math.MaxUint64 for NaN.
func rowKey(v float64) uint64 {
	if v != v {
		return math.MaxUint64
	}
	return orderKey(v)
}

// distinctCuts returns per feature the sorted distinct thresholds of the
// nodes listed in locs (-0 and +0 count once: they compare equal).
func distinctCuts(m *Model, locs [][]int32) [][]float64 {
	cut := make([][]float64, len(m.features))
	for _, loc := range locs {
		for _, i := range loc {
			if n := &m.nodes[i]; n.feature >= 0 {
				cut[n.feature] = append(cut[n.feature], n.threshold)
			}
		}
	}
	for f, c := range cut {
		slices.Sort(c)
		cut[f] = slices.CompactFunc(c, func(a, b float64) bool { return a == b })
	}
	return cut
}

// addTree appends the lane form of the tree whose nodes loc lists and fills info.
func (w *laneWalker) addTree(m *Model, loc []int32, cut [][]float64, info *linfo) {
	info.tree = int32(len(w.nodes))
	next := 1 // localNodes numbered the children breadth-first, in pairs
	for li, i := range loc {
		n := &m.nodes[i]
		if n.feature < 0 {
			w.nodes = append(w.nodes, leafNode)
			w.leaf = append(w.leaf, n.value)
			continue
		}
		slot := 2 * uint16(n.feature)
		if !n.defLeft {
			slot++
		}
		j, _ := slices.BinarySearchFunc(cut[n.feature], n.threshold, func(a, b float64) int {
			switch {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		})
		w.nodes = append(w.nodes, lnode{slot: slot, cut: uint8(j), delta: uint8(next - li)})
		w.leaf = append(w.leaf, 0)
		next += 2
	}
}

// localNodes lists the nodes of the tree at root breadth-first, children in
// pairs (as training stores them). It reports false when the tree has a
// categorical split, a NaN threshold or more than 256 nodes.
func localNodes(nodes []node, root int32) ([]int32, bool) {
	loc := []int32{root}
	for q := 0; q < len(loc); q++ {
		n := &nodes[loc[q]]
		if n.feature < 0 {
			continue
		}
		if n.catWords > 0 || math.IsNaN(n.threshold) || len(loc)+2 > 256 {
			return nil, false
		}
		loc = append(loc, n.left, n.left+1)
	}
	return loc, true
}

// quantizeRow writes the bytes of row into q: slot 2f gets lo, 2f+1 hi
// (lo = hi = the number of cuts below the value; for NaN lo = 0, hi = 255).
func (w *laneWalker) quantizeRow(row []float64, q *qRow) {
	row = row[:w.nf]
	var kr [256]uint64 // row keys in used order; 0 for spare lanes
	var cnt [512]byte  // the counts, 16 bytes per chunk of w.row
	for i, f := range w.used {
		kr[i&255] = rowKey(row[f])
	}
	searchCuts(w.keys, w.row, kr[:len(w.row)*laneRows], cnt[:])
	for i, f := range w.used {
		c := cnt[i>>3<<4&511|i&7]
		nan := byte(0)
		if kr[i&255] == math.MaxUint64 {
			nan = 255
		}
		q[2*f&511], q[(2*f+1)&511] = c&^nan, c|nan
	}
}

// quantizeGroup writes the bytes of up to laneRows rows into g, row k of
// slot s at g[8s+k]; kb is scratch of laneRows × len(used) keys.
func (w *laneWalker) quantizeGroup(rows [][]float64, g []byte, kb []uint64) {
	nan := false
	for k, row := range rows {
		row = row[:w.nf]
		for i, f := range w.used {
			v := row[f]
			kb[i*laneRows+k] = rowKey(v)
			nan = nan || v != v
		}
	}
	searchCuts(w.keys, w.batch, kb, g)
	if !nan {
		return
	}
	for k, row := range rows {
		for _, f := range w.used {
			if row[f] != row[f] {
				g[16*f+int32(k)], g[16*f+8+int32(k)] = 0, 255
			}
		}
	}
}

// searchCutsGo runs the searches of chunks; chunk c's lane k searches for
// key kb[8c+k] and writes the number of cut keys below it to out[o+k] and
// out[o+8+k] (o = the chunk's out).
func searchCutsGo(keys []uint64, chunks []qchunk, kb []uint64, out []byte) {
	for c := range chunks {
		ch := &chunks[c]
		for k, key := range kb[c*laneRows : c*laneRows+laneRows] {
			pos := ch.start[k]
			for step := ch.size >> 1; step > 0; step >>= 1 {
				_, below := bits.Sub64(keys[pos+step-1], key, 0)
				pos += step & -uint32(below)
			}
			n := byte(pos - ch.start[k])
			out[ch.out+uint32(k)], out[ch.out+8+uint32(k)] = n, n
		}
	}
}

// blockScratch is the scratch space of sumBlock.
type blockScratch struct {
	q    []byte    // quantized row groups, 16 bytes per feature each
	acc  []float64 // per row of the groups: the sum so far
	keys []uint64  // row keys of one group (see quantizeGroup)
}

// newBlockScratch returns the scratch space sumBlock needs for blocks of up
// to rows rows.
func (w *laneWalker) newBlockScratch(rows int) *blockScratch {
	groups := (rows + laneRows - 1) / laneRows
	return &blockScratch{q: make([]byte, groups*16*w.nf), acc: make([]float64, groups*laneRows),
		keys: make([]uint64, laneRows*len(w.used))}
}

// sumBlock writes the summed tree values of each row into acc, tree by tree
// (one tree's nodes stay in L1 while eight rows walk it in lockstep).
func (w *laneWalker) sumBlock(m *Model, rows [][]float64, sc *blockScratch, acc []float64) {
	gs := 16 * w.nf
	groups := (len(rows) + laneRows - 1) / laneRows
	for g := 0; g < groups; g++ {
		w.quantizeGroup(rows[g*laneRows:min(g*laneRows+laneRows, len(rows))], sc.q[g*gs:], sc.keys)
	}
	sum := sc.acc[:groups*laneRows]
	clear(sum)
	for t := range w.info {
		in := &w.info[t]
		if in.tree < 0 {
			for j, row := range rows {
				sum[j] += m.treeValue(m.roots[t], row)
			}
			continue
		}
		walkGroups(w.nodes[in.tree:], w.leaf[in.tree:], sc.q, groups, gs, sum)
	}
	copy(acc, sum)
}

// sumRow returns the summed values of the trees of output group g for a
// quantized row (row itself for the float walker's trees), in tree order.
func (w *laneWalker) sumRow(m *Model, row []float64, q *qRow, g int) float64 {
	s := 0.0
	var leaves [laneRows]uint32
	for i := range w.trees[g] {
		ch := &w.trees[g][i]
		if !ch.float {
			// spare lanes add the spare leaf's +0, which leaves s as it is
			// (s is never -0: it starts at +0 and x + -x is +0)
			walkTreesSum(w.nodes, w.leaf, q, &ch.roots, &s)
			continue
		}
		walkTrees(w.nodes, q, &ch.roots, &leaves)
		for k, t := range ch.trees[:ch.n] {
			if ch.roots[k] == 0 {
				s += m.treeValue(m.roots[t], row)
			} else {
				s += w.leaf[leaves[k]]
			}
		}
	}
	return s
}
