package train

import (
	"bytes"
	"context"
	"math"
	"math/rand"
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

func TestHistogramSubtraction(t *testing.T) {
	ds := synth(30000, 3)
	p := quietParams()
	if err := p.normalize(); err != nil {
		t.Fatal(err)
	}
	bn := newBinner(ds, 255, 2)
	bm, err := bn.apply(ds, 2, true)
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
	for i := range g.idx {
		g.idx[i] = int32(i)
	}
	parent := make([]featHist, g.nf)
	g.buildHist(parent, nil, n)
	l := &leafState{lo: 0, hi: n}
	mid := g.partition(l, &tnode{feature: 0, bin: 100, defLeft: true})
	direct := make([]featHist, len(parent))
	g.buildHist(direct, g.idx[mid:n], n-mid)
	left := make([]featHist, len(parent))
	g.buildHist(left, g.idx[:mid], mid)
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
	if mid <= 0 || mid >= n {
		t.Fatalf("degenerate partition %d of %d", mid, n)
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

func TestParallelPartitionMatchesSerial(t *testing.T) {
	ds := synth(100000, 13)
	p := quietParams()
	if err := p.normalize(); err != nil {
		t.Fatal(err)
	}
	bn := newBinner(ds, 255, 2)
	bm, err := bn.apply(ds, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	var got [2][]int32
	for k, threads := range []int{1, 2} {
		p.Threads = threads
		g := newGrower(p, bm, bn)
		for i := range g.idx {
			g.idx[i] = int32(i)
		}
		l := &leafState{lo: 10, hi: bm.rows - 10}
		mid := g.partition(l, &tnode{feature: 1, bin: 90, defLeft: true})
		if mid <= l.lo || mid >= l.hi {
			t.Fatalf("degenerate partition at %d", mid)
		}
		got[k] = g.idx
	}
	for i := range got[0] {
		if got[0][i] != got[1][i] {
			t.Fatalf("position %d: serial %d, parallel %d", i, got[0][i], got[1][i])
		}
	}
}
