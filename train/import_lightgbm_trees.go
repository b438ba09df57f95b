package train

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// lgbZero is LightGBM's kZeroThreshold, the float literal 1e-35f held in a
// double: with missing type Zero, values in [-lgbZero, lgbZero] are missing.
const lgbZero = float64(float32(1e-35))

// lgbTrees converts the tree blocks. Tree t belongs to group t % groups;
// leaf values are multiplied by scale (the binary sigmoid factor, divided
// by the iterations under average_output). maxCat holds the largest
// category per feature from feature_infos; the categorical features' Kind
// and Levels are settled here (features is updated in place).
func lgbTrees(blocks []lgbBlock, features []FeatureSpec, maxCat []int, groups int, scale float64) ([]impTree, []float64, []float64, error) {
	nf := len(features)
	gain, splits := make([]float64, nf), make([]float64, nf)
	trees := make([]impTree, len(blocks))
	for t := range blocks {
		nodes, err := lgbTree(&blocks[t], nf, scale, maxCat, gain, splits)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("tree %d (line %d): %w", t, blocks[t].line, err)
		}
		trees[t] = impTree{group: t % groups, nodes: nodes}
	}
	for f := range features {
		if maxCat[f] >= 0 {
			features[f].Kind = Categorical
		}
		if features[f].Kind == Categorical {
			features[f].Levels = importCodeLevels(maxCat[f])
		}
	}
	return trees, gain, splits, nil
}

// lgbArray reads the n space-separated numbers of a tree field with parse;
// a missing field is nil, or an error when required.
func lgbArray[T any](b *lgbBlock, key string, n int, required bool, parse func(string) (T, error)) ([]T, error) {
	s, ok := b.kv[key]
	if !ok {
		if required {
			return nil, fmt.Errorf("no %s line", key)
		}
		return nil, nil
	}
	fields := strings.Fields(s)
	if len(fields) != n {
		return nil, fmt.Errorf("line %d: %s has %d values, want %d", b.at[key], key, len(fields), n)
	}
	out := make([]T, n)
	for i, p := range fields {
		v, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s value %d: %q: %w", b.at[key], key, i, lgbClip(p), err)
		}
		out[i] = v
	}
	return out, nil
}

func lgbInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

func lgbFloat(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err == nil && math.IsNaN(v) {
		return 0, fmt.Errorf("not a number")
	}
	return v, err
}

