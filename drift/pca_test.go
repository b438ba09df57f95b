package drift

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// mustPCAProfile builds a profile of cols and fails when it has no PCA.
func mustPCAProfile(tb testing.TB, cols []Column, o ProfileOptions) *Profile {
	tb.Helper()
	p, err := BuildProfile(cols, nil, o)
	if err != nil {
		tb.Fatal(err)
	}
	if p.PCA == nil {
		tb.Fatalf("no PCA: %s", p.PCASkipped)
	}
	return p
}

func mustReconstructor(tb testing.TB, p *Profile) *Reconstructor {
	tb.Helper()
	r, err := NewReconstructor(p)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestPCAHandComputed checks the encoding, the fit and the errors on data
// worked out by hand: rows on a line keep one component and reconstruct
// exactly; records off the line are as far from it as geometry says.
func TestPCAHandComputed(t *testing.T) {
	t.Run("numeric line", func(t *testing.T) {
		x1, x2 := make([]float64, 200), make([]float64, 200)
		for i := range x1 {
			x1[i] = float64(i % 17)
			x2[i] = 3 - 2*x1[i] // standardised, x2 = −x1: the axis (1, −1)/√2
		}
		p := mustPCAProfile(t, []Column{numCol("x1", x1...), numCol("x2", x2...)}, ProfileOptions{})
		c := p.PCA
		if c.K != 1 || c.Dims() != 2 || !closeTo(c.Explained, 1, 1e-12) || c.RefError > 1e-12 || c.FitRows != 200 {
			t.Fatalf("K %d, dims %d, explained %v, reference error %v, rows %d", c.K, c.Dims(), c.Explained, c.RefError, c.FitRows)
		}
		if !closeTo(c.Components[0], 1/math.Sqrt2, 1e-12) || !closeTo(c.Components[1], -1/math.Sqrt2, 1e-12) {
			t.Fatalf("component %v, want (1, −1)/√2", c.Components)
		}
		m1, s1 := p.Features[0].Mean, p.Features[0].Std
		m2, s2 := p.Features[1].Mean, p.Features[1].Std
		r := mustReconstructor(t, p)
		for _, tc := range []struct {
			name string
			num  []float64
			want float64
		}{
			{"on the line", []float64{m1 + 2.5*s1, m2 - 2.5*s2}, 0},
			{"the mean", []float64{m1, m2}, 0},
			{"across the line", []float64{m1 + s1, m2 + s2}, math.Sqrt2}, // z = (1, 1) ⟂ (1, −1)
			{"x2 missing", []float64{m1 + s1, nan}, math.Sqrt(0.5)},      // z = (1, 0)
			{"x2 infinite", []float64{m1 + s1, math.Inf(1)}, math.Sqrt(0.5)},
			{"short record", []float64{m1 + s1}, math.Sqrt(0.5)},
		} {
			if got := r.Error(tc.num, nil); !closeTo(got, tc.want, 1e-9) {
				t.Errorf("%s: error %v, want %v", tc.name, got, tc.want)
			}
		}
	})
	t.Run("categorical one-hot", func(t *testing.T) {
		// "a" and "b" half each, and x = 1 with "a", 0 with "b": the
		// standardised rows are ±(1, −1, 0, 1) (slots a, b, other; x), on
		// the axis v = (1, −1, 0, 1)/√3; "other" never occurs (its scale
		// is the floor, that of a 5% category: √0.05).
		var cats []string
		var xs []float64
		for i := range 300 {
			cats = append(cats, []string{"a", "b"}[i%2])
			xs = append(xs, float64(1-i%2))
		}
		p := mustPCAProfile(t, []Column{catCol("c", cats...), numCol("x", xs...)}, ProfileOptions{})
		c := p.PCA
		if c.K != 1 || c.Dims() != 4 || c.Slots[0] != 3 || c.Slots[1] != 1 || c.RefError > 1e-12 {
			t.Fatalf("K %d, dims %d, slots %v, reference error %v", c.K, c.Dims(), c.Slots, c.RefError)
		}
		if want := []float64{0.5, 0.5, 0, 0.5}; !closeAll(c.Center, want, 1e-12) {
			t.Errorf("centres %v, want %v", c.Center, want)
		}
		if want := []float64{0.5, 0.5, math.Sqrt(0.05), 0.5}; !closeAll(c.Scale, want, 1e-12) {
			t.Errorf("scales %v, want %v", c.Scale, want)
		}
		r := mustReconstructor(t, p)
		for _, tc := range []struct {
			name string
			cat  string
			x    float64
			want float64
		}{
			{"a with 1", "a", 1, 0},
			{"b with 0", "b", 0, 0},
			// x = (−1, −1, √20, 1): v·x = 1/√3, x̂ = (1, −1, 0, 1)/3,
			// x − x̂ = (−4/3, −2/3, √20, 2/3), |x − x̂|² = 24/9 + 20.
			{"unseen category", "zz", 1, math.Sqrt(24.0/9 + 20)},
			// x = (0, 0, 0, 1): x − x̂ = (−1/3, 1/3, 0, 2/3), |x − x̂|² = 6/9.
			{"missing category", "", 1, math.Sqrt(6.0 / 9)},
			// x = (1, −1, 0, −1): v·x = 1/√3, x − x̂ = (2/3, −2/3, 0, −4/3).
			{"a with 0", "a", 0, math.Sqrt(24.0 / 9)},
		} {
			if got := r.Error([]float64{0, tc.x}, []string{tc.cat, ""}); !closeTo(got, tc.want, 1e-9) {
				t.Errorf("%s: error %v, want %v", tc.name, got, tc.want)
			}
		}
	})
}

func closeAll(got, want []float64, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !closeTo(got[i], want[i], tol) {
			return false
		}
	}
	return true
}

