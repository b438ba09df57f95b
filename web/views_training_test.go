package web

import (
	"math"
	"testing"
)

func TestTrainingJobProgress(t *testing.T) {
	for _, tc := range []struct {
		name          string
		j             TrainingJobRow
		text          string
		barMax, value int
	}{
		{"queued", TrainingJobRow{State: "queued", Rounds: 100}, "waiting in the queue", 100, 0},
		{"running, no round yet", TrainingJobRow{State: "running", Rounds: 100}, "reading data", 100, 0},
		{"running", TrainingJobRow{State: "running", Round: 5, Rounds: 100}, "5/100 rounds", 100, 5},
		{"finished every round", TrainingJobRow{State: "finished", Round: 12, Rounds: 12}, "12/12 rounds", 1, 1},
		{"logistic converged", TrainingJobRow{State: "finished", Algo: "logistic", Round: 14, Rounds: 100}, "converged at round 14 of 100", 1, 1},
		{"gbdt early stopping", TrainingJobRow{State: "finished", Algo: "gbdt", Round: 40, Rounds: 100}, "stopped early at round 40 of 100", 1, 1},
		{"early, algorithm unknown", TrainingJobRow{State: "finished", Round: 40, Rounds: 100}, "done early at round 40 of 100", 1, 1},
		{"failed mid-way", TrainingJobRow{State: "failed", Round: 3, Rounds: 100}, "failed at round 3 of 100", 100, 3},
		{"killed before a round", TrainingJobRow{State: "killed", Rounds: 100}, "killed before the first round", 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.j.TrainLoss, tc.j.ValidLoss = math.NaN(), math.NaN()
			if got := tc.j.Progress(); got != tc.text {
				t.Errorf("Progress() = %q, want %q", got, tc.text)
			}
			if m, v := tc.j.BarMax(), tc.j.BarValue(); m != tc.barMax || v != tc.value {
				t.Errorf("bar %d/%d, want %d/%d", v, m, tc.value, tc.barMax)
			}
		})
	}
}
