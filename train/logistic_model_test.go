package train

import (
	"context"
	"math"
	"testing"
)

// lrModelProbaTol bounds the probability differences of a model trained with
// the default stopping rule (max |gradient| < 1e-4 of the mean objective, as
// scikit-learn's default tol) from the fixture's tightly converged solution.
const lrModelProbaTol = 1e-3

func logisticParams() Params {
	p := DefaultParams()
	p.Algo = "logistic"
	p.Threads = 2
	return p
}

// TestLogisticModelScoresLikeScikitLearn trains through Train and checks the
// Model's own scoring path (PredictRow, PredictProba, Evaluate) and its
// encode/decode round trip against scikit-learn's probabilities.
func TestLogisticModelScoresLikeScikitLearn(t *testing.T) {
	tests := []struct {
		name, target, exclude string
		objective             string
	}{
		{"binary", "label", "grade", "binary"},
		{"multinomial", "grade", "label", "multiclass"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx, ds := loadLRFixture(t, tc.target, tc.exclude)
			want := fx.Label
			if tc.target == "grade" {
				want = fx.Grade
			}
			var rounds int
			m, err := Train(context.Background(), ds, ds, logisticParams(), func(Round) { rounds++ })
			if err != nil {
				t.Fatal(err)
			}
			if m.Algo() != "logistic" || m.Objective() != tc.objective || rounds == 0 {
				t.Fatalf("algo %q objective %q after %d rounds", m.Algo(), m.Objective(), rounds)
			}
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			fxClass := map[string]int{}
			for i, c := range want.Classes {
				fxClass[c] = i
			}
			rm, err := NewRowMapper(m, ds)
			if err != nil {
				t.Fatal(err)
			}
			k := len(m.Classes())
			row := make([]float64, len(m.Features()))
			proba := make([]float64, k)
			for i := 0; i < ds.Rows; i++ {
				rm.Fill(i, row)
				s := m.PredictRow(row)
				if s2 := m2.PredictRow(row); s2 != s {
					t.Fatalf("row %d: decoded model scores %v, original %v", i, s2, s)
				}
				if tc.objective == "binary" {
					if w := want.Proba[i][fxClass[m.Classes()[1]]]; math.Abs(s-w) > lrModelProbaTol {
						t.Fatalf("row %d: P = %v, scikit-learn %v", i, s, w)
					}
					continue
				}
				m.PredictProba(row, proba)
				var sum float64
				for c, p := range proba {
					sum += p
					if w := want.Proba[i][fxClass[m.Classes()[c]]]; math.Abs(p-w) > lrModelProbaTol {
						t.Fatalf("row %d class %s: p = %v, scikit-learn %v", i, m.Classes()[c], p, w)
					}
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Fatalf("row %d: probabilities sum to %v", i, sum)
				}
			}
			got, err := Evaluate(m2, ds)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got["logloss"]-want.LogLoss) > 1e-5 {
				t.Errorf("logloss %v, scikit-learn %v", got["logloss"], want.LogLoss)
			}
			if tc.objective == "binary" && math.Abs(got["auc"]-want.AUC) > 1e-3 {
				t.Errorf("auc %v, scikit-learn %v", got["auc"], want.AUC)
			}
			if imp := LinearImportance(m); len(imp) != len(ds.Names) || imp["x0"] <= 0 {
				t.Errorf("importance %v", imp)
			}
		})
	}
}

// TestEvaluateAlignsTestClasses checks that a test set whose class indices
// come in another order is scored against the model's class order.
func TestEvaluateAlignsTestClasses(t *testing.T) {
	_, ds := loadLRFixture(t, "label", "grade")
	m, err := Train(context.Background(), ds, nil, logisticParams(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Evaluate(m, ds)
	if err != nil {
		t.Fatal(err)
	}
	flipped := *ds
	flipped.TargetLevels = []string{ds.TargetLevels[1], ds.TargetLevels[0]}
	flipped.Target = make([]float64, ds.Rows)
	for i, y := range ds.Target {
		flipped.Target[i] = 1 - y
	}
	got, err := Evaluate(m, &flipped)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ref {
		if got[k] != v {
			t.Errorf("%s: %v with flipped class order, %v without", k, got[k], v)
		}
	}
	unknown := flipped
	unknown.TargetLevels = []string{"0", "maybe"}
	if _, err := Evaluate(m, &unknown); err == nil {
		t.Error("unknown test class accepted")
	}
}
