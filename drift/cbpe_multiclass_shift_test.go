package drift_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"driftd/drift"
	"driftd/train"
)

// classLogits is the unchanging 3-class labelling rule: P(y=c | x) ∝
// exp(z_c(x)).
func classLogits(x []float64) [3]float64 {
	return [3]float64{2*x[0] - x[1], -x[0] + 1.5*x[2] + x[0]*x[3], 0.5 * x[1]}
}

// multiclassData draws n labelled rows under s.
func multiclassData(rng *rand.Rand, s shift, n int) *train.Dataset {
	ds := &train.Dataset{Rows: n, Target: make([]float64, n), TargetLevels: []string{"a", "b", "c"}}
	for j := range 4 {
		ds.Names = append(ds.Names, fmt.Sprintf("x%d", j))
		ds.Kinds = append(ds.Kinds, train.Numeric)
		ds.Num = append(ds.Num, make([]float64, n))
		ds.Codes = append(ds.Codes, nil)
		ds.Levels = append(ds.Levels, nil)
	}
	x := make([]float64, 4)
	for i := range n {
		for j := range 4 {
			x[j] = s.mean[j] + s.sd[j]*rng.NormFloat64()
			ds.Num[j][i] = x[j]
		}
		z := classLogits(x)
		mx := slices.Max(z[:])
		var sum float64
		for c := range z {
			z[c] = math.Exp(z[c] - mx)
			sum += z[c]
		}
		u := rng.Float64() * sum
		switch {
		case u < z[0]:
		case u < z[0]+z[1]:
			ds.Target[i] = 1
		default:
			ds.Target[i] = 2
		}
	}
	return ds
}

// TestMulticlassCBPECovariateShift trains a 3-class GBDT, calibrates its
// probabilities one-vs-rest on a validation set from the reference
// distribution, and compares CBPE's estimated accuracy and macro AUC with
// the realised ones on windows of 5,000 records under covariate shifts
// that move the realised accuracy by more than 0.10. Tolerance 0.03, as
// for binary (TestCBPECovariateShift); the numbers are logged (go test
// -run MulticlassCBPECovariateShift -v ./drift/).
func TestMulticlassCBPECovariateShift(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	const window = 5000
	rng := rand.New(rand.NewPCG(16, 3))
	ref := shift{"reference", [4]float64{}, [4]float64{1, 1, 1, 1}}
	tr, va := multiclassData(rng, ref, 20000), multiclassData(rng, ref, 10000)
	p := train.DefaultParams()
	p.Objective, p.Rounds, p.EarlyStopping, p.Seed, p.Threads = "multiclass", 200, 20, 1, 2
	m, err := train.Train(context.Background(), tr, va, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	vp, err := train.Predict(m, va)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := drift.FitMulticlass(m.Classes(), vp.Proba, va.Target)
	if err != nil {
		t.Fatal(err)
	}
	shifts := []shift{
		ref,
		{"x0 sd 0.3", [4]float64{}, [4]float64{0.3, 1, 1, 1}},
		{"x0 mean +1.5", [4]float64{1.5, 0, 0, 0}, [4]float64{1, 1, 1, 1}},
		{"x1 mean -1, x2 sd 2", [4]float64{0, -1, 0, 0}, [4]float64{1, 1, 2, 1}},
		{"x2 sd 0.3, x1 sd 0.5", [4]float64{}, [4]float64{1, 0.5, 0.3, 1}},
	}
	var accs []float64
	var maxAcc, maxAUC float64
	for _, s := range shifts {
		for rep := range 3 {
			w := multiclassData(rng, s, window)
			pr, err := train.Predict(m, w)
			if err != nil {
				t.Fatal(err)
			}
			var hits float64
			for i := range w.Rows {
				if float64(argmaxRow(pr.Proba[i*3:i*3+3])) == w.Target[i] {
					hits++
				}
			}
			realAcc := hits / float64(w.Rows)
			var realAUC float64
			for c := range 3 {
				ind, sc := make([]float64, w.Rows), make([]float64, w.Rows)
				for i := range w.Rows {
					if w.Target[i] == float64(c) {
						ind[i] = 1
					}
					sc[i] = pr.Proba[i*3+c]
				}
				realAUC += train.AUC(ind, sc) / 3
			}
			est := drift.EstimateMulticlass(mc, pr.Proba)
			dAcc, dAUC := est.Accuracy-realAcc, est.AUC-realAUC
			t.Logf("%-22s rep %d: accuracy realised %.4f estimated %.4f (%+.4f)   macro AUC realised %.4f estimated %.4f (%+.4f)",
				s.name, rep, realAcc, est.Accuracy, dAcc, realAUC, est.AUC, dAUC)
			accs = append(accs, realAcc)
			maxAcc, maxAUC = math.Max(maxAcc, math.Abs(dAcc)), math.Max(maxAUC, math.Abs(dAUC))
		}
	}
	lo, hi := slices.Min(accs), slices.Max(accs)
	t.Logf("realised accuracy spans %.4f–%.4f; largest gap: accuracy %.4f, macro AUC %.4f", lo, hi, maxAcc, maxAUC)
	if hi-lo < 0.10 {
		t.Fatalf("the shifts move accuracy by %.4f only, want at least 0.10", hi-lo)
	}
	const tol = 0.03
	if maxAcc > tol || maxAUC > tol {
		t.Fatalf("estimates off by accuracy %.4f, macro AUC %.4f: want within %v", maxAcc, maxAUC, tol)
	}
}

// argmaxRow is the first largest value's index, as the model adapter
// picks the predicted class.
func argmaxRow(p []float64) int {
	best := 0
	for c := range p {
		if p[c] > p[best] {
			best = c
		}
	}
	return best
}
