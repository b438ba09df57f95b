package flows

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"driftd/drift"
	"driftd/scheduler"
	"driftd/stream"
)

// driftReport decodes a completed drift-check run's report.
func driftReport(t *testing.T, r scheduler.Run) DriftReport {
	t.Helper()
	if r.State != scheduler.StateCompleted {
		t.Fatalf("drift-check run %s: %s", r.State, r.Error)
	}
	var rep DriftReport
	if err := json.Unmarshal(r.Result, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestDriftCheckFileShiftedFeatureTops(t *testing.T) {
	e := newEnv(t, nil, nil)
	champ := e.mustChampion(conceptA.rows(1, 2000, "a"))
	rows := conceptA.rows(8, 800, "d")
	for _, r := range rows {
		f, _ := strconv.ParseFloat(r[3], 64)
		r[3] = strconv.FormatFloat(f+1.5, 'f', 5, 64) // f2
	}
	path := writeCSV(t, e.dir, "shifted.csv", conceptHeader, rows)
	r := e.run(FlowDriftCheck, map[string]any{"data": path})
	rep := driftReport(t, r)
	if rep.Model != "m" || rep.Version != champ.Version || rep.Source != "file shifted.csv" || rep.Rows != 800 || len(rep.Features) != 4 {
		t.Fatalf("report %+v", rep)
	}
	top := rep.Features[0]
	if top.Name != "f2" || !top.Drifted || top.PSI < 0.5 || rep.MaxPSI != top.PSI || top.Test == "" || top.Statistic == nil {
		t.Fatalf("top feature %+v (max %v)", top, rep.MaxPSI)
	}
	for _, f := range rep.Features[1:] {
		if f.PSI > top.PSI || f.PSI > 0.1 {
			t.Errorf("feature %s PSI %.3f next to f2's %.3f", f.Name, f.PSI, top.PSI)
		}
	}
	if rep.PredictionPSI == nil {
		t.Error("no prediction PSI: the version's model did not score the file")
	}
	if logs := e.logs(r.ID); !strings.Contains(logs, "f2: PSI") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestDriftCheckLive(t *testing.T) {
	ev := drift.Event{Model: "m", Version: "1.2.0", WindowRecords: 1000, MaxPSI: 0.3, DriftShare: 0.5, DatasetDrift: true,
		Features: []drift.FeatureResult{
			{Name: "a", PSI: 0.01, Test: "ks", Statistic: 0.02, PValue: 0.9},
			{Name: "b", PSI: 0.3, Test: "jensenshannon", Statistic: 0.2, PValue: math.NaN(), Drifted: true},
		}}
	live := fakeLive{DriftFn: func() (drift.Event, drift.Performance, bool) { return ev, drift.Performance{}, true },
		StatusFn: func() stream.Status { return stream.Status{} }}
	e := newEnv(t, nil, func(d *Deps) { d.Live = live })
	rep := driftReport(t, e.run(FlowDriftCheck, map[string]any{"live": true}))
	if rep.Source != "live window" || rep.Version != "1.2.0" || rep.Rows != 1000 || rep.Features[0].Name != "b" || rep.Features[0].PValue != nil {
		t.Fatalf("report %+v", rep)
	}
	r := e.run(FlowDriftCheck, map[string]any{"live": true, "version": "1.0.0"})
	if r.State != scheduler.StateFailed || !strings.Contains(r.Error, "scores m 1.2.0, not 1.0.0") {
		t.Fatalf("run %s: %s", r.State, r.Error)
	}
}

func TestDriftCheckFailures(t *testing.T) {
	e := newEnv(t, nil, nil) // no Live
	tests := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"live without a scorer", map[string]any{"live": true}, "no scorer runs in this process"},
		{"nothing deployed", map[string]any{"data": "testdata/binary.csv"}, "no version of m is deployed to production"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(FlowDriftCheck, tc.params)
			if r.State != scheduler.StateFailed || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("run %s: %q, want failed with %q", r.State, r.Error, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		params map[string]any
		field  string
	}{
		{map[string]any{}, "params.data"},
		{map[string]any{"live": true, "data": "testdata/binary.csv"}, "params.data"},
		{map[string]any{"data": "testdata/none.csv"}, "params.data"},
		{map[string]any{"live": true, "environment": "moon"}, "params.environment"},
	} {
		_, err := e.engine.Submit(context.Background(), FlowDriftCheck, tc.params, scheduler.SubmitOptions{})
		wantParamError(t, err, tc.field)
	}
}
