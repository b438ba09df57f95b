package train

import (
	"math"
	"math/rand"
	"slices"
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
	// one row at a time: PredictRow, PredictProba and every group's raw score
	k := max(len(m.classes), 1)
	p, pw := make([]float64, k), make([]float64, k)
	for i, row := range rows {
		if a, b := m.PredictRow(row), ref.PredictRow(row); math.Float64bits(a) != math.Float64bits(b) {
			t.Fatalf("%s model, row %d %v: PredictRow %v, reference %v", m.objective, i, row, a, b)
		}
		m.PredictProba(row, p)
		ref.PredictProba(row, pw)
		for c := range p {
			if math.Float64bits(p[c]) != math.Float64bits(pw[c]) {
				t.Fatalf("%s model, row %d %v: PredictProba[%d] %v, reference %v", m.objective, i, row, c, p[c], pw[c])
			}
		}
		for g := 0; g < m.groups; g++ {
			if a, b := m.rawScore(row, g), ref.rawScore(row, g); math.Float64bits(a) != math.Float64bits(b) {
				t.Fatalf("%s model, row %d %v: raw score %d %v, reference %v", m.objective, i, row, g, a, b)
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
	ds := synth(3000, 31) // numeric features with missing values and a categorical
	reg := &Dataset{Names: ds.Names, Kinds: ds.Kinds, Num: ds.Num, Codes: ds.Codes, Levels: ds.Levels, Rows: ds.Rows,
		Target: ds.Num[0]}
	for _, c := range []struct {
		name string
		d    *Dataset
		obj  string
	}{
		{"binary", ds, "binary"},
		{"regression", reg, "regression"},
		{"multiclass", multiclassData(3000, 8), "multiclass"},
		{"numeric", higgsLike(3000, 9), "binary"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := quietParams()
			p.Rounds, p.Objective = 25, c.obj
			m, err := Train(t.Context(), c.d, nil, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.name == "numeric" && m.lanes == nil {
				t.Fatal("no lane walker for a numeric model")
			}
			rows := rowsOf(t, m, c.d)
			for i := 0; i < len(rows); i += 7 { // some missing values
				rows[i][i%len(rows[i])] = math.NaN()
			}
			checkAgainstReference(t, m, rows)
		})
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

// TestLaneWalksMatchGo checks the assembly walks and searches (amd64)
// against their Go versions on random trees, rows and keys.
func TestLaneWalksMatchGo(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		m := randomModel(rng, 1+rng.Intn(12), 1+rng.Intn(30), 2+rng.Intn(60), 1, false)
		w := m.lanes
		if w == nil {
			t.Fatal("no lane walker")
		}
		rows := randomRows(rng, m, 1+rng.Intn(70))
		// searches: batch layout and one-row layout
		groups := (len(rows) + laneRows - 1) / laneRows
		gs := 16 * w.nf
		q1, q2 := make([]byte, groups*gs), make([]byte, groups*gs)
		kb := make([]uint64, laneRows*len(w.used))
		for g := 0; g < groups; g++ {
			for k := 0; k < laneRows; k++ {
				row := rows[min(g*laneRows+k, len(rows)-1)]
				for i, f := range w.used {
					kb[i*laneRows+k] = rowKey(row[f])
				}
			}
			searchCuts(w.keys, w.batch, kb, q1[g*gs:])
			searchCutsGo(w.keys, w.batch, kb, q2[g*gs:])
		}
		if !slices.Equal(q1, q2) {
			t.Fatalf("seed %d: searchCuts %v, Go %v", seed, q1, q2)
		}
		kr := make([]uint64, laneRows*len(w.row))
		for i, f := range w.used {
			kr[i] = rowKey(rows[0][f])
		}
		c1, c2 := make([]byte, 16*len(w.row)), make([]byte, 16*len(w.row))
		searchCuts(w.keys, w.row, kr, c1)
		searchCutsGo(w.keys, w.row, kr, c2)
		if !slices.Equal(c1, c2) {
			t.Fatalf("seed %d: one-row searchCuts %v, Go %v", seed, c1, c2)
		}
		// group walks, from random sums
		for tr := range w.info {
			in := w.info[tr]
			a1, a2 := make([]float64, groups*laneRows), make([]float64, groups*laneRows)
			for j := range a1 {
				a1[j] = rng.NormFloat64()
				a2[j] = a1[j]
			}
			walkGroups(w.nodes[in.tree:], w.leaf[in.tree:], q1, groups, gs, a1)
			walkGroupsGo(w.nodes[in.tree:], w.leaf[in.tree:], q1, groups, gs, a2)
			for j := range a1 {
				if math.Float64bits(a1[j]) != math.Float64bits(a2[j]) {
					t.Fatalf("seed %d tree %d: walkGroups row %d: %v, Go %v", seed, tr, j, a1[j], a2[j])
				}
			}
		}
		// tree walks of one row
		var q qRow
		for _, row := range rows {
			w.quantizeRow(row, &q)
			for _, ch := range w.trees[0] {
				var l1, l2 [laneRows]uint32
				walkTrees(w.nodes, &q, &ch.roots, &l1)
				walkTreesGo(w.nodes, &q, &ch.roots, &l2)
				s1, s2 := 1.5, 1.5
				walkTreesSum(w.nodes, w.leaf, &q, &ch.roots, &s1)
				walkTreesSumGo(w.nodes, w.leaf, &q, &ch.roots, &s2)
				if l1 != l2 || math.Float64bits(s1) != math.Float64bits(s2) {
					t.Fatalf("seed %d: walkTrees %v sum %v, Go %v sum %v", seed, l1, s1, l2, s2)
				}
			}
		}
	}
}

// TestLaneWalkerCoverage checks which trees take the lane walker: none with
// a NaN threshold (no trained or imported model has one) or a feature with
// more than 255 distinct thresholds; ±Inf thresholds are fine and score
// bit-identically.
func TestLaneWalkerCoverage(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	m := randomModel(rng, 4, 12, 31, 1, false)
	infs := 0
	for i := range m.nodes {
		if n := &m.nodes[i]; n.feature >= 0 && i%5 == 0 {
			n.threshold = math.Inf(2*(i%2) - 1)
			infs++
		}
	}
	m.compile()
	if infs == 0 {
		t.Fatal("no infinite threshold set")
	}
	for tr, in := range m.lanes.info {
		if in.tree < 0 {
			t.Fatalf("tree %d with infinite thresholds is not in lane form", tr)
		}
	}
	checkAgainstReference(t, m, randomRows(rng, m, 200))

	nanTree := 3
	for i := m.roots[nanTree]; ; i++ {
		if m.nodes[i].feature >= 0 {
			m.nodes[i].threshold = math.NaN()
			break
		}
	}
	m.compile()
	for tr, in := range m.lanes.info {
		if (in.tree < 0) != (tr == nanTree) {
			t.Fatalf("tree %d: lane root %d", tr, in.tree)
		}
	}

	// a feature with 300 distinct thresholds keeps its trees on the float walker
	w := randomModel(rng, 3, 40, 31, 1, false)
	k := 0
	for i := range w.nodes {
		switch n := &w.nodes[i]; {
		case n.feature == 0 && i >= int(w.roots[30]): // trees 30-39 do not split on feature 0
			n.feature = 1
		case n.feature == 0:
			n.threshold = float64(k) / 7
			k++
		}
	}
	if k <= maxLaneCuts {
		t.Fatalf("only %d splits on feature 0", k)
	}
	w.compile()
	if w.lanes == nil {
		t.Fatal("no lane walker")
	}
	lanes := 0
	{
		for tr, in := range w.lanes.info {
			usesF0 := false
			loc, _ := localNodes(w.nodes, w.roots[tr])
			for _, i := range loc {
				usesF0 = usesF0 || w.nodes[i].feature == 0
			}
			if (in.tree < 0) != usesF0 {
				t.Fatalf("tree %d: lane root %d, splits on feature 0: %v", tr, in.tree, usesF0)
			}
			if in.tree >= 0 {
				lanes++
			}
		}
	}
	if lanes == 0 {
		t.Fatal("every tree splits on feature 0")
	}
	checkAgainstReference(t, w, randomRows(rng, w, 200))
}
