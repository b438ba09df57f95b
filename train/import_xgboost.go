package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ImportXGBoost converts an XGBoost tree model, as Booster.save_model writes
// it in JSON ("m.json") or UBJSON ("m.ubj"; told apart by content), into a
// driftd model that scores as XGBoost's predict does.
//
// Objectives: binary:logistic ("binary", classes "0","1"), multi:softprob
// and multi:softmax ("multiclass", classes "0".."K-1"; with K = 2 the model
// becomes "binary", P(1) = sigmoid(s1 - s0)) and reg:squarederror (and its
// old name reg:linear; "regression"). Boosters gbtree, and dart when every
// tree weight is 1. Anything else is refused with an error naming it.
//
// Mapping, exact to XGBoost's float32 arithmetic:
//   - XGBoost sends a row left iff float32(value) < split_condition. The
//     node's driftd threshold is the largest float64 whose float32 rounding
//     (to nearest, ties to even) is below the condition, so "value <=
//     threshold" holds for exactly the same float64 values.
//   - Trees are summed per output group as tree_info assigns them (every
//     group must have as many trees, as training makes them).
//   - Missing values (NaN) follow default_left; values are missing only when
//     NaN (XGBoost's default missing=NaN).
//   - The margin starts at base_score (learner_model_param; one value, or one
//     per class) mapped as the objective maps it: logit for binary:logistic
//     (clamped to [1e-6, 1-1e-6] and computed in float32 as XGBoost does),
//     identity otherwise. Leaf values already include the learning rate.
//
// Features keep the model's names and order (learner.feature_names, or
// "f0".."fN-1" as XGBoost names unnamed features). A categorical feature
// (feature_types "c", or any categorical split) gets Kind Categorical and
// Levels "0".."n-1", n = 1 + the largest category code a split names, so a
// value "3" is category code 3 as XGBoost saw it (pandas' cat.codes). The
// categories a split lists go right, all others left, as in XGBoost; so an
// unseen category (any value outside the Levels, which CategoryCode maps to
// the "other" code n) goes left, as XGBoost sends a category no split
// names. Values must be written as integers ("3", not "3.0").
//
// Feature importance is the total loss_changes (gain) and count of the
// splits on each feature. Params holds source "xgboost", the file's format,
// XGBoost version, booster, objective, num_feature, num_class, num_trees,
// num_parallel_tree, rounds and base_score, the attributes best_iteration,
// best_score and best_ntree_limit, and the training parameters the
// scikit-learn wrapper stores (n_estimators, learning_rate, max_depth, ...).
// Every tree is used, as Booster.predict does (the scikit-learn wrapper
// stops at best_iteration when early stopping ran).
//
// Errors name the field, tree and node, e.g. "xgboost model: tree 3: node 7:
// left child 99 out of range (12 nodes)".
func ImportXGBoost(data []byte) (*Model, error) {
	m, err := importXGBoost(data)
	if err != nil {
		return nil, fmt.Errorf("xgboost model: %w", err)
	}
	return m, nil
}

// xgbObjective maps the supported XGBoost objectives to driftd's.
func xgbObjective(name string) (string, bool) {
	switch name {
	case "binary:logistic":
		return "binary", true
	case "multi:softprob", "multi:softmax":
		return "multiclass", true
	case "reg:squarederror", "reg:linear":
		return "regression", true
	}
	return "", false
}

