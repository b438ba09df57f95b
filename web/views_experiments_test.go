package web

import (
	"math"
	"testing"
)

func TestNewChart(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		steps  []int64
		values []float64
		points string
		n      int
		last   float64
	}{
		{"empty", nil, nil, "", 0, nan},
		{"all non-finite", []int64{1, 2}, []float64{nan, math.Inf(1)}, "", 0, nan},
		{"one point is centred", []int64{7}, []float64{0.5}, "50.0,25.0", 1, 0.5},
		{"rising line spans the box", []int64{0, 1, 2}, []float64{0, 1, 2}, "4.0,46.0 50.0,25.0 96.0,4.0", 3, 2},
		{"constant line is centred vertically", []int64{1, 3}, []float64{2, 2}, "4.0,25.0 96.0,25.0", 2, 2},
		{"missing values are skipped", []int64{0, 1, 2}, []float64{1, nan, 0}, "4.0,4.0 96.0,46.0", 2, 0},
		{"same step spreads by index", []int64{5, 5}, []float64{0, 1}, "4.0,46.0 96.0,4.0", 2, 1},
	}
	for _, tc := range cases {
		c := NewChart("m", tc.steps, tc.values, 100, 50)
		if c.Points != tc.points || c.N != tc.n {
			t.Errorf("%s: points %q (n=%d), want %q (n=%d)", tc.name, c.Points, c.N, tc.points, tc.n)
		}
		if !(c.Last == tc.last || math.IsNaN(c.Last) && math.IsNaN(tc.last)) {
			t.Errorf("%s: last %v, want %v", tc.name, c.Last, tc.last)
		}
	}
}

func TestFmtNum(t *testing.T) {
	cases := map[float64]string{math.NaN(): "—", math.Inf(-1): "—", 0.812345: "0.8123", 12345: "1.234e+04", 0: "0"}
	for in, want := range cases {
		if got := fmtNum(in); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", in, got, want)
		}
	}
}
