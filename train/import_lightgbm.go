package train

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ImportLightGBM converts a LightGBM text model (Booster.save_model("m.txt"),
// model_to_string) into a driftd model that scores as LightGBM's predict
// does.
//
// Objectives: binary (P(1) = 1/(1+exp(-k*raw)) for "sigmoid:k": k is folded
// into the leaf values), multiclass (softmax; "multiclass", classes
// "0".."K-1"; with K = 2 the model becomes "binary", P(1) = sigmoid(s1-s0))
// and the regressions whose prediction is the raw score: regression
// (regression_l2), regression_l1, huber, fair, quantile, mape. multiclassova,
// cross-entropy, ranking, poisson/gamma/tweedie (exp link), "sqrt"
// regressions, linear trees and models without an objective (custom
// objectives) are refused with an error naming them. average_output (random
// forest mode) divides the summed score by the number of iterations, folded
// into the leaf values. Leaf values already carry the shrinkage.
//
// Splits, per decision_type (bit 0 categorical, bit 1 default left, bits 2-3
// missing type None/Zero/NaN), exact to LightGBM's double arithmetic:
//   - numeric: left iff value <= threshold;
//   - missing type NaN: NaN goes the default direction;
//   - missing type None: NaN is treated as 0 (goes left iff 0 <= threshold);
//   - missing type Zero (zero_as_missing): NaN and values within ±1e-35
//     (float32) go the default direction; driftd nodes only know NaN, so
//     such a split becomes up to three numeric nodes (its subtrees copied
//     where both directions reach them);
//   - categorical: left iff the category code's bit is set in the split's
//     cat_threshold bitset; NaN, negative and unlisted codes go right.
//
// Features keep the model's names and order (feature_names). A categorical
// feature (a categorical split, or a category list in feature_infos) gets
// Kind Categorical and Levels "0".."n-1", n = 1 + the largest category code
// the splits or feature_infos name, so a value "3" is category code 3 as
// LightGBM saw it (pandas' cat.codes for pandas categoricals). An unseen
// category (outside the Levels: the "other" code n) goes right, as LightGBM
// sends any category missing from a split's bitset. Values must be written
// as integers ("3", not "3.0").
//
// Feature importance is the total split_gain and count of the splits on each
// feature. Params holds source "lightgbm", the format version, objective,
// num_class, num_tree_per_iteration, num_trees, rounds, sigmoid (binary),
// average_output, and the training parameters of the "parameters:" section
// (learning_rate, num_leaves, max_depth, num_iterations, ...).
//
// Errors name the line, tree and node, e.g. "lightgbm model: tree 2 (line
// 40): node 3: left child 9 out of range (6 splits)".
func ImportLightGBM(data []byte) (*Model, error) {
	m, err := importLightGBM(data)
	if err != nil {
		return nil, fmt.Errorf("lightgbm model: %w", err)
	}
	return m, nil
}

// lgbFile is a parsed text model: key=value lines of the header and of each
// tree, with their line numbers.
type lgbFile struct {
	header lgbBlock
	trees  []lgbBlock
	params map[string]string // the "parameters:" section
}

// lgbBlock is the header or one tree: its key=value lines.
type lgbBlock struct {
	line int // line of "tree" or "Tree=N"
	kv   map[string]string
	at   map[string]int // line of each key
}

// set records a key=value line.
func (b *lgbBlock) set(key, val string, line int) {
	if b.kv == nil {
		b.kv, b.at = map[string]string{}, map[string]int{}
	}
	b.kv[key], b.at[key] = val, line
}

// lgbParse splits the text model into its header, trees and parameters.
func lgbParse(data []byte) (*lgbFile, error) {
	lines := strings.Split(string(data), "\n")
	f := &lgbFile{params: map[string]string{}}
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i == len(lines) || strings.TrimRight(lines[i], "\r") != "tree" {
		return nil, errors.New(`not a LightGBM text model: it does not start with the line "tree" (save it with Booster.save_model("model.txt"))`)
	}
	f.header.line = i + 1
	if !strings.Contains(string(data), "\nend of trees") {
		return nil, errors.New(`truncated: no "end of trees" line`)
	}
	cur := &f.header
	ended := false
	for i++; i < len(lines) && !ended; i++ {
		s := strings.TrimRight(lines[i], "\r")
		switch {
		case s == "end of trees":
			ended = true
		case strings.HasPrefix(s, "Tree="):
			n, err := strconv.Atoi(s[len("Tree="):])
			if err != nil || n != len(f.trees) {
				return nil, fmt.Errorf("line %d: %q, expected Tree=%d", i+1, lgbClip(s), len(f.trees))
			}
			f.trees = append(f.trees, lgbBlock{line: i + 1})
			cur = &f.trees[len(f.trees)-1]
		case s == "":
			if cur != &f.header {
				cur = nil // a blank line ends a tree
			}
		case cur == nil:
			return nil, fmt.Errorf("line %d: %q outside a tree (expected Tree=%d or end of trees)", i+1, lgbClip(s), len(f.trees))
		default:
			k, v, ok := strings.Cut(s, "=")
			if !ok && cur != &f.header {
				return nil, fmt.Errorf("tree %d: line %d: %q is not key=value", len(f.trees)-1, i+1, lgbClip(s))
			}
			cur.set(k, v, i+1)
		}
	}
	if !ended {
		return nil, errors.New(`truncated: no "end of trees" line`)
	}
	inParams := false
	for ; i < len(lines); i++ {
		s := strings.TrimRight(lines[i], "\r")
		switch {
		case s == "parameters:":
			inParams = true
		case s == "end of parameters":
			inParams = false
		case inParams && strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
			if k, v, ok := strings.Cut(s[1:len(s)-1], ": "); ok {
				f.params[k] = v
			}
		}
	}
	return f, nil
}

// lgbClip shortens a line for an error message.
func lgbClip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// lgbObjective is the parsed objective line.
type lgbObjective struct {
	name    string // driftd objective
	classes int    // multiclass: K
	sigmoid float64
}

// lgbParseObjective reads the objective line ("binary sigmoid:1",
// "multiclass num_class:3", "regression", ...).
func lgbParseObjective(s string) (lgbObjective, error) {
	tok := strings.Fields(s)
	if len(tok) == 0 {
		return lgbObjective{}, errors.New("no objective line (a model trained with a custom objective cannot be imported)")
	}
	o := lgbObjective{sigmoid: 1}
	opts := map[string]string{}
	for _, t := range tok[1:] {
		k, v, _ := strings.Cut(t, ":")
		opts[k] = v
	}
	switch tok[0] {
	case "binary":
		o.name = "binary"
		if v, ok := opts["sigmoid"]; ok {
			k, err := strconv.ParseFloat(v, 64)
			if err != nil || !(k > 0) || math.IsInf(k, 0) {
				return o, fmt.Errorf("objective %q: sigmoid %q is not a positive number", s, v)
			}
			o.sigmoid = k
		}
	case "multiclass", "softmax":
		o.name = "multiclass"
		k, err := strconv.Atoi(opts["num_class"])
		if err != nil || k < 2 || k > maxImportClasses {
			return o, fmt.Errorf("objective %q: num_class %q", s, opts["num_class"])
		}
		o.classes = k
	case "regression", "regression_l2", "regression_l1", "huber", "fair", "quantile", "mape":
		if _, sqrt := opts["sqrt"]; sqrt {
			return o, fmt.Errorf("objective %q is not supported (its prediction is the square of the score)", s)
		}
		o.name = "regression"
	case "multiclassova", "multiclass_ova", "ova", "ovr":
		return o, fmt.Errorf("objective %q is not supported (one sigmoid per class, not a softmax)", s)
	default:
		return o, fmt.Errorf("objective %q is not supported (binary, multiclass, regression)", s)
	}
	return o, nil
}

func importLightGBM(data []byte) (*Model, error) {
	f, err := lgbParse(data)
	if err != nil {
		return nil, err
	}
	h := &f.header
	hInt := func(key string, def int) (int, error) {
		v, ok := h.kv[key]
		if !ok {
			if def < 0 {
				return 0, fmt.Errorf("no %s line in the header", key)
			}
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<20 {
			return 0, fmt.Errorf("line %d: %s=%q is not a count", h.at[key], key, lgbClip(v))
		}
		return n, nil
	}
	numClass, err := hInt("num_class", -1)
	if err != nil {
		return nil, err
	}
	perIter, err := hInt("num_tree_per_iteration", numClass)
	if err != nil {
		return nil, err
	}
	maxFeature, err := hInt("max_feature_idx", -1)
	if err != nil {
		return nil, err
	}
	if _, ok := h.kv["objective"]; !ok {
		return nil, errors.New("no objective line (a model trained with a custom objective cannot be imported)")
	}
	obj, err := lgbParseObjective(h.kv["objective"])
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", h.at["objective"], err)
	}
	groups := 1
	if obj.name == "multiclass" {
		groups = obj.classes
	}
	if numClass != groups || perIter != groups {
		return nil, fmt.Errorf("objective %q with num_class=%d and num_tree_per_iteration=%d", h.kv["objective"], numClass, perIter)
	}
	if len(f.trees)%perIter != 0 {
		return nil, fmt.Errorf("%d trees is not a whole number of iterations of %d trees", len(f.trees), perIter)
	}
	if ts, ok := h.kv["tree_sizes"]; ok && len(strings.Fields(ts)) != len(f.trees) {
		return nil, fmt.Errorf("line %d: tree_sizes lists %d trees, the file has %d (truncated?)", h.at["tree_sizes"], len(strings.Fields(ts)), len(f.trees))
	}
	if maxFeature >= maxImportFeatures {
		return nil, fmt.Errorf("line %d: max_feature_idx=%d, at most %d features are supported", h.at["max_feature_idx"], maxFeature, maxImportFeatures)
	}
	features, maxCat, err := lgbFeatures(h, maxFeature+1)
	if err != nil {
		return nil, err
	}
	rounds := len(f.trees) / perIter
	scale := 1.0
	if obj.name == "binary" {
		scale = obj.sigmoid
	}
	_, average := h.kv["average_output"]
	if average && rounds > 0 {
		scale /= float64(rounds)
	}
	trees, gain, splits, err := lgbTrees(f.trees, features, maxCat, groups, scale)
	if err != nil {
		return nil, err
	}
	params := lgbParams(f, obj, groups, rounds, average)
	spec := importSpec{objective: obj.name, groups: groups, base: make([]float64, groups), features: features,
		gain: gain, splits: splits, params: params}
	if obj.name == "multiclass" && groups == 2 {
		importSoftmax2ToBinary(&spec, trees)
	}
	return importBuild(spec, trees)
}

// lgbFeatures returns the features named by feature_names and, per
// feature, the largest category its feature_infos lists (-1 for none); a
// category list makes a feature categorical (lgbTrees settles Levels).
func lgbFeatures(h *lgbBlock, n int) ([]FeatureSpec, []int, error) {
	names, ok := h.kv["feature_names"]
	if !ok {
		return nil, nil, errors.New("no feature_names line in the header")
	}
	list := strings.Fields(names)
	if len(list) != n {
		return nil, nil, fmt.Errorf("line %d: feature_names has %d names, max_feature_idx says %d features", h.at["feature_names"], len(list), n)
	}
	var infos []string
	if s, ok := h.kv["feature_infos"]; ok {
		if infos = strings.Fields(s); len(infos) != n {
			return nil, nil, fmt.Errorf("line %d: feature_infos has %d entries for %d features", h.at["feature_infos"], len(infos), n)
		}
	}
	features := make([]FeatureSpec, n)
	maxCat := make([]int, n)
	seen := map[string]int{}
	for i, name := range list {
		if j, dup := seen[name]; dup {
			return nil, nil, fmt.Errorf("line %d: features %d and %d are both named %q", h.at["feature_names"], j, i, name)
		}
		seen[name] = i
		features[i] = FeatureSpec{Name: name, Kind: Numeric}
		maxCat[i] = -1
		if infos != nil && infos[i] != "none" && !strings.HasPrefix(infos[i], "[") {
			features[i].Kind = Categorical
			top, err := lgbFeatureInfoMax(infos[i])
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: feature_infos of %s: %w", h.at["feature_infos"], name, err)
			}
			maxCat[i] = top
		}
	}
	return features, maxCat, nil
}

