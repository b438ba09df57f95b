package registry

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"
)

// point is a drift point at t with x1's PSI and a max over x1 and x2.
func point(t time.Time, x1 float64) DriftPoint {
	return DriftPoint{Time: t, Version: "1.0.0", WindowRecords: 100, MaxPSI: math.Max(x1, 0.01),
		Features: map[string]float64{"x1": x1, "x2": 0.01}, Alert: x1 > 0.25}
}

// TestDriftHistorySurvivesReopen: points appended are read back in time
// order after the file is closed and opened again.
func TestDriftHistorySurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pred := 0.07
	for i, x1 := range []float64{0.02, 0.3, 0.05} {
		p := point(t0.Add(time.Duration(i)*time.Minute), x1)
		p.PredictionPSI = &pred
		if i == 1 {
			p.Drifted = []string{"x1"}
			p.PredictionPSI = ptr(math.NaN())
		}
		if err := s.AppendDriftPoint(ctx, "churn", p, DriftHistoryOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 {
		t.Fatalf("%d points after reopen, want 3", len(pts))
	}
	if !pts[0].Time.Equal(t0) || pts[1].Features["x1"] != 0.3 || !pts[1].Alert || pts[0].Alert || pts[1].Drifted[0] != "x1" || pts[2].Points != 1 {
		t.Errorf("points = %+v", pts)
	}
	if pts[0].PredictionPSI == nil || *pts[0].PredictionPSI != 0.07 || pts[1].PredictionPSI != nil {
		t.Errorf("prediction PSI: a finite one kept, NaN dropped: %v %v", pts[0].PredictionPSI, pts[1].PredictionPSI)
	}
	// Other models have no history; an unknown model gives an empty list.
	if pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "other"}); err != nil || len(pts) != 0 || pts == nil {
		t.Errorf("other model: %v %v", pts, err)
	}
}

// TestDriftHistoryQuery covers since/until, the feature filter, and
// rejected queries.
func TestDriftHistoryQuery(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		p := point(t0.Add(time.Duration(i)*time.Minute), float64(i)/10)
		if i == 7 {
			p.Drifted = []string{"x1", "x2"}
		}
		if err := s.AppendDriftPoint(ctx, "churn", p, DriftHistoryOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		q         DriftHistoryQuery
		n         int
		firstX1   float64
		errField  string
		onlyX1    bool
		drifted7  int
		checkOnly bool
	}{
		{name: "all", q: DriftHistoryQuery{Model: "churn"}, n: 10, firstX1: 0, drifted7: 2},
		{name: "since", q: DriftHistoryQuery{Model: "churn", Since: t0.Add(5 * time.Minute)}, n: 5, firstX1: 0.5, drifted7: 2},
		{name: "since and until", q: DriftHistoryQuery{Model: "churn", Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, n: 2, firstX1: 0.2, checkOnly: true},
		{name: "one feature", q: DriftHistoryQuery{Model: "churn", Feature: "x1"}, n: 10, firstX1: 0, onlyX1: true, drifted7: 1},
		{name: "bad model", q: DriftHistoryQuery{Model: "no/such"}, errField: "model"},
		{name: "too many points", q: DriftHistoryQuery{Model: "churn", MaxPoints: 10001}, errField: "max_points"},
		{name: "until before since", q: DriftHistoryQuery{Model: "churn", Since: t0.Add(time.Hour), Until: t0}, errField: "until"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := s.DriftHistory(ctx, tc.q)
			if tc.errField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.errField || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want a field error on %s", err, tc.errField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != tc.n || pts[0].Features["x1"] != tc.firstX1 {
				t.Fatalf("%d points starting at x1=%v, want %d at %v", len(pts), pts[0].Features["x1"], tc.n, tc.firstX1)
			}
			if tc.onlyX1 && len(pts[0].Features) != 1 {
				t.Errorf("feature filter kept %v", pts[0].Features)
			}
			if tc.checkOnly {
				return
			}
			var at7 DriftPoint
			for _, p := range pts {
				if p.Time.Equal(t0.Add(7 * time.Minute)) {
					at7 = p
				}
			}
			if len(at7.Drifted) != tc.drifted7 {
				t.Errorf("drifted at 7 min = %v, want %d", at7.Drifted, tc.drifted7)
			}
		})
	}
}

