package drift

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

var nan = math.NaN()

// nine is a variable so that nine*0.8 is rounded like numpy's (n-1)*p.
var nine = 9.0

func term(a, e float64) float64 { return (a - e) * math.Log(a/e) }

func numCol(name string, v ...float64) Column { return Column{Name: name, Values: v} }

// catCol builds a categorical column from strings ("" = missing).
func catCol(name string, v ...string) Column {
	c := Column{Name: name, Categorical: true}
	idx := map[string]int32{}
	for _, s := range v {
		if s == "" {
			c.Codes = append(c.Codes, -1)
			continue
		}
		code, ok := idx[s]
		if !ok {
			code = int32(len(c.Levels))
			idx[s] = code
			c.Levels = append(c.Levels, s)
		}
		c.Codes = append(c.Codes, code)
	}
	return c
}

// TestPSIHandComputed checks every binning rule against PSI worked out by hand.
func TestPSIHandComputed(t *testing.T) {
	f := ShareFloor
	cases := []struct {
		name      string
		ref, cur  Column
		opts      ProfileOptions
		wantEdges []float64
		wantRef   []int64 // reference counts, missing bin first
		want      float64
	}{{
		// edge = median 3 exactly; 3 belongs to the lower (right-closed) bin.
		name: "ties at edges", ref: numCol("x", 1, 2, 3, 4, 5), cur: numCol("x", 3, 3, 3, 4),
		opts: ProfileOptions{Bins: 2}, wantEdges: []float64{3}, wantRef: []int64{0, 3, 2},
		want: term(0.75, 0.6) + term(0.25, 0.4),
	}, {
		name: "beyond the reference range", ref: numCol("x", 1, 2, 3, 4, 5), cur: numCol("x", -100, 100, 1000, 2),
		opts: ProfileOptions{Bins: 2}, wantEdges: []float64{3}, wantRef: []int64{0, 3, 2},
		want: term(0.5, 0.6) + term(0.5, 0.4),
	}, {
		// deciles 0.1…0.7 are all 0: edges {0, 0.2, 1.1}; bin (0, 0.2] is empty in the reference.
		name: "duplicate edges and an empty reference bin", ref: numCol("x", 0, 0, 0, 0, 0, 0, 0, 0, 1, 2),
		cur: numCol("x", 0, 0, 0, 0, 0.1, 0.1, 1, 1, 2, 2), wantEdges: []float64{0, nine*0.8 - 7, 1 + (nine*0.9 - 8)}, // numpy's float arithmetic
		wantRef: []int64{0, 8, 0, 1, 1}, want: term(0.4, 0.8) + term(0.2, f) + term(0.2, 0.1) + term(0.2, 0.1),
	}, {
		name: "empty current bins", ref: numCol("x", 1, 2, 3, 4, 5), cur: numCol("x", 1, 1, 1, 1),
		opts: ProfileOptions{Bins: 2}, wantEdges: []float64{3}, wantRef: []int64{0, 3, 2},
		want: term(1, 0.6) + term(f, 0.4),
	}, {
		name: "missing values are a bin", ref: numCol("x", 1, 2, 3, 4, nan), cur: numCol("x", nan, nan, 1, 5),
		opts: ProfileOptions{Bins: 2}, wantEdges: []float64{2.5}, wantRef: []int64{1, 2, 2},
		want: term(0.5, 0.2) + term(0.25, 0.4) + term(0.25, 0.4),
	}, {
		name: "uniform binning", ref: numCol("x", 0, 10, 5, 5), cur: numCol("x", -1, 2, 2.0001, 11),
		opts: ProfileOptions{Bins: 5, Binning: BinningUniform}, wantEdges: []float64{2, 4, 6, 8}, wantRef: []int64{0, 1, 0, 2, 0, 1},
		want: term(0.5, 0.25) + term(0.25, f) + term(f, 0.5) + term(f, f) + term(0.25, 0.25),
	}, {
		name: "unseen categories", ref: catCol("c", "a", "a", "a", "b"), cur: catCol("c", "c", "a", "c", "d"),
		wantRef: []int64{0, 3, 1, 0}, // missing, a, b, other (+ unseen c, d)
		want:    term(0.25, 0.75) + term(f, 0.25) + term(0.5, f) + term(0.25, f),
	}, {
		name: "category cap: rest and unseen go to other", ref: catCol("c", "a", "a", "a", "b", "b", "c", "d", ""),
		cur: catCol("c", "a", "e", "e", "c"), opts: ProfileOptions{MaxCategories: 2},
		wantRef: []int64{1, 3, 2, 2},
		want:    term(f, 0.125) + term(0.25, 0.375) + term(f, 0.25) + term(0.75, 0.25),
	}, {
		name: "all missing on both sides", ref: numCol("x", nan, nan), cur: numCol("x", nan),
		wantRef: []int64{2, 0}, want: 0,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := BuildProfile([]Column{c.ref}, nil, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			pf := p.Features[0]
			if !slices.Equal(pf.Edges, c.wantEdges) {
				t.Errorf("edges %v, want %v", pf.Edges, c.wantEdges)
			}
			if !slices.Equal(pf.RefCounts, c.wantRef) {
				t.Errorf("reference counts %v, want %v", pf.RefCounts, c.wantRef)
			}
			rep, err := Compare([]Column{c.ref}, []Column{c.cur}, c.opts, CompareOptions{Test: TestPSI})
			if err != nil {
				t.Fatal(err)
			}
			got := rep.Features[0]
			if math.Abs(got.PSI-c.want) > 1e-12 || got.Statistic != got.PSI {
				t.Errorf("batch PSI %.15g (statistic %.15g), want %.15g", got.PSI, got.Statistic, c.want)
			}
			if got.Level != Level(c.want) {
				t.Errorf("level %q, want %q", got.Level, Level(c.want))
			}
			// The streaming window over the same records agrees.
			w, err := NewWindow(p, 0)
			if err != nil {
				t.Fatal(err)
			}
			feedColumn(w, c.cur)
			res, _, err := p.CheckCounts(w.Counts(), CompareOptions{Test: TestPSI})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res[0].PSI-c.want) > 1e-12 {
				t.Errorf("window PSI %.15g, want %.15g", res[0].PSI, c.want)
			}
		})
	}
}

