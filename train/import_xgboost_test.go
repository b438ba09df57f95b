package train

import (
	"encoding/csv"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fixtures in testdata/import were written by
// testdata/import/make_xgboost.py with XGBoost 1.7.4 (see its doc string).

func mustReadImportFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "import", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustReadCSVCells reads a fixture CSV into its header and cells.
func mustReadCSVCells(tb testing.TB, name string) ([]string, [][]string) {
	tb.Helper()
	r := csv.NewReader(strings.NewReader(string(mustReadImportFixture(tb, name))))
	recs, err := r.ReadAll()
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return recs[0], recs[1:]
}

// mustImportRows turns held-out cells into model rows: columns matched by
// name, an empty cell is NaN, a categorical cell goes through CategoryCode.
func mustImportRows(tb testing.TB, m *Model, header []string, cells [][]string) [][]float64 {
	tb.Helper()
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	rows := make([][]float64, len(cells))
	for r, rec := range cells {
		row := make([]float64, len(m.Features()))
		for j, f := range m.Features() {
			c, ok := col[f.Name]
			if !ok {
				tb.Fatalf("feature %q not in the data header %v", f.Name, header)
			}
			switch s := rec[c]; {
			case s == "":
				row[j] = math.NaN()
			case f.Kind == Categorical:
				row[j] = m.CategoryCode(j, s)
			default:
				v, err := strconv.ParseFloat(s, 64)
				if err != nil {
					tb.Fatalf("row %d column %s: %v", r+1, f.Name, err)
				}
				row[j] = v
			}
		}
		rows[r] = row
	}
	return rows
}

// mustFloatCells parses the prediction CSV.
func mustFloatCells(tb testing.TB, name string) (map[string]int, [][]float64) {
	tb.Helper()
	header, cells := mustReadCSVCells(tb, name)
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	out := make([][]float64, len(cells))
	for r, rec := range cells {
		out[r] = make([]float64, len(rec))
		for i, s := range rec {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				tb.Fatalf("%s row %d: %v", name, r+1, err)
			}
			out[r][i] = v
		}
	}
	return col, out
}

func TestImportXGBoostMatchesLibrary(t *testing.T) {
	cases := []struct {
		name, model string
		objective   string
		classes     int
		features    []string // first names, in order
	}{
		{"binary", "xgb_binary.json", "binary", 2, []string{"age", "income", "score", "tenure", "visits", "balance"}},
		{"binary", "xgb_binary.ubj", "binary", 2, []string{"age", "income"}},
		{"softprob", "xgb_softprob.json", "multiclass", 3, []string{"f0", "f1", "f2", "f3", "f4"}},
		{"softmax", "xgb_softmax.json", "multiclass", 4, []string{"f0", "f1", "f2", "f3"}},
		{"regression", "xgb_regression.json", "regression", 0, []string{"f0"}},
		{"dart_plain", "xgb_dart_plain.json", "binary", 2, []string{"f0", "f1", "f2"}},
		{"categorical", "xgb_categorical.json", "binary", 2, []string{"flag", "color", "zone", "x1", "x2"}},
		{"categorical", "xgb_categorical.ubj", "binary", 2, []string{"flag", "color", "zone", "x1", "x2"}},
	}
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			m, err := ImportXGBoost(mustReadImportFixture(t, tc.model))
			if err != nil {
				t.Fatal(err)
			}
			if m.Source() != "xgboost" || m.Objective() != tc.objective || len(m.Classes()) != tc.classes || m.Algo() != "gbdt" {
				t.Fatalf("source %q objective %q classes %v algo %q", m.Source(), m.Objective(), m.Classes(), m.Algo())
			}
			for i, name := range tc.features {
				if m.Features()[i].Name != name {
					t.Fatalf("feature %d is %q, want %q", i, m.Features()[i].Name, name)
				}
			}
			header, cells := mustReadCSVCells(t, "xgb_"+tc.name+"_data.csv")
			rows := mustImportRows(t, m, header, cells)
			col, want := mustFloatCells(t, "xgb_"+tc.name+"_pred.csv")
			if len(want) != len(rows) {
				t.Fatalf("%d rows, %d predictions", len(rows), len(want))
			}
			checkImportedScores(t, m, rows, col, want)
			checkImportedConsistency(t, m, rows)
		})
	}
}

