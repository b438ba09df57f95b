package train

import (
	"fmt"
	"math"
	"strconv"
)

// xgbTrees converts the trees of an XGBoost tree model. It settles the kind
// and Levels of categorical features (features is updated in place) and
// returns the trees with their output groups and the gain and split count
// per feature.
func xgbTrees(gbt *xgbGBTree, features []FeatureSpec, groups int) ([]impTree, []float64, []float64, error) {
	if nt, err := xgbParamInt(gbt.Param, "num_trees", int64(len(gbt.Trees))); err != nil {
		return nil, nil, nil, fmt.Errorf("gbtree_model_param: %w", err)
	} else if nt != int64(len(gbt.Trees)) {
		return nil, nil, nil, fmt.Errorf("gbtree_model_param.num_trees is %d but the model has %d trees", nt, len(gbt.Trees))
	}
	if len(gbt.TreeInfo) != len(gbt.Trees) {
		return nil, nil, nil, fmt.Errorf("tree_info has %d entries for %d trees", len(gbt.TreeInfo), len(gbt.Trees))
	}
	nf := len(features)
	// first pass: shapes, reachable nodes and the largest category per feature
	maxCat := make([]int, nf)
	for i := range maxCat {
		maxCat[i] = -1
	}
	reached := make([][]bool, len(gbt.Trees))
	cats := make([]map[int][]int64, len(gbt.Trees))
	for t := range gbt.Trees {
		tr := &gbt.Trees[t]
		if tr.ID != nil && *tr.ID != int64(t) {
			return nil, nil, nil, fmt.Errorf("tree %d: id %d (trees out of order)", t, *tr.ID)
		}
		if g := gbt.TreeInfo[t]; g < 0 || g >= int64(groups) {
			return nil, nil, nil, fmt.Errorf("tree %d: tree_info group %d out of range (%d groups)", t, g, groups)
		}
		var err error
		if reached[t], cats[t], err = xgbCheckTree(tr, nf, maxCat); err != nil {
			return nil, nil, nil, fmt.Errorf("tree %d: %w", t, err)
		}
	}
	for f := range features {
		if maxCat[f] >= 0 {
			features[f].Kind = Categorical
		}
		if features[f].Kind == Categorical {
			features[f].Levels = importCodeLevels(maxCat[f])
		}
	}
	// second pass: the trees
	gain, splits := make([]float64, nf), make([]float64, nf)
	trees := make([]impTree, len(gbt.Trees))
	for t := range gbt.Trees {
		tr := &gbt.Trees[t]
		n := len(tr.Left)
		nodes := make([]impNode, n)
		for i := 0; i < n; i++ {
			if !reached[t][i] {
				nodes[i] = impNode{leaf: true} // deleted or unreachable: never laid out
				continue
			}
			cond := tr.SplitConditions[i]
			if tr.Left[i] == -1 {
				nodes[i] = impNode{leaf: true, value: float64(cond)}
				continue
			}
			f := int32(tr.SplitIndices[i])
			nd := impNode{feature: f, defLeft: bool(tr.DefaultLeft[i]), left: int32(tr.Left[i]), right: int32(tr.Right[i])}
			if c, ok := cats[t][i]; ok {
				// XGBoost sends the listed categories right and every other
				// code (the "other" code len(Levels) included) left.
				other := len(features[f].Levels)
				nd.cats = make([]uint64, other/64+1)
				for code := 0; code <= other; code++ {
					nd.cats[code>>6] |= 1 << (code & 63)
				}
				for _, code := range c {
					nd.cats[code>>6] &^= 1 << (code & 63)
				}
			} else {
				thr, err := xgbThreshold(float32(cond))
				if err != nil {
					return nil, nil, nil, fmt.Errorf("tree %d: node %d: %w", t, i, err)
				}
				nd.thr = thr
			}
			nodes[i] = nd
			if len(tr.LossChanges) == n && importFinite(float64(tr.LossChanges[i])) {
				gain[f] += float64(tr.LossChanges[i])
			}
			splits[f]++
		}
		trees[t] = impTree{group: int(gbt.TreeInfo[t]), nodes: nodes}
	}
	return trees, gain, splits, nil
}