// lgbTree converts one tree block: internal node i is node i, leaf j is
// node L-1+j (L leaves), and zero-as-missing splits append nodes after them.
// It adds the tree's splits to gain and splits and raises maxCat to the
// categories its bitsets name.
func lgbTree(b *lgbBlock, nf int, scale float64, maxCat []int, gain, splits []float64) ([]impNode, error) {
	nl, err := lgbArray(b, "num_leaves", 1, true, lgbInt)
	if err != nil {
		return nil, err
	}
	L := nl[0]
	if L < 1 || L > 1<<24 {
		return nil, fmt.Errorf("line %d: num_leaves=%d", b.at["num_leaves"], L)
	}
	if v := b.kv["is_linear"]; v != "" && v != "0" {
		return nil, fmt.Errorf("line %d: linear trees (is_linear=%s) are not supported", b.at["is_linear"], lgbClip(v))
	}
	leaves, err := lgbArray(b, "leaf_value", int(L), true, lgbFloat)
	if err != nil {
		return nil, err
	}
	ns := int(L - 1) // splits
	nodes := make([]impNode, ns+int(L))
	for j, v := range leaves {
		if !importFinite(v * scale) {
			return nil, fmt.Errorf("line %d: leaf %d value %g", b.at["leaf_value"], j, v)
		}
		nodes[ns+j] = impNode{leaf: true, value: v * scale}
	}
	if ns == 0 {
		return nodes, nil
	}
	feat, err := lgbArray(b, "split_feature", ns, true, lgbInt)
	if err != nil {
		return nil, err
	}
	thr, err := lgbArray(b, "threshold", ns, true, lgbFloat)
	if err != nil {
		return nil, err
	}
	left, err := lgbArray(b, "left_child", ns, true, lgbInt)
	if err != nil {
		return nil, err
	}
	right, err := lgbArray(b, "right_child", ns, true, lgbInt)
	if err != nil {
		return nil, err
	}
	dtype, err := lgbArray(b, "decision_type", ns, false, lgbInt)
	if err != nil {
		return nil, err
	}
	sgain, err := lgbArray(b, "split_gain", ns, false, lgbFloat)
	if err != nil {
		return nil, err
	}
	cb, ct, err := lgbCatArrays(b)
	if err != nil {
		return nil, err
	}
	ref := func(c int64) int { // child value -> node index
		if c >= 0 {
			return int(c)
		}
		return ns + int(^c)
	}
	for i := 0; i < ns; i++ {
		for side, c := range [2]int64{left[i], right[i]} {
			if c >= int64(ns) {
				return nil, fmt.Errorf("node %d: %s child %d out of range (%d splits)", i, importSide(side), c, ns)
			}
			if c < 0 && ^c >= L {
				return nil, fmt.Errorf("node %d: %s child %d names leaf %d, out of range (%d leaves)", i, importSide(side), c, ^c, L)
			}
		}
	}
	reached, err := importCheckShape(len(nodes), func(i int) (int, int, bool) {
		if i >= ns {
			return 0, 0, false
		}
		return ref(left[i]), ref(right[i]), true
	}, func(i int) string {
		if i >= ns {
			return "leaf " + strconv.Itoa(i-ns)
		}
		return "node " + strconv.Itoa(i)
	})
	if err != nil {
		return nil, err
	}
	for i := 0; i < ns; i++ {
		if !reached[i] {
			continue
		}
		f := feat[i]
		if f < 0 || f >= int64(nf) {
			return nil, fmt.Errorf("node %d: split feature %d out of range (%d features)", i, f, nf)
		}
		dt := int64(0)
		if dtype != nil {
			dt = dtype[i]
		}
		if dt < 0 || dt > 127 {
			return nil, fmt.Errorf("node %d: decision_type %d", i, dt)
		}
		if sgain != nil && importFinite(sgain[i]) {
			gain[f] += sgain[i]
		}
		splits[f]++
		l, r := int32(ref(left[i])), int32(ref(right[i]))
		if dt&1 != 0 { // categorical: listed codes go left, NaN and others right
			cats, top, err := lgbBitset(thr[i], cb, ct)
			if err != nil {
				return nil, fmt.Errorf("node %d: %w", i, err)
			}
			maxCat[f] = max(maxCat[f], top)
			nodes[i] = impNode{feature: int32(f), cats: cats, left: l, right: r}
			continue
		}
		defLeft := dt&2 != 0
		switch dt >> 2 & 3 {
		case 0: // None: NaN is treated as 0
			nodes[i] = impNode{feature: int32(f), thr: thr[i], defLeft: 0 <= thr[i], left: l, right: r}
		case 1: // Zero: NaN and ±lgbZero go the default way
			nodes = lgbZeroSplit(nodes, i, int32(f), thr[i], defLeft, l, r)
		case 2: // NaN
			nodes[i] = impNode{feature: int32(f), thr: thr[i], defLeft: defLeft, left: l, right: r}
		default:
			return nil, fmt.Errorf("node %d: decision_type %d has missing type 3", i, dt)
		}
	}
	return nodes, nil
}

