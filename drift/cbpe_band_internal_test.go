package drift

import "testing"

func TestBandSize(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 0}, {1, 1}, {15, 15}, {16, 16}, {17, 16}, {31, 30}, {32, 32}, {33, 32}, {100, 96}, {1000, 960}, {1023, 960}, {1024, 1024}, {5000, 4608},
	} {
		got := bandSize(tc.n)
		if got != tc.want {
			t.Errorf("bandSize(%d) = %d, want %d", tc.n, got, tc.want)
		}
		if got > tc.n || (tc.n >= 16 && float64(got) < float64(tc.n)*7/8) {
			t.Errorf("bandSize(%d) = %d: not within 1/8 below", tc.n, got)
		}
	}
}
