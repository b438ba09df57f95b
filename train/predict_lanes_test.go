package train

import (
	"math"
	"math/rand"
	"testing"
)

// randomModel builds a tree model directly from nodes: numeric splits with
// thresholds from a small grid (so row values hit them exactly), random
// default directions, categorical splits when cat is set, and groups output
// groups (3+ = multiclass).
func randomModel(rng *rand.Rand, nf, trees, maxLeaves, groups int, cat bool) *Model {
	m := &Model{algo: "gbdt", objective: "regression", groups: groups}
	switch {
	case groups > 2:
		m.objective = "multiclass"
		for k := 0; k < groups; k++ {
			m.classes = append(m.classes, string(rune('a'+k)))
		}
	case rng.Intn(2) == 0:
		m.objective, m.groups, m.classes = "binary", 1, []string{"n", "y"}
	default:
		m.groups = 1
	}
	for f := 0; f < nf; f++ {
		spec := FeatureSpec{Name: "f" + string(rune('a'+f)), Kind: Numeric}
		if cat && f%3 == 2 {
			spec.Kind, spec.Levels = Categorical, []string{"p", "q", "r", "s", "t"}
		}
		m.features = append(m.features, spec)
	}
	for g := 0; g < m.groups; g++ {
		m.base = append(m.base, rng.NormFloat64())
	}
	for t := 0; t < trees*m.groups; t++ {
		root := int32(len(m.nodes))
		m.roots = append(m.roots, root)
		m.nodes = append(m.nodes, node{feature: -1, value: rng.NormFloat64() * 0.1})
		open := []int32{root}
		for leaves := 1; leaves < maxLeaves && len(open) > 0; leaves++ {
			k := rng.Intn(len(open))
			at := open[k]
			open = append(open[:k], open[k+1:]...)
			f := rng.Intn(nf)
			n := node{feature: int32(f), left: int32(len(m.nodes)), defLeft: rng.Intn(2) == 0}
			if m.features[f].Kind == Categorical {
				n.catOff, n.catWords = int32(len(m.catBits)), 1
				m.catBits = append(m.catBits, uint64(rng.Intn(64)))
			} else {
				n.threshold = testGrid[rng.Intn(len(testGrid))]
			}
			m.nodes[at] = n
			for c := 0; c < 2; c++ {
				open = append(open, int32(len(m.nodes)))
				m.nodes = append(m.nodes, node{feature: -1, value: rng.NormFloat64() * 0.1})
			}
		}
	}
	m.gain, m.splitsCnt = make([]float64, nf), make([]float64, nf)
	m.buildIndex()
	m.compile()
	return m
}

// testGrid holds thresholds and row values, -0 and +0 included.
var testGrid = []float64{-2, -1, -0.5, math.Copysign(0, -1), 0, 0.25, 0.5, 1, 3}

// randomRows draws rows with grid values, other values, NaN and infinities
// (numeric) and in-range, unknown, negative and missing codes (categorical).
func randomRows(rng *rand.Rand, m *Model, n int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		row := make([]float64, len(m.features))
		for f, spec := range m.features {
			switch r := rng.Intn(10); {
			case spec.Kind == Categorical:
				row[f] = []float64{0, 1, 2, 3, 4, 5, 70, -1, math.NaN()}[rng.Intn(9)]
			case r < 5:
				row[f] = testGrid[rng.Intn(len(testGrid))]
			case r < 8:
				row[f] = rng.NormFloat64()
			case r == 8:
				row[f] = math.NaN()
			default:
				row[f] = math.Inf(2*rng.Intn(2) - 1)
			}
		}
		rows[i] = row
	}
	return rows
}

// checkAgainstReference scores rows with PredictBatch (the lane walker) and
// with the float walker row by row (the reference), and fails on any bit
// difference.
func checkAgainstReference(t *testing.T, m *Model, rows [][]float64) {
	t.Helper()
	ref := *m
	ref.lanes = nil
	got := make([]float64, len(rows))
	for _, threads := range []int{1, 2} {
		m.PredictBatch(rows, got, threads)
		for i, row := range rows {
			if want := ref.PredictRow(row); math.Float64bits(got[i]) != math.Float64bits(want) {
				t.Fatalf("%s model, %d threads, row %d %v: lanes %v, reference %v", m.objective, threads, i, row, got[i], want)
			}
		}
	}
}

func TestPredictBatchMatchesReference(t *testing.T) {
	cases := []struct {
		name                      string
		nf, trees, leaves, groups int
		cat                       bool
	}{
		{"numeric", 6, 40, 31, 1, false},
		{"one leaf trees", 3, 5, 1, 1, false},
		{"deep", 4, 20, 120, 1, false},
		{"too many nodes for lanes", 4, 6, 200, 1, false},
		{"categorical", 7, 30, 15, 1, true},
		{"multiclass", 5, 12, 31, 3, false},
		{"multiclass categorical", 6, 10, 20, 4, true},
		{"odd tree count", 5, 7, 9, 1, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := int64(0); seed < 5; seed++ {
				rng := rand.New(rand.NewSource(int64(i)*100 + seed))
				m := randomModel(rng, c.nf, c.trees, c.leaves, c.groups, c.cat)
				if m.lanes == nil && !c.cat && c.leaves <= 127 {
					t.Fatal("no lane walker for a numeric model")
				}
				checkAgainstReference(t, m, randomRows(rng, m, 301))
			}
		})
	}
}

func TestPredictBatchMatchesReferenceTrained(t *testing.T) {
	ds := synth(3000, 31)
	for _, obj := range []string{"binary", "regression"} {
		p := quietParams()
		p.Rounds, p.Objective = 25, obj
		d := ds
		if obj == "regression" {
			d = &Dataset{Names: ds.Names, Kinds: ds.Kinds, Num: ds.Num, Codes: ds.Codes, Levels: ds.Levels, Rows: ds.Rows,
				Target: ds.Num[0]}
		}
		m, err := Train(t.Context(), d, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows := rowsOf(t, m, d)
		for i := 0; i < len(rows); i += 7 { // some missing values
			rows[i][i%5] = math.NaN()
		}
		checkAgainstReference(t, m, rows)
	}
}

// FuzzPredictBatch checks the lane walker against the float walker on
// random models and rows: go test -fuzz FuzzPredictBatch ./train/
func FuzzPredictBatch(f *testing.F) {
	f.Add(int64(1), uint8(6), uint8(30), uint8(31), uint8(1), false)
	f.Add(int64(2), uint8(5), uint8(8), uint8(20), uint8(3), true)
	f.Add(int64(3), uint8(1), uint8(1), uint8(2), uint8(1), false)
	f.Fuzz(func(t *testing.T, seed int64, nf, trees, leaves, groups uint8, cat bool) {
		rng := rand.New(rand.NewSource(seed))
		m := randomModel(rng, 1+int(nf%12), 1+int(trees%40), 1+int(leaves%140), 1+int(groups%4), cat)
		checkAgainstReference(t, m, randomRows(rng, m, 67))
	})
}
