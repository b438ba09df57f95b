package flows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/drift"
	"driftd/train"
)

// hetero describes how rows are drawn: x0, x1, x2 ~ N(0, 1) and x3 ~
// N(mean3, sd3); y = 2·x0 + x1² + sin(2·x2) + ε with ε ~ N(0, (0.3 +
// 0.7·|x3|)²): the noise depends on x3, so shifting x3 changes the error
// the model makes without changing what it should predict.
type hetero struct {
	name       string
	mean3, sd3 float64
	mean0      float64
}

func heteroData(rng *rand.Rand, h hetero, n int) *train.Dataset {
	ds := &train.Dataset{Rows: n, Target: make([]float64, n)}
	for j := range 4 {
		ds.Names = append(ds.Names, fmt.Sprintf("x%d", j))
		ds.Kinds = append(ds.Kinds, train.Numeric)
		ds.Num = append(ds.Num, make([]float64, n))
		ds.Codes = append(ds.Codes, nil)
		ds.Levels = append(ds.Levels, nil)
	}
	for i := range n {
		x0, x1, x2 := h.mean0+rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		x3 := h.mean3 + h.sd3*rng.NormFloat64()
		ds.Num[0][i], ds.Num[1][i], ds.Num[2][i], ds.Num[3][i] = x0, x1, x2, x3
		ds.Target[i] = 2*x0 + x1*x1 + math.Sin(2*x2) + (0.3+0.7*math.Abs(x3))*rng.NormFloat64()
	}
	return ds
}