// checkImportedScores compares a model's scores with the library's: the
// probabilities (or regression values, relatively) within 1e-6, the raw
// margins within 1e-5 relative to their size (the library sums in float32).
func checkImportedScores(t *testing.T, m *Model, rows [][]float64, col map[string]int, want [][]float64) {
	t.Helper()
	k := len(m.Classes())
	proba := make([]float64, max(k, 1))
	worst := 0.0
	for r, row := range rows {
		w := want[r]
		switch m.Objective() {
		case "binary":
			got := m.PredictRow(row)
			worst = max(worst, math.Abs(got-w[col["pred"]]))
			if d := math.Abs(got - w[col["pred"]]); d > 1e-6 {
				t.Fatalf("row %d: P(1) %.9g, library %.9g (|d| %.2g)", r+1, got, w[col["pred"]], d)
			}
			checkMargin(t, r, m.rawScore(row, 0), w[col["margin"]])
		case "regression":
			got, lib := m.PredictRow(row), w[col["pred"]]
			if d := math.Abs(got-lib) / max(math.Abs(lib), 1); d > 1e-6 {
				t.Fatalf("row %d: value %.9g, library %.9g (relative %.2g)", r+1, got, lib, d)
			}
			worst = max(worst, math.Abs(got-lib)/max(math.Abs(lib), 1))
		case "multiclass":
			m.PredictProba(row, proba)
			if c, ok := col["pred"]; ok { // multi:softmax predicts the class
				if got := m.PredictRow(row); got != w[c] {
					t.Fatalf("row %d: class %g, library %g", r+1, got, w[c])
				}
			}
			if _, ok := col["p0"]; !ok { // multi:softmax: the softmax of the library's margins
				mx, sum := math.Inf(-1), 0.0
				for c := 0; c < k; c++ {
					mx = max(mx, w[col["m"+strconv.Itoa(c)]])
				}
				for c := 0; c < k; c++ {
					sum += math.Exp(w[col["m"+strconv.Itoa(c)]] - mx)
				}
				for c := 0; c < k; c++ {
					lib := math.Exp(w[col["m"+strconv.Itoa(c)]]-mx) / sum
					worst = max(worst, math.Abs(proba[c]-lib))
					if d := math.Abs(proba[c] - lib); d > 1e-6 {
						t.Fatalf("row %d: P(%d) %.9g, softmax of the library's margins %.9g", r+1, c, proba[c], lib)
					}
				}
			}
			for c := 0; c < k; c++ {
				if pc, ok := col["p"+strconv.Itoa(c)]; ok {
					worst = max(worst, math.Abs(proba[c]-w[pc]))
					if d := math.Abs(proba[c] - w[pc]); d > 1e-6 {
						t.Fatalf("row %d: P(%d) %.9g, library %.9g (|d| %.2g)", r+1, c, proba[c], w[pc], d)
					}
				}
				checkMargin(t, r, m.rawScore(row, c), w[col["m"+strconv.Itoa(c)]])
			}
		}
	}
	t.Logf("%d rows, largest difference from the library %.3g", len(rows), worst)
}

func checkMargin(t *testing.T, r int, got, lib float64) {
	t.Helper()
	if d := math.Abs(got - lib); d > 1e-5*max(1, math.Abs(lib)) {
		t.Fatalf("row %d: margin %.9g, library %.9g (|d| %.2g)", r+1, got, lib, d)
	}
}

// checkImportedConsistency checks that PredictBatch agrees with PredictRow
// and that the model scores identically after MarshalBinary and Decode.
func checkImportedConsistency(t *testing.T, m *Model, rows [][]float64) {
	t.Helper()
	batch := make([]float64, len(rows))
	m.PredictBatch(rows, batch, 2)
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Source() != m.Source() || d.Objective() != m.Objective() || d.Trees() != m.Trees() {
		t.Fatalf("decoded: source %q objective %q trees %d", d.Source(), d.Objective(), d.Trees())
	}
	k := max(len(m.Classes()), 1)
	p1, p2 := make([]float64, k), make([]float64, k)
	for r, row := range rows {
		got := m.PredictRow(row)
		if batch[r] != got && !(math.IsNaN(got) && math.IsNaN(batch[r])) {
			t.Fatalf("row %d: PredictBatch %v, PredictRow %v", r+1, batch[r], got)
		}
		if d.PredictRow(row) != got {
			t.Fatalf("row %d: decoded model %v, imported %v", r+1, d.PredictRow(row), got)
		}
		m.PredictProba(row, p1)
		d.PredictProba(row, p2)
		for c := range p1 {
			if p1[c] != p2[c] {
				t.Fatalf("row %d: decoded PredictProba %v, imported %v", r+1, p2, p1)
			}
		}
		if m.Objective() == "binary" && p1[1] != got {
			t.Fatalf("row %d: PredictProba %v, PredictRow %v", r+1, p1, got)
		}
	}
}

