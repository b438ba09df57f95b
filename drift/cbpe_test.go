package drift

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// identity is the calibrator p = score on [0, 1].
func identity(threshold float64) *Calibrator {
	return &Calibrator{X: []float64{0, 1}, Y: []float64{0, 1}, Threshold: threshold}
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-12
}

// TestExpectedConfusion checks the expected confusion matrix and metrics
// of tiny windows against values worked out by hand.
func TestExpectedConfusion(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name                    string
		cal                     *Calibrator
		scores                  []float64
		tp, fp, fn, tn          float64
		acc, prec, rec, f1, auc float64
		records                 int
	}{
		// ŷ = 1, 1, 0, 0. TP = .9+.6, FP = .1+.4, FN = .4+.2, TN = .6+.8.
		// AUC: Σ_{i above j} p_i(1−p_j) = 2.78, + ½Σ p_i(1−p_i) = .365,
		// over E[P]·E[N] = 2.1·1.9.
		{"identity", identity(0.5), []float64{0.9, 0.6, 0.4, 0.2},
			1.5, 0.5, 0.6, 1.4, 2.9 / 4, 0.75, 1.5 / 2.1, 3 / 4.1, 3.145 / 3.99, 4},
		// The threshold applies to the raw score: 0.6 is now predicted 0.
		{"threshold 0.7", identity(0.7), []float64{0.9, 0.6, 0.4, 0.2},
			0.9, 0.1, 1.2, 1.8, 2.7 / 4, 0.9, 0.9 / 2.1, 1.8 / 3.1, 3.145 / 3.99, 4},
		// Calibrated: scores below 0.5 → 0.2, above → 0.8 (clipped ends);
		// NaN is skipped. ŷ = 1, 1, 0. AUC by pairs: .8·.2 + .8·.8 + .8·.8
		// + ½(3·.16) = 1.68 over 1.8·1.2.
		{"step calibrator, NaN skipped", &Calibrator{X: []float64{0.49, 0.51}, Y: []float64{0.2, 0.8}, Threshold: 0.5},
			[]float64{0.9, math.NaN(), 0.7, 0.1},
			1.6, 0.4, 0.2, 0.8, 2.4 / 3, 0.8, 1.6 / 1.8, 3.2 / 3.8, 1.68 / 2.16, 3},
		// Nothing predicted positive: precision undefined.
		{"no positive predictions", identity(0.5), []float64{0.3, 0.1},
			0, 0, 0.4, 1.6, 0.8, nan, 0, 0, (0.3*0.9 + 0.5*(0.21+0.09)) / (0.4 * 1.6), 2},
		// Certain negatives only: no expected positives, AUC undefined.
		{"one class", identity(0.5), []float64{0, 0},
			0, 0, 0, 2, 1, nan, nan, nan, nan, 2},
		{"empty", identity(0.5), nil, 0, 0, 0, 0, nan, nan, nan, nan, nan, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := EstimatePerformance(tc.cal, tc.scores)
			got := []float64{e.TP, e.FP, e.FN, e.TN, e.Accuracy, e.Precision, e.Recall, e.F1, e.AUC}
			want := []float64{tc.tp, tc.fp, tc.fn, tc.tn, tc.acc, tc.prec, tc.rec, tc.f1, tc.auc}
			names := []string{"TP", "FP", "FN", "TN", "accuracy", "precision", "recall", "F1", "AUC"}
			for i := range got {
				if !near(got[i], want[i]) {
					t.Errorf("%s = %v, want %v", names[i], got[i], want[i])
				}
			}
			if e.Records != tc.records {
				t.Errorf("records = %d, want %d", e.Records, tc.records)
			}
		})
	}
}

// pairAUC is the expected AUC by its definition over pairs: record i
// outranks j (higher score) and is the positive one with probability
// p_i(1−p_j); ties in score count one half; normalised by E[P]·E[N].
func pairAUC(scores, probs []float64) float64 {
	var num, pos, neg float64
	for i := range scores {
		pos += probs[i]
		neg += 1 - probs[i]
		for j := range scores {
			switch {
			case scores[i] > scores[j]:
				num += probs[i] * (1 - probs[j])
			case scores[i] == scores[j]:
				num += 0.5 * probs[i] * (1 - probs[j])
			}
		}
	}
	return num / (pos * neg)
}

