package train

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
)

// synth generates a binary task with a nonlinear numeric signal, a
// categorical effect and 5% missing values.
func synth(n int, seed int64) *Dataset {
	rng := rand.New(rand.NewSource(seed))
	const nf = 6
	ds := &Dataset{Rows: n, Target: make([]float64, n), TargetLevels: []string{"0", "1"}}
	for f := 0; f < nf; f++ {
		ds.Names = append(ds.Names, "x"+string(rune('0'+f)))
		ds.Kinds = append(ds.Kinds, Numeric)
		ds.Num = append(ds.Num, make([]float64, n))
		ds.Codes = append(ds.Codes, nil)
		ds.Levels = append(ds.Levels, nil)
	}
	ds.Names = append(ds.Names, "c")
	ds.Kinds = append(ds.Kinds, Categorical)
	ds.Num = append(ds.Num, nil)
	ds.Codes = append(ds.Codes, make([]int32, n))
	ds.Levels = append(ds.Levels, []string{"a", "b", "c", "d", "e", "f", "g"})
	effect := []float64{-1.5, 1.5, 0, 0.8, -0.8, 2, -2}
	for i := 0; i < n; i++ {
		z := 0.0
		for f := 0; f < nf; f++ {
			v := rng.NormFloat64()
			ds.Num[f][i] = v
		}
		x := ds.Num
		z += 2*x[0][i] - 1.5*x[1][i]*x[1][i] + math.Sin(3*x[2][i]) + x[3][i]*x[4][i]
		c := int32(rng.Intn(7))
		ds.Codes[nf][i] = c
		z += effect[c]
		if rng.Float64() < 0.05 {
			ds.Num[0][i] = math.NaN()
		}
		if rng.Float64() < 0.05 {
			ds.Codes[nf][i] = -1
		}
		if rng.Float64() < 1/(1+math.Exp(-2*z)) {
			ds.Target[i] = 1
		}
	}
	return ds
}

// rowsOf converts a dataset into model rows.
func rowsOf(t testing.TB, m *Model, ds *Dataset) [][]float64 {
	rm, err := NewRowMapper(m, ds)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]float64, ds.Rows)
	for i := range rows {
		rows[i] = make([]float64, len(m.Features()))
		rm.Fill(i, rows[i])
	}
	return rows
}

func quietParams() Params {
	p := DefaultParams()
	p.Threads = 2
	return p
}

func TestGBDTAccuracySynthetic(t *testing.T) {
	tr, te := synth(20000, 1), synth(5000, 2)
	p := quietParams()
	rounds := 0
	m, err := Train(context.Background(), tr, te, p, func(r Round) { rounds++ })
	if err != nil {
		t.Fatal(err)
	}
	if rounds != p.Rounds {
		t.Fatalf("progress called %d times, want %d", rounds, p.Rounds)
	}
	rows := rowsOf(t, m, te)
	pred := make([]float64, len(rows))
	m.PredictBatch(rows, pred, 2)
	auc := AUC(te.Target, pred)
	// The Bayes-optimal AUC of this task is about 0.93; a working booster
	// gets within a few points of it.
	if auc < 0.90 {
		t.Fatalf("test AUC %.4f, want >= 0.90", auc)
	}
	if got := m.Metrics()["valid_auc"]; math.Abs(got-auc) > 1e-9 {
		t.Fatalf("valid_auc metric %.6f, recomputed %.6f", got, auc)
	}
	gain, splits := m.Importance()
	if gain["x0"] <= gain["x5"] || splits["x0"] == 0 {
		t.Fatalf("importance: x0 gain %v splits %v, x5 gain %v (x5 is noise)", gain["x0"], splits["x0"], gain["x5"])
	}
}

func TestSingleSplitHandChecked(t *testing.T) {
	ds := &Dataset{Names: []string{"x"}, Kinds: []ColumnKind{Numeric}, Num: [][]float64{{1, 2, 3, 4}},
		Codes: [][]int32{nil}, Levels: [][]string{nil}, Target: []float64{0, 0, 10, 10}, Rows: 4}
	p := quietParams()
	p.Objective, p.Rounds, p.LearningRate, p.Lambda = "regression", 1, 1, 0
	p.MinSamplesLeaf, p.MinChildWeight = 1, 0
	m, err := Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	// base 5; gradients s-y = 5,5,-5,-5; split between 2 and 3 (threshold
	// 2.5); leaves -G/H = -10/2 and +10/2; gain 10²/2 + 10²/2 - 0 = 100.
	root := m.nodes[m.roots[0]]
	if root.feature != 0 || root.threshold != 2.5 {
		t.Fatalf("root split feature %d threshold %v, want 0 and 2.5", root.feature, root.threshold)
	}
	for i, want := range []float64{0, 0, 10, 10} {
		if got := m.PredictRow([]float64{ds.Num[0][i]}); got != want {
			t.Fatalf("row %d: %v, want %v", i, got, want)
		}
	}
	if gain, _ := m.Importance(); gain["x"] != 100 {
		t.Fatalf("gain %v, want 100", gain["x"])
	}
}