// heteroModel trains the regression model and its loss models on the
// reference distribution.
func heteroModel(t testing.TB, rng *rand.Rand) (*train.Model, *LossModels, *drift.LossReference) {
	t.Helper()
	ref := hetero{"reference", 0, 1, 0}
	tr, va := heteroData(rng, ref, 20000), heteroData(rng, ref, 10000)
	p := train.DefaultParams()
	p.Objective, p.Rounds, p.EarlyStopping, p.Seed, p.Threads = "regression", 300, 20, 1, 2
	m, err := train.Train(context.Background(), tr, va, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := train.Predict(m, va)
	if err != nil {
		t.Fatal(err)
	}
	lm, lref, err := FitLossModels(context.Background(), va, pr.Score)
	if err != nil {
		t.Fatal(err)
	}
	return m, lm, lref
}

// TestDLEHeteroscedastic trains a regression GBDT on data whose noise
// grows with |x3|, fits the loss models on its validation set, and
// compares the estimated RMSE and MAE with the realised ones on windows of
// 5,000 records whose x3 (and x0) distributions shift, moving the realised
// RMSE from about 0.55 to about 1.45. The estimated RMSE tracks the
// realised one within 15% and the MAE within 8% (measured: 12.4% and
// 6.7% at worst; the RMSE is hardest where the noise is smallest, x3 near
// 0, and where x0 leaves the reference's range and the loss model
// extrapolates; go test -run DLEHeteroscedastic -v ./server/flows/ logs
// the numbers). The windows also go through a drift.Monitor with the
// loss models adapted by Estimator, which must agree with the direct
// computation and flag the windows whose error left the band.
func TestDLEHeteroscedastic(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	const window = 5000
	rng := rand.New(rand.NewPCG(16, 7))
	m, lm, lref := heteroModel(t, rng)
	names := []string{"x0", "x1", "x2", "x3"}
	est, err := lm.Estimator(names, make([]bool, 4))
	if err != nil {
		t.Fatal(err)
	}
	prof, err := drift.BuildProfile([]drift.Column{{Name: "x0", Values: []float64{0, 1}}, {Name: "x1", Values: []float64{0, 1}},
		{Name: "x2", Values: []float64{0, 1}}, {Name: "x3", Values: []float64{0, 1}}}, nil, drift.ProfileOptions{BandChunks: -1, PCAVariance: -1})
	if err != nil {
		t.Fatal(err)
	}
	prof.Loss = lref
	shifts := []hetero{
		{"reference", 0, 1, 0},
		{"x3 sd 0.3 (quiet)", 0, 0.3, 0},
		{"x3 mean +1", 1, 1, 0},
		{"x3 mean -1.5, sd 0.5", -1.5, 0.5, 0},
		{"x0 mean +1, x3 mean +0.5", 0.5, 1, 1},
	}
	var maxRel, maxRelMAE float64
	var rmses []float64
	for _, s := range shifts {
		for rep := range 2 {
			w := heteroData(rng, s, window)
			pr, err := train.Predict(m, w)
			if err != nil {
				t.Fatal(err)
			}
			mon, err := drift.NewMonitor(prof, drift.MonitorOptions{WindowSize: window, MinWindow: 10, CheckInterval: 1 << 30, Loss: est, Thresholds: drift.RuleFixed})
			if err != nil {
				t.Fatal(err)
			}
			var sa, ss float64
			num := make([]float64, 4)
			for i := range w.Rows {
				for j := range 4 {
					num[j] = w.Num[j][i]
				}
				d := w.Target[i] - pr.Score[i]
				sa += math.Abs(d)
				ss += d * d
				mon.Observe(num, nil, pr.Score[i])
			}
			e := mon.Check().EstimatedLoss
			mon.Close()
			realMAE, realRMSE := sa/window, math.Sqrt(ss/window)
			rel, relMAE := e.RMSE/realRMSE-1, e.MAE/realMAE-1
			t.Logf("%-26s rep %d: RMSE realised %.4f estimated %.4f (%+.1f%%)   MAE realised %.4f estimated %.4f (%+.1f%%)   band RMSE ≤ %.4f drop %v",
				s.name, rep, realRMSE, e.RMSE, 100*rel, realMAE, e.MAE, 100*relMAE, e.Band.RMSE.Hi, e.Drop)
			maxRel, maxRelMAE = math.Max(maxRel, math.Abs(rel)), math.Max(maxRelMAE, math.Abs(relMAE))
			rmses = append(rmses, realRMSE)
			if s.name == "reference" && e.Drop {
				t.Errorf("reference window flagged as a drop: RMSE %.4f, band %+v", e.RMSE, e.Band.RMSE)
			}
			if s.name == "x3 mean +1" && !e.Drop {
				t.Errorf("window with x3 shifted by +1 (RMSE %.4f) not flagged: band %+v", realRMSE, e.Band.RMSE)
			}
		}
	}
	lo, hi := rmses[0], rmses[0]
	for _, r := range rmses {
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	t.Logf("realised RMSE spans %.4f–%.4f; largest relative gap: RMSE %.1f%%, MAE %.1f%%", lo, hi, 100*maxRel, 100*maxRelMAE)
	if hi/lo < 2 {
		t.Fatalf("the shifts move RMSE from %.4f to %.4f only, want a factor of 2", lo, hi)
	}
	const tolRMSE, tolMAE = 0.15, 0.08
	if maxRel > tolRMSE || maxRelMAE > tolMAE {
		t.Fatalf("estimates off by RMSE %.1f%%, MAE %.1f%%: want within %.0f%% and %.0f%%", 100*maxRel, 100*maxRelMAE, 100*tolRMSE, 100*tolMAE)
	}
}

// TestLossModelsRoundTrip encodes the loss models and decodes them to
// models that predict the same losses, and refuses corrupt input.
func TestLossModelsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	va := heteroData(rng, hetero{"reference", 0, 1, 0}, 2000)
	pred := make([]float64, va.Rows) // the true mean: the error is the noise
	for i := range pred {
		pred[i] = 2*va.Num[0][i] + va.Num[1][i]*va.Num[1][i] + math.Sin(2*va.Num[2][i])
	}
	lm, ref, err := FitLossModels(context.Background(), va, pred)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Rows != 2000 || len(ref.Abs) != 2000 || lm.Prediction != "prediction" {
		t.Fatalf("reference of %d rows (%d kept), prediction input %q", ref.Rows, len(ref.Abs), lm.Prediction)
	}
	b, err := lm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeLossModels(b)
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := lm.Estimator([]string{"x3", "x0"}, []bool{false, false})
	e2, _ := back.Estimator([]string{"x3", "x0"}, []bool{false, false})
	for _, x := range [][2]float64{{0, 0}, {2, 1}, {-1.5, math.NaN()}} {
		a1, s1 := e1.Losses(x[:], nil, 1)
		a2, s2 := e2.Losses(x[:], nil, 1)
		if a1 != a2 || s1 != s2 || math.IsNaN(a1) {
			t.Fatalf("losses at %v: %v, %v before and %v, %v after the round trip", x, a1, s1, a2, s2)
		}
	}
	// The noise grows with |x3|: so does the predicted loss (0.24 at x3 =
	// 0, 1.4 at 2.5 for the noise alone).
	lo, _ := e1.Losses([]float64{0, 0}, nil, 0)
	hi, _ := e1.Losses([]float64{2.5, 0}, nil, 0)
	if hi < 2.5*lo {
		t.Errorf("predicted |error| %v at x3 = 2.5, %v at 0: the loss model missed the heteroscedasticity", hi, lo)
	}
	for _, bad := range [][]byte{nil, []byte("DLE1"), b[:len(b)-1], append(bytes.Clone(b), 0), append([]byte("XLE1"), b[4:]...)} {
		if _, err := DecodeLossModels(bad); !errors.Is(err, ErrLossModels) {
			t.Errorf("decode %d bytes: err %v, want ErrLossModels", len(bad), err)
		}
	}
	if _, err := lm.Estimator([]string{"x0"}, []bool{true}); err == nil {
		t.Error("a numeric input taken for a categorical profile feature")
	}
}

// FuzzDecodeLossModels checks DecodeLossModels never panics and that what
// it accepts re-encodes identically.
func FuzzDecodeLossModels(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 5))
	va := heteroData(rng, hetero{"reference", 0, 1, 0}, 300)
	lm, _, err := FitLossModels(context.Background(), va, va.Num[0])
	if err != nil {
		f.Fatal(err)
	}
	b, _ := lm.MarshalBinary()
	f.Add(b)
	f.Add(b[:40])
	f.Add([]byte("DLE1\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lm, err := DecodeLossModels(b)
		if err != nil {
			if !errors.Is(err, ErrLossModels) {
				t.Fatalf("error %v does not wrap ErrLossModels", err)
			}
			return
		}
		out, err := lm.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
		names := make([]string, 0, len(lm.Abs.Features()))
		kinds := make([]bool, 0, len(names))
		for _, f := range lm.Abs.Features() {
			names = append(names, f.Name)
			kinds = append(kinds, f.Kind == train.Categorical)
		}
		est, err := lm.Estimator(names, kinds)
		if err != nil {
			return
		}
		est.Losses(make([]float64, len(names)), make([]string, len(names)), 0)
	})
}

