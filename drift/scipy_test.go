package drift

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

// scipyFixtures is drift/testdata/scipy_fixtures.json, generated once by
// testdata/gen_fixtures.py with Debian's python3-scipy.
type scipyFixtures struct {
	KS []struct {
		A, B []float64
		D, P float64
	} `json:"ks"`
	KSTwo []struct {
		N     int
		D, SF float64
	} `json:"kstwo"`
	ChiSquare []struct {
		Ref, Cur []int64
		Stat, P  float64
	} `json:"chisquare"`
	Wasserstein []struct {
		A, B      []float64
		W, Normed float64
	} `json:"wasserstein"`
	Distances []struct {
		Ref, Cur               []int64
		JS, Hellinger, KL, PSI float64
	} `json:"distances"`
	Quantiles []struct {
		Data, Edges []float64
		Counts      []int64
	} `json:"quantiles"`
	Uniform []struct {
		Data, Edges []float64
	} `json:"uniform"`
	ZTest []struct {
		Ref, Cur []int64
		Z, P     float64
	} `json:"ztest"`
}

func loadFixtures(t *testing.T) *scipyFixtures {
	t.Helper()
	b, err := os.ReadFile("testdata/scipy_fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f scipyFixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.KS) == 0 || len(f.KSTwo) == 0 {
		t.Fatal("empty fixtures")
	}
	return &f
}

// close reports whether got is within tol of want, absolutely or relatively.
func closeTo(got, want, tol float64) bool {
	if math.IsInf(want, 0) || math.IsNaN(want) {
		return got == want || (math.IsNaN(got) && math.IsNaN(want))
	}
	d := math.Abs(got - want)
	return d <= tol || d <= tol*math.Abs(want)
}

func sortedCopy(v []float64) []float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s
}

func TestKSAgainstScipy(t *testing.T) {
	for i, c := range loadFixtures(t).KS {
		a, b := sortedCopy(c.A), sortedCopy(c.B)
		d := KSStatistic(a, b)
		p := KSPValue(d, len(a), len(b))
		if !closeTo(d, c.D, 1e-12) || !closeTo(p, c.P, 1e-9) {
			t.Errorf("case %d (n=%d,%d): D=%.15g p=%.15g, scipy D=%.15g p=%.15g", i, len(a), len(b), d, p, c.D, c.P)
		}
	}
}

func TestKolmogorovSFAgainstScipy(t *testing.T) {
	for _, c := range loadFixtures(t).KSTwo {
		got := kolmogorovSF(c.N, c.D)
		if !closeTo(got, c.SF, 1e-9) {
			t.Errorf("kstwo.sf(%.15g, %d) = %.15g, scipy %.15g", c.D, c.N, got, c.SF)
		}
	}
}

func TestChiSquareAgainstScipy(t *testing.T) {
	for i, c := range loadFixtures(t).ChiSquare {
		st, p := ChiSquare(c.Ref, c.Cur)
		if !closeTo(st, c.Stat, 1e-10) || !closeTo(p, c.P, 1e-9) {
			t.Errorf("case %d: chi2=%.15g p=%.15g, scipy %.15g %.15g", i, st, p, c.Stat, c.P)
		}
	}
}

func TestWassersteinAgainstScipy(t *testing.T) {
	for i, c := range loadFixtures(t).Wasserstein {
		a, b := sortedCopy(c.A), sortedCopy(c.B)
		w := Wasserstein(a, b)
		_, std := meanStd(a)
		n := NormedWasserstein(a, b, std)
		if !closeTo(w, c.W, 1e-12) || !closeTo(n, c.Normed, 1e-12) {
			t.Errorf("case %d: w=%.15g normed=%.15g, scipy %.15g %.15g", i, w, n, c.W, c.Normed)
		}
	}
}

func TestDistancesAgainstScipy(t *testing.T) {
	for i, c := range loadFixtures(t).Distances {
		got := []float64{JensenShannon(c.Ref, c.Cur), Hellinger(c.Ref, c.Cur), KL(c.Ref, c.Cur), PSI(c.Ref, c.Cur)}
		want := []float64{c.JS, c.Hellinger, c.KL, c.PSI}
		for k, name := range []string{"js", "hellinger", "kl", "psi"} {
			if !closeTo(got[k], want[k], 1e-12) {
				t.Errorf("case %d %s = %.15g, scipy %.15g", i, name, got[k], want[k])
			}
		}
	}
}

func TestQuantileEdgesAgainstNumpy(t *testing.T) {
	for i, c := range loadFixtures(t).Quantiles {
		s := sortedCopy(c.Data)
		edges := QuantileEdges(s, 10)
		if !slices.Equal(edges, c.Edges) {
			t.Errorf("case %d: edges %v, numpy %v", i, edges, c.Edges)
			continue
		}
		counts := make([]int64, len(edges)+2)
		binCountsSorted(s, edges, counts)
		if !slices.Equal(counts[1:], c.Counts) {
			t.Errorf("case %d: counts %v, numpy %v", i, counts[1:], c.Counts)
		}
		for _, v := range c.Data { // per-value binning agrees with sorted counting
			if b := numericBin(edges, v); b < 1 || b > len(edges)+1 {
				t.Fatalf("bin %d out of range", b)
			}
		}
	}
}

func TestUniformEdgesAgainstNumpy(t *testing.T) {
	for i, c := range loadFixtures(t).Uniform {
		s := sortedCopy(c.Data)
		if got := UniformEdges(s[0], s[len(s)-1], 10); !slices.Equal(got, c.Edges) {
			t.Errorf("case %d: edges %v, numpy %v", i, got, c.Edges)
		}
	}
}

func TestZTestAgainstScipy(t *testing.T) {
	for i, c := range loadFixtures(t).ZTest {
		z, p := ZTest(c.Ref, c.Cur, 1)
		if !closeTo(z, c.Z, 1e-12) || !closeTo(p, c.P, 1e-12) {
			t.Errorf("case %d: z=%.15g p=%.15g, scipy %.15g %.15g", i, z, p, c.Z, c.P)
		}
	}
}
