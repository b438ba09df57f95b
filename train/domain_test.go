package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// domainData draws n rows: x0..x2 normal (x0 shifted by shift), x3 = ±x0
// plus noise (sign rot: -1 rotates the pair, leaving both marginals
// unchanged), and a categorical "c" whose levels are listed in the given
// order.
func domainData(rng *rand.Rand, n int, shift, rot float64, levels []string) *Dataset {
	ds := &Dataset{Rows: n, Names: []string{"x0", "x1", "x2", "x3", "c"},
		Kinds: []ColumnKind{Numeric, Numeric, Numeric, Numeric, Categorical}}
	for j := 0; j < 4; j++ {
		ds.Num = append(ds.Num, make([]float64, n))
		ds.Codes = append(ds.Codes, nil)
		ds.Levels = append(ds.Levels, nil)
	}
	ds.Num = append(ds.Num, nil)
	ds.Codes = append(ds.Codes, make([]int32, n))
	ds.Levels = append(ds.Levels, levels)
	index := map[string]int32{}
	for c, l := range levels {
		index[l] = int32(c)
	}
	names := []string{"red", "green", "blue"}
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			ds.Num[j][i] = rng.NormFloat64()
		}
		x0 := rng.NormFloat64()
		ds.Num[0][i] = x0 + shift
		ds.Num[3][i] = rot*x0 + 0.3*rng.NormFloat64()
		ds.Codes[4][i] = index[names[rng.IntN(3)]]
	}
	return ds
}

func TestDomainClassifier(t *testing.T) {
	rgb, bgr := []string{"red", "green", "blue"}, []string{"blue", "green", "red"}
	cases := []struct {
		name        string
		shift, rot  float64
		curLevels   []string
		drifted     bool
		topFeatures []string // one of these leads the ranking when drifted
	}{
		{"same distribution, levels listed in another order", 0, 1, bgr, false, nil},
		{"x0 shifted by 0.5 (and so its relation to x3)", 0.5, 1, rgb, true, []string{"x0", "x3"}},
		{"x0 and x3 rotated, marginals unchanged", 0, -1, rgb, true, []string{"x0", "x3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			ref := domainData(rng, 4000, 0, 1, rgb)
			cur := domainData(rng, 3000, tc.shift, tc.rot, tc.curLevels)
			res, err := DomainClassifier(context.Background(), ref, cur, DomainOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("AUC %.4f threshold %.4f features %v", res.AUC, res.Threshold, res.Features[:2])
			if res.Drifted != tc.drifted || res.ReferenceRows != 4000 || res.CurrentRows != 3000 || res.Folds != 5 {
				t.Fatalf("drifted %v (AUC %.4f > %.4f) on %d+%d rows, %d folds; want drifted %v on 4000+3000, 5 folds",
					res.Drifted, res.AUC, res.Threshold, res.ReferenceRows, res.CurrentRows, res.Folds, tc.drifted)
			}
			if !tc.drifted && math.Abs(res.AUC-0.5) > 0.04 {
				t.Errorf("AUC %.4f on one distribution, want about 0.5", res.AUC)
			}
			if tc.drifted {
				top := res.Features[0].Name
				if !strings.Contains(strings.Join(tc.topFeatures, ","), top) {
					t.Errorf("top separating feature %s, want one of %v", top, tc.topFeatures)
				}
			}
			sum := 0.0
			for _, f := range res.Features {
				sum += f.Share
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("feature shares sum to %v", sum)
			}
		})
	}
}

func TestDomainClassifierErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := domainData(rng, 100, 0, 1, []string{"red", "green", "blue"})
	b := domainData(rng, 100, 0, 1, []string{"red", "green", "blue"})
	b.Names = []string{"x0", "x1", "x2", "y3", "c"}
	few := domainData(rng, 3, 0, 1, []string{"red", "green", "blue"})
	for _, tc := range []struct {
		name     string
		ref, cur *Dataset
		opts     DomainOptions
		want     string
	}{
		{"columns differ", a, b, DomainOptions{}, "columns"},
		{"too few rows", a, few, DomainOptions{}, "need at least 5 of each"},
		{"one fold", a, a, DomainOptions{Folds: 1}, "need at least 2"},
		{"no rows", a, &Dataset{}, DomainOptions{}, "both need rows"},
	} {
		_, err := DomainClassifier(context.Background(), tc.ref, tc.cur, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := domainData(rng, 2000, 0, 1, []string{"red", "green", "blue"})
	if _, err := DomainClassifier(ctx, big, big, DomainOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
