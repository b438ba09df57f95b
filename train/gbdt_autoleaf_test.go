package train

import (
	"context"
	"math/rand/v2"
	"testing"
)

// TestAutoMinSamplesLeaf: the default minimum rows per leaf follows the
// training rows, and the model records the value used and the rule.
func TestAutoMinSamplesLeaf(t *testing.T) {
	for _, tc := range []struct {
		rows, set, want int
		rule            string
	}{
		{rows: 150, set: AutoMinSamplesLeaf, want: 1, rule: "auto"},
		{rows: 1200, set: AutoMinSamplesLeaf, want: 6, rule: "auto"},
		{rows: 9000, set: AutoMinSamplesLeaf, want: 20, rule: "auto"},
		{rows: 1200, set: 7, want: 7, rule: "fixed"},
		{rows: 1200, set: 0, want: 0, rule: "fixed"},
	} {
		rng := rand.New(rand.NewPCG(1, uint64(tc.rows)))
		ds := &Dataset{Rows: tc.rows, Names: []string{"x"}, Kinds: []ColumnKind{Numeric}, Num: [][]float64{make([]float64, tc.rows)},
			Codes: [][]int32{nil}, Levels: [][]string{nil}, Target: make([]float64, tc.rows)}
		for i := range tc.rows {
			ds.Num[0][i] = rng.NormFloat64()
			ds.Target[i] = ds.Num[0][i] + rng.NormFloat64()
		}
		p := DefaultParams()
		p.Objective, p.Rounds, p.MinSamplesLeaf = "regression", 3, tc.set
		m, err := Train(context.Background(), ds, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Params()["min_samples_leaf"]; got != tc.want || m.Params()["min_samples_leaf_rule"] != tc.rule {
			t.Errorf("%d rows, set %d: min_samples_leaf %v (%v), want %d (%s)", tc.rows, tc.set, got, m.Params()["min_samples_leaf_rule"], tc.want, tc.rule)
		}
	}
	p := DefaultParams()
	p.MinSamplesLeaf = -2
	if err := p.normalize(); err == nil {
		t.Error("min_samples_leaf -2 accepted")
	}
}
