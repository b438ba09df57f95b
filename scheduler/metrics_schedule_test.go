package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"driftd/scheduler"
)

// scrapeLine returns the value text of series in set's exposition ("" when absent).
func scrapeLine(set *metrics.Set, series string) string {
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for _, l := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

func TestExportFlowHealth(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	set := metrics.NewSet()
	bad := scheduler.Flow{Name: "bad", Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
		return nil, errors.New("no")
	}}
	e := mustEngine(t, store, scheduler.Options{Metrics: set}, okFlow("good"), okFlow("weekly"), okFlow("idle"), bad)
	// t0 is Sunday 12:00 UTC. good: every 10m and weekdays at 9 (the shortest
	// period wins); weekly: weekdays at 9 only (its longest gap, the weekend,
	// is its period); idle: a paused schedule only.
	for _, s := range []scheduler.Schedule{
		{Name: "ten-minutes", Flow: "good", Every: "10m", Enabled: true},
		{Name: "weekday-mornings", Flow: "good", Cron: "0 9 * * 1-5", Enabled: true},
		{Name: "weekly-report", Flow: "weekly", Cron: "0 9 * * 1-5", Enabled: true},
		{Name: "paused", Flow: "idle", Every: "1m"},
	} {
		_, err := e.CreateSchedule(ctx, s)
		must(t, err)
	}
	stop, err := e.ExportFlowHealth(ctx)
	must(t, err)
	defer stop()

	monday9 := t0.Add(21 * 3600e9) // Monday 09:00
	for series, want := range map[string]float64{
		`driftd_flow_expected_interval_seconds{flow="good"}`:     600,
		`driftd_flow_expected_interval_seconds{flow="weekly"}`:   72 * 3600,
		`driftd_flow_expected_interval_seconds{flow="idle"}`:     0,
		`driftd_flow_expected_interval_seconds{flow="bad"}`:      0,
		`driftd_flow_next_fire_timestamp_seconds{flow="good"}`:   float64(t0.Unix() + 600),
		`driftd_flow_next_fire_timestamp_seconds{flow="weekly"}`: float64(monday9.Unix()),
		`driftd_flow_next_fire_timestamp_seconds{flow="idle"}`:   0,
		`driftd_flow_last_run_failed{flow="good"}`:               0,
		`driftd_flow_last_run_failed{flow="bad"}`:                0,
	} {
		if got, err := strconv.ParseFloat(scrapeLine(set, series), 64); err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", series, got, err, want)
		}
	}

	for _, flow := range []string{"good", "bad"} {
		r, err := e.Submit(ctx, flow, nil, scheduler.SubmitOptions{})
		must(t, err)
		mustWait(t, e, r.ID)
	}
	eventually(t, "bad's last run failed", func() bool {
		return scrapeLine(set, `driftd_flow_last_run_failed{flow="bad"}`) == "1"
	})
	if got := scrapeLine(set, `driftd_flow_last_run_failed{flow="good"}`); got != "0" {
		t.Errorf("good's last run failed = %s, want 0", got)
	}

	// A new engine on the same store seeds the last-run state from the stored runs.
	set2 := metrics.NewSet()
	e2 := mustEngine(t, store, scheduler.Options{Metrics: set2}, okFlow("good"), okFlow("weekly"), okFlow("idle"), bad)
	stop2, err := e2.ExportFlowHealth(ctx)
	must(t, err)
	defer stop2()
	if got := scrapeLine(set2, `driftd_flow_last_run_failed{flow="bad"}`); got != "1" {
		t.Errorf("after a restart, bad's last run failed = %q, want 1", got)
	}
	// A completed run clears it.
	bad2 := scheduler.Flow{Name: "bad", Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) { return "ok now", nil }}
	set3 := metrics.NewSet()
	e3 := mustEngine(t, store, scheduler.Options{Metrics: set3}, bad2)
	stop3, err := e3.ExportFlowHealth(ctx)
	must(t, err)
	defer stop3()
	r, err := e3.Submit(ctx, "bad", nil, scheduler.SubmitOptions{})
	must(t, err)
	mustWait(t, e3, r.ID)
	eventually(t, "bad's last run completed", func() bool {
		return scrapeLine(set3, `driftd_flow_last_run_failed{flow="bad"}`) == "0"
	})
}
