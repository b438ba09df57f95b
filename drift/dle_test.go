package drift

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// stubLoss predicts |x| and x² of the first feature, plus 1 on both when
// the second (categorical) feature is "hi": a loss model whose output a
// test can work out by hand.
type stubLoss struct{ calls int }

func (s *stubLoss) Losses(num []float64, cat []string, prediction float64) (float64, float64) {
	s.calls++
	a, q := math.Abs(num[0]), num[0]*num[0]
	if cat[1] == "hi" {
		a, q = a+1, q+1
	}
	return a, q
}

// dleProfile is a profile of a numeric x ~ N(0, 1) and a categorical c
// with the DLE reference of stubLoss on its rows.
func dleProfile(t *testing.T) *Profile {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	n := 4000
	x, c := make([]float64, n), make([]string, n)
	abs, sq := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i], c[i] = rng.NormFloat64(), "lo"
		abs[i], sq[i] = math.Abs(x[i]), x[i]*x[i]
	}
	p, err := BuildProfile([]Column{numCol("x", x...), catCol("c", c...)}, x, ProfileOptions{BandChunks: -1, PCAVariance: -1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Loss, err = NewLossReference(abs, sq, x); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMonitorDLE proves the monitor's estimated MAE and RMSE are the mean
// predicted absolute error and the root of the mean predicted squared
// error over exactly the window's records (categories passed through),
// exported with their drop flag; that a window like the reference stays
// in the band and one with larger errors leaves it.
func TestMonitorDLE(t *testing.T) {
	set := metrics.NewSet()
	est := &stubLoss{}
	m, err := NewMonitor(dleProfile(t), MonitorOptions{Model: "reg", WindowSize: 1000, CheckInterval: 100000, MinWindow: 10, Metrics: set, Loss: est})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var sa, ss float64
	for i := range 1500 {
		x, c := rng.NormFloat64(), "lo"
		if i%10 == 0 {
			c = "hi"
		}
		a, q := math.Abs(x), x*x
		if c == "hi" {
			a, q = a+1, q+1
		}
		if i >= 500 { // the window's records
			sa += a
			ss += q
		}
		m.Observe([]float64{x, math.NaN()}, []string{"", c}, 0)
	}
	ev := m.Check()
	l := ev.EstimatedLoss
	if l == nil {
		t.Fatal("no DLE estimate")
	}
	if l.Records != 1000 || !nearTol(l.MAE, sa/1000, 1e-12) || !nearTol(l.RMSE, math.Sqrt(ss/1000), 1e-12) {
		t.Fatalf("estimate %+v, want 1000 records, MAE %v, RMSE %v", *l, sa/1000, math.Sqrt(ss/1000))
	}
	if est.calls != 1000 {
		t.Errorf("loss estimator called %d times, want once per window record (1000)", est.calls)
	}
	if l.Band == nil || l.CalibrationRecords != 4000 || !(l.ReferenceRMSE > 0.9 && l.ReferenceRMSE < 1.1) {
		t.Fatalf("band %+v, reference %d rows RMSE %v", l.Band, l.CalibrationRecords, l.ReferenceRMSE)
	}
	// One record in ten is "hi" (+1): the errors are larger than the
	// reference's, beyond the band of 1,000 records.
	if !l.Drop {
		t.Errorf("MAE %v (band %+v) with a tenth of the records at +1: no drop", l.MAE, l.Band.MAE)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, name := range []string{`driftd_model_estimated_mae{model="reg"}`, `driftd_model_estimated_rmse{model="reg"}`, `driftd_model_estimated_performance_drop{model="reg"} 1`} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("%s not exported:\n%s", name, buf.String())
		}
	}
	// A window like the reference: inside the band.
	for range 1000 {
		m.Observe([]float64{rng.NormFloat64(), 0}, []string{"", "lo"}, 0)
	}
	if ev := m.Check(); ev.EstimatedLoss.Drop || ev.EstimatedLoss.Records != 1000 {
		t.Fatalf("reference-like window: %+v", *ev.EstimatedLoss)
	}
	js, err := json.Marshal(m.Snapshot())
	if err != nil || !bytes.Contains(js, []byte(`"estimated_loss":{`)) {
		t.Errorf("event JSON %s: %v", js, err)
	}

	// Without a loss estimator, or a profile without a reference: no DLE.
	for _, o := range []MonitorOptions{{WindowSize: 100, MinWindow: 10}, {WindowSize: 100, MinWindow: 10, Loss: est}} {
		p := dleProfile(t)
		if o.Loss != nil {
			p.Loss = nil
		}
		plain, err := NewMonitor(p, o)
		if err != nil {
			t.Fatal(err)
		}
		plain.Observe([]float64{1}, []string{"", "lo"}, 0)
		if ev := plain.Check(); ev.EstimatedLoss != nil {
			t.Errorf("estimate %+v without loss models", *ev.EstimatedLoss)
		}
		plain.Close()
	}
}

// TestMonitorDLETumbling proves a tumbling window's estimate covers that
// window's records only.
func TestMonitorDLETumbling(t *testing.T) {
	now := time.Unix(1000, 0)
	m, err := NewMonitor(dleProfile(t), MonitorOptions{WindowSize: 50, MinWindow: 5, Tumbling: time.Minute, Loss: &stubLoss{},
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var got []*EstimatedLoss
	m.Subscribe(func(ev Event) { got = append(got, ev.EstimatedLoss) })
	for range 20 {
		m.Observe([]float64{3, 0}, []string{"", "lo"}, 0)
	}
	now = now.Add(time.Minute)
	for range 10 {
		m.Observe([]float64{-0.5, 0}, []string{"", "lo"}, 0) // the first closes the window
	}
	now = now.Add(time.Minute)
	m.Tick(now)
	m.Flush()
	if len(got) != 2 || got[0].Records != 20 || got[0].MAE != 3 || got[1].Records != 10 || got[1].MAE != 0.5 || got[1].RMSE != 0.5 {
		for _, g := range got {
			t.Logf("%+v", *g)
		}
		t.Fatalf("%d tumbling estimates, want 2: 20 records at MAE 3, then 10 at MAE and RMSE 0.5", len(got))
	}
}

// TestDLEBandFalseAlarms draws windows from the reference distribution
// and counts drops: the mean ± 3σ band of windows of that size should
// flag almost none.
func TestDLEBandFalseAlarms(t *testing.T) {
	p := dleProfile(t)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{200, 1000, 5000} {
		drops := 0
		for range 100 {
			abs, sq := make([]float64, n), make([]float64, n)
			for i := range abs {
				x := rng.NormFloat64()
				abs[i], sq[i] = math.Abs(x), x*x
			}
			e := EstimateLoss(p.Loss, abs, sq)
			b, ok := lossBand(p.Loss, bandSize(n))
			if !ok {
				t.Fatal("no band")
			}
			if e.MAE > b.MAE.Hi || e.RMSE > b.RMSE.Hi {
				drops++
			}
		}
		if drops > 2 {
			t.Errorf("windows of %d: %d of 100 reference windows dropped, want at most 2", n, drops)
		}
		// The band narrows as 1/√n.
		b, _ := lossBand(p.Loss, n)
		if w := b.RMSE.Hi - b.RMSE.Lo; w <= 0 || w > 6*1.5/math.Sqrt(float64(n)) {
			t.Errorf("windows of %d: RMSE band %+v is %v wide", n, b.RMSE, w)
		}
	}
}

// TestNewLossReference checks the realised errors, the clipping of
// negative predicted losses, the bound on the rows kept and that rows
// with a non-finite prediction are left out.
func TestNewLossReference(t *testing.T) {
	r, err := NewLossReference([]float64{-1, 2, math.NaN()}, []float64{4, -3, 1}, []float64{3, -4, 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 3 || !nearTol(r.MAE, 8.0/3, 1e-12) || !nearTol(r.RMSE, math.Sqrt(26.0/3), 1e-12) {
		t.Errorf("realised %+v", r)
	}
	if len(r.Abs) != 2 || r.Abs[0] != 0 || r.Sq[1] != 0 {
		t.Errorf("predicted losses %v, %v: want the two finite rows, clipped at 0", r.Abs, r.Sq)
	}
	big := make([]float64, 3*LossReferenceRows)
	r, _ = NewLossReference(big, big, big)
	if len(r.Abs) != LossReferenceRows {
		t.Errorf("%d rows kept, want %d", len(r.Abs), LossReferenceRows)
	}
	if _, err := NewLossReference([]float64{1}, []float64{1, 2}, []float64{1}); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

// BenchmarkMonitorDLE measures what DLE adds to Observe (the scoring
// path: copying the record into the ring) against a monitor without it,
// and the checker's cost per record with a loss estimator of two small
// lookups (the real one is two GBDTs: see server/flows BenchmarkLossEstimator).
func BenchmarkMonitorDLE(b *testing.B) {
	p := testProfile(b)
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 5000)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	p.Loss, _ = NewLossReference(x, x, x)
	rows := genData(rng, 1000, 0)
	num := make([][]float64, 1000)
	cat := make([][]string, 1000)
	for r := range 1000 {
		num[r] = make([]float64, len(p.Features))
		cat[r] = make([]string, len(p.Features))
		for j := range p.Features {
			if rows[j].Categorical {
				if c := rows[j].Codes[r]; c >= 0 {
					cat[r][j] = rows[j].Levels[c]
				}
			} else {
				num[r][j] = rows[j].Values[r]
			}
		}
	}
	for _, bc := range []struct {
		name string
		loss LossEstimator
	}{{"without", nil}, {"with", lookupLoss{}}} {
		b.Run("observe/"+bc.name, func(b *testing.B) {
			m, err := NewMonitor(p, MonitorOptions{WindowSize: 10000, CheckInterval: 1 << 30, MinWindow: 10, Loss: bc.loss})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m.Observe(num[i%1000], cat[i%1000], 0.5)
			}
		})
	}
	b.Run("scoring-path", func(b *testing.B) {
		// DLE's share of Observe alone: the record copied into the ring.
		m, err := NewMonitor(p, MonitorOptions{WindowSize: 10000, CheckInterval: 1 << 30, MinWindow: 10, Loss: lookupLoss{}})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			m.dle.add(num[i%1000], cat[i%1000], 0.5)
		}
	})
	b.Run("check/with", func(b *testing.B) {
		m, err := NewMonitor(p, MonitorOptions{WindowSize: 10000, CheckInterval: 1 << 30, MinWindow: 10, Loss: lookupLoss{}})
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		for i := range 10000 {
			m.Observe(num[i%1000], cat[i%1000], 0.5)
		}
		m.Check()
		b.ResetTimer()
		for i := range b.N {
			m.Observe(num[i%1000], cat[i%1000], 0.5)
			if i%1000 == 999 {
				m.Check()
			}
		}
	})
}

// lookupLoss is a loss estimator of trivial cost.
type lookupLoss struct{}

func (lookupLoss) Losses(num []float64, cat []string, prediction float64) (float64, float64) {
	return math.Abs(prediction), prediction * prediction
}