// TestPCASkipped lists the references that get no PCA, each with a reason.
func TestPCASkipped(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	normals := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	allNaN := make([]float64, 500)
	for i := range allNaN {
		allNaN[i] = nan
	}
	constant := make([]float64, 500)
	for _, tc := range []struct {
		name   string
		cols   []Column
		opts   ProfileOptions
		reason string
	}{
		{"one feature", []Column{numCol("a", normals(500)...)}, ProfileOptions{}, "1 encoded dimensions, need 2"},
		{"one with values", []Column{numCol("a", normals(500)...), numCol("b", allNaN...)}, ProfileOptions{}, "1 encoded dimensions"},
		{"too few rows", []Column{numCol("a", normals(60)...), numCol("b", normals(60)...)}, ProfileOptions{}, "60 reference rows to fit on, need 100"},
		{"too small a sample", []Column{numCol("a", normals(500)...), numCol("b", normals(500)...)}, ProfileOptions{PCASampleRows: 50}, "50 reference rows to fit on"},
		{"constant", []Column{numCol("a", normals(500)...), numCol("b", constant...)}, ProfileOptions{}, "1 encoded dimensions vary"},
		{"disabled", []Column{numCol("a", normals(500)...), numCol("b", normals(500)...)}, ProfileOptions{PCAVariance: -1}, "disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := BuildProfile(tc.cols, nil, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.PCA != nil || !strings.Contains(p.PCASkipped, tc.reason) {
				t.Fatalf("PCA %v, reason %q, want none because %q", p.PCA != nil, p.PCASkipped, tc.reason)
			}
			if _, err := NewReconstructor(p); err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("reconstructor error %v", err)
			}
			m, err := NewMonitor(p, MonitorOptions{WindowSize: 10, MinWindow: 10, CheckInterval: 10})
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				m.Observe([]float64{1, 2}, nil, 0)
			}
			m.Close()
			if ev := m.Snapshot(); ev.Multivariate != nil || ev.WindowRecords != 10 {
				t.Errorf("multivariate %+v on %d records, want none", ev.Multivariate, ev.WindowRecords)
			}
		})
	}
	if _, err := BuildProfile([]Column{numCol("a", 1, 2)}, nil, ProfileOptions{PCAVariance: 1.5}); err == nil {
		t.Error("PCA variance 1.5 accepted")
	}
}

// correlated returns n rows of nf numeric features driven by 3 latent
// factors plus noise, a categorical feature that follows the first factor,
// and missing values in the last numeric feature.
func correlated(rng *rand.Rand, n, nf int) []Column {
	cols := make([]Column, nf)
	for j := range cols {
		cols[j] = Column{Name: "f" + strconv.Itoa(j), Values: make([]float64, n)}
	}
	cat := make([]string, n)
	for i := range n {
		l := [3]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		for j := range cols {
			cols[j].Values[i] = l[j%3]*float64(1+j%4) + 0.7*rng.NormFloat64() + float64(j)
		}
		if rng.IntN(20) == 0 {
			cols[nf-1].Values[i] = nan
		}
		switch {
		case rng.IntN(50) == 0:
			cat[i] = "" // missing
		case rng.IntN(100) == 0:
			cat[i] = "rare" + strconv.Itoa(rng.IntN(30)) // shares "other"
		case l[0]+0.5*rng.NormFloat64() > 0.3:
			cat[i] = "hi"
		case rng.IntN(3) == 0:
			cat[i] = "mid"
		default:
			cat[i] = "lo"
		}
	}
	return append(cols, catCol("c", cat...))
}