// lgbCatArrays reads num_cat, cat_boundaries and cat_threshold.
func lgbCatArrays(b *lgbBlock) ([]int64, []int64, error) {
	nc, err := lgbArray(b, "num_cat", 1, false, lgbInt)
	if err != nil || nc == nil || nc[0] == 0 {
		return nil, nil, err
	}
	if nc[0] < 0 || nc[0] > 1<<24 {
		return nil, nil, fmt.Errorf("line %d: num_cat=%d", b.at["num_cat"], nc[0])
	}
	cb, err := lgbArray(b, "cat_boundaries", int(nc[0])+1, true, lgbInt)
	if err != nil {
		return nil, nil, err
	}
	words := len(strings.Fields(b.kv["cat_threshold"]))
	ct, err := lgbArray(b, "cat_threshold", words, true, lgbInt)
	if err != nil {
		return nil, nil, err
	}
	for k := range cb {
		if cb[k] < 0 || cb[k] > int64(words) || (k > 0 && cb[k] < cb[k-1]) {
			return nil, nil, fmt.Errorf("line %d: cat_boundaries value %d (%d) out of order or past cat_threshold's %d words",
				b.at["cat_boundaries"], k, cb[k], words)
		}
	}
	for k, w := range ct {
		if w < 0 || w > math.MaxUint32 {
			return nil, nil, fmt.Errorf("line %d: cat_threshold value %d (%d) is not a 32-bit word", b.at["cat_threshold"], k, w)
		}
	}
	return cb, ct, nil
}

// lgbBitset returns the left-going category bitset of a categorical split
// (threshold = its index in cat_boundaries) as 64-bit words, and the
// largest category it names (-1 for none).
func lgbBitset(idx float64, cb, ct []int64) ([]uint64, int, error) {
	if idx != math.Trunc(idx) || idx < 0 || idx >= float64(len(cb)-1) {
		return nil, 0, fmt.Errorf("categorical threshold %g is not a bitset index (num_cat %d)", idx, max(len(cb)-1, 0))
	}
	w32 := ct[cb[int(idx)]:cb[int(idx)+1]]
	top := -1
	for k, w := range w32 {
		if w != 0 {
			top = 32*k + 31 - bits.LeadingZeros32(uint32(w))
		}
	}
	if top >= maxImportCategory {
		return nil, 0, fmt.Errorf("category %d out of range [0, %d)", top, maxImportCategory)
	}
	words := make([]uint64, (len(w32)+1)/2)
	for k, w := range w32 {
		words[k/2] |= uint64(w) << (32 * (k % 2))
	}
	return words, top, nil
}

// lgbZeroSplit writes a zero-as-missing split at node i: left iff value <=
// thr, except that NaN and values in [-lgbZero, lgbZero] go left iff
// defLeft. With A = values < -lgbZero and B = values > lgbZero, one numeric
// node does when A lies wholly on one side; otherwise a node on lgbZero
// separates B, one on the largest double below -lgbZero separates A from
// the zero band, and one on thr splits the part that needs it (l and r are
// then reached from two nodes each, and laid out twice).
func lgbZeroSplit(nodes []impNode, i int, f int32, thr float64, defLeft bool, l, r int32) []impNode {
	below := math.Nextafter(-lgbZero, math.Inf(-1))
	split := func(t float64, dl bool, a, b int32) impNode {
		return impNode{feature: f, thr: t, defLeft: dl, left: a, right: b}
	}
	add := func(n impNode) int32 {
		nodes = append(nodes, n)
		return int32(len(nodes) - 1)
	}
	switch {
	case defLeft && thr > lgbZero: // zero band and NaN left, as v <= thr
		nodes[i] = split(thr, true, l, r)
	case defLeft && thr >= below: // left = v <= lgbZero, NaN
		nodes[i] = split(lgbZero, true, l, r)
	case defLeft: // thr < -lgbZero: left = v <= thr, zero band, NaN
		w := add(split(thr, false, l, r))
		y := add(split(below, false, w, l))
		nodes[i] = split(lgbZero, true, y, r)
	case thr < below: // zero band and NaN right, as v > thr
		nodes[i] = split(thr, false, l, r)
	case thr <= lgbZero: // left = v < -lgbZero
		nodes[i] = split(below, false, l, r)
	default: // thr > lgbZero: left = v < -lgbZero or lgbZero < v <= thr
		w := add(split(thr, false, l, r))
		y := add(split(below, false, l, r))
		nodes[i] = split(lgbZero, false, y, w)
	}
	return nodes
}