// lgbFeatureInfoMax returns the largest category of a categorical
// feature_infos entry ("0:1:5"), -1 for none.
func lgbFeatureInfoMax(info string) (int, error) {
	top := -1
	for _, p := range strings.Split(info, ":") {
		c, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("category %q is not an integer", lgbClip(p))
		}
		if c < 0 {
			continue // LightGBM treats negative categories as missing
		}
		if c >= maxImportCategory {
			return 0, fmt.Errorf("category %d out of range [0, %d)", c, maxImportCategory)
		}
		top = max(top, c)
	}
	return top, nil
}

// lgbParams collects the model's parameters for Model.Params.
func lgbParams(f *lgbFile, obj lgbObjective, groups, rounds int, average bool) map[string]any {
	h := f.header.kv
	p := map[string]any{"source": "lightgbm", "format": "text", "algo": "gbdt", "objective": h["objective"],
		"num_class": groups, "num_tree_per_iteration": groups, "num_trees": len(f.trees), "rounds": rounds}
	if v, ok := h["version"]; ok {
		p["lightgbm_format_version"] = v
	}
	if obj.name == "binary" {
		p["sigmoid"] = obj.sigmoid
	}
	if average {
		p["average_output"] = 1
	}
	for _, k := range []string{"boosting", "num_iterations", "learning_rate", "num_leaves", "max_depth",
		"min_data_in_leaf", "min_sum_hessian_in_leaf", "bagging_fraction", "bagging_freq", "feature_fraction",
		"lambda_l1", "lambda_l2", "min_gain_to_split", "max_bin", "max_cat_to_onehot", "max_cat_threshold",
		"cat_l2", "cat_smooth", "use_missing", "zero_as_missing", "early_stopping_round", "seed"} {
		v, ok := f.params[k]
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil {
			p[k] = n
		} else if x, err := strconv.ParseFloat(v, 64); err == nil && importFinite(x) {
			p[k] = x
		} else {
			p[k] = v
		}
	}
	return p
}
