package server

import (
	"fmt"
	"testing"
	"time"

	"driftd/stream"
)

// lagOf builds the groups' lag as the admin client reports it: per group,
// topic and partition.
func lagOf(lags map[string]map[string][]int64) []stream.GroupInfo {
	var out []stream.GroupInfo
	for g, topics := range lags {
		gi := stream.GroupInfo{Group: g}
		for topic, parts := range topics {
			for p, l := range parts {
				gi.Lag = append(gi.Lag, stream.PartitionLag{Topic: topic, Partition: int32(p), Lag: l})
			}
		}
		out = append(out, gi)
	}
	return out
}

func TestLagHistory(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := newLagHistory()
	// Two hours of samples, a minute apart: the scorer's lag on features
	// rises by 10 a minute over two partitions; the labels group reads two
	// topics.
	for m := 0; m < 120; m++ {
		h.observe(t0.Add(time.Duration(m)*time.Minute), lagOf(map[string]map[string][]int64{
			"scorer": {"features": {int64(5 * m), int64(5 * m)}},
			"labels": {"labels": {1, 2}, "predictions": {-1, 7}}, // a negative lag (no commit yet) counts as 0
		}))
	}
	// A second sample in the last minute replaces the first.
	h.observe(t0.Add(119*time.Minute+30*time.Second), lagOf(map[string]map[string][]int64{"scorer": {"features": {600, 600}}}))
	now := t0.Add(119*time.Minute + 45*time.Second)

	v := h.view(now, time.Hour)
	if len(v.Charts) != 2 || v.Charts[0].Group != "labels" || v.Charts[1].Group != "scorer" {
		t.Fatalf("charts %+v, want labels then scorer", v.Charts)
	}
	lab := v.Charts[0].Chart.Lines
	if len(lab) != 2 || lab[0].Name != "labels" || lab[1].Name != "predictions" || lab[0].Points[0].V != 3 || lab[1].Points[0].V != 7 {
		t.Errorf("labels lines %+v", lab)
	}
	sc := v.Charts[1]
	pts := sc.Chart.Lines[0].Points
	if len(pts) != 60 || !pts[0].T.Equal(t0.Add(60*time.Minute)) || !pts[59].T.Equal(t0.Add(119*time.Minute)) {
		t.Fatalf("the last hour has %d points from %v to %v", len(pts), pts[0].T, pts[len(pts)-1].T)
	}
	if pts[0].V != 600 || pts[58].V != 1180 || pts[59].V != 1200 || sc.Now != 1200 {
		t.Errorf("scorer lag %v, %v, %v, now %d", pts[0].V, pts[58].V, pts[59].V, sc.Now)
	}
	if v.Charts[0].Now != 10 {
		t.Errorf("labels now %d, want 3 + 7", v.Charts[0].Now)
	}
	if n := len(h.view(now, 24*time.Hour).Charts[1].Chart.Lines[0].Points); n != 120 {
		t.Errorf("24 h show %d points, want all 120", n)
	}

	// A day later only what was sampled in the last 24 hours shows: the
	// ring has overwritten the older points.
	later := t0.Add(24*time.Hour + 30*time.Minute)
	h.observe(later, lagOf(map[string]map[string][]int64{"scorer": {"features": {1}}}))
	v = h.view(later, 24*time.Hour)
	if len(v.Charts) != 2 {
		t.Fatalf("after a day %d charts, want both groups'", len(v.Charts))
	}
	pts = v.Charts[1].Chart.Lines[0].Points
	if len(pts) != 90 || !pts[0].T.Equal(t0.Add(31*time.Minute)) || pts[len(pts)-1].V != 1 || v.Charts[1].Now != 1 {
		t.Errorf("after a day %d points from %v, last %v", len(pts), pts[0].T, pts[len(pts)-1].V)
	}
	// A series not seen for a day is forgotten.
	h.observe(t0.Add(26*time.Hour), lagOf(map[string]map[string][]int64{"scorer": {"features": {2}}}))
	v = h.view(t0.Add(26*time.Hour), 24*time.Hour)
	if len(v.Charts) != 1 || v.Charts[0].Group != "scorer" || len(v.Charts[0].Chart.Lines[0].Points) != 2 {
		t.Errorf("26 hours on, the charts are %d, want only the scorer's with 2 points", len(v.Charts))
	}

	// At most lagMaxSeries group and topic pairs are kept.
	many := map[string]map[string][]int64{}
	for i := 0; i < lagMaxSeries+5; i++ {
		many[fmt.Sprintf("g%03d", i)] = map[string][]int64{"t": {int64(i)}}
	}
	h = newLagHistory()
	h.observe(t0, lagOf(many))
	if v := h.view(t0, time.Hour); len(v.Charts) != lagMaxSeries || v.Dropped != 5 {
		t.Errorf("%d charts, %d dropped; want %d and 5", len(v.Charts), v.Dropped, lagMaxSeries)
	}
	if last, n := h.state(); n != lagMaxSeries || !last.Equal(t0) {
		t.Errorf("state = %v, %d", last, n)
	}
}