func importXGBoost(data []byte) (*Model, error) {
	f, format, err := xgbDecode(data)
	if err != nil {
		return nil, err
	}
	l := f.Learner
	params := map[string]any{"source": "xgboost", "format": format, "algo": "gbdt"}
	if len(f.Version) > 0 {
		v := make([]string, len(f.Version))
		for i, x := range f.Version {
			v[i] = strconv.FormatInt(x, 10)
		}
		params["xgboost_version"] = strings.Join(v, ".")
	}
	gbt, booster, err := xgbTreeModel(l.GradientBooster)
	if err != nil {
		return nil, err
	}
	params["booster"] = booster

	objName := l.Objective.Name
	obj, ok := xgbObjective(objName)
	if objName == "" {
		return nil, errors.New("learner.objective.name is missing")
	}
	if !ok {
		return nil, fmt.Errorf("objective %q is not supported (binary:logistic, multi:softprob, multi:softmax, reg:squarederror)", objName)
	}
	params["objective"] = objName
	lp := l.LearnerModelParam
	numFeature, err := xgbParamInt(lp, "num_feature", -1)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param: %w", err)
	}
	if numFeature < 0 || numFeature > maxImportFeatures {
		return nil, fmt.Errorf("learner_model_param.num_feature %d missing or out of range [0, %d]", numFeature, maxImportFeatures)
	}
	numClass, err := xgbParamInt(lp, "num_class", 0)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param: %w", err)
	}
	if nt, err := xgbParamInt(lp, "num_target", 1); err != nil || nt > 1 {
		return nil, fmt.Errorf("learner_model_param.num_target %q: multi-target models are not supported", string(lp["num_target"]))
	}
	groups := 1
	if obj == "multiclass" {
		if numClass < 2 || numClass > maxImportClasses {
			return nil, fmt.Errorf("objective %s with num_class %d", objName, numClass)
		}
		groups = int(numClass)
		params["num_class"] = groups
	} else if numClass > 1 {
		return nil, fmt.Errorf("objective %s with num_class %d", objName, numClass)
	}
	params["num_feature"] = int(numFeature)

	base, err := xgbBase(string(lp["base_score"]), objName, groups)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param: %w", err)
	}
	if bs, err := xgbBaseScores(string(lp["base_score"])); err == nil && len(bs) == 1 {
		params["base_score"] = float64(bs[0])
	} else {
		params["base_score"] = string(lp["base_score"])
	}

	features, err := xgbFeatures(l, int(numFeature))
	if err != nil {
		return nil, err
	}
	trees, gain, splits, err := xgbTrees(gbt, features, groups)
	if err != nil {
		return nil, err
	}
	npt, err := xgbParamInt(gbt.Param, "num_parallel_tree", 1)
	if err != nil {
		return nil, fmt.Errorf("gbtree_model_param: %w", err)
	}
	params["num_trees"] = len(trees)
	params["num_parallel_tree"] = int(npt)
	if npt >= 1 {
		params["rounds"] = len(trees) / (groups * int(npt))
	}
	xgbAttributes(l.Attributes, params)

	spec := importSpec{objective: obj, groups: groups, base: base, features: features,
		gain: gain, splits: splits, params: params}
	if obj == "multiclass" && groups == 2 {
		importSoftmax2ToBinary(&spec, trees)
	}
	return importBuild(spec, trees)
}

// xgbTreeModel finds the tree model of a gbtree or dart booster and its tree
// weights, refusing gblinear, other boosters and weights other than 1.
func xgbTreeModel(gb *xgbBooster) (*xgbGBTree, string, error) {
	if gb == nil {
		return nil, "", errors.New("learner.gradient_booster is missing")
	}
	raw, weights, path := gb.Model, gb.WeightDrop, "learner.gradient_booster.model."
	switch gb.Name {
	case "gbtree":
	case "dart":
		if gb.GBTree == nil {
			return nil, "", errors.New("booster dart without its gbtree model")
		}
		raw, path = gb.GBTree.Model, "learner.gradient_booster.gbtree.model."
	case "gblinear":
		return nil, "", errors.New("booster gblinear is not supported (only tree boosters: gbtree, dart)")
	default:
		return nil, "", fmt.Errorf("booster %q is not supported (gbtree, dart)", gb.Name)
	}
	if len(raw) == 0 {
		return nil, "", fmt.Errorf("booster %s has no model", gb.Name)
	}
	var gbt xgbGBTree
	if err := json.Unmarshal(raw, &gbt); err != nil {
		return nil, "", xgbFieldError(path, err)
	}
	// DART weights sit beside the tree model (XGBoost < 3) or in it
	for _, weights := range [][]xgbF32{weights, gbt.WeightDrop} {
		if len(weights) > len(gbt.Trees) {
			return nil, "", fmt.Errorf("booster %s: %d tree weights for %d trees", gb.Name, len(weights), len(gbt.Trees))
		}
		for t, w := range weights {
			if w != 1 {
				return nil, "", fmt.Errorf("booster %s: tree %d has weight %g; only trees of weight 1 are supported", gb.Name, t, float32(w))
			}
		}
	}
	return &gbt, gb.Name, nil
}

// xgbBase returns the initial margin per group.
func xgbBase(s, objName string, groups int) ([]float64, error) {
	bs, err := xgbBaseScores(s)
	if err != nil {
		return nil, err
	}
	if len(bs) == 1 && groups > 1 {
		for len(bs) < groups {
			bs = append(bs, bs[0])
		}
	}
	if len(bs) != groups {
		return nil, fmt.Errorf("base_score has %d values for %d outputs", len(bs), groups)
	}
	base := make([]float64, groups)
	for g, b := range bs {
		if objName == "binary:logistic" {
			b = xgbLogit(b)
		}
		base[g] = float64(b)
	}
	return base, nil
}