// TestDriftHistoryBounded: points older than MaxAge and the oldest beyond
// MaxPoints are dropped on append.
func TestDriftHistoryBounded(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := DriftHistoryOptions{MaxAge: time.Hour, MaxPoints: 5}
	for i := 0; i < 8; i++ {
		if err := s.AppendDriftPoint(ctx, "churn", point(t0.Add(time.Duration(i)*time.Minute), 0.1), opts); err != nil {
			t.Fatal(err)
		}
	}
	pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 5 || !pts[0].Time.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("after 8 appends bounded to 5: %d points from %v", len(pts), pts[0].Time)
	}
	// The same time again replaces, not adds.
	if err := s.AppendDriftPoint(ctx, "churn", point(t0.Add(7*time.Minute), 0.9), opts); err != nil {
		t.Fatal(err)
	}
	// Two hours later, everything before is too old.
	if err := s.AppendDriftPoint(ctx, "churn", point(t0.Add(2*time.Hour), 0.2), opts); err != nil {
		t.Fatal(err)
	}
	pts, err = s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0].Features["x1"] != 0.2 {
		t.Fatalf("after the age bound: %+v", pts)
	}
	if err := s.AppendDriftPoint(ctx, "churn", DriftPoint{}, opts); err == nil {
		t.Error("a point without a time was stored")
	}
}

// TestDriftHistoryDownsamples: a long range comes back as at most
// MaxPoints points that keep the spikes (maximum PSI) and any alert.
func TestDriftHistoryDownsamples(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		x1 := 0.01
		if i == 500 {
			x1 = 0.9 // one spike
		}
		if err := s.AppendDriftPoint(ctx, "churn", point(t0.Add(time.Duration(i)*time.Minute), x1), DriftHistoryOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn", MaxPoints: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) > 50 || len(pts) < 40 {
		t.Fatalf("%d points, want at most 50 (and not far fewer)", len(pts))
	}
	var total, spikes, alerts int
	for i, p := range pts {
		total += p.Points
		if p.Features["x1"] == 0.9 && p.MaxPSI == 0.9 {
			spikes++
		}
		if p.Alert {
			alerts++
		}
		if i > 0 && !p.Time.After(pts[i-1].Time) {
			t.Errorf("point %d at %v is not after %v", i, p.Time, pts[i-1].Time)
		}
	}
	if total != 1000 || spikes != 1 || alerts != 1 {
		t.Errorf("downsampled: %d checks, %d spikes, %d alerts; want 1000, 1, 1", total, spikes, alerts)
	}
}

func ptr(v float64) *float64 { return &v }

// TestDriftHistoryPerformance: a check's estimated and realised performance
// is stored (NaN dropped) and a downsampled point keeps the lowest figures,
// the last band and any drop.
func TestDriftHistoryPerformance(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	perf := []*PerformancePoint{
		{EstimatedAccuracy: ptr(0.86), EstimatedAUC: ptr(0.93), AccuracyLo: ptr(0.83), AccuracyHi: ptr(0.87), AUC: ptr(math.NaN())},
		{EstimatedAccuracy: ptr(0.70), EstimatedAUC: ptr(0.76), AccuracyLo: ptr(0.84), AccuracyHi: ptr(0.88), Drop: true, Accuracy: ptr(0.72), Labels: 40},
		nil,
	}
	for i, pp := range perf {
		p := point(t0.Add(time.Duration(i)*time.Minute), 0.05)
		p.Performance = pp
		if err := s.AppendDriftPoint(ctx, "churn", p, DriftHistoryOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if got := pts[0].Performance; got == nil || *got.EstimatedAccuracy != 0.86 || got.AUC != nil || got.Drop {
		t.Errorf("first point's performance = %+v: want the estimate kept, the NaN AUC dropped", got)
	}
	if got := pts[1].Performance; got == nil || !got.Drop || *got.Accuracy != 0.72 || got.Labels != 40 {
		t.Errorf("second point's performance = %+v", got)
	}
	if pts[2].Performance != nil {
		t.Errorf("a check without performance has %+v", pts[2].Performance)
	}
	one, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn", MaxPoints: 1})
	if err != nil || len(one) != 1 {
		t.Fatalf("%v %v", one, err)
	}
	got := one[0].Performance
	if got == nil || *got.EstimatedAccuracy != 0.70 || *got.EstimatedAUC != 0.76 || !got.Drop || *got.AccuracyLo != 0.84 || *got.Accuracy != 0.72 {
		t.Errorf("merged performance = %+v: want the lowest estimates, the drop, the last band", got)
	}
}

// TestDriftHistoryRegressionPerformance: a regression's estimated and
// realised errors are kept, and downsampling keeps the highest.
func TestDriftHistoryRegressionPerformance(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, pp := range []*PerformancePoint{
		{EstimatedRMSE: ptr(1.0), RMSELo: ptr(0.9), RMSEHi: ptr(1.1), EstimatedMAE: ptr(0.8), RMSE: ptr(1.02), MAE: ptr(0.81), Labels: 10},
		{EstimatedRMSE: ptr(1.6), RMSELo: ptr(0.92), RMSEHi: ptr(1.12), EstimatedMAE: ptr(1.2), Drop: true},
		{EstimatedRMSE: ptr(1.2), RMSELo: ptr(0.91), RMSEHi: ptr(1.11), EstimatedMAE: ptr(0.9), RMSE: ptr(1.4), MAE: ptr(1.1), Labels: 30},
	} {
		p := point(t0.Add(time.Duration(i)*time.Minute), 0.05)
		p.Performance = pp
		if err := s.AppendDriftPoint(ctx, "house", p, DriftHistoryOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "house"})
	if err != nil || len(pts) != 3 {
		t.Fatalf("%d points (%v)", len(pts), err)
	}
	if got := pts[1].Performance; got == nil || *got.EstimatedRMSE != 1.6 || *got.RMSEHi != 1.12 || got.RMSE != nil || !got.Drop {
		t.Errorf("second point's performance = %+v", got)
	}
	one, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "house", MaxPoints: 1})
	if err != nil || len(one) != 1 {
		t.Fatalf("%v %v", one, err)
	}
	got := one[0].Performance
	if got == nil || *got.EstimatedRMSE != 1.6 || *got.EstimatedMAE != 1.2 || *got.RMSE != 1.4 || *got.MAE != 1.1 || *got.RMSELo != 0.91 || !got.Drop {
		t.Errorf("merged performance = %+v: want the highest errors, the drop, the last band", got)
	}
}

