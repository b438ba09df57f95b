package flows

import (
	"context"
	"testing"

	"driftd/train"
)

// TestParamsOfKeepsTheLeafRule: a champion trained with the automatic
// minimum rows per leaf gives its challenger the rule, not the number it
// resolved to on its own rows; a fixed number stays fixed.
func TestParamsOfKeepsTheLeafRule(t *testing.T) {
	ds := &train.Dataset{Rows: 400, Names: []string{"x"}, Kinds: []train.ColumnKind{train.Numeric},
		Num: [][]float64{make([]float64, 400)}, Codes: [][]int32{nil}, Levels: [][]string{nil}, Target: make([]float64, 400)}
	for i := range 400 {
		ds.Num[0][i] = float64(i % 17)
		ds.Target[i] = float64(i % 5)
	}
	for _, tc := range []struct{ set, want int }{{train.AutoMinSamplesLeaf, train.AutoMinSamplesLeaf}, {9, 9}} {
		p := train.DefaultParams()
		p.Objective, p.Rounds, p.MinSamplesLeaf = "regression", 2, tc.set
		m, err := train.Train(context.Background(), ds, nil, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back, err := train.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := paramsOf(back).MinSamplesLeaf; got != tc.want {
			t.Errorf("trained with %d: challenger gets %d, want %d", tc.set, got, tc.want)
		}
	}
}