// TestTrainModelDLE trains a regression model through TrainModel and
// checks the model file carries loss models that decode and fit its drift
// profile, whose DLE reference has the validation rows; a model file from
// before DLE (the attachment removed) still loads, with no loss models.
func TestTrainModelDLE(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	ds := heteroData(rng, hetero{"reference", 0, 1, 0}, 1500)
	var sb strings.Builder
	sb.WriteString("x0,x1,x2,x3,y\n")
	for i := range ds.Rows {
		fmt.Fprintf(&sb, "%g,%g,%g,%g,%g\n", ds.Num[0][i], ds.Num[1][i], ds.Num[2][i], ds.Num[3][i], ds.Target[i])
	}
	path := filepath.Join(t.TempDir(), "reg.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := train.DefaultParams()
	p.Objective, p.Rounds = "regression", 30
	out, err := TrainModel(context.Background(), TrainSpec{Data: path, ValidFraction: 0.3, Seed: 1, Params: p,
		CSV: train.CSVOptions{Delimiter: ',', Target: "y"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Calibration, "loss models") || !strings.Contains(out.Calibration, "450 validation rows") {
		t.Errorf("calibration note %q", out.Calibration)
	}
	m, err := train.Decode(out.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := m.Attachment("drift.profile")
	prof, err := drift.DecodeProfile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if prof.Loss == nil || prof.Loss.Rows != 450 || prof.Calibration != nil || prof.Multiclass != nil {
		t.Fatalf("profile loss %+v, calibration %v, multiclass %v", prof.Loss, prof.Calibration, prof.Multiclass)
	}
	b, ok := m.Attachment(LossAttachment)
	if !ok {
		t.Fatal("no loss models in the model file")
	}
	lm, err := DecodeLossModels(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lm.Estimator(prof.FeatureNames(), make([]bool, len(prof.Features))); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLossEstimator measures the checker's cost per record of DLE:
// the two loss models (50 rounds of at most 31 leaves each) predicting
// one record through the drift.LossEstimator adapter, against the
// regression model's own prediction of the record (the scoring path's
// cost) in the same run.
func BenchmarkLossEstimator(b *testing.B) {
	rng := rand.New(rand.NewPCG(16, 7))
	m, lm, _ := heteroModel(b, rng)
	est, err := lm.Estimator([]string{"x0", "x1", "x2", "x3"}, make([]bool, 4))
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]float64, 1024)
	for i := range rows {
		rows[i] = []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	}
	cat := make([]string, 4)
	b.Run("losses", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			est.Losses(rows[i%1024], cat, 0.5)
		}
	})
	b.Run("model", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			m.PredictRow(rows[i%1024])
		}
	})
}
