package registry

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestDriftPointCodecRoundTrip: every field survives the binary form, NaN
// and infinities stored as documented (0, or absent for optional figures).
func TestDriftPointCodecRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		p    DriftPoint
	}{
		{"minimal", DriftPoint{Time: t0, Features: map[string]float64{}}},
		{"everything", DriftPoint{Time: t0, Version: "1.2.3", WindowRecords: 5000, MaxPSI: 0.41, PredictionPSI: ptr(0.07), DriftShare: 0.25,
			DriftedFeatures: 2, DatasetDrift: true, Retrain: true, Alert: true, Features: map[string]float64{"b": 0.41, "a": 0.02, "é \"x\"": 0.3},
			Drifted: []string{"b", "a"}, Performance: &PerformancePoint{EstimatedAccuracy: ptr(0.8), AUCHi: ptr(0.95), Drop: true, Accuracy: ptr(0.7), Labels: 42}}},
		{"regression performance", DriftPoint{Time: t0, Version: "v", Features: map[string]float64{"x": 1}, Performance: &PerformancePoint{
			EstimatedRMSE: ptr(1.25), RMSELo: ptr(0.9), RMSEHi: ptr(1.1), RMSE: ptr(1.3), EstimatedMAE: ptr(0.95), MAE: ptr(1.01), Drop: true, Labels: 7}}},
		{"empty performance", DriftPoint{Time: t0, Version: "v", Features: map[string]float64{"x": 1}, Performance: &PerformancePoint{}}},
		{"multivariate", DriftPoint{Time: t0, Version: "v", Features: map[string]float64{"x": 1}, Multivariate: &MultivariatePoint{Error: 3.2, Lo: ptr(2.9), Hi: ptr(3.1), Drifted: true}}},
		{"multivariate without a band", DriftPoint{Time: t0, Version: "v", Features: map[string]float64{}, Multivariate: &MultivariatePoint{Error: 3.2}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := encodeDriftPoint(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeDriftPoint(timeKey(tc.p.Time), raw, "", false)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.p
			want.Points = 1
			want.Drifted = append([]string(nil), tc.p.Drifted...)
			if len(want.Drifted) == 0 {
				want.Drifted = nil
			} else {
				want.Drifted = []string{"a", "b"}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestDriftHistoryReadsFormat1: points written as JSON before the binary
// form are read as before, beside new ones.
func TestDriftHistoryReadsFormat1(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old, err := json.Marshal(driftPointRecord{V: 1, Version: "0.9.0", Window: 100, MaxPSI: 0.3, Share: 0.5, NDrifted: 1, Flags: 4,
		Features: map[string]float64{"x1": 0.3, "x2": 0.01}, Drifted: []string{"x1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketDriftHistory)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists([]byte("churn"))
		if err != nil {
			return err
		}
		if err := root.Put([]byte("n/churn"), u64key(1)); err != nil {
			return err
		}
		return b.Put(timeKey(t0), old)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendDriftPoint(ctx, "churn", point(t0.Add(time.Minute), 0.02), DriftHistoryOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []DriftHistoryQuery{{Model: "churn"}, {Model: "churn", Feature: "x1"}, {Model: "churn", Verdicts: true}} {
		pts, err := s.DriftHistory(ctx, q)
		if err != nil || len(pts) != 2 {
			t.Fatalf("%+v: %d points, %v", q, len(pts), err)
		}
		p := pts[0]
		if p.Version != "0.9.0" || !p.Alert || p.MaxPSI != 0.3 || p.DriftedFeatures != 1 {
			t.Errorf("%+v: format-1 point read as %+v", q, p)
		}
		if wantX1 := !q.Verdicts; (p.Features["x1"] == 0.3) != wantX1 || (q.Feature == "" && !q.Verdicts && p.Features["x2"] != 0.01) {
			t.Errorf("%+v: features %v", q, p.Features)
		}
		if pts[1].Version != "1.0.0" || pts[1].Points != 1 {
			t.Errorf("%+v: format-2 point read as %+v", q, pts[1])
		}
	}
}

// FuzzDecodeDriftPoint: a stored point of any bytes decodes or fails with
// an error, never a panic; a point that decodes encodes back to the same
// bytes' meaning.
func FuzzDecodeDriftPoint(f *testing.F) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, p := range []DriftPoint{
		{Time: t0, Features: map[string]float64{}},
		{Time: t0, Version: "1.2.3", WindowRecords: 50, MaxPSI: 0.3, PredictionPSI: ptr(0.1), Features: map[string]float64{"a": 0.3},
			Drifted: []string{"a"}, Performance: &PerformancePoint{EstimatedAUC: ptr(0.9), Labels: 3}},
	} {
		raw, err := encodeDriftPoint(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, "a", false)
	}
	f.Add([]byte(`{"v":1,"f":{"a":1}}`), "", true)
	f.Fuzz(func(t *testing.T, raw []byte, feature string, verdicts bool) {
		p, err := decodeDriftPoint(timeKey(t0), raw, feature, verdicts)
		if err != nil || feature != "" || verdicts {
			return
		}
		again, err := encodeDriftPoint(p)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", p, err)
		}
		q, err := decodeDriftPoint(timeKey(t0), again, "", false)
		if err != nil {
			t.Fatalf("re-encoded point does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalised(p), normalised(q)) {
			t.Fatalf("re-encoded point differs:\n%+v\n%+v", p, q)
		}
	})
}

// normalised is p as the binary form keeps it: NaNs as 0, drifted sorted.
func normalised(p DriftPoint) DriftPoint {
	raw, _ := encodeDriftPoint(p)
	q, _ := decodeDriftPoint(timeKey(p.Time), raw, "", false)
	return q
}