// TestAppendDriftPoints: a batch is stored in one transaction, all or none.
func TestAppendDriftPoints(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var pts []DriftPoint
	for i := range 5 {
		pts = append(pts, point(t0.Add(time.Duration(i)*time.Minute), 0.05))
	}
	bad := append(append([]DriftPoint{}, pts[:2]...), DriftPoint{Version: "1.0.0"}) // no time
	var fe *FieldError
	if err := s.AppendDriftPoints(ctx, "churn", bad, DriftHistoryOptions{}); !errors.As(err, &fe) || fe.Field != "time" {
		t.Fatalf("a batch with a point without a time: err = %v, want a field error on time", err)
	}
	if got, _ := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"}); len(got) != 0 {
		t.Fatalf("a refused batch stored %d points", len(got))
	}
	if err := s.AppendDriftPoints(ctx, "churn", pts, DriftHistoryOptions{MaxPoints: 4}); err != nil {
		t.Fatal(err)
	}
	got, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"})
	if err != nil || len(got) != 4 || !got[0].Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a batch of 5 with MaxPoints 4: %d points from %v (%v), want 4 from %v", len(got), got[0].Time, err, t0.Add(time.Minute))
	}
}

// TestRawFeature: one feature's PSI read from the stored map without
// decoding it equals the decoded map's, whatever the other keys look like.
func TestRawFeature(t *testing.T) {
	m := map[string]float64{"f0": 0.25, "xf0": 1, `a"f0`: 2, "f0\":": 3, "neg": -0.5, "tiny": 1e-9, "é": 7}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"f0", "xf0", `a"f0`, "f0\":", "neg", "tiny", "é", "absent", "f"} {
		got, ok, err := rawFeature(raw, name)
		want, wantOK := m[name]
		if err != nil || ok != wantOK || got != want {
			t.Errorf("rawFeature(%q) = %v %v %v, want %v %v", name, got, ok, err, want, wantOK)
		}
	}
}

// TestDriftHistoryVerdictsAndFeature: the fast reads give the same points
// as the full decode, less the features not asked for.
func TestDriftHistoryVerdictsAndFeature(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		p := point(t0.Add(time.Duration(i)*time.Minute), float64(i)/10)
		p.Drifted = []string{"x2"}
		if err := s.AppendDriftPoint(ctx, "churn", p, DriftHistoryOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	verdicts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn", Verdicts: true})
	if err != nil {
		t.Fatal(err)
	}
	one, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn", Feature: "x1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range full {
		if len(verdicts[i].Features) != 0 || verdicts[i].MaxPSI != full[i].MaxPSI || len(verdicts[i].Drifted) != 1 || verdicts[i].Alert != full[i].Alert {
			t.Errorf("verdicts point %d = %+v, full %+v", i, verdicts[i], full[i])
		}
		if len(one[i].Features) != 1 || one[i].Features["x1"] != full[i].Features["x1"] || one[i].Drifted != nil {
			t.Errorf("x1 point %d = %+v, full %+v", i, one[i], full[i])
		}
	}
}

// FuzzRawFeature: for any map, rawFeature agrees with decoding it.
func FuzzRawFeature(f *testing.F) {
	f.Add("f0", "xf0", 0.25, 1.5)
	f.Add(`a"f0`, "f0", -1.0, 1e-300)
	f.Fuzz(func(t *testing.T, a, b string, x, y float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			return
		}
		m := map[string]float64{a: x, b: y}
		raw, err := json.Marshal(m)
		if err != nil {
			return
		}
		var back map[string]float64
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		for k, want := range back {
			got, ok, err := rawFeature(raw, k)
			if err != nil || !ok || got != want {
				t.Fatalf("rawFeature(%s, %q) = %v %v %v, want %v", raw, k, got, ok, err, want)
			}
		}
	})
}
