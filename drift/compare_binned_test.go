package drift

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestCompareBinnedMatchesSorted checks that the selection path gives the
// very results of the sorting path for every binned test.
func TestCompareBinnedMatchesSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	gen := func(n int, kind string, shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			switch kind {
			case "normal":
				v[i] = rng.NormFloat64() + shift
			case "ties":
				v[i] = math.Round(rng.ExpFloat64()*2 + shift)
			case "zeros":
				v[i] = math.Round(rng.NormFloat64()*0.7 + shift)
			case "constant":
				v[i] = 3
			case "missing":
				v[i] = rng.NormFloat64() + shift
				if rng.IntN(5) == 0 {
					v[i] = math.NaN()
				}
			case "allmissing":
				v[i] = math.NaN()
			case "inf":
				v[i] = rng.NormFloat64() + shift
				if rng.IntN(50) == 0 {
					v[i] = math.Inf(1 - 2*rng.IntN(2))
				}
			}
		}
		return v
	}
	cases := []struct {
		name      string
		kind      string
		refN, cur int
		bins      int
		binning   string
	}{
		{"normal", "normal", 5000, 3000, 10, BinningQuantile},
		{"small", "normal", 20, 15, 10, BinningQuantile},
		{"below-select-cutoff", "normal", 40, 40, 7, BinningQuantile},
		{"ties", "ties", 10000, 8000, 10, BinningQuantile},
		{"signed zeros", "zeros", 5000, 5000, 10, BinningQuantile},
		{"signed zeros uniform", "zeros", 5000, 5000, 4, BinningUniform},
		{"constant", "constant", 1000, 1000, 10, BinningQuantile},
		{"missing", "missing", 4000, 4000, 20, BinningQuantile},
		{"all missing current", "missing", 4000, 0, 10, BinningQuantile},
		{"uniform", "normal", 5000, 5000, 10, BinningUniform},
		{"many bins", "normal", 20000, 20000, 100, BinningQuantile},
		{"infinities", "inf", 5000, 5000, 10, BinningQuantile},
	}
	for _, tc := range cases {
		for _, test := range []string{TestPSI, TestChiSquare, TestJensenShannon, TestHellinger, TestKL} {
			t.Run(tc.name+"/"+test, func(t *testing.T) {
				ref := Column{Name: "x", Values: gen(tc.refN, tc.kind, 0)}
				curV := gen(tc.cur, tc.kind, 0.3)
				if tc.cur == 0 {
					curV = gen(100, "allmissing", 0)
				}
				cur := Column{Name: "x", Values: curV}
				o, err := ProfileOptions{Bins: tc.bins, Binning: tc.binning}.withDefaults()
				if err != nil {
					t.Fatal(err)
				}
				co := CompareOptions{Test: test}
				want := sortedReference(t, &ref, &cur, o, co)
				var s compareScratch
				got, ok := s.compareBinned(&ref, &cur, o, co)
				if !ok {
					got = want // a NaN edge: left to the sorting path
				}
				if !reflect.DeepEqual(nanFree(got), nanFree(want)) {
					t.Fatalf("binned path differs:\n got %+v\nwant %+v", got, want)
				}
			})
		}
	}
}

// sortedReference is compareColumn's sorting path for a numeric feature.
func sortedReference(t *testing.T, ref, cur *Column, o ProfileOptions, co CompareOptions) FeatureResult {
	t.Helper()
	rs, rm := sortedValues(ref.Values)
	cs, cm := sortedValues(cur.Values)
	f := numericFeature(ref.Name, rs, rm, o, false)
	curCounts := make([]int64, f.Bins())
	curCounts[0] = int64(cm)
	binCountsSorted(cs, f.Edges, curCounts)
	return evaluate(evalInput{f: &f, ref: f.RefCounts, cur: curCounts, refValues: rs, refN: int64(len(rs)),
		curValues: cs, unique: countUniqueSorted(rs, cs, 6), test: co.Test, threshold: co.Threshold})
}

// nanFree replaces NaN fields by a sentinel so DeepEqual compares them.
func nanFree(r FeatureResult) FeatureResult {
	fix := func(p *float64) {
		if math.IsNaN(*p) {
			*p = -12345
		}
	}
	fix(&r.PSI)
	fix(&r.Statistic)
	fix(&r.PValue)
	fix(&r.Threshold)
	fix(&r.BandLower)
	fix(&r.BandUpper)
	fix(&r.PSIUpper)
	fix(&r.MissingRate)
	return r
}

func TestMultiSelect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 33, 100, 1000, 5001} {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(rng.IntN(n/3 + 1))
		}
		want := append([]float64(nil), v...)
		slices.Sort(want)
		pos := slices.Compact([]int{0, n / 3, n / 2, n - 1})
		multiSelect(v, 0, n, pos)
		for _, k := range pos {
			if v[k] != want[k] {
				t.Fatalf("n=%d: v[%d] = %v, want %v", n, k, v[k], want[k])
			}
		}
	}
}

// BenchmarkCompareBinned1M is BenchmarkCompare1M with a test on bin
// counts only (psi), which takes the selection path instead of sorting.
func BenchmarkCompareBinned1M(b *testing.B) {
	ref, cur := normalColumns1M()
	for _, test := range []string{TestPSI, TestWasserstein} {
		b.Run(test, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Compare(ref, cur, ProfileOptions{}, CompareOptions{Test: test}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*4/b.Elapsed().Seconds(), "features/s")
		})
	}
}
