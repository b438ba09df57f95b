package drift

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func TestMonitorChecksAndMetrics(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	ref := genData(rng, 3000, 0)
	preds := make([]float64, 3000)
	for i := range preds {
		preds[i] = rng.Float64()
	}
	p, err := BuildProfile(ref, preds, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := metrics.NewSet()
	// Fixed thresholds: the first check at MinWindow, not at the bands' ready size.
	m, err := NewMonitor(p, MonitorOptions{Model: `fraud"x`, Version: "3", WindowSize: 500, CheckInterval: 100, MinWindow: 300,
		Metrics: set, Now: func() time.Time { return time.Unix(100, 0) }, Thresholds: RuleFixed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if s := m.Snapshot(); s.WindowRecords != 0 || s.Features != nil {
		t.Fatalf("snapshot before the first check: %+v", s)
	}
	// A second monitor on the same set does not panic (GetOrCreate).
	if _, err := NewMonitor(p, MonitorOptions{Model: `fraud"x`, Metrics: set}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	cancel := m.Subscribe(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	cur := genData(rng, 1000, 1.5)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			num, cat := make([]float64, 4), make([]string, 4)
			for i := g; i < 1000; i += 4 {
				row(cur, i, num, cat)
				m.Observe(num, cat, 0.99)
			}
		}(g)
	}
	wg.Wait()
	m.Flush() // the checks handed over reach the subscriber before cancel
	cancel()
	num, cat := make([]float64, 4), make([]string, 4)
	for i := 0; i < 200; i++ {
		m.Observe(num, cat, 0.5)
	}
	m.Flush()
	// Checks at 300, 400, …, 1000 records while subscribed: 8; none after cancel.
	if len(events) != 8 {
		t.Fatalf("%d events, want 8", len(events))
	}
	e := events[len(events)-1]
	if e.Model != `fraud"x` || e.Version != "3" || e.WindowRecords != 500 || !e.Time.Equal(time.Unix(100, 0)) {
		t.Errorf("event header %+v", e)
	}
	if !e.DatasetDrift || e.MaxPSI < 0.25 || !e.Retrain || !e.Alert || e.PredictionPSI < 1 {
		t.Errorf("shifted data: %+v, want dataset drift, retrain, alert and prediction drift", e)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		`driftd_feature_psi{model="fraud\"x",feature="a"} `, `driftd_feature_psi{model="fraud\"x",feature="cat"} `,
		`driftd_prediction_psi{model="fraud\"x"} `, `driftd_drift_share{model="fraud\"x"} `,
		`driftd_drifted_features{model="fraud\"x"} `, `driftd_drift_checks_total{model="fraud\"x"} 10`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
}

func TestMonitorTumbling(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	ref := genData(rng, 2000, 0)
	p, _ := BuildProfile(ref, nil, ProfileOptions{SummarySize: 5000}) // exact summary
	// The first record comes 10s into the period [1020s, 1080s): the window
	// is that period, not the minute from the first record.
	start := time.Unix(1020, 0)
	now := start.Add(10 * time.Second)
	m, err := NewMonitor(p, MonitorOptions{Model: "m", Tumbling: time.Minute, MinWindow: 10, WindowSize: 1000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	var events []Event
	m.Subscribe(func(e Event) { events = append(events, e) })
	num, cat := make([]float64, 4), make([]string, 4)
	for i := 0; i < 120; i++ { // 120 records in the first period
		row(ref, i, num, cat)
		m.Observe(num, cat, 0)
		now = now.Add(400 * time.Millisecond)
	}
	m.Tick(start.Add(time.Minute - time.Nanosecond))
	m.Flush()
	if len(events) != 0 {
		t.Fatalf("%d events inside the first period", len(events))
	}
	now = start.Add(time.Minute) // the period's end, 50s after its first record
	m.Tick(now)
	if len(events) != 1 || events[0].WindowRecords != 120 {
		t.Fatalf("events %+v, want one check of 120 records", events)
	}
	rep, err := Compare(ref, sliceCols(ref, 0, 120), ProfileOptions{}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range rep.Features {
		if got := events[0].Features[k]; got.Test != want.Test || !closeTo(got.Statistic, want.Statistic, 1e-12) || !closeTo(got.PSI, want.PSI, 1e-12) {
			t.Errorf("tumbling window %+v, batch %+v", got, want)
		}
	}
	for i := 0; i < 5; i++ { // too few records for the next period
		m.Observe(num, cat, 0)
	}
	m.Tick(now.Add(2 * time.Minute))
	m.Flush()
	if len(events) != 1 {
		t.Fatalf("a window below MinWindow was checked: %d events", len(events))
	}
}

func TestCheckOnEmptyWindow(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	m, _ := NewMonitor(p, MonitorOptions{Model: "m"})
	published := 0
	m.Subscribe(func(Event) { published++ })
	if ev := m.Check(); ev.Features != nil || ev.WindowRecords != 0 || published != 0 {
		t.Fatalf("check of an empty window: %+v, %d published", ev, published)
	}
	m.Observe([]float64{1}, nil, 0)
	if ev := m.Check(); len(ev.Features) != 1 || published != 1 {
		t.Fatalf("check of one record: %+v, %d published", ev, published)
	}
}

func TestObserveShortRecordCountsMissing(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3), catCol("c", "x", "y", "x")}, nil, ProfileOptions{})
	m, _ := NewMonitor(p, MonitorOptions{WindowSize: 2, MinWindow: 2, CheckInterval: 2})
	m.Observe(nil, nil, 0)
	m.Observe([]float64{2}, nil, 0)
	m.Flush()
	ev := m.Snapshot()
	if ev.WindowRecords != 2 || ev.Features[0].MissingRate != 0.5 || ev.Features[1].MissingRate != 1 {
		t.Fatalf("short records: %+v", ev.Features)
	}
}

func TestObserveLabelPerformance(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	set := metrics.NewSet()
	m, _ := NewMonitor(p, MonitorOptions{Model: "m", Environment: "production", LabelWindow: 4, PositiveClass: "yes", Metrics: set})
	// scores/labels: AUC over the last 4 = pairs (pos, neg) ranked right / all.
	for _, l := range []struct {
		score             float64
		predicted, actual string
	}{{0.9, "yes", "no"}, {0.8, "yes", "yes"}, {0.3, "no", "no"}, {0.7, "yes", "yes"}, {0.2, "no", "yes"}} {
		m.ObserveLabel(l.score, l.predicted, l.actual)
	}
	perf := m.Performance()
	// window: (0.8,yes,yes) (0.3,no,no) (0.7,yes,yes) (0.2,no,yes): 3 correct of 4.
	// positives 0.8, 0.7, 0.2; negative 0.3: pairs won 2 of 3.
	if perf.Labels != 5 || perf.Window != 4 || perf.Accuracy != 0.75 || math.Abs(perf.AUC-2.0/3) > 1e-15 {
		t.Errorf("performance %+v, want 5 labels, window 4, accuracy 0.75, AUC 2/3", perf)
	}
	r, _ := NewMonitor(p, MonitorOptions{Model: "r", Environment: "staging", LabelWindow: 2, Metrics: set})
	r.ObserveValue(1, 2)
	r.ObserveValue(3, 3)
	r.ObserveValue(5, 1) // window: errors 0, 4
	if got := r.Performance().RMSE; math.Abs(got-math.Sqrt(8)) > 1e-12 {
		t.Errorf("rmse %v, want %v", got, math.Sqrt(8))
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, want := range []string{`driftd_model_accuracy{model="m",environment="production"} 0.75`,
		`driftd_model_rmse{model="r",environment="staging"} 2.828`, `driftd_model_labels_total{model="m"} 5`,
		`driftd_model_auc{model="m",environment="production"} 0.666`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

func TestNewMonitorBadOptions(t *testing.T) {
	p, _ := BuildProfile([]Column{numCol("a", 1, 2, 3)}, nil, ProfileOptions{})
	for _, o := range []MonitorOptions{
		{WindowSize: 10, MinWindow: 20}, {Test: "t-test"}, {DriftShare: 2}, {WindowSize: -1}, {Tumbling: -time.Second},
	} {
		if _, err := NewMonitor(p, o); err == nil {
			t.Errorf("NewMonitor(%+v) succeeded", o)
		}
	}
	if _, err := NewMonitor(nil, MonitorOptions{}); err == nil {
		t.Error("nil profile accepted")
	}
}

// TestConcurrentChecksKeepWindowExact observes from several goroutines with
// a check every few records (evaluations overlap the next records' window
// updates), then replaces the whole window sequentially: the check must
// equal the batch computation of exactly those records.
func TestConcurrentChecksKeepWindowExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ref := genData(rng, 2000, 0)
	p, err := BuildProfile(ref, nil, ProfileOptions{SummarySize: 5000}) // exact summary
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMonitor(p, MonitorOptions{Model: "m", WindowSize: 500, CheckInterval: 7, MinWindow: 50})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	published := 0
	m.Subscribe(func(e Event) {
		mu.Lock()
		published++
		mu.Unlock()
		for _, f := range e.Features {
			if math.IsNaN(f.Statistic) {
				t.Errorf("feature %s: NaN statistic in a concurrent check", f.Name)
			}
		}
	})
	noise := genData(rng, 4000, 0.7)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			num, cat := make([]float64, 4), make([]string, 4)
			for i := g; i < 4000; i += 4 {
				row(noise, i, num, cat)
				m.Observe(num, cat, 0)
			}
		})
	}
	wg.Wait()
	m.Flush()
	if published < 400 {
		t.Fatalf("%d checks published, want at least 400", published)
	}
	cur := genData(rng, 500, 0.3)
	num, cat := make([]float64, 4), make([]string, 4)
	for i := 0; i < 500; i++ {
		row(cur, i, num, cat)
		m.Observe(num, cat, 0)
	}
	ev := m.Check()
	rep, err := Compare(ref, cur, ProfileOptions{}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range rep.Features {
		if got := ev.Features[k]; got.Test != want.Test || !closeTo(got.Statistic, want.Statistic, 1e-12) || !closeTo(got.PSI, want.PSI, 1e-12) {
			t.Errorf("feature %s: window %+v, batch %+v", want.Name, got, want)
		}
	}
	if s := m.Snapshot(); s.WindowRecords != 500 || s.Features[0].Statistic != ev.Features[0].Statistic {
		t.Errorf("snapshot %+v is not the last check", s)
	}
}
