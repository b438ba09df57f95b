package flows

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/drift"
	"driftd/train"
)

// TestTrainModelCalibration proves TrainModel stores an isotonic
// calibrator in the drift profile of a binary model with validation data,
// that it survives the model file's round trip and is the one fitted to
// the validation scores, and that without validation data the profile has
// none and the outcome says why.
func TestTrainModelCalibration(t *testing.T) {
	tests := []struct {
		name     string
		frac     float64
		wantCal  bool
		wantNote string
	}{
		{"validation split", 0.3, true, "isotonic on 90 validation rows"},
		{"no validation data", 0, false, "none: no validation data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := train.DefaultParams()
			p.Rounds = 20
			out, err := TrainModel(context.Background(), TrainSpec{Data: "testdata/binary.csv", ValidFraction: tc.frac, Seed: 1, Params: p,
				CSV: train.CSVOptions{Delimiter: ',', Target: "label", ID: "id"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if out.Calibration != tc.wantNote {
				t.Errorf("calibration note %q, want %q", out.Calibration, tc.wantNote)
			}
			m, err := train.Decode(out.Artifact)
			if err != nil {
				t.Fatal(err)
			}
			raw, ok := m.Attachment("drift.profile")
			if !ok {
				t.Fatal("no drift profile")
			}
			prof, err := drift.DecodeProfile(raw)
			if err != nil {
				t.Fatal(err)
			}
			if (prof.Calibration != nil) != tc.wantCal {
				t.Fatalf("calibrator %v, want one: %v", prof.Calibration, tc.wantCal)
			}
			if !tc.wantCal {
				return
			}
			c := prof.Calibration
			if c.Rows != out.ValidRows || c.Threshold != drift.DefaultDecisionThreshold {
				t.Errorf("calibrator of %d rows at threshold %v, want %d rows at 0.5", c.Rows, c.Threshold, out.ValidRows)
			}
			// Monotone, and a probability: the lowest validation scores
			// map to a lower probability than the highest.
			if c.Y[0] >= c.Y[len(c.Y)-1] || c.Y[0] < 0 || c.Y[len(c.Y)-1] > 1 || !strings.HasPrefix(out.Calibration, "isotonic") {
				t.Errorf("calibrator %+v is not a monotone map to [0, 1]", c)
			}
		})
	}
}

// TestTrainModelMulticlassCalibration proves TrainModel stores, for a
// multiclass model with validation data, one calibrator per class and the
// reference probability vectors in the drift profile, and that the
// profile's prediction reference is the probability of the predicted class
// (the score the model adapter gives the monitor), not the class index.
func TestTrainModelMulticlassCalibration(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	var sb strings.Builder
	sb.WriteString("x0,x1,y\n")
	for range 900 {
		x0, x1 := rng.NormFloat64(), rng.NormFloat64()
		y := "a"
		switch z := x0 + 0.5*rng.NormFloat64(); {
		case z > 0.5:
			y = "c"
		case z > -0.5:
			y = "b"
		}
		fmt.Fprintf(&sb, "%.4f,%.4f,%s\n", x0, x1, y)
	}
	path := filepath.Join(t.TempDir(), "mc.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := train.DefaultParams()
	p.Objective, p.Rounds = "multiclass", 20
	out, err := TrainModel(context.Background(), TrainSpec{Data: path, ValidFraction: 0.3, Seed: 1, Params: p,
		CSV: train.CSVOptions{Delimiter: ',', Target: "y"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Calibration, "isotonic one-vs-rest per class (3 classes) on 270 validation rows") {
		t.Errorf("calibration note %q", out.Calibration)
	}
	m, _ := train.Decode(out.Artifact)
	raw, _ := m.Attachment("drift.profile")
	prof, err := drift.DecodeProfile(raw)
	if err != nil {
		t.Fatal(err)
	}
	mc := prof.Multiclass
	if mc == nil || len(mc.Calibrators) != 3 || mc.Rows != 270 || len(mc.Reference) != 3*270 || prof.Calibration != nil {
		t.Fatalf("multiclass calibration %+v", mc)
	}
	if pr := prof.Prediction; pr == nil || pr.Min < 1.0/3 || pr.Max > 1 || pr.Unique < 10 {
		t.Errorf("prediction reference %+v: want the predicted class's probability", pr)
	}
}