// xgbLogit is XGBoost's ProbToMargin for logistic objectives, in float32:
// -logf(1/p - 1) with p clamped to [1e-6, 1-1e-6].
func xgbLogit(p float32) float32 {
	const eps = float32(1e-6)
	p = min(max(p, eps), 1-eps)
	x := float32(1)/p - 1
	return -float32(math.Log(float64(x)))
}

// xgbThreshold returns the largest float64 t such that float32(t) < c, so
// that "v <= t" on float64 values decides as XGBoost's float32(v) < c.
// Non-finite conditions other than +Inf are refused.
func xgbThreshold(c float32) (float64, error) {
	if c != c || math.IsInf(float64(c), -1) {
		return 0, fmt.Errorf("split condition %g", c)
	}
	wide := func(x float32) float64 { // ±Inf as ±2^128, where float32 rounding overflows
		if math.IsInf(float64(x), 0) {
			return math.Copysign(0x1p128, float64(x))
		}
		return float64(x)
	}
	lo := math.Nextafter32(c, float32(math.Inf(-1)))
	mid := (wide(lo) + wide(c)) / 2 // exact: float32 values have 24-bit mantissas
	if float32(mid) < c {
		return mid, nil
	}
	return math.Nextafter(mid, math.Inf(-1)), nil
}

// xgbFeatures returns the model's features (kinds are settled in xgbTrees).
func xgbFeatures(l *xgbLearner, n int) ([]FeatureSpec, error) {
	if len(l.FeatureNames) > 0 && len(l.FeatureNames) != n {
		return nil, fmt.Errorf("learner.feature_names has %d names for %d features", len(l.FeatureNames), n)
	}
	if len(l.FeatureTypes) > 0 && len(l.FeatureTypes) != n {
		return nil, fmt.Errorf("learner.feature_types has %d types for %d features", len(l.FeatureTypes), n)
	}
	features := make([]FeatureSpec, n)
	seen := make(map[string]int, n)
	for i := range features {
		name := "f" + strconv.Itoa(i)
		if len(l.FeatureNames) > 0 {
			name = l.FeatureNames[i]
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("learner.feature_names: features %d and %d are both named %q", j, i, name)
		}
		seen[name] = i
		features[i] = FeatureSpec{Name: name, Kind: Numeric}
		if len(l.FeatureTypes) > 0 && l.FeatureTypes[i] == "c" {
			features[i].Kind = Categorical
		}
	}
	return features, nil
}

// xgbAttributes copies the booster attributes and the scikit-learn wrapper's
// training parameters into params.
func xgbAttributes(attrs map[string]xgbScalar, params map[string]any) {
	for _, k := range []string{"best_iteration", "best_ntree_limit"} {
		if v, err := strconv.Atoi(string(attrs[k])); err == nil {
			params[k] = v
		}
	}
	if v, err := strconv.ParseFloat(string(attrs["best_score"]), 64); err == nil && importFinite(v) {
		params["best_score"] = v
	}
	sk, ok := attrs["scikit_learn"]
	if !ok {
		return
	}
	text, _ := xgbQuoteNonFinite([]byte(sk))
	var meta map[string]any
	if json.Unmarshal(text, &meta) != nil {
		return
	}
	for _, k := range []string{"n_estimators", "learning_rate", "max_depth", "max_leaves", "max_bin",
		"grow_policy", "tree_method", "booster", "gamma", "min_child_weight", "max_delta_step",
		"subsample", "colsample_bytree", "colsample_bylevel", "colsample_bynode", "reg_alpha",
		"reg_lambda", "scale_pos_weight", "num_parallel_tree", "max_cat_to_onehot",
		"max_cat_threshold", "random_state", "missing"} {
		switch v := meta[k].(type) {
		case float64:
			if k == "n_estimators" || k == "max_depth" || k == "max_leaves" || k == "max_bin" || k == "random_state" {
				if v == math.Trunc(v) && math.Abs(v) < 1<<31 {
					params[k] = int(v)
					continue
				}
			}
			params[k] = v
		case string:
			params[k] = v // "NaN" for missing=NaN
		}
	}
}