// histOf is the histogram of rows of g's bin matrix, added one at a time.
func histOf(g *grower, rows []int32) []featHist {
	h := make([]featHist, g.nf)
	for _, r := range rows {
		for f := range h {
			h[f][g.bm.bin(int(r), f)] += g.qOf(int(r))
		}
	}
	return h
}

// rowsIn returns the row numbers of records lo..hi-1 of recs.
func rowsIn(g *grower, recs []uint64, lo, hi int) []int32 {
	var rows []int32
	for i := lo; i < hi; i++ {
		rows = append(rows, g.rowOf(recs[i*g.rs:i*g.rs+g.rs]))
	}
	return rows
}

func TestHistogramSubtraction(t *testing.T) {
	ds := synth(30000, 3)
	p := quietParams()
	if err := p.normalize(); err != nil {
		t.Fatal(err)
	}
	bn := newBinner(ds, 255, 2)
	bm, err := bn.apply(ds, 2, recordExtra(len(ds.Names)))
	if err != nil {
		t.Fatal(err)
	}
	g := newGrower(p, bm, bn)
	rng := rand.New(rand.NewSource(1))
	for i := range g.gh {
		g.gh[i] = rng.Float32()
	}
	g.quantize(bm.rows, false)
	n := bm.rows
	parent := make([]featHist, g.nf)
	g.buildHist(parent, g.set(rootSet), 0, n)
	if want := histOf(g, rowsIn(g, g.set(rootSet), 0, n)); !slices.Equal(parent, want) {
		t.Fatal("root histogram differs from one built row by row")
	}
	tn := &tnode{feature: 0, bin: 100, defLeft: true}
	mid := g.partition(g.set(rootSet), g.sets[0], 0, n, tn)
	if mid <= 0 || mid >= n {
		t.Fatalf("degenerate partition %d of %d", mid, n)
	}
	direct := make([]featHist, len(parent))
	g.buildHist(direct, g.sets[0], mid, n)
	left := make([]featHist, len(parent))
	g.buildHist(left, g.sets[0], 0, mid)
	if want := histOf(g, rowsIn(g, g.sets[0], 0, mid)); !slices.Equal(left, want) {
		t.Fatal("left child's histogram differs from one built row by row")
	}
	subtractHist(parent, left)
	nonzero := 0
	for f := range parent {
		for i := range parent[f] {
			if parent[f][i] != direct[f][i] {
				t.Fatalf("feature %d bin %d: subtracted %x, direct %x", f, i, parent[f][i], direct[f][i])
			}
			if parent[f][i] != 0 {
				nonzero++
			}
		}
	}
	if nonzero < 100 {
		t.Fatalf("only %d non-empty bins", nonzero)
	}
}