// feedColumn adds each row of a single-feature column to w.
func feedColumn(w *Window, c Column) {
	num, cat := make([]float64, 1), make([]string, 1)
	for i := 0; i < columnLen(c); i++ {
		if c.Categorical {
			cat[0] = ""
			if c.Codes[i] >= 0 {
				cat[0] = c.Levels[c.Codes[i]]
			}
		} else {
			num[0] = c.Values[i]
		}
		w.Add(num, cat, 0)
	}
}

func TestLevels(t *testing.T) {
	for _, c := range []struct {
		psi  float64
		want string
	}{{0, LevelStable}, {0.0999, LevelStable}, {0.1, LevelModerate}, {0.2499, LevelModerate}, {0.25, LevelMajor}, {3, LevelMajor}} {
		if got := Level(c.psi); got != c.want {
			t.Errorf("Level(%v) = %q, want %q", c.psi, got, c.want)
		}
	}
}

func TestChooseTestLikeEvidently(t *testing.T) {
	for _, c := range []struct {
		cat    bool
		n      int64
		unique int
		want   string
	}{
		{false, 1000, 6, TestKS}, {false, 1000, 5, TestChiSquare}, {false, 1000, 2, TestZ},
		{true, 500, 3, TestChiSquare}, {true, 500, 2, TestZ}, {true, 500, 50, TestChiSquare},
		{false, 1001, 6, TestWasserstein}, {false, 1001, 5, TestJensenShannon}, {true, 5000, 40, TestJensenShannon},
	} {
		if got := ChooseTest(c.cat, c.n, c.unique); got != c.want {
			t.Errorf("ChooseTest(%v, %d, %d) = %q, want %q", c.cat, c.n, c.unique, got, c.want)
		}
	}
}

