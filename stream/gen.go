package stream

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
)

// GenOptions configures synthetic data generation.
type GenOptions struct {
	Rows        int
	Features    int // numeric features f0..f(n-1)
	Categorical int // categorical features c0..c(k-1) with levels a..e
	Seed        uint64
	Drift       DriftSpec
}

// Generate writes deterministic synthetic CSV data (columns id, features,
// categoricals, binary label) for the seed; drift is applied to the inputs.
func Generate(w io.Writer, o GenOptions) error {
	levels := []string{"a", "b", "c", "d", "e"}
	r := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	weights := make([]float64, o.Features)
	for i := range weights {
		weights[i] = r.NormFloat64()
	}
	catW := make([]float64, len(levels))
	for i := range catW {
		catW[i] = r.NormFloat64() / 2
	}
	names := make([]string, 0, o.Features+o.Categorical)
	for i := range o.Features {
		names = append(names, "f"+strconv.Itoa(i))
	}
	for i := range o.Categorical {
		names = append(names, "c"+strconv.Itoa(i))
	}
	ops := make([]*DriftOp, len(names))
	for i := range o.Drift {
		found := false
		for j, n := range names {
			if n == o.Drift[i].Feature {
				ops[j], found = &o.Drift[i], true
			}
		}
		if !found {
			return fmt.Errorf("drift feature %q is not generated (have f0..f%d, c0..c%d)", o.Drift[i].Feature, o.Features-1, o.Categorical-1)
		}
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("id")
	for _, n := range names {
		bw.WriteString("," + n)
	}
	bw.WriteString(",label\n")
	var line []byte
	for row := range o.Rows {
		line = append(line[:0], "row-"...)
		line = strconv.AppendInt(line, int64(row+1), 10)
		z := 0.0
		for i := range o.Features {
			v := r.NormFloat64()
			if ops[i] != nil {
				v = ops[i].Apply(v)
			}
			z += weights[i] * v
			line = append(line, ',')
			line = strconv.AppendFloat(line, math.Round(v*1e6)/1e6, 'f', -1, 64)
		}
		for i := range o.Categorical {
			k := r.IntN(len(levels))
			v := levels[k]
			if op := ops[o.Features+i]; op != nil {
				v = op.ApplyCat(v)
			}
			z += catW[k]
			line = append(line, ',')
			line = append(line, v...)
		}
		label := 0
		if r.Float64() < 1/(1+math.Exp(-z)) {
			label = 1
		}
		line = append(line, ',', byte('0'+label), '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return nil
}
