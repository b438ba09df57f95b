package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestAUCHandComputedWithTies(t *testing.T) {
	// positives score {0.35, 0.8, 0.4}; negatives {0.1, 0.4, 0.4}.
	// Pairs won by the positive: 0.35 -> 1; 0.8 -> 3; 0.4 -> 1 + 0.5 + 0.5.
	// AUC = 6/9.
	y := []float64{0, 0, 1, 1, 0, 1}
	s := []float64{0.1, 0.4, 0.35, 0.8, 0.4, 0.4}
	if got := AUC(y, s); !near(got, 6.0/9.0, 1e-15) {
		t.Fatalf("AUC = %v, want %v", got, 6.0/9.0)
	}
}

func TestAUCTable(t *testing.T) {
	tests := []struct {
		name string
		y, s []float64
		want float64
	}{
		{"perfect", []float64{0, 0, 1, 1}, []float64{0.1, 0.2, 0.3, 0.4}, 1},
		{"inverted", []float64{1, 1, 0, 0}, []float64{0.1, 0.2, 0.3, 0.4}, 0},
		{"all tied", []float64{1, 0, 1, 0}, []float64{0.5, 0.5, 0.5, 0.5}, 0.5},
		{"one class", []float64{1, 1}, []float64{0.1, 0.2}, math.NaN()},
		{"negative zero ties zero", []float64{1, 0}, []float64{math.Copysign(0, -1), 0}, 0.5},
		{"negative scores", []float64{0, 1, 0, 1}, []float64{-3, -1, -2, 0.5}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AUC(tc.y, tc.s)
			if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && !near(got, tc.want, 1e-15)) {
				t.Fatalf("AUC = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAUCMatchesPairCount compares the rank formula with the O(n²) definition
// on data with many ties.
func TestAUCMatchesPairCount(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 1500 // above the radix-sort threshold
	y := make([]float64, n)
	s := make([]float64, n)
	for i := range y {
		s[i] = float64(r.IntN(40))/20 - 1 // negative, zero and positive, with ties
		if r.Float64() < 0.5+0.3*s[i] {
			y[i] = 1
		}
	}
	var won, pairs float64
	for i := range y {
		for j := range y {
			if y[i] == 1 && y[j] == 0 {
				pairs++
				switch {
				case s[i] > s[j]:
					won++
				case s[i] == s[j]:
					won += 0.5
				}
			}
		}
	}
	if got, want := AUC(y, s), won/pairs; !near(got, want, 1e-12) {
		t.Fatalf("AUC = %v, pair count %v", got, want)
	}
}

func TestLogLoss(t *testing.T) {
	want := -(math.Log(0.8) + math.Log(0.7)) / 2
	if got := LogLoss([]float64{1, 0}, []float64{0.8, 0.3}); !near(got, want, 1e-15) {
		t.Fatalf("LogLoss = %v, want %v", got, want)
	}
	// p = 0 for a positive is clipped at 1e-15.
	if got := LogLoss([]float64{1}, []float64{0}); !near(got, -math.Log(1e-15), 1e-9) {
		t.Fatalf("clipped LogLoss = %v", got)
	}
}

func TestBinaryConfusion(t *testing.T) {
	y := []float64{1, 1, 0, 0, 1}
	p := []float64{0.9, 0.2, 0.6, 0.1, 0.5}
	c := BinaryConfusion(y, p, 0.5)
	if c != (Confusion{TP: 2, FP: 1, TN: 1, FN: 1}) {
		t.Fatalf("confusion = %+v", c)
	}
	for name, got := range map[string][2]float64{
		"accuracy":  {c.Accuracy(), 0.6},
		"precision": {c.Precision(), 2.0 / 3},
		"recall":    {c.Recall(), 2.0 / 3},
		"f1":        {c.F1(), 2.0 / 3},
	} {
		if !near(got[0], got[1], 1e-15) {
			t.Errorf("%s = %v, want %v", name, got[0], got[1])
		}
	}
	if z := (Confusion{TN: 3}); z.Precision() != 0 || z.F1() != 0 {
		t.Errorf("zero-division convention broken: %+v", z)
	}
}

func TestMulticlassMetrics(t *testing.T) {
	y := []int{0, 0, 0, 1, 1}
	pred := []int{0, 0, 1, 1, 2}
	cm := ConfusionMatrix(y, pred, 3)
	want := [][]int{{2, 1, 0}, {0, 1, 1}, {0, 0, 0}}
	for i := range want {
		for j := range want[i] {
			if cm[i][j] != want[i][j] {
				t.Fatalf("cm = %v, want %v", cm, want)
			}
		}
	}
	if got := MulticlassAccuracy(cm); !near(got, 0.6, 1e-15) {
		t.Errorf("accuracy = %v", got)
	}
	// per class F1: 4/5, 2/4, 0
	if got := MacroF1(cm); !near(got, 1.3/3, 1e-15) {
		t.Errorf("macro F1 = %v", got)
	}
	yf := []float64{0, 2}
	proba := []float64{0.7, 0.2, 0.1, 0.1, 0.1, 0.8}
	if got, w := MulticlassLogLoss(yf, proba, 3), -(math.Log(0.7)+math.Log(0.8))/2; !near(got, w, 1e-15) {
		t.Errorf("multiclass logloss = %v, want %v", got, w)
	}
}

func TestRegressionMetrics(t *testing.T) {
	y := []float64{1, 2, 3}
	p := []float64{1, 3, 5}
	if got := RMSE(y, p); !near(got, math.Sqrt(5.0/3), 1e-15) {
		t.Errorf("RMSE = %v", got)
	}
	if got := MAE(y, p); !near(got, 1, 1e-15) {
		t.Errorf("MAE = %v", got)
	}
	if got := R2(y, p); !near(got, -1.5, 1e-15) {
		t.Errorf("R2 = %v", got)
	}
	if got := R2(y, y); got != 1 {
		t.Errorf("R2 of a perfect fit = %v", got)
	}
}

func BenchmarkAUC200k(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	y := make([]float64, 200000)
	s := make([]float64, len(y))
	for i := range y {
		s[i] = r.Float64()
		if r.Float64() < s[i] {
			y[i] = 1
		}
	}
	b.ResetTimer()
	for b.Loop() {
		AUC(y, s)
	}
}