func TestCompareAllMissingColumns(t *testing.T) {
	ref := []Column{numCol("a", nan, nan, nan), numCol("b", nan, nan, nan)}
	cur := []Column{numCol("a", nan, nan), numCol("b", 1, 2)}
	for _, test := range []string{TestAuto, TestKS, TestWasserstein, TestJensenShannon} {
		rep, err := Compare(ref, cur, ProfileOptions{}, CompareOptions{Test: test})
		if err != nil {
			t.Fatal(err)
		}
		a, b := rep.Features[0], rep.Features[1]
		if a.PSI != 0 || a.Drifted || math.IsNaN(a.Statistic) {
			t.Errorf("%s: all missing on both sides: %+v, want PSI 0, not drifted, finite statistic", test, a)
		}
		if !b.Drifted || b.PSI < 0.25 || math.IsNaN(b.Statistic) {
			t.Errorf("%s: all missing reference, values now: %+v, want drifted, major PSI", test, b)
		}
	}
}

func TestCompareBadInput(t *testing.T) {
	ok := []Column{numCol("a", 1, 2, 3)}
	cases := []struct {
		name     string
		ref, cur []Column
		copts    CompareOptions
		popts    ProfileOptions
		want     string
		is       error
	}{
		{name: "reference with no rows", ref: []Column{numCol("a")}, cur: ok, want: "no rows", is: ErrNoRows},
		{name: "current with no rows", ref: ok, cur: []Column{numCol("a")}, want: "no rows", is: ErrNoCurrentRows},
		{name: "feature missing from current", ref: []Column{numCol("a", 1), numCol("b", 2)}, cur: ok, want: `feature "b" is missing from the current data`},
		{name: "kind mismatch", ref: ok, cur: []Column{catCol("a", "x")}, want: `"a" is numeric in the reference but categorical`},
		{name: "bad test", ref: ok, cur: ok, copts: CompareOptions{Test: "anova"}, want: `test "anova"`},
		{name: "bad binning", ref: ok, cur: ok, popts: ProfileOptions{Binning: "log"}, want: `binning "log"`},
		{name: "bad bins", ref: ok, cur: ok, popts: ProfileOptions{Bins: 1}, want: "bins 1"},
		{name: "ragged current", ref: []Column{numCol("a", 1), numCol("b", 2)}, cur: []Column{numCol("a", 1), numCol("b", 1, 2)}, want: `current column "b" has 2 rows`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compare(c.ref, c.cur, c.popts, c.copts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v does not wrap %v", err, c.is)
			}
		})
	}
}

func TestBuildProfileBadInput(t *testing.T) {
	if _, err := BuildProfile([]Column{numCol("a")}, nil, ProfileOptions{}); !errors.Is(err, ErrNoRows) {
		t.Errorf("no rows: %v", err)
	}
	if _, err := BuildProfile([]Column{numCol("a", 1), numCol("a", 2)}, nil, ProfileOptions{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate column: %v", err)
	}
	bad := Column{Name: "c", Categorical: true, Codes: []int32{0, 5}, Levels: []string{"x"}}
	if _, err := BuildProfile([]Column{bad}, nil, ProfileOptions{}); err == nil || !strings.Contains(err.Error(), `column "c": row 1: code 5`) {
		t.Errorf("bad code: %v", err)
	}
}

func TestRadixSortMatchesSort(t *testing.T) {
	v := make([]float64, 5000)
	x := uint64(1)
	for i := range v {
		x = x*6364136223846793005 + 1442695040888963407
		v[i] = math.Float64frombits(x>>2) * float64(int64(x)%3-1) // mixed signs, zeros, huge range
		if i%7 == 0 {
			v[i] = float64(i % 5)
		}
	}
	v[3] = math.Inf(1)
	v[4] = math.Inf(-1)
	v[5] = math.Copysign(0, -1)
	want := slices.Clone(v)
	slices.Sort(want)
	radixSortFloat64(v)
	for i := range v {
		if v[i] != want[i] {
			t.Fatalf("index %d: %v, want %v", i, v[i], want[i])
		}
	}
}
