package train

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Imported models (ImportXGBoost, ImportLightGBM) are ordinary gbdt models:
// the importers translate each library tree into an impTree (the library's
// split rule restated as driftd's "left iff value <= threshold, NaN goes
// defLeft" or "left iff the category's bit is set"), and importBuild lays the
// trees out as training does (children in consecutive pairs after their
// parent), so imported models are scored, encoded and decoded by the same
// code as models trained here.

// Limits on what an import may build, so that a hostile or corrupt file
// cannot make the importer allocate without bound.
const (
	// maxImportNodes bounds the nodes of an imported model.
	maxImportNodes = 1 << 24
	// maxImportCategory bounds a category code named by a categorical split
	// (the feature gets that many Levels).
	maxImportCategory = 1 << 16
	// maxImportExpansion bounds the nodes a tree is laid out with, as a
	// multiple of the nodes that describe it.
	maxImportExpansion = 8
	// maxImportFeatures bounds the features of an imported model.
	maxImportFeatures = 1 << 16
	// maxImportClasses bounds the classes of an imported model.
	maxImportClasses = 1 << 16
)

// Source says where the model came from: "driftd" for a model trained here,
// "xgboost" or "lightgbm" for an imported one (params["source"]).
func (m *Model) Source() string {
	if s, ok := m.params["source"].(string); ok && s != "" {
		return s
	}
	return "driftd"
}

// impNode is a node of an imported tree before layout. A split sends a row
// left iff its value is <= thr (numeric; NaN goes left iff defLeft) or the
// bit of its category code is set in cats (categorical; NaN and negative
// codes go left iff defLeft). Children are indexes in the tree's node slice;
// several nodes may share a child (importBuild copies it for each).
type impNode struct {
	leaf        bool
	value       float64
	feature     int32
	thr         float64
	defLeft     bool
	cats        []uint64
	left, right int32
}

// impTree is an imported tree: nodes[0] is the root.
type impTree struct {
	group int
	nodes []impNode
}

// importSpec is everything importBuild needs besides the trees.
type importSpec struct {
	objective string // "binary", "multiclass" or "regression"
	groups    int
	base      []float64
	features  []FeatureSpec
	gain      []float64 // per feature
	splits    []float64 // per feature
	params    map[string]any
}

// importBuild assembles the model: it orders the trees so that tree t
// belongs to group t % groups (every group must have as many trees), lays
// out their nodes and compiles the model.
func importBuild(spec importSpec, trees []impTree) (*Model, error) {
	if spec.groups < 1 || len(spec.base) != spec.groups {
		return nil, fmt.Errorf("%d output groups with %d base scores", spec.groups, len(spec.base))
	}
	m := &Model{algo: "gbdt", objective: spec.objective, features: spec.features,
		params: spec.params, metrics: map[string]float64{}, attach: map[string][]byte{},
		groups: spec.groups, base: spec.base, gain: spec.gain, splitsCnt: spec.splits}
	switch spec.objective {
	case "binary":
		m.classes = []string{"0", "1"}
	case "multiclass":
		m.classes = importClassNames(spec.groups)
	}
	byGroup := make([][]int, spec.groups)
	for t, tr := range trees {
		if tr.group < 0 || tr.group >= spec.groups {
			return nil, fmt.Errorf("tree %d: group %d out of range (%d groups)", t, tr.group, spec.groups)
		}
		byGroup[tr.group] = append(byGroup[tr.group], t)
	}
	for g := range byGroup {
		if len(byGroup[g]) != len(byGroup[0]) {
			return nil, fmt.Errorf("output group 0 has %d trees, group %d has %d: every group needs as many", len(byGroup[0]), g, len(byGroup[g]))
		}
	}
	for r := range byGroup[0] {
		for g := range byGroup {
			t := byGroup[g][r]
			if err := m.importLayout(&trees[t]); err != nil {
				return nil, fmt.Errorf("tree %d: %w", t, err)
			}
		}
	}
	m.buildIndex()
	m.compile()
	return m, nil
}