// xgbCheckTree checks one tree's arrays and shape, returns its reachable
// nodes and the categories of its categorical splits, and raises maxCat to
// the largest category each feature's splits name.
func xgbCheckTree(tr *xgbTree, nf int, maxCat []int) ([]bool, map[int][]int64, error) {
	n := len(tr.Left)
	if nn, err := xgbParamInt(tr.Param, "num_nodes", int64(n)); err != nil {
		return nil, nil, fmt.Errorf("tree_param: %w", err)
	} else if nn != int64(n) {
		return nil, nil, fmt.Errorf("tree_param.num_nodes is %d but left_children has %d entries", nn, n)
	}
	for _, a := range []struct {
		name string
		n    int
		opt  bool
	}{{"right_children", len(tr.Right), false}, {"split_indices", len(tr.SplitIndices), false},
		{"split_conditions", len(tr.SplitConditions), false}, {"default_left", len(tr.DefaultLeft), false},
		{"loss_changes", len(tr.LossChanges), true}, {"split_type", len(tr.SplitType), true}} {
		if a.n != n && !(a.opt && a.n == 0) {
			return nil, nil, fmt.Errorf("%s has %d entries for %d nodes", a.name, a.n, n)
		}
	}
	reached, err := importCheckShape(n, func(i int) (int, int, bool) {
		if tr.Left[i] == -1 {
			return 0, 0, false
		}
		return int(max(min(tr.Left[i], math.MaxInt32), -2)), int(max(min(tr.Right[i], math.MaxInt32), -2)), true
	}, func(i int) string { return "node " + strconv.Itoa(i) })
	if err != nil {
		return nil, nil, err
	}
	if len(tr.CategoriesSegments) != len(tr.CategoriesNodes) || len(tr.CategoriesSizes) != len(tr.CategoriesNodes) {
		return nil, nil, fmt.Errorf("categories_nodes, categories_segments and categories_sizes have %d, %d and %d entries",
			len(tr.CategoriesNodes), len(tr.CategoriesSegments), len(tr.CategoriesSizes))
	}
	cats := map[int][]int64{}
	for k, nd := range tr.CategoriesNodes {
		seg, size := tr.CategoriesSegments[k], tr.CategoriesSizes[k]
		if nd < 0 || nd >= int64(n) {
			return nil, nil, fmt.Errorf("categories_nodes[%d]: node %d out of range (%d nodes)", k, nd, n)
		}
		if seg < 0 || size < 0 || seg > int64(len(tr.Categories)) || size > int64(len(tr.Categories))-seg {
			return nil, nil, fmt.Errorf("node %d: categories [%d, %d+%d) out of range (%d categories)", nd, seg, seg, size, len(tr.Categories))
		}
		cats[int(nd)] = tr.Categories[seg : seg+size]
	}
	for i := 0; i < n; i++ {
		if !reached[i] {
			continue
		}
		if tr.Left[i] == -1 {
			if v := float64(tr.SplitConditions[i]); !importFinite(v) {
				return nil, nil, fmt.Errorf("node %d: leaf value %g", i, v)
			}
			continue
		}
		f := tr.SplitIndices[i]
		if f < 0 || f >= int64(nf) {
			return nil, nil, fmt.Errorf("node %d: split feature %d out of range (%d features)", i, f, nf)
		}
		st := int64(0)
		if len(tr.SplitType) == n {
			st = tr.SplitType[i]
		}
		c, hasCats := cats[i]
		switch {
		case st == 0:
			delete(cats, i) // a numeric split's categories are not used
		case st != 1:
			return nil, nil, fmt.Errorf("node %d: split_type %d (0 numeric, 1 categorical)", i, st)
		case !hasCats || len(c) == 0:
			return nil, nil, fmt.Errorf("node %d: categorical split without categories", i)
		}
		for _, code := range cats[i] {
			if code < 0 || code >= maxImportCategory {
				return nil, nil, fmt.Errorf("node %d: category %d out of range [0, %d)", i, code, maxImportCategory)
			}
			maxCat[f] = max(maxCat[f], int(code))
		}
	}
	return reached, cats, nil
}
