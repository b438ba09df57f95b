package flows

import (
	"context"
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
