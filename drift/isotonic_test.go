package drift

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"testing"
)

// isotonicFixture is drift/testdata/isotonic_fixture.json, written by
// gen_isotonic.py with scikit-learn's IsotonicRegression.
type isotonicFixture struct {
	Sklearn string `json:"sklearn"`
	Cases   []struct {
		Name    string    `json:"name"`
		X       []float64 `json:"x"`
		Y       []float64 `json:"y"`
		Query   []float64 `json:"query"`
		Predict []float64 `json:"predict"`
		TX      []float64 `json:"thresholds_x"`
		TY      []float64 `json:"thresholds_y"`
	} `json:"cases"`
}

// TestIsotonicMatchesSklearn proves FitIsotonic keeps the thresholds
// scikit-learn keeps and predicts what it predicts (ties pooled, linear
// interpolation, clipping beyond the ends).
func TestIsotonicMatchesSklearn(t *testing.T) {
	raw, err := os.ReadFile("testdata/isotonic_fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx isotonicFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) == 0 {
		t.Fatal("fixture has no cases")
	}
	for _, tc := range fx.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			c, err := FitIsotonic(tc.X, tc.Y)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.X) != len(tc.TX) {
				t.Fatalf("%d thresholds, sklearn %s keeps %d", len(c.X), fx.Sklearn, len(tc.TX))
			}
			for i := range c.X {
				if c.X[i] != tc.TX[i] || math.Abs(c.Y[i]-tc.TY[i]) > 1e-12 {
					t.Fatalf("threshold %d = (%v, %v), sklearn (%v, %v)", i, c.X[i], c.Y[i], tc.TX[i], tc.TY[i])
				}
			}
			for i, q := range tc.Query {
				if got := c.Predict(q); math.Abs(got-tc.Predict[i]) > 1e-12 {
					t.Fatalf("predict(%v) = %v, sklearn %v", q, got, tc.Predict[i])
				}
			}
		})
	}
}

func TestPAVA(t *testing.T) {
	tests := []struct {
		name string
		y, w []float64
		want []float64
	}{
		{"sorted stays", []float64{0, 0.5, 1}, []float64{1, 1, 1}, []float64{0, 0.5, 1}},
		{"one violation", []float64{0, 1, 0, 1}, []float64{1, 1, 1, 1}, []float64{0, 0.5, 0.5, 1}},
		{"weighted pool", []float64{1, 0}, []float64{3, 1}, []float64{0.75, 0.75}},
		{"cascade", []float64{0.9, 0.8, 0.1}, []float64{1, 1, 1}, []float64{0.6, 0.6, 0.6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := pava(tc.y, tc.w)
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-12 {
					t.Fatalf("pava = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestFitIsotonicRejects(t *testing.T) {
	tests := []struct {
		name           string
		scores, labels []float64
		noData         bool
	}{
		{"one class", []float64{0.1, 0.9}, []float64{1, 1}, true},
		{"only NaN scores", []float64{math.NaN()}, []float64{1}, true},
		{"lengths differ", []float64{0.1}, []float64{1, 0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FitIsotonic(tc.scores, tc.labels)
			if err == nil || errors.Is(err, ErrNoCalibration) != tc.noData {
				t.Fatalf("err = %v, want ErrNoCalibration %v", err, tc.noData)
			}
		})
	}
}

// mustCalibratedProfile builds a small profile with a prediction feature and
// attaches c.
func mustCalibratedProfile(tb testing.TB, c *Calibrator, bands bool) *Profile {
	tb.Helper()
	n := 600
	vals, preds := make([]float64, n), make([]float64, n)
	for i := range vals {
		vals[i] = float64(i % 37)
		preds[i] = float64(i%100) / 100
	}
	o := ProfileOptions{}
	if !bands {
		o.BandChunks = -1
	}
	p, err := BuildProfile([]Column{{Name: "x", Values: vals}}, preds, o)
	if err != nil {
		tb.Fatal(err)
	}
	p.Calibration = c
	return p
}

// TestProfileCalibrationRoundTrip proves a calibrator survives encoding
// (format version 3), that a profile without one is written in the old
// formats (version 1 without bands, 2 with) and decodes without one, and
// that a corrupt calibrator is rejected.
func TestProfileCalibrationRoundTrip(t *testing.T) {
	cal := &Calibrator{X: []float64{0.1, 0.5, 0.9}, Y: []float64{0, 0.4, 1}, Threshold: 0.6, Rows: 321}
	tests := []struct {
		name    string
		cal     *Calibrator
		bands   bool
		version byte
	}{
		{"calibrator, no bands", cal, false, profileVersionV3},
		{"calibrator and bands", cal, true, profileVersionV3},
		{"old format without bands", nil, false, profileVersion},
		{"old format with bands", nil, true, profileVersionV2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCalibratedProfile(t, tc.cal, tc.bands)
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if v := b[len(profileMagic)]; v != tc.version {
				t.Fatalf("format version %d, want %d", v, tc.version)
			}
			q, err := DecodeProfile(b)
			if err != nil {
				t.Fatal(err)
			}
			if q.HasBands() != tc.bands {
				t.Fatalf("bands %v after decoding, want %v", q.HasBands(), tc.bands)
			}
			switch {
			case tc.cal == nil && q.Calibration != nil:
				t.Fatalf("decoded a calibrator from a profile without one")
			case tc.cal != nil && (q.Calibration == nil || !slices.Equal(q.Calibration.X, cal.X) ||
				!slices.Equal(q.Calibration.Y, cal.Y) || q.Calibration.Threshold != cal.Threshold || q.Calibration.Rows != cal.Rows):
				t.Fatalf("calibrator %+v after decoding, want %+v", q.Calibration, cal)
			}
		})
	}
	t.Run("descending thresholds rejected", func(t *testing.T) {
		bad := &Calibrator{X: []float64{0.5, 0.1}, Y: []float64{0, 1}, Threshold: 0.5}
		b, err := mustCalibratedProfile(t, bad, false).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeProfile(b); !errors.Is(err, ErrCorruptProfile) {
			t.Fatalf("err = %v, want ErrCorruptProfile", err)
		}
	})
}