func TestImportXGBoostModelDetails(t *testing.T) {
	m, err := ImportXGBoost(mustReadImportFixture(t, "xgb_binary.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Params()
	if p["objective"] != "binary:logistic" || p["booster"] != "gbtree" || p["num_trees"] != 30 || p["rounds"] != 30 ||
		p["xgboost_version"] != "1.7.4" || p["format"] != "json" {
		t.Fatalf("params %v", p)
	}
	if bs, _ := p["base_score"].(float64); math.Abs(bs-0.3) > 1e-7 {
		t.Fatalf("base_score %v", p["base_score"])
	}
	// binary:logistic starts from logit(base_score)
	if want := math.Log(0.3 / 0.7); math.Abs(m.base[0]-want) > 1e-6 {
		t.Fatalf("base margin %v, want %v", m.base[0], want)
	}
	gain, splits := m.Importance()
	total := 0.0
	for _, f := range m.Features() {
		total += splits[f.Name]
		if splits[f.Name] > 0 && gain[f.Name] <= 0 {
			t.Fatalf("feature %s: %v splits with gain %v", f.Name, splits[f.Name], gain[f.Name])
		}
	}
	if total == 0 || gain["age"] <= gain["visits"] {
		t.Fatalf("importance gain %v splits %v", gain, splits)
	}
	// the same walkers as a model trained here: every tree in lane form
	if m.lanes == nil {
		t.Fatal("no lane walker")
	}
	for tr, in := range m.lanes.info {
		if in.tree < 0 {
			t.Fatalf("tree %d is not in lane form", tr)
		}
	}
	u, err := ImportXGBoost(mustReadImportFixture(t, "xgb_binary.ubj"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Params()["format"] != "ubjson" || len(u.nodes) != len(m.nodes) || len(u.roots) != len(m.roots) {
		t.Fatalf("ubjson model: format %v, %d nodes, json model %d", u.Params()["format"], len(u.nodes), len(m.nodes))
	}
	for i := range m.nodes {
		if m.nodes[i] != u.nodes[i] {
			t.Fatalf("node %d: json %+v, ubjson %+v", i, m.nodes[i], u.nodes[i])
		}
	}

	c, err := ImportXGBoost(mustReadImportFixture(t, "xgb_categorical.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		kind   ColumnKind
		levels int
	}{{Categorical, 3}, {Categorical, 8}, {Categorical, 70}, {Numeric, 0}, {Numeric, 0}} {
		f := c.Features()[i]
		if f.Kind != want.kind || len(f.Levels) != want.levels {
			t.Fatalf("feature %s: kind %v, %d levels, want %v, %d", f.Name, f.Kind, len(f.Levels), want.kind, want.levels)
		}
	}
	if c.CategoryCode(2, "69") != 69 || c.CategoryCode(2, "70") != 70 || c.CategoryCode(2, "3.0") != 70 {
		t.Fatal("zone codes: a level is its own code, anything else the other code 70")
	}
	words := 0
	for _, n := range c.nodes {
		words = max(words, int(n.catWords))
	}
	if words < 2 {
		t.Fatalf("largest category bitset %d words, want a multi-word one", words)
	}

	s, err := ImportXGBoost(mustReadImportFixture(t, "xgb_softmax.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Params()["num_parallel_tree"] != 2 || s.Params()["rounds"] != 5 || s.Trees() != 40 || s.groups != 4 {
		t.Fatalf("softmax: params %v, %d trees, %d groups", s.Params(), s.Trees(), s.groups)
	}
}

// TestXGBoostThreshold checks the float32 rule: for a float32 condition c
// and any float64 v, v <= xgbThreshold(c) iff float32(v) < c.
func TestXGBoostThreshold(t *testing.T) {
	conds := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.1, -0.1, 0.5, 1e-30, -1e-30,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		float32(math.Inf(1)), 16777216, 16777217, 3.4028e38, 1.17549435e-38}
	rng := rand.New(rand.NewSource(19))
	for i := 0; i < 2000; i++ {
		conds = append(conds, math.Float32frombits(rng.Uint32()))
	}
	for _, c := range conds {
		if c != c || math.IsInf(float64(c), -1) {
			if _, err := xgbThreshold(c); err == nil {
				t.Fatalf("condition %v accepted", c)
			}
			continue
		}
		thr, err := xgbThreshold(c)
		if err != nil {
			t.Fatal(err)
		}
		if !(float32(thr) < c) {
			t.Fatalf("c=%v: float32(threshold %v) = %v is not below c", c, thr, float32(thr))
		}
		if next := math.Nextafter(thr, math.Inf(1)); float32(next) < c {
			t.Fatalf("c=%v: threshold %v is not the largest (next %v rounds to %v)", c, thr, next, float32(next))
		}
		lo := math.Nextafter32(c, float32(math.Inf(-1)))
		for _, v := range []float64{float64(c), float64(lo), thr, math.Nextafter(thr, 0), math.Nextafter(thr, math.Inf(1)),
			float64(math.Nextafter32(c, float32(math.Inf(1)))), math.Inf(1), math.Inf(-1)} {
			if (v <= thr) != (float32(v) < c) {
				t.Fatalf("c=%v v=%v: driftd left=%v, XGBoost left=%v", c, v, v <= thr, float32(v) < c)
			}
		}
	}
}