// TestExpectedAUCMatchesPairs proves the trapezoid over the expected ROC
// curve equals the pairwise definition, ties and plateaus included.
func TestExpectedAUCMatchesPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cal := &Calibrator{X: []float64{0.2, 0.3, 0.6, 0.8}, Y: []float64{0.05, 0.3, 0.3, 0.9}, Threshold: 0.5}
	for trial := range 20 {
		n := 5 + trial*7
		scores := make([]float64, n)
		probs := make([]float64, n)
		for i := range scores {
			scores[i] = math.Round(rng.Float64()*20) / 20 // ties
			probs[i] = cal.Predict(scores[i])
		}
		got, want := EstimatePerformance(cal, scores).AUC, pairAUC(scores, probs)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d: AUC %v, pairwise %v", trial, got, want)
		}
	}
}

// TestMonitorEstimated proves the monitor estimates the performance of the
// sliding window's records (not of the records that left it), exports the
// gauges, and reports nothing for a profile without a calibrator.
func TestMonitorEstimated(t *testing.T) {
	cal := identity(0.5)
	set := metrics.NewSet()
	m, err := NewMonitor(mustCalibratedProfile(t, cal, false), MonitorOptions{Model: "m", WindowSize: 100, CheckInterval: 1000, MinWindow: 10, Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var scores []float64
	for i := range 250 {
		s := float64(i%97) / 97
		if i < 150 {
			s = 0.99 // left the window: must not count
		}
		scores = append(scores, s)
		m.Observe([]float64{float64(i % 37)}, []string{""}, s)
	}
	ev := m.Check()
	if ev.Estimated == nil {
		t.Fatal("no estimate with a calibrator")
	}
	want := EstimatePerformance(cal, scores[150:])
	if !near(ev.Estimated.Accuracy, want.Accuracy) || !near(ev.Estimated.AUC, want.AUC) || ev.Estimated.Records != 100 {
		t.Fatalf("estimated %+v, want %+v", *ev.Estimated, want)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, name := range []string{`driftd_model_estimated_auc{model="m"}`, `driftd_model_estimated_accuracy{model="m"}`} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("%s not exported:\n%s", name, buf.String())
		}
	}

	plain, err := NewMonitor(mustCalibratedProfile(t, nil, false), MonitorOptions{WindowSize: 100, MinWindow: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for i := range 20 {
		plain.Observe([]float64{float64(i)}, []string{""}, 0.7)
	}
	if ev := plain.Check(); ev.Estimated != nil {
		t.Fatalf("estimate %+v without a calibrator", *ev.Estimated)
	}
}

// TestMonitorEstimatedTumbling proves a tumbling window's estimate covers
// the records of that window only.
func TestMonitorEstimatedTumbling(t *testing.T) {
	cal := identity(0.5)
	now := time.Unix(0, 0)
	m, err := NewMonitor(mustCalibratedProfile(t, cal, false), MonitorOptions{WindowSize: 100, MinWindow: 5, Tumbling: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for range 10 {
		m.Observe([]float64{1}, []string{""}, 0.9)
	}
	now = now.Add(2 * time.Minute)
	m.Tick(now) // closes the first window (all 0.9)
	for range 10 {
		m.Observe([]float64{1}, []string{""}, 0.2)
	}
	ev := m.Check()
	if ev.Estimated == nil || ev.Estimated.Records != 10 || !near(ev.Estimated.Accuracy, 0.8) {
		t.Fatalf("estimated %+v, want 10 records of accuracy 0.8", ev.Estimated)
	}
}

// TestDecodeProfileBeforeCalibration decodes a profile written by the
// encoder before calibrators existed (format version 2, committed): it
// loads without a calibrator, a monitor of it estimates nothing, and the
// same profile is still encoded to the same bytes.
func TestDecodeProfileBeforeCalibration(t *testing.T) {
	raw, err := os.ReadFile("testdata/profile_v2_before_calibration.bin")
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodeProfile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Calibration != nil || !p.HasBands() {
		t.Fatalf("calibration %v, bands %v: want none and bands", p.Calibration, p.HasBands())
	}
	b, err := mustCalibratedProfile(t, nil, true).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, raw) {
		t.Fatal("a profile without a calibrator is no longer encoded as before")
	}
}

// BenchmarkCBPE measures the estimate of one window of 10,000 scores
// (calibration, expected confusion matrix, sort and expected ROC AUC);
// ns/record is the cost per record of the window.
func BenchmarkCBPE(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 200
	xs, ys := make([]float64, n), make([]float64, n)
	for i := range xs {
		xs[i] = float64(i) / float64(n)
		ys[i] = math.Sqrt(xs[i])
	}
	cal := &Calibrator{X: xs, Y: ys, Threshold: 0.5}
	scores := make([]float64, DefaultWindowSize)
	for i := range scores {
		scores[i] = rng.Float64()
	}
	var s cbpeScratch
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.estimate(cal, scores)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(scores)), "ns/record")
}
