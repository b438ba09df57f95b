package train

import (
	"encoding/json"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// mustMutateXGBoost returns the binary XGBoost fixture with edit applied to
// its decoded JSON.
func mustMutateXGBoost(tb testing.TB, edit func(learner map[string]any)) []byte {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(mustReadImportFixture(tb, "xgb_binary.json"), &doc); err != nil {
		tb.Fatal(err)
	}
	edit(doc["learner"].(map[string]any))
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// xgbTree returns tree t of a decoded learner.
func xgbTestTree(learner map[string]any, t int) map[string]any {
	model := learner["gradient_booster"].(map[string]any)["model"].(map[string]any)
	return model["trees"].([]any)[t].(map[string]any)
}

func TestImportXGBoostErrors(t *testing.T) {
	binary := mustReadImportFixture(t, "xgb_binary.json")
	ubj := mustReadImportFixture(t, "xgb_binary.ubj")
	random := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(random)
	setObjective := func(name string) []byte {
		return mustMutateXGBoost(t, func(l map[string]any) { l["objective"].(map[string]any)["name"] = name })
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "xgboost model: invalid JSON near byte 0"},
		{"truncated json", binary[:len(binary)/2], "invalid JSON near byte"},
		{"truncated ubjson", ubj[:len(ubj)/2], "xgboost model: ubjson: "},
		{"random bytes", random, "invalid JSON"},
		{"other json", []byte(`{"weights": [1, 2, 3]}`), `no "learner" object`},
		{"lightgbm text", mustReadImportFixture(t, "lgb_binary.txt"), "invalid JSON"},
		{"gblinear", mustReadImportFixture(t, "xgb_gblinear.json"), "booster gblinear is not supported"},
		{"dart weights", mustReadImportFixture(t, "xgb_dart_weighted.json"), "booster dart: tree 0 has weight 0.59"},
		{"reg:logistic", setObjective("reg:logistic"), `objective "reg:logistic" is not supported`},
		{"binary:logitraw", setObjective("binary:logitraw"), `objective "binary:logitraw" is not supported`},
		{"rank:pairwise", setObjective("rank:pairwise"), `objective "rank:pairwise" is not supported`},
		{"no objective", setObjective(""), "learner.objective.name is missing"},
		{"multi-target", mustMutateXGBoost(t, func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["num_target"] = "2"
		}), "multi-target models are not supported"},
		{"no num_feature", mustMutateXGBoost(t, func(l map[string]any) {
			delete(l["learner_model_param"].(map[string]any), "num_feature")
		}), "num_feature -1 missing or out of range [0, 65536]"},
		{"bad base_score", mustMutateXGBoost(t, func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["base_score"] = "half"
		}), `base_score "half" is not a finite number`},
		{"feature names", mustMutateXGBoost(t, func(l map[string]any) {
			l["feature_names"] = []any{"a", "b"}
		}), "learner.feature_names has 2 names for 6 features"},
		{"duplicate names", mustMutateXGBoost(t, func(l map[string]any) {
			l["feature_names"] = []any{"a", "b", "c", "d", "e", "a"}
		}), `features 0 and 5 are both named "a"`},
		{"child out of range", mustMutateXGBoost(t, func(l map[string]any) {
			xgbTestTree(l, 3)["left_children"].([]any)[0] = 99
		}), "xgboost model: tree 3: node 0: left child 99 out of range ("},
		{"cycle", mustMutateXGBoost(t, func(l map[string]any) {
			xgbTestTree(l, 2)["right_children"].([]any)[1] = 0
		}), "tree 2: node 1: right child node 0 is reached twice"},
		{"array lengths", mustMutateXGBoost(t, func(l map[string]any) {
			tr := xgbTestTree(l, 4)
			tr["right_children"] = tr["right_children"].([]any)[1:]
		}), "tree 4: right_children has"},
		{"num_nodes", mustMutateXGBoost(t, func(l map[string]any) {
			xgbTestTree(l, 5)["tree_param"].(map[string]any)["num_nodes"] = "3"
		}), "tree 5: tree_param.num_nodes is 3 but left_children has"},
		{"split feature", mustMutateXGBoost(t, func(l map[string]any) {
			xgbTestTree(l, 1)["split_indices"].([]any)[0] = 17
		}), "tree 1: node 0: split feature 17 out of range (6 features)"},
		{"nan condition", mustMutateXGBoost(t, func(l map[string]any) {
			xgbTestTree(l, 0)["split_conditions"].([]any)[0] = "NaN"
		}), "tree 0: node 0: split condition NaN"},
		{"wrong type", mustMutateXGBoost(t, func(l map[string]any) {
			xgbTestTree(l, 0)["left_children"] = "none"
		}), "field learner.gradient_booster.model.trees.left_children"},
		{"categorical without categories", mustMutateXGBoost(t, func(l map[string]any) {
			xgbTestTree(l, 0)["split_type"].([]any)[0] = 1
		}), "tree 0: node 0: categorical split without categories"},
		{"category out of range", mustMutateXGBoost(t, func(l map[string]any) {
			tr := xgbTestTree(l, 0)
			tr["split_type"].([]any)[0] = 1
			tr["categories_nodes"], tr["categories_segments"], tr["categories_sizes"] = []any{0}, []any{0}, []any{1}
			tr["categories"] = []any{1 << 20}
		}), "tree 0: node 0: category 1048576 out of range"},
		{"categories segment", mustMutateXGBoost(t, func(l map[string]any) {
			tr := xgbTestTree(l, 0)
			tr["categories_nodes"], tr["categories_segments"], tr["categories_sizes"] = []any{0}, []any{5}, []any{1}
		}), "tree 0: node 0: categories [5, 5+1) out of range (0 categories)"},
		{"tree_info", mustMutateXGBoost(t, func(l map[string]any) {
			m := l["gradient_booster"].(map[string]any)["model"].(map[string]any)
			m["tree_info"] = m["tree_info"].([]any)[1:]
		}), "tree_info has 29 entries for 30 trees"},
		{"uneven groups", mustMutateXGBoost(t, func(l map[string]any) {
			l["objective"].(map[string]any)["name"] = "multi:softprob"
			l["learner_model_param"].(map[string]any)["num_class"] = "3"
		}), "output group 0 has 30 trees, group 1 has 0: every group needs as many"},
		{"too many features", mustMutateXGBoost(t, func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["num_feature"] = "100000"
		}), "num_feature 100000 missing or out of range [0, 65536]"},
		{"group", mustMutateXGBoost(t, func(l map[string]any) {
			m := l["gradient_booster"].(map[string]any)["model"].(map[string]any)
			m["tree_info"].([]any)[7] = 1
		}), "tree 7: tree_info group 1 out of range (1 groups)"},
		{"booster", mustMutateXGBoost(t, func(l map[string]any) {
			l["gradient_booster"].(map[string]any)["name"] = "gbforest"
		}), `booster "gbforest" is not supported`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ImportXGBoost(tc.data)
			if err == nil || m != nil {
				t.Fatalf("imported (%v), want an error containing %q", m != nil, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "xgboost model: ") {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestImportLightGBMErrors(t *testing.T) {
	text := string(mustReadImportFixture(t, "lgb_binary.txt"))
	edit := func(old, new string) []byte {
		if !strings.Contains(text, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return []byte(strings.Replace(text, old, new, 1))
	}
	random := make([]byte, 4096)
	rand.New(rand.NewSource(2)).Read(random)
	// a chain of 20 zero-as-missing splits that each reach their child
	// from two nodes: laid out in full it would need 2^20 copies
	var chain strings.Builder
	chain.WriteString("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=0\n" +
		"objective=regression\nfeature_names=v\nfeature_infos=[-5:5]\n\nTree=0\nnum_leaves=21\nnum_cat=0\n")
	var feat, thr, dt, left, right, leaf []string
	for i := 0; i < 20; i++ {
		feat, thr, dt = append(feat, "0"), append(thr, "-1"), append(dt, "6")
		left, right = append(left, strconv.Itoa(i+1)), append(right, strconv.Itoa(^(i+1)))
	}
	left[19] = "-1"
	for i := 0; i < 21; i++ {
		leaf = append(leaf, strconv.Itoa(i))
	}
	for _, kv := range [][2]string{{"split_feature", strings.Join(feat, " ")}, {"threshold", strings.Join(thr, " ")},
		{"decision_type", strings.Join(dt, " ")}, {"left_child", strings.Join(left, " ")},
		{"right_child", strings.Join(right, " ")}, {"leaf_value", strings.Join(leaf, " ")}} {
		chain.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	chain.WriteString("\nend of trees\n")
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, `does not start with the line "tree"`},
		{"zero-as-missing blowup", []byte(chain.String()), "tree 0: laying out its shared subtrees needs more than 712 nodes (81 described)"},
		{"random bytes", random, `does not start with the line "tree"`},
		{"xgboost json", mustReadImportFixture(t, "xgb_binary.json"), `does not start with the line "tree"`},
		{"truncated", []byte(text[:len(text)/2]), `truncated: no "end of trees" line`},
		{"truncated header", []byte(text[:40]), `truncated: no "end of trees" line`},
		{"no objective", edit("objective=binary sigmoid:2\n", ""), "no objective line"},
		{"multiclassova", edit("objective=binary sigmoid:2", "objective=multiclassova num_class:1 sigmoid:1"),
			`objective "multiclassova num_class:1 sigmoid:1" is not supported`},
		{"poisson", edit("objective=binary sigmoid:2", "objective=poisson"), `line 7: objective "poisson" is not supported`},
		{"cross_entropy", edit("objective=binary sigmoid:2", "objective=cross_entropy"), `objective "cross_entropy" is not supported`},
		{"lambdarank", edit("objective=binary sigmoid:2", "objective=lambdarank"), `objective "lambdarank" is not supported`},
		{"regression sqrt", edit("objective=binary sigmoid:2", "objective=regression sqrt"), `objective "regression sqrt" is not supported`},
		{"bad sigmoid", edit("sigmoid:2", "sigmoid:-1"), `sigmoid "-1" is not a positive number`},
		{"num_class", edit("objective=binary sigmoid:2", "objective=multiclass num_class:3"),
			"with num_class=1 and num_tree_per_iteration=1"},
		{"linear tree", edit("is_linear=0", "is_linear=1"), "tree 0 (line 12): line 29: linear trees (is_linear=1) are not supported"},
		{"child out of range", edit("left_child=1 -1 -3", "left_child=1 -1 9"), "tree 0 (line 12): node 2: left child 9 out of range (3 splits)"},
		{"leaf out of range", edit("right_child=2 -2 -4", "right_child=2 -2 -9"), "node 2: right child -9 names leaf 8, out of range (4 leaves)"},
		{"cycle", edit("left_child=1 -1 -3", "left_child=1 0 -3"), "tree 0 (line 12): node 1: left child node 0 is reached twice"},
		{"shared leaf", edit("left_child=1 -1 -3", "left_child=1 -1 -1"), "node 1: left child leaf 0 is reached twice"},
		{"array length", edit("threshold=1.5000000000000002 -0.49999999999999994 0", "threshold=1.5 0"),
			"tree 0 (line 12): line 17: threshold has 2 values, want 3"},
		{"not a number", edit("leaf_value=0.10000000000000001", "leaf_value=abc"), "line 21: leaf_value value 0: \"abc\""},
		{"missing type 3", edit("decision_type=10 0 1", "decision_type=10 12 1"), "node 1: decision_type 12 has missing type 3"},
		{"split feature", edit("split_feature=0 1 3", "split_feature=0 7 3"), "node 1: split feature 7 out of range (4 features)"},
		{"bitset index", edit("threshold=1.5000000000000002 -0.49999999999999994 0", "threshold=1.5000000000000002 -0.49999999999999994 4"),
			"node 2: categorical threshold 4 is not a bitset index (num_cat 1)"},
		{"cat boundaries", edit("cat_boundaries=0 3", "cat_boundaries=0 5"), "cat_boundaries value 1 (5) out of order or past cat_threshold's 3 words"},
		{"no leaf values", edit("leaf_value=0.050000000000000003 -0.14999999999999999 0.25\n", ""), "tree 1 (line 33): no leaf_value line"},
		{"tree numbering", edit("Tree=1", "Tree=5"), `line 33: "Tree=5", expected Tree=1`},
		{"tree_sizes", edit("tree_sizes=500 420", "tree_sizes=500"), "tree_sizes lists 1 trees, the file has 2"},
		{"feature names", edit("feature_names=x y z c", "feature_names=x y z"), "feature_names has 3 names, max_feature_idx says 4 features"},
		{"duplicate names", edit("feature_names=x y z c", "feature_names=x y x c"), `features 0 and 2 are both named "x"`},
		{"feature infos", edit("1:4:70:2", "1:4:x"), `feature_infos of c: category "x" is not an integer`},
		{"no feature names", edit("feature_names=x y z c\n", ""), "no feature_names line"},
		{"stray line", edit("\nTree=1", "\nstray\nTree=1"), `line 33: "stray" outside a tree`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ImportLightGBM(tc.data)
			if err == nil || m != nil {
				t.Fatalf("imported (%v), want an error containing %q", m != nil, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "lightgbm model: ") {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// fuzzImported checks that a model an importer accepted scores, encodes and
// decodes without trouble.
func fuzzImported(t *testing.T, m *Model) {
	if m.Trees() == 0 && len(m.nodes) != 0 {
		t.Fatal("nodes without trees")
	}
	rows := [][]float64{make([]float64, len(m.Features())), make([]float64, len(m.Features()))}
	for j := range rows[1] {
		rows[1][j] = float64(j%3) - 1
	}
	dst := make([]float64, len(rows))
	m.PredictBatch(rows, dst, 1)
	p := make([]float64, max(len(m.Classes()), 1))
	for _, row := range rows {
		m.PredictProba(row, p)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("an imported model does not decode: %v", err)
	}
	for i, row := range rows {
		if got := d.PredictRow(row); got != dst[i] && got == got {
			t.Fatalf("decoded model scores %v, imported %v", got, dst[i])
		}
	}
}

func FuzzImportXGBoost(f *testing.F) {
	f.Add(mustReadImportFixture(f, "xgb_gblinear.json"))
	// small models keep the fuzzer fast: a one-split tree, in JSON and UBJSON
	small := `{"learner":{"feature_names":["a","b"],"feature_types":["float","c"],"gradient_booster":{"model":{` +
		`"gbtree_model_param":{"num_trees":"2","num_parallel_tree":"1"},"tree_info":[0,0],"trees":[` +
		`{"id":0,"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],` +
		`"split_conditions":[Infinity,-0.25,0.75],"default_left":[1,0,0],"loss_changes":[3.5,0,0],"split_type":[0,0,0],` +
		`"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],"tree_param":{"num_nodes":"3"}},` +
		`{"id":1,"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[1,0,0],` +
		`"split_conditions":[NaN,0.1,-0.1],"default_left":[0,0,0],"loss_changes":[1,0,0],"split_type":[1,0,0],` +
		`"categories":[2,70],"categories_nodes":[0],"categories_segments":[0],"categories_sizes":[2],"tree_param":{"num_nodes":"3"}}]},` +
		`"name":"gbtree"},"learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"2"},` +
		`"objective":{"name":"binary:logistic"}},"version":[1,7,4]}`
	multi := strings.NewReplacer(`"tree_info":[0,0]`, `"tree_info":[0,1]`, `"num_class":"0"`, `"num_class":"2"`,
		`"binary:logistic"`, `"multi:softprob"`).Replace(small)
	dart := strings.NewReplacer(`"gradient_booster":{"model"`, `"gradient_booster":{"name":"dart","weight_drop":[1,1],"gbtree":{"model"`,
		`"name":"gbtree"},"learner_model_param"`, `"name":"gbtree"}},"learner_model_param"`).Replace(small)
	for _, s := range []string{small, multi, dart} {
		f.Add([]byte(s))
		if b, err := ubjFromJSONForTest([]byte(s)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ImportXGBoost(data)
		if err != nil {
			if m != nil || !strings.HasPrefix(err.Error(), "xgboost model: ") {
				t.Fatalf("model %v with error %v", m, err)
			}
			return
		}
		fuzzImported(t, m)
	})
}

func FuzzImportLightGBM(f *testing.F) {
	for _, name := range []string{"lgb_binary.txt", "lgb_zero.txt", "lgb_multiclass.txt", "lgb_multiclass2.txt", "lgb_rf.txt"} {
		f.Add(mustReadImportFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ImportLightGBM(data)
		if err != nil {
			if m != nil || !strings.HasPrefix(err.Error(), "lightgbm model: ") {
				t.Fatalf("model %v with error %v", m, err)
			}
			return
		}
		fuzzImported(t, m)
	})
}
