package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// synthLogistic returns a binary data set of n rows × d numeric features
// (one with missing values) plus one 10-level categorical feature.
func synthLogistic(n, d int, seed uint64) *Dataset {
	r := rand.New(rand.NewPCG(seed, 99))
	ds := &Dataset{Rows: n, Target: make([]float64, n), TargetLevels: []string{"0", "1"}}
	w := make([]float64, d)
	for j := range w {
		w[j] = r.NormFloat64() * 0.5
	}
	logit := make([]float64, n)
	for j := 0; j < d; j++ {
		col := make([]float64, n)
		for i := range col {
			col[i] = r.NormFloat64()*float64(j+1) + float64(j)
			logit[i] += w[j] * (col[i] - float64(j)) / float64(j+1)
			if j == 0 && r.Float64() < 0.05 {
				col[i] = math.NaN()
			}
		}
		ds.Names = append(ds.Names, "x"+string(rune('a'+j%26))+string(rune('0'+j/26)))
		ds.Kinds = append(ds.Kinds, Numeric)
		ds.Num = append(ds.Num, col)
		ds.Codes = append(ds.Codes, nil)
		ds.Levels = append(ds.Levels, nil)
	}
	codes := make([]int32, n)
	for i := range codes {
		codes[i] = int32(r.IntN(10))
		logit[i] += float64(codes[i]-5) * 0.1
	}
	ds.Names = append(ds.Names, "cat")
	ds.Kinds = append(ds.Kinds, Categorical)
	ds.Num = append(ds.Num, nil)
	ds.Codes = append(ds.Codes, codes)
	ds.Levels = append(ds.Levels, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"})
	for i := range logit {
		if r.Float64() < 1/(1+math.Exp(-logit[i])) {
			ds.Target[i] = 1
		}
	}
	return ds
}

// BenchmarkLogisticFit fits 200k × 28 (+1 categorical) rows; compare with
// bench/train/run.sh (case higgs_lr) for the side-by-side figure.
func BenchmarkLogisticFit(b *testing.B) {
	ds := synthLogistic(200_000, 28, 1)
	b.ResetTimer()
	for b.Loop() {
		if _, err := fitLogistic(context.Background(), ds, nil, defaultLRConfig(0), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogisticPass is one loss + gradient evaluation over 200k rows.
func BenchmarkLogisticPass(b *testing.B) {
	ds := synthLogistic(200_000, 28, 1)
	enc := newLREncoding(ds)
	d, err := newLRDesign(enc, ds, ds)
	if err != nil {
		b.Fatal(err)
	}
	p := newLRPass(enc, d, 1, 0)
	x := make([]float64, enc.nCoef+1)
	for i := range x {
		x[i] = 0.01 * float64(i)
	}
	g := make([]float64, len(x))
	b.ResetTimer()
	for b.Loop() {
		p.run(x, g, nil)
	}
}
