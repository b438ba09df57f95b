package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// wassersteinRef is the previous Wasserstein (a sweep over the distinct
// values of both samples integrating |Fa − Fb|), kept as the oracle of the
// quantile-function form.
func wassersteinRef(a, b []float64) float64 {
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return math.NaN()
	}
	i, j := 0, 0
	var sum, comp float64
	prev := math.Min(a[0], b[0])
	for i < n1 || j < n2 {
		var x float64
		switch {
		case i >= n1:
			x = b[j]
		case j >= n2:
			x = a[i]
		default:
			x = a[i]
			if b[j] < x {
				x = b[j]
			}
		}
		// CDFs on [prev, x) are i/n1 and j/n2.
		if x > prev {
			t := math.Abs(float64(i)/float64(n1)-float64(j)/float64(n2)) * (x - prev)
			sum, comp = neumaier(sum, comp, t)
		}
		prev = x
		for i < n1 && a[i] <= x {
			i++
		}
		for j < n2 && b[j] <= x {
			j++
		}
	}
	return sum + comp
}

// TestWassersteinQuantileEqualsDistinctValueForm checks the quantile-function
// integral against the distinct-value sweep of the CDFs on samples with and without ties,
// unequal sizes and disjoint ranges.
func TestWassersteinQuantileEqualsDistinctValueForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	gen := func(n int, ties bool, shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64() + shift
			if ties {
				v[i] = math.Round(v[i] * 4)
			}
		}
		slices.Sort(v)
		return v
	}
	cases := []struct {
		name   string
		n1, n2 int
		ties   bool
		shift  float64
	}{
		{"equal sizes", 1000, 1000, false, 0.1},
		{"unequal sizes", 1000, 377, false, -0.3},
		{"ties", 800, 1000, true, 0.5},
		{"one each", 1, 1, false, 1},
		{"disjoint", 50, 70, false, 100},
		{"single value vs many", 1, 500, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 20 {
				a, b := gen(c.n1, c.ties, 0), gen(c.n2, c.ties, c.shift)
				got, want := Wasserstein(a, b), wassersteinRef(a, b)
				if !closeTo(got, want, 1e-12) {
					t.Fatalf("Wasserstein = %.17g, distinct-value form %.17g", got, want)
				}
				if back := Wasserstein(b, a); !closeTo(back, got, 1e-12) {
					t.Fatalf("not symmetric: %.17g vs %.17g", back, got)
				}
			}
		})
	}
	if w := Wasserstein([]float64{1, 1, 1}, []float64{1, 1}); w != 0 {
		t.Errorf("identical point masses: W1 = %v, want 0", w)
	}
	if w := Wasserstein(nil, []float64{1}); !math.IsNaN(w) {
		t.Errorf("empty sample: W1 = %v, want NaN", w)
	}
}

// BenchmarkWasserstein measures W1 of a 1000-value window against a
// 1000-value reference summary (one feature of a monitor check).
func BenchmarkWasserstein(b *testing.B) {
	rng := rand.New(rand.NewPCG(8, 8))
	x, y := make([]float64, 1000), make([]float64, 1000)
	for i := range x {
		x[i], y[i] = rng.NormFloat64(), rng.NormFloat64()*1.1
	}
	slices.Sort(x)
	slices.Sort(y)
	b.Run("quantile", func(b *testing.B) {
		for b.Loop() {
			Wasserstein(x, y)
		}
	})
	b.Run("quantile-unequal", func(b *testing.B) {
		for b.Loop() {
			Wasserstein(x, y[:997])
		}
	})
	b.Run("distinct-values", func(b *testing.B) {
		for b.Loop() {
			wassersteinRef(x, y)
		}
	})
}

// TestMergeReplaceEqualsSortedMultiset checks mergeReplace against sorting
// old − removed + added, with ties between all three and edge positions.
func TestMergeReplaceEqualsSortedMultiset(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for iter := range 500 {
		n := rng.IntN(60)
		old := make([]float64, n)
		for i := range old {
			old[i] = float64(rng.IntN(20))
		}
		slices.Sort(old)
		var removed, kept []float64
		for _, v := range old {
			if rng.IntN(3) == 0 {
				removed = append(removed, v)
			} else {
				kept = append(kept, v)
			}
		}
		added := make([]float64, rng.IntN(15))
		for i := range added {
			added[i] = float64(rng.IntN(22) - 1)
		}
		slices.Sort(added)
		want := slices.Sorted(slices.Values(append(slices.Clone(kept), added...)))
		got := mergeReplace(nil, old, removed, added)
		if !slices.Equal(got, want) {
			t.Fatalf("iteration %d: old %v − %v + %v = %v, want %v", iter, old, removed, added, got, want)
		}
	}
}
