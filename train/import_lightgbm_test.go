package train

import (
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// The LightGBM fixtures in testdata/import are hand-written text models
// (written out by testdata/import/make_lightgbm.py, except lgb_binary.txt,
// typed in full): lgb_binary.txt (binary sigmoid:2; numeric splits with
// missing types NaN and None and the default-left bit, a zero-as-missing
// split, a categorical split whose bitset spans three 32-bit words),
// lgb_zero.txt (regression; a stump per missing-type case, left leaf 2^k,
// so the score says which trees sent the row left), lgb_multiclass.txt
// (3 classes, a single-leaf tree), lgb_multiclass2.txt (a 2-class softmax)
// and lgb_rf.txt (average_output).

// kZ is LightGBM's kZeroThreshold (1e-35f as a double).
const kZ = 1.0000000180025095e-35

func TestImportLightGBMHandWorked(t *testing.T) {
	nan := math.NaN()
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	// x: NaN type, default left at x <= 1.5000000000000002 (tree 0) and
	// default right at x <= 1e-300 (tree 1); y: None type (NaN as 0) at
	// y <= -0.49999999999999994; z: Zero type, default right, at
	// z <= -2.0000000000000004; c: categories {1, 4, 70} go left.
	// Tree 0 leaves 0.1 -0.2 0.3 -0.4, tree 1 leaves 0.05 -0.15 0.25; P = sigmoid(2 raw).
	binary := []struct {
		x, y, z float64
		c       string
		raw     float64
	}{
		{1, -1, 5, "0", 0.1 + 0.25},                   // y <= thr: leaf 0; z right, x > 1e-300
		{nan, nan, nan, "", -0.2 + 0.25},              // x NaN left, y NaN = 0 right; z NaN right, x NaN right
		{2, 0, -3, "4", 0.3 + 0.05},                   // c = 4 listed; z <= thr
		{2, 0, 0, "70", 0.3 + 0.25},                   // 70 is in the third 32-bit word; z = 0 is missing: right
		{2, 0, 1e-36, "5", -0.4 + 0.25},               // 5 not listed; z within ±kZ: right
		{1.5, -0.5, -2, "", 0.1 + 0.25},               // x, y at their thresholds: left; z = -2 > thr: right
		{3, 0, 0, "71", -0.4 + 0.25},                  // unseen category: right
		{3, nan, nan, "", -0.4 + 0.25},                // missing category: right
		{3, 0, 0, "64", -0.4 + 0.25},                  // 64 (second 32-bit word, bit 0) not listed
		{2, 0, -1e-35, "1", 0.3 + 0.25},               // -1e-35 is within ±kZ: right
		{0, 5, -2.0000000000000004, "2", -0.2 + 0.05}, // z at its threshold: left
		{1e-300, 0, 3, "1", -0.2 - 0.15},              // x = 1e-300 <= 1e-300: left in tree 1
		{1.6, 0, 3, "2", -0.4 + 0.25},                 // 2 is a known level but not listed
		{nan, 0, 3, "1", -0.2 + 0.25},                 // x NaN: left in tree 0, right in tree 1
	}
	m, err := ImportLightGBM(mustReadImportFixture(t, "lgb_binary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range binary {
		c := nan
		if r.c != "" {
			c = m.CategoryCode(3, r.c)
		}
		if got, want := m.PredictRow([]float64{r.x, r.y, r.z, c}), sig(2*r.raw); math.Abs(got-want) > 1e-12 {
			t.Errorf("lgb_binary row %d %+v: P(1) %.15g, want %.15g", i, r, got, want)
		}
	}

	// lgb_zero.txt: which of the trees T0..T9 send the row left (see
	// make_lightgbm.py); T2 adds 4 (w <= 0) or 1024 (w > 0 or NaN) when left.
	next := math.Nextafter
	zero := []struct {
		v, w float64
		want float64
	}{
		{nan, nan, 1 + 2 + 1024 + 128 + 256},        // missing v: T0-T2 default left, None: T7
		{0, -1, 1 + 2 + 4 + 128 + 256 + 512},        // zero is missing in T0-T5
		{1e-36, 1, 1 + 2 + 1024 + 128},              // within the zero band
		{kZ, -1, 1 + 2 + 4 + 128 + 256 + 512},       // the band is inclusive
		{next(kZ, 1), -1, 1 + 32 + 128 + 256 + 512}, // just above: T5 (kZ < v <= 0.5)
		{1.00000001e-35, 1, 1 + 2 + 1024 + 128},     // above T1's 1e-35 but within the band
		{-kZ, 1, 1 + 2 + 1024 + 128},                // band edge below
		{next(-kZ, -1), 1, 1 + 2 + 16 + 32 + 128},   // just below the band: T4, T5
		{-0.5, -1, 1 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256 + 512},
		{-0.3, nan, 1 + 2 + 16 + 32 + 64 + 128 + 256},
		{0.5, 0, 1 + 32 + 256 + 512},
		{0.6, 5, 0},
		{-0.50000001, nan, 1 + 2 + 1024 + 8 + 16 + 32 + 64 + 128 + 256},
		{0.25, 1e-7, 1 + 32 + 128},
	}
	m, err = ImportLightGBM(mustReadImportFixture(t, "lgb_zero.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range zero {
		if got := m.PredictRow([]float64{r.v, r.w}); got != r.want {
			t.Errorf("lgb_zero row %d (v=%g w=%g): %g, want %g", i, r.v, r.w, got, r.want)
		}
	}

	// lgb_multiclass.txt: raw scores per class worked out tree by tree.
	multi := []struct {
		a, b float64
		raw  [3]float64
	}{
		{-2, 1, [3]float64{0.5 - 0.1, 0.3 - 0.3, -0.1 + 0.05}},
		{nan, nan, [3]float64{-0.5 - 0.1, 0.3 - 0.3, 0.4 + 0.05}}, // a NaN = 0 (None, default-left bit ignored)
		{3, 5, [3]float64{-0.5 - 0.1, -0.2 + 0.1, 0.4 + 0.05}},
		{0.5, 0, [3]float64{-0.5 + 0.2, 0.3 - 0.3, -0.1 + 0.05}},
	}
	m, err = ImportLightGBM(mustReadImportFixture(t, "lgb_multiclass.txt"))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]float64, 3)
	for i, r := range multi {
		m.PredictProba([]float64{r.a, r.b}, p)
		sum := math.Exp(r.raw[0]) + math.Exp(r.raw[1]) + math.Exp(r.raw[2])
		for c := range p {
			if want := math.Exp(r.raw[c]) / sum; math.Abs(p[c]-want) > 1e-12 {
				t.Errorf("lgb_multiclass row %d: P(%d) %.15g, want %.15g", i, c, p[c], want)
			}
		}
	}

	// lgb_multiclass2.txt: P(1) = e^s1 / (e^s0 + e^s1) = sigmoid(s1 - s0)
	m, err = ImportLightGBM(mustReadImportFixture(t, "lgb_multiclass2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ a, s0, s1 float64 }{{-1, 0.2, -0.1}, {0.5, -0.3, -0.1}, {2, -0.3, 0.6}, {nan, -0.3, 0.6}} {
		want := math.Exp(r.s1) / (math.Exp(r.s0) + math.Exp(r.s1))
		if got := m.PredictRow([]float64{r.a}); m.Objective() != "binary" || math.Abs(got-want) > 1e-12 {
			t.Errorf("lgb_multiclass2 a=%g: %s P(1) %.15g, want %.15g", r.a, m.Objective(), got, want)
		}
	}

	// lgb_rf.txt: average_output, the mean of the two trees
	m, err = ImportLightGBM(mustReadImportFixture(t, "lgb_rf.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ a, want float64 }{{-1, 1.5}, {0.5, 2.5}, {5, 4.5}, {nan, 4.5}} {
		if got := m.PredictRow([]float64{r.a}); got != r.want {
			t.Errorf("lgb_rf a=%g: %g, want %g", r.a, got, r.want)
		}
	}
}

// lgbReference scores a row of a LightGBM text model with LightGBM's own
// rules (tree.h's NumericalDecision and CategoricalDecision, the objective's
// ConvertOutput) read straight from the file's arrays. Categorical values
// are the raw category numbers.
func lgbReference(t *testing.T, f *lgbFile, row []float64) []float64 {
	t.Helper()
	h := f.header.kv
	k, _ := strconv.Atoi(h["num_tree_per_iteration"])
	out := make([]float64, k)
	nums := func(b *lgbBlock, key string) []float64 {
		var v []float64
		for _, s := range strings.Fields(b.kv[key]) {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			v = append(v, x)
		}
		return v
	}
	for ti := range f.trees {
		b := &f.trees[ti]
		leaf := nums(b, "leaf_value")
		if len(leaf) == 1 {
			out[ti%k] += leaf[0]
			continue
		}
		feat, thr, dt := nums(b, "split_feature"), nums(b, "threshold"), nums(b, "decision_type")
		left, right := nums(b, "left_child"), nums(b, "right_child")
		cb, ct := nums(b, "cat_boundaries"), nums(b, "cat_threshold")
		node := 0
		for node >= 0 {
			v, d := row[int(feat[node])], int(dt[node])
			goLeft := false
			if d&1 != 0 {
				if !math.IsNaN(v) && int(v) >= 0 {
					c, lo, hi := int(v), int(cb[int(thr[node])]), int(cb[int(thr[node])+1])
					goLeft = c/32 < hi-lo && uint32(ct[lo+c/32])>>(c%32)&1 == 1
				}
			} else {
				mt := d >> 2 & 3
				if math.IsNaN(v) && mt != 2 {
					v = 0
				}
				if (mt == 1 && v >= -kZ && v <= kZ) || (mt == 2 && math.IsNaN(v)) {
					goLeft = d&2 != 0
				} else {
					goLeft = v <= thr[node]
				}
			}
			if goLeft {
				node = int(left[node])
			} else {
				node = int(right[node])
			}
		}
		out[ti%k] += leaf[^node]
	}
	if _, ok := h["average_output"]; ok {
		for c := range out {
			out[c] /= float64(len(f.trees) / k)
		}
	}
	obj := strings.Fields(h["objective"])
	switch obj[0] {
	case "binary":
		s := 1.0
		if len(obj) > 1 {
			s, _ = strconv.ParseFloat(strings.TrimPrefix(obj[1], "sigmoid:"), 64)
		}
		out[0] = 1 / (1 + math.Exp(-s*out[0]))
	case "multiclass":
		sum := 0.0
		for c := range out {
			out[c] = math.Exp(out[c])
			sum += out[c]
		}
		for c := range out {
			out[c] /= sum
		}
	}
	return out
}

// lgbSpecialValues are inputs around every threshold the fixtures use.
func lgbSpecialValues() []float64 {
	vals := []float64{math.NaN(), 0, math.Copysign(0, -1), kZ, -kZ, 1e-35, -1e-35, 1e-36, -1e-36,
		1.00000001e-35, math.Inf(1), math.Inf(-1), 1e-300, -1e-300}
	for _, thr := range []float64{0.5, -0.5, 0.25, -0.25, 1, -1, 2, 1.5000000000000002, -0.49999999999999994,
		-2.0000000000000004, kZ, -kZ, 1e-300} {
		vals = append(vals, thr, math.Nextafter(thr, math.Inf(1)), math.Nextafter(thr, math.Inf(-1)))
	}
	return vals
}

func TestImportLightGBMMatchesReference(t *testing.T) {
	special := lgbSpecialValues()
	for _, name := range []string{"lgb_binary.txt", "lgb_zero.txt", "lgb_multiclass.txt", "lgb_multiclass2.txt", "lgb_rf.txt"} {
		t.Run(name, func(t *testing.T) {
			data := mustReadImportFixture(t, name)
			f, err := lgbParse(data)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ImportLightGBM(data)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(19))
			k := max(len(m.Classes()), 1)
			got := make([]float64, k)
			var rows [][]float64
			for r := 0; r < 3000; r++ {
				raw := make([]float64, len(m.Features()))
				row := make([]float64, len(raw))
				for j, ft := range m.Features() {
					switch {
					case ft.Kind == Categorical && rng.Intn(8) > 0:
						raw[j] = float64(rng.Intn(80))
						row[j] = m.CategoryCode(j, strconv.Itoa(int(raw[j])))
					case rng.Intn(2) == 0:
						raw[j] = special[rng.Intn(len(special))]
						row[j] = raw[j]
					default:
						raw[j] = rng.NormFloat64() * 2
						row[j] = raw[j]
					}
				}
				want := lgbReference(t, f, raw)
				m.PredictProba(row, got)
				switch {
				case m.Objective() == "binary" && len(want) == 2: // two-class softmax
					want = want[1:]
					got[0] = got[1]
				case m.Objective() == "binary":
					got[0] = got[1]
				}
				for c := range want {
					if math.Abs(got[c]-want[c]) > 1e-12*max(1, math.Abs(want[c])) {
						t.Fatalf("row %v: output %d %.17g, LightGBM rules %.17g", raw, c, got[c], want[c])
					}
				}
				rows = append(rows, row)
			}
			checkImportedConsistency(t, m, rows)
		})
	}
}

func TestImportLightGBMModelDetails(t *testing.T) {
	m, err := ImportLightGBM(mustReadImportFixture(t, "lgb_binary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Source() != "lightgbm" || m.Objective() != "binary" || strings.Join(m.Classes(), ",") != "0,1" {
		t.Fatalf("source %q objective %q classes %v", m.Source(), m.Objective(), m.Classes())
	}
	names := []string{}
	for _, f := range m.Features() {
		names = append(names, f.Name)
	}
	if strings.Join(names, " ") != "x y z c" {
		t.Fatalf("features %v", names)
	}
	if c := m.Features()[3]; c.Kind != Categorical || len(c.Levels) != 71 || c.Levels[70] != "70" {
		t.Fatalf("feature c: %v, %d levels", c.Kind, len(c.Levels))
	}
	gain, splits := m.Importance()
	for name, want := range map[string][2]float64{"x": {12.5 + 1.5, 2}, "y": {3.25, 1}, "z": {5.5, 1}, "c": {7, 1}} {
		if gain[name] != want[0] || splits[name] != want[1] {
			t.Errorf("importance of %s: gain %v splits %v, want %v", name, gain[name], splits[name], want)
		}
	}
	p := m.Params()
	for k, want := range map[string]any{"objective": "binary sigmoid:2", "sigmoid": 2.0, "num_trees": 2, "rounds": 2,
		"learning_rate": 0.1, "num_leaves": 4, "max_depth": -1, "boosting": "gbdt", "lightgbm_format_version": "v4"} {
		if p[k] != want {
			t.Errorf("params[%s] = %v (%T), want %v", k, p[k], p[k], want)
		}
	}
	z, err := ImportLightGBM(mustReadImportFixture(t, "lgb_zero.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// eight stumps of 3 nodes; T2 and T5 need three split nodes for their
	// zero-as-missing split, with their children laid out twice: T2's left
	// subtree (a split on w, 3 nodes) and right leaf, T5's two leaves
	if z.Trees() != 10 || len(z.nodes) != 8*3+(3+2*(3+1))+(3+2*2) {
		t.Fatalf("lgb_zero: %d trees, %d nodes", z.Trees(), len(z.nodes))
	}
}