// importLayout appends a tree to m.nodes breadth-first, the two children of a
// split side by side after it, as training lays out its trees.
func (m *Model) importLayout(t *impTree) error {
	// Subtrees reached from several nodes (zero-as-missing splits) are
	// copied; the limit keeps a hostile file from multiplying them.
	treeLimit := maxImportExpansion*len(t.nodes) + 64
	root := int32(len(m.nodes))
	m.roots = append(m.roots, root)
	catAt := make(map[int32][2]int32) // source node -> its bitset in m.catBits
	queue := []int32{0}
	m.nodes = append(m.nodes, node{})
	for qi := 0; qi < len(queue); qi++ {
		si := queue[qi]
		if si < 0 || int(si) >= len(t.nodes) {
			return fmt.Errorf("node %d out of range (%d nodes)", si, len(t.nodes))
		}
		src := &t.nodes[si]
		at := int(root) + qi
		if src.leaf {
			m.nodes[at] = node{feature: -1, value: src.value}
			continue
		}
		if len(m.nodes)+2 > maxImportNodes {
			return fmt.Errorf("the model needs more than %d nodes", maxImportNodes)
		}
		if len(queue)+2 > treeLimit {
			return fmt.Errorf("laying out its shared subtrees needs more than %d nodes (%d described)", treeLimit, len(t.nodes))
		}
		left := int32(len(m.nodes))
		m.nodes = append(m.nodes, node{}, node{})
		queue = append(queue, src.left, src.right)
		nd := node{feature: src.feature, left: left, threshold: src.thr, defLeft: src.defLeft}
		if src.cats != nil {
			bs, ok := catAt[si]
			if !ok {
				words := src.cats
				if len(words) == 0 {
					words = []uint64{0} // no category goes left
				}
				bs = [2]int32{int32(len(m.catBits)), int32(len(words))}
				m.catBits = append(m.catBits, words...)
				catAt[si] = bs
			}
			nd.threshold, nd.catOff, nd.catWords = 0, bs[0], bs[1]
		}
		m.nodes[at] = nd
	}
	return nil
}

// importClassNames returns "0".."k-1".
func importClassNames(k int) []string {
	c := make([]string, k)
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}

// importCodeLevels returns the Levels of an imported categorical feature whose
// largest category code is maxCode: "0".."maxCode" (none for maxCode < 0).
func importCodeLevels(maxCode int) []string {
	if maxCode < 0 {
		return []string{}
	}
	return importClassNames(maxCode + 1)
}

// importSoftmax2ToBinary turns a softmax over two groups into the binary
// form driftd scores: P(class 1) = sigmoid(s1 - s0), so the trees of group
// 0 are negated and every tree moves to group 0.
func importSoftmax2ToBinary(spec *importSpec, trees []impTree) {
	for t := range trees {
		if trees[t].group == 0 {
			for i := range trees[t].nodes {
				trees[t].nodes[i].value = -trees[t].nodes[i].value
			}
		}
		trees[t].group = 0
	}
	spec.objective, spec.groups = "binary", 1
	spec.base = []float64{spec.base[1] - spec.base[0]}
}

// importCheckShape walks a tree from its root (node 0) and returns which
// nodes it reaches. It reports the first child index out of range and any
// node reached twice (a cycle or a shared child), naming nodes with
// label. child(i) returns the children of a split node and split=false for
// a leaf; n is the number of nodes.
func importCheckShape(n int, child func(i int) (l, r int, split bool), label func(i int) string) ([]bool, error) {
	if n == 0 {
		return nil, errors.New("no nodes")
	}
	seen := make([]bool, n)
	seen[0] = true
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		l, r, split := child(i)
		if !split {
			continue
		}
		for side, c := range [2]int{l, r} {
			if c < 0 || c >= n {
				return nil, fmt.Errorf("%s: %s child %d out of range (%d nodes)", label(i), importSide(side), c, n)
			}
			if seen[c] {
				return nil, fmt.Errorf("%s: %s child %s is reached twice (a cycle or a shared node)", label(i), importSide(side), label(c))
			}
			seen[c] = true
			stack = append(stack, c)
		}
	}
	return seen, nil
}

// importSide names child 0 and 1 of a split.
func importSide(side int) string {
	if side == 0 {
		return "left"
	}
	return "right"
}

// importFinite reports whether v is neither NaN nor infinite.
func importFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