// TestPCAFit checks the fit of correlated data against an independent
// computation: the kept components are orthonormal, span the same subspace
// as the top right singular vectors of the encoded rows (gonum's SVD), are
// the fewest that explain 65% of the variance, and the reference error is
// the mean of the rows' errors cross-fitted: each row's by the top
// singular vectors of the rows of the other folds.
func TestPCAFit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cols := correlated(rng, 3000, 9)
	p := mustPCAProfile(t, cols, ProfileOptions{})
	c := p.PCA
	d, k := c.Dims(), c.K
	if d != 9+4 || c.Slots[9] != 4 { // hi, mid, lo, other
		t.Fatalf("dims %d, slots %v", d, c.Slots)
	}
	// The encoded rows, from the columns.
	ce := newColumnEncoder(p, c, cols)
	x := mat.NewDense(3000, d, nil)
	var inSample float64
	for r := range 3000 {
		ce.encodeRow(r)
		x.SetRow(r, ce.enc.x)
		inSample += ce.enc.reconstructionError() / 3000
	}
	var crossFitted float64
	for f := range pcaFolds {
		var in, out []int
		for r := range 3000 {
			if r%pcaFolds == f {
				out = append(out, r)
			} else {
				in = append(in, r)
			}
		}
		xin := mat.NewDense(len(in), d, nil)
		for i, r := range in {
			xin.SetRow(i, x.RawRowView(r))
		}
		var fs mat.SVD
		if !fs.Factorize(xin, mat.SVDThin) {
			t.Fatal("svd failed")
		}
		var fv mat.Dense
		fs.VTo(&fv)
		w := fv.Slice(0, d, 0, c.K)
		for _, r := range out {
			xr := mat.NewVecDense(d, x.RawRowView(r))
			var z, back, res mat.VecDense
			z.MulVec(w.T(), xr)
			back.MulVec(w, &z)
			res.SubVec(xr, &back)
			crossFitted += mat.Norm(&res, 2) / 3000
		}
	}
	if !closeTo(c.RefError, crossFitted, 1e-9) || c.RefError <= inSample {
		t.Errorf("reference error %v, want the cross-fitted %v (above the in-sample %v)", c.RefError, crossFitted, inSample)
	}
	var svd mat.SVD
	if !svd.Factorize(x, mat.SVDThin) {
		t.Fatal("svd failed")
	}
	sv := svd.Values(nil)
	var total, cum float64
	for _, s := range sv {
		total += s * s
	}
	want := 0
	for cum < 0.65*total {
		cum += sv[want] * sv[want]
		want++
	}
	if k != want || !closeTo(c.Explained, cum/total, 1e-9) {
		t.Fatalf("K %d explaining %v, SVD says %d explaining %v", k, c.Explained, want, cum/total)
	}
	var v mat.Dense
	svd.VTo(&v)
	comps := mat.NewDense(k, d, c.Components)
	var gram mat.Dense
	gram.Mul(comps, comps.T())
	if !mat.EqualApprox(&gram, identityDense(k), 1e-9) {
		t.Errorf("components not orthonormal: %v", mat.Formatted(&gram))
	}
	// Same projector: VₖᵀVₖ (ours) = WₖWₖᵀ (SVD's top right singular vectors).
	var ours, theirs mat.Dense
	ours.Mul(comps.T(), comps)
	wk := v.Slice(0, d, 0, k)
	theirs.Mul(wk, wk.T())
	if !mat.EqualApprox(&ours, &theirs, 1e-6) {
		t.Errorf("projector differs from the SVD's")
	}
}

func identityDense(n int) *mat.Dense {
	m := mat.NewDense(n, n, nil)
	for i := range n {
		m.Set(i, i, 1)
	}
	return m
}

// TestPCASampledFit fits on a sample of the rows: deterministic, and close
// to the fit on all of them (on data whose kept variance is not at the 65%
// boundary, where a sample may keep one component more or less).
func TestPCASampledFit(t *testing.T) {
	cols := pairPlus(rand.New(rand.NewPCG(9, 10)), 6000, false)
	a := mustPCAProfile(t, cols, ProfileOptions{PCASampleRows: 2000})
	b := mustPCAProfile(t, cols, ProfileOptions{PCASampleRows: 2000})
	all := mustPCAProfile(t, cols, ProfileOptions{})
	if a.PCA.FitRows != 2000 || all.PCA.FitRows != 6000 {
		t.Fatalf("fitted rows %d and %d", a.PCA.FitRows, all.PCA.FitRows)
	}
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if !bytes.Equal(ab, bb) {
		t.Error("two fits on the same sample differ")
	}
	if a.PCA.K != all.PCA.K || !closeTo(a.PCA.RefError, all.PCA.RefError, 0.05*all.PCA.RefError) {
		t.Errorf("sampled fit: K %d, error %v; full fit: K %d, error %v", a.PCA.K, a.PCA.RefError, all.PCA.K, all.PCA.RefError)
	}
}
