package drift

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// identityMC is a 3-class calibration whose calibrators are the identity.
func identityMC() *MulticlassCalibration {
	return &MulticlassCalibration{Classes: []string{"a", "b", "c"}, Rows: 10,
		Calibrators: []*Calibrator{identity(0.5), identity(0.5), identity(0.5)}}
}

func nearTol(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestExpectedConfusionMulticlass checks CBPE's expected confusion matrix
// and metrics on a tiny 3-class window worked out by hand (see the
// comments), with calibrators that leave the probabilities as they are.
func TestExpectedConfusionMulticlass(t *testing.T) {
	window := []float64{
		0.7, 0.2, 0.1, // predicted a
		0.2, 0.5, 0.3, // predicted b
		0.1, 0.3, 0.6, // predicted c
		0.5, 0.4, 0.1, // predicted a
	}
	e := EstimateMulticlass(identityMC(), window)
	// Column a (predicted a) is rows 1 + 4, column b row 2, column c row 3.
	wantConf := []float64{
		1.2, 0.2, 0.1, // true a
		0.6, 0.5, 0.3, // true b
		0.2, 0.3, 0.6, // true c
	}
	for i := range wantConf {
		if !nearTol(e.Confusion[i], wantConf[i], 1e-12) {
			t.Fatalf("confusion %v, want %v", e.Confusion, wantConf)
		}
	}
	// Accuracy: (0.7 + 0.5 + 0.6 + 0.5) / 4.
	// Precision TP/predicted: a 1.2/2, b 0.5/1, c 0.6/1.
	// Recall TP/Σp: a 1.2/1.5, b 0.5/1.4, c 0.6/1.1.
	// F1 2TP/(predicted+Σp): a 2.4/3.5, b 1/2.4, c 1.2/2.1.
	// AUC by the expected ROC (expectedAUC's trapezoids): a 2.925/3.75,
	// b 2.32/3.64, c 2.445/3.19.
	cases := []struct {
		name      string
		got, want float64
	}{
		{"records", float64(e.Records), 4},
		{"accuracy", e.Accuracy, 2.3 / 4},
		{"precision", e.Precision, (0.6 + 0.5 + 0.6) / 3},
		{"recall", e.Recall, (1.2/1.5 + 0.5/1.4 + 0.6/1.1) / 3},
		{"f1", e.F1, (2.4/3.5 + 1/2.4 + 1.2/2.1) / 3},
		{"auc", e.AUC, (2.925/3.75 + 2.32/3.64 + 2.445/3.19) / 3},
	}
	for _, c := range cases {
		if !nearTol(c.got, c.want, 1e-12) {
			t.Errorf("%s = %.15g, want %.15g", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(e.Classes, []string{"a", "b", "c"}) || !math.IsNaN(e.DecisionThreshold) {
		t.Errorf("classes %v, threshold %v", e.Classes, e.DecisionThreshold)
	}

	// A record with a NaN probability is skipped; an empty window has no
	// defined metric.
	skip := EstimateMulticlass(identityMC(), append(slices.Clone(window), math.NaN(), 0.5, 0.5))
	if skip.Records != 4 || !nearTol(skip.Accuracy, e.Accuracy, 1e-15) {
		t.Errorf("NaN record counted: %d records, accuracy %v", skip.Records, skip.Accuracy)
	}
	if empty := EstimateMulticlass(identityMC(), nil); !math.IsNaN(empty.Accuracy) || !math.IsNaN(empty.AUC) {
		t.Errorf("empty window: accuracy %v, AUC %v", empty.Accuracy, empty.AUC)
	}
}

// TestMulticlassCalibrateNormalises checks that the calibrated one-vs-rest
// probabilities are normalised to sum 1.
func TestMulticlassCalibrateNormalises(t *testing.T) {
	mc := identityMC()
	mc.Calibrators[0] = &Calibrator{X: []float64{0, 1}, Y: []float64{0, 0.5}} // halves class a
	dst := make([]float64, 3)
	if !mc.Calibrate([]float64{0.7, 0.2, 0.1}, dst) {
		t.Fatal("not calibrated")
	}
	want := []float64{0.35 / 0.65, 0.2 / 0.65, 0.1 / 0.65}
	for i := range want {
		if !nearTol(dst[i], want[i], 1e-12) {
			t.Fatalf("calibrated %v, want %v", dst, want)
		}
	}
}

// TestFitMulticlass checks the one-vs-rest calibrators against FitIsotonic
// on each class's indicator, the bounded reference sample, and the error
// when a class has no validation row.
func TestFitMulticlass(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3000
	proba, labels := make([]float64, 0, 3*n), make([]float64, n)
	for i := range n {
		a, b := rng.Float64(), rng.Float64()
		c := 1 + rng.Float64()
		s := a + b + c
		p := []float64{a / s, b / s, c / s}
		proba = append(proba, p...)
		u := rng.Float64()
		switch {
		case u < p[0]:
			labels[i] = 0
		case u < p[0]+p[1]:
			labels[i] = 1
		default:
			labels[i] = 2
		}
	}
	mc, err := FitMulticlass([]string{"a", "b", "c"}, proba, labels)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Rows != n || len(mc.Reference) != 3*MulticlassReferenceRows {
		t.Fatalf("%d rows, %d reference values", mc.Rows, len(mc.Reference))
	}
	score, hit := make([]float64, n), make([]float64, n)
	for i := range n {
		score[i], hit[i] = proba[i*3+1], b2f(labels[i] == 1)
	}
	want, _ := FitIsotonic(score, hit)
	if !slices.Equal(mc.Calibrators[1].X, want.X) || !slices.Equal(mc.Calibrators[1].Y, want.Y) {
		t.Errorf("class b calibrator differs from FitIsotonic on its indicator")
	}
	for i := range labels {
		if labels[i] == 2 {
			labels[i] = 1
		}
	}
	if _, err := FitMulticlass([]string{"a", "b", "c"}, proba, labels); err == nil || !strings.Contains(err.Error(), `class "c"`) {
		t.Errorf("no row of class c: err %v", err)
	}
}

// mcProfile is a profile of one numeric feature with a multiclass
// calibration whose reference vectors are confident ones.
func mcProfile(t *testing.T) *Profile {
	t.Helper()
	x := make([]float64, 500)
	for i := range x {
		x[i] = float64(i % 50)
	}
	p, err := BuildProfile([]Column{numCol("x", x...)}, x, ProfileOptions{BandChunks: -1, PCAVariance: -1})
	if err != nil {
		t.Fatal(err)
	}
	mc := identityMC()
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		mc.Reference = append(mc.Reference, confident(rng)...)
	}
	p.Multiclass = mc
	return p
}

// confident draws a probability vector whose top class has 0.8–0.9.
func confident(rng *rand.Rand) []float64 {
	top := 0.8 + 0.1*rng.Float64()
	v := []float64{(1 - top) / 2, (1 - top) / 2, (1 - top) / 2}
	v[rng.IntN(3)] = top
	return v
}

// TestMonitorMulticlass proves the monitor estimates a multiclass window
// from the probabilities given to ObserveProba (the records left out of
// the window not counted), exports the gauges, sets no drop on windows
// like the reference and a drop on a window of unsure predictions, and
// skips records observed without probabilities.
func TestMonitorMulticlass(t *testing.T) {
	set := metrics.NewSet()
	m, err := NewMonitor(mcProfile(t), MonitorOptions{Model: "mc", WindowSize: 400, CheckInterval: 100000, MinWindow: 10, Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	var window []float64
	for i := range 600 {
		p := confident(rng)
		if i < 200 {
			p = []float64{0.34, 0.33, 0.33} // leaves the window
		}
		if i >= 200 {
			window = append(window, p...)
		}
		m.ObserveProba([]float64{float64(i % 50)}, nil, slices.Max(p), p)
	}
	ev := m.Check()
	e := ev.Estimated
	if e == nil {
		t.Fatal("no estimate")
	}
	want := EstimateMulticlass(m.p.Multiclass, window)
	if e.Records != 400 || !nearTol(e.Accuracy, want.Accuracy, 1e-12) || !nearTol(e.AUC, want.AUC, 1e-12) {
		t.Fatalf("estimated %d records, accuracy %v, AUC %v; want 400, %v, %v", e.Records, e.Accuracy, e.AUC, want.Accuracy, want.AUC)
	}
	if e.Band == nil || e.Drop {
		t.Fatalf("band %+v, drop %v on a window like the reference", e.Band, e.Drop)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, name := range []string{`driftd_model_estimated_auc{model="mc"}`, `driftd_model_estimated_accuracy{model="mc"}`, `driftd_model_estimated_performance_drop{model="mc"} 0`} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("%s not exported:\n%s", name, buf.String())
		}
	}
	// Unsure predictions: the expected accuracy falls below the band.
	for i := range 400 {
		top := 0.4 + 0.1*rng.Float64()
		p := []float64{(1 - top) / 2, (1 - top) / 2, (1 - top) / 2}
		p[i%3] = top
		m.ObserveProba([]float64{1}, nil, top, p)
	}
	if ev := m.Check(); ev.Estimated == nil || !ev.Estimated.Drop || ev.Estimated.Accuracy > 0.5 {
		t.Fatalf("unsure window: %+v, want a drop", ev.Estimated)
	}
	// Records without probabilities count in the window, not in CBPE.
	for range 100 {
		m.Observe([]float64{1}, nil, 0.9)
	}
	if ev := m.Check(); ev.WindowRecords != 400 || ev.Estimated.Records != 300 {
		t.Fatalf("window %d records, estimate of %d: want 400 and 300", ev.WindowRecords, ev.Estimated.Records)
	}
}

// BenchmarkMulticlassCBPE measures the checker's cost per record of a
// multiclass estimate (3 classes, 10,000 records, band cached).
func BenchmarkMulticlassCBPE(b *testing.B) {
	mc := identityMC()
	rng := rand.New(rand.NewPCG(1, 1))
	window := make([]float64, 0, 30000)
	for range 10000 {
		window = append(window, confident(rng)...)
	}
	var s mcScratch
	b.ResetTimer()
	for range b.N {
		s.estimate(mc, window)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/record")
}
