package drift_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"driftd/drift"
	"driftd/train"
)

// TestEstimatedPerformanceDrop streams windows from the reference
// distribution and from shifts that lower the model's realised accuracy
// through a monitor whose profile carries a calibrator: the reference's
// windows must stay inside the band drawn from the validation scores (no
// false alarm), the shifted ones must fall below it.
func TestEstimatedPerformanceDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	const window = 1000
	rng := rand.New(rand.NewPCG(16, 1000))
	ref := shift{"reference", [4]float64{}, [4]float64{1, 1, 1, 1}}
	tr, va := shiftData(rng, ref, 10000), shiftData(rng, ref, 5000)
	p := train.DefaultParams()
	p.Objective, p.Rounds, p.EarlyStopping, p.Seed, p.Threads = "binary", 100, 10, 1, 2
	m, err := train.Train(context.Background(), tr, va, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	vp, err := train.Predict(m, va)
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]drift.Column, len(va.Names))
	for j, n := range va.Names {
		cols[j] = drift.Column{Name: n, Values: va.Num[j]}
	}
	prof, err := drift.BuildProfile(cols, vp.Score, drift.ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if prof.Calibration, err = drift.FitIsotonic(vp.Score, va.Target); err != nil {
		t.Fatal(err)
	}
	mon, err := drift.NewMonitor(prof, drift.MonitorOptions{Model: "m", WindowSize: window, CheckInterval: 1 << 30, MinWindow: window})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	row := make([]float64, 4)
	cat := make([]string, 4)
	check := func(s shift) drift.Event {
		w := shiftData(rng, s, window)
		pr, err := train.Predict(m, w)
		if err != nil {
			t.Fatal(err)
		}
		for i := range window {
			for j := range row {
				row[j] = w.Num[j][i]
			}
			mon.Observe(row, cat, pr.Score[i])
		}
		return mon.Check()
	}
	cases := []struct {
		s        shift
		windows  int
		maxDrops int // at most this many windows flagged
		minDrops int // at least this many
	}{
		{ref, 40, 1, 0},
		{shift{"near the boundary", [4]float64{0.3, 0.45, -1, 0}, [4]float64{0.4, 0.4, 0.5, 1}}, 10, 10, 10},
		{shift{"x0,x1 sd 0.3", [4]float64{}, [4]float64{0.3, 0.3, 1, 1}}, 10, 10, 9},
	}
	for _, tc := range cases {
		drops := 0
		for range tc.windows {
			ev := check(tc.s)
			e := ev.Estimated
			if e == nil || e.Band == nil {
				t.Fatalf("%s: no estimate or band: %+v", tc.s.name, e)
			}
			if e.Band.Records != 960 || e.Band.Replicates != 200 {
				t.Fatalf("band drawn for %d records × %d replicates, want 960 × 200", e.Band.Records, e.Band.Replicates)
			}
			if e.Drop {
				drops++
			}
			if drops == 1 && e.Drop {
				t.Logf("%s: estimated accuracy %.4f AUC %.4f; band accuracy %.4f–%.4f AUC %.4f–%.4f",
					tc.s.name, e.Accuracy, e.AUC, e.Band.Accuracy.Lo, e.Band.Accuracy.Hi, e.Band.AUC.Lo, e.Band.AUC.Hi)
			}
		}
		t.Logf("%s: %d of %d windows flagged", tc.s.name, drops, tc.windows)
		if drops > tc.maxDrops || drops < tc.minDrops {
			t.Errorf("%s: %d of %d windows flagged as an estimated performance drop, want %d–%d",
				tc.s.name, drops, tc.windows, tc.minDrops, tc.maxDrops)
		}
	}
}