func TestMissingFollowsLearnedDirection(t *testing.T) {
	for _, missingClass := range []float64{0, 1} {
		n := 4000
		ds := &Dataset{Names: []string{"x"}, Kinds: []ColumnKind{Numeric}, Num: [][]float64{make([]float64, n)},
			Codes: [][]int32{nil}, Levels: [][]string{nil}, Target: make([]float64, n), TargetLevels: []string{"0", "1"}, Rows: n}
		for i := 0; i < n; i++ {
			switch i % 3 {
			case 0:
				ds.Num[0][i], ds.Target[i] = float64(i%100), 0
			case 1:
				ds.Num[0][i], ds.Target[i] = 200+float64(i%100), 1
			default:
				ds.Num[0][i], ds.Target[i] = math.NaN(), missingClass
			}
		}
		p := quietParams()
		p.Rounds = 20
		m, err := Train(context.Background(), ds, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		pm := m.PredictRow([]float64{math.NaN()})
		if (missingClass == 1) != (pm > 0.5) {
			t.Fatalf("missing rows are class %v but predict %.3f", missingClass, pm)
		}
		if lo, hi := m.PredictRow([]float64{50}), m.PredictRow([]float64{250}); lo > 0.1 || hi < 0.9 {
			t.Fatalf("non-missing predictions %.3f %.3f", lo, hi)
		}
	}
}

func multiclassData(n int, seed int64) *Dataset {
	ds := synth(n, seed)
	ds.TargetLevels = []string{"a", "b", "c"}
	for i := range ds.Target {
		v := ds.Num[1][i]
		switch {
		case v < -0.5:
			ds.Target[i] = 0
		case v < 0.5:
			ds.Target[i] = 1
		default:
			ds.Target[i] = 2
		}
	}
	return ds
}

func TestSoftmaxSumsToOne(t *testing.T) {
	tr, te := multiclassData(6000, 4), multiclassData(2000, 5)
	p := quietParams()
	p.Rounds = 30
	m, err := Train(context.Background(), tr, te, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Objective() != "multiclass" || len(m.Classes()) != 3 {
		t.Fatalf("objective %s classes %v", m.Objective(), m.Classes())
	}
	rows := rowsOf(t, m, te)
	proba := make([]float64, 3)
	correct := 0
	for i, row := range rows {
		m.PredictProba(row, proba)
		s := proba[0] + proba[1] + proba[2]
		if math.Abs(s-1) > 1e-12 {
			t.Fatalf("row %d: probabilities sum to %v", i, s)
		}
		arg := 0
		for c := range proba {
			if proba[c] > proba[arg] {
				arg = c
			}
		}
		if got := m.PredictRow(row); got != float64(arg) {
			t.Fatalf("row %d: PredictRow %v, arg-max %d", i, got, arg)
		}
		if float64(arg) == te.Target[i] {
			correct++
		}
	}
	if acc := float64(correct) / float64(len(rows)); acc < 0.95 {
		t.Fatalf("accuracy %.3f, want >= 0.95 on a threshold task", acc)
	}
}

func TestDeterminism(t *testing.T) {
	ds := synth(8000, 6)
	p := quietParams()
	p.Rounds, p.Subsample, p.Colsample = 15, 0.8, 0.7
	var first []byte
	for i := 0; i < 2; i++ {
		m, err := Train(context.Background(), ds, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Fatal("two runs with the same seed and threads gave different models")
		}
	}
}

func TestEarlyStopping(t *testing.T) {
	tr, va := synth(3000, 7), synth(3000, 8)
	p := quietParams()
	p.Rounds, p.LearningRate, p.EarlyStopping, p.MaxLeaves = 300, 0.5, 5, 63
	m, err := Train(context.Background(), tr, va, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Trees() >= 300 || m.Metrics()["best_round"] != float64(m.Trees()) {
		t.Fatalf("trees %d best_round %v", m.Trees(), m.Metrics()["best_round"])
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, synth(500, 1), nil, quietParams(), nil); err == nil {
		t.Fatal("cancelled training returned no error")
	}
}

// TestPartitionMovesRows partitions a range of rows (first from the bin
// matrix, then again from the row set it landed in) with one, two and three
// threads (blocks joined by swaps), for record layouts with and without free bytes after the bins, and
// checks that every row lands on its side, once, with its own bins and
// gradient.
func TestPartitionMovesRows(t *testing.T) {
	// 7 features: the row number in a word of its own; 12 and 28: in the
	// free bytes after the bins (28: the 5-word record loop)
	base := synth(150000, 13)
	widen := func(nf int) *Dataset {
		ds := *base
		ds.Names, ds.Kinds = slices.Clone(base.Names), slices.Clone(base.Kinds)
		ds.Num, ds.Codes, ds.Levels = slices.Clone(base.Num), slices.Clone(base.Codes), slices.Clone(base.Levels)
		for f := len(ds.Names); f < nf; f++ {
			ds.Names = append(ds.Names, fmt.Sprintf("copy%d", f))
			ds.Kinds = append(ds.Kinds, Numeric)
			ds.Num = append(ds.Num, base.Num[f%6])
			ds.Codes = append(ds.Codes, nil)
			ds.Levels = append(ds.Levels, nil)
		}
		return &ds
	}
	for _, ds := range []*Dataset{base, widen(12), widen(28)} {
		p := quietParams()
		if err := p.normalize(); err != nil {
			t.Fatal(err)
		}
		bn := newBinner(ds, 255, 2)
		for _, threads := range []int{1, 2, 3} {
			bm, err := bn.apply(ds, 2, recordExtra(len(ds.Names)))
			if err != nil {
				t.Fatal(err)
			}
			p.Threads = threads
			g := newGrower(p, bm, bn)
			orig := slices.Clone(bm.words)
			for r := 0; r < bm.rows; r++ {
				bm.words[r*g.rs+g.w] = uint64(r) * 3
			}
			lo, hi := 10, bm.rows-10
			split1 := &tnode{feature: 1, bin: 90, defLeft: true}
			mid := g.partition(g.set(rootSet), g.sets[0], lo, hi, split1)
			split2 := &tnode{feature: 6, cat: true, catSet: [4]uint64{0b1011}, defLeft: false}
			mid2 := g.partition(g.sets[0], g.sets[1], lo, mid, split2)
			for _, c := range []struct {
				recs   []uint64
				lo, hi int
				split  *tnode
				left   bool
			}{
				{g.sets[0], mid, hi, split1, false},
				{g.sets[1], lo, mid2, split2, true},
				{g.sets[1], mid2, mid, split2, false},
			} {
				if c.hi-c.lo < 1000 {
					t.Fatalf("nf %d threads %d: degenerate partition [%d, %d)", g.nf, threads, c.lo, c.hi)
				}
				seen := map[int32]bool{}
				for i := c.lo; i < c.hi; i++ {
					rec := c.recs[i*g.rs : i*g.rs+g.rs]
					r := g.rowOf(rec)
					if seen[r] || r < int32(lo) || r >= int32(hi) {
						t.Fatalf("nf %d threads %d: row %d repeated or out of range", g.nf, threads, r)
					}
					seen[r] = true
					f := c.split.feature
					if c.split.goLeft(bm.bin(int(r), f), uint8(g.nv[f])) != c.left {
						t.Fatalf("nf %d threads %d: row %d on the wrong side", g.nf, threads, r)
					}
					if rec[g.w] != uint64(r)*3 {
						t.Fatalf("nf %d threads %d: row %d carries gradient %d", g.nf, threads, r, rec[g.w])
					}
					if want := orig[int(r)*g.rs : int(r)*g.rs+g.w]; !slices.Equal(rec[:g.w], want) {
						t.Fatalf("nf %d threads %d: row %d carries bins %x, want %x", g.nf, threads, r, rec[:g.w], want)
					}
				}
			}
		}
	}
}

// TestModelIndependentOfThreads trains the same model with one and two
// threads (row sets are partitioned differently; integer histograms and leaf
// sums in row order make the trees the same).
func TestModelIndependentOfThreads(t *testing.T) {
	ds := synth(120000, 21)
	var models [2]*Model
	for k, threads := range []int{1, 2} {
		p := quietParams()
		p.Rounds, p.Threads = 8, threads
		m, err := Train(context.Background(), ds, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		models[k] = m
	}
	a, b := models[0], models[1]
	if len(a.nodes) < 8*20 || !slices.Equal(a.nodes, b.nodes) || !slices.Equal(a.roots, b.roots) || !slices.Equal(a.catBits, b.catBits) {
		t.Fatal("one and two threads gave different trees")
	}
}

// TestBinTreeMatchesNodes walks trees grown on data with missing values and
// a categorical feature through binTree and through the tnode splits one by
// one, on every row.
func TestBinTreeMatchesNodes(t *testing.T) {
	ds := synth(20000, 17)
	p := quietParams()
	if err := p.normalize(); err != nil {
		t.Fatal(err)
	}
	p.MinSamplesLeaf, p.MaxLeaves = 5, 63
	bn := newBinner(ds, 255, 2)
	bm, err := bn.apply(ds, 2, recordExtra(len(ds.Names)))
	if err != nil {
		t.Fatal(err)
	}
	g := newGrower(p, bm, bn)
	for i := range g.featOK {
		g.featOK[i] = true
	}
	for r := 0; r < bm.rows; r++ {
		g.gh[2*r], g.gh[2*r+1] = float32(0.5-ds.Target[r]), 0.25
	}
	nodes := g.grow(bm.rows, false)
	cats, leaves := 0, 0
	for _, n := range nodes {
		if n.cat {
			cats++
		}
		if n.feature < 0 {
			leaves++
		}
	}
	if cats == 0 || leaves < 40 {
		t.Fatalf("tree with %d categorical splits and %d leaves", cats, leaves)
	}
	tree := newBinTree(nil, nodes, bn.nv)
	for r := 0; r < bm.rows; r++ {
		i := 0
		for nodes[i].feature >= 0 {
			n := &nodes[i]
			if n.goLeft(bm.bin(r, n.feature), uint8(bn.nv[n.feature])) {
				i = n.left
			} else {
				i = n.right
			}
		}
		if got := tree.leaf(bm, r); got != nodes[i].value {
			t.Fatalf("row %d: binTree %v, nodes %v", r, got, nodes[i].value)
		}
		if g.leafOf[r] < 0 || int(g.leafOf[r]) >= len(g.leaves) || g.leaves[g.leafOf[r]].node != i {
			t.Fatalf("row %d: leafOf says leaf %d, the walk ends at node %d", r, g.leafOf[r], i)
		}
	}
}
