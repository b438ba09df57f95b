package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"driftd/scheduler"
	"github.com/VictoriaMetrics/metrics"
)

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	set := metrics.NewSet()
	bad := scheduler.Flow{Name: "bad", Queue: "monitoring", Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
		return nil, errors.New("no")
	}}
	e := mustEngine(t, store, scheduler.Options{Metrics: set}, okFlow("good"), bad)
	scrape := func() string {
		var buf bytes.Buffer
		set.WritePrometheus(&buf)
		return buf.String()
	}
	before := scrape()
	for _, series := range []string{
		`driftd_flow_runs_total{flow="good",state="completed"} 0`,
		`driftd_flow_runs_total{flow="bad",state="failed"} 0`,
		`driftd_flow_runs_total{flow="bad",state="crashed"} 0`,
		`driftd_flow_run_duration_seconds_bucket{flow="good",le="0.1"} 0`,
		`driftd_flow_run_duration_seconds_bucket{flow="good",le="14400"} 0`,
		`driftd_flow_run_duration_seconds_count{flow="good"} 0`,
		`driftd_flow_last_success_timestamp_seconds{flow="good"} 0`,
		`driftd_scheduler_queue_depth{queue="training"} 0`,
		`driftd_scheduler_queue_depth{queue="default"} 0`,
		`driftd_scheduler_running_runs{queue="monitoring"} 0`,
	} {
		if !strings.Contains(before, series+"\n") {
			t.Errorf("before any run, no line %q in\n%s", series, before)
		}
	}
	for _, flow := range []string{"good", "bad"} {
		r, err := e.Submit(ctx, flow, nil, scheduler.SubmitOptions{})
		must(t, err)
		mustWait(t, e, r.ID)
	}
	after := scrape()
	for _, series := range []string{
		`driftd_flow_runs_total{flow="good",state="completed"} 1`,
		`driftd_flow_runs_total{flow="bad",state="failed"} 1`,
		`driftd_flow_run_duration_seconds_count{flow="good"} 1`,
		`driftd_flow_run_duration_seconds_bucket{flow="bad",le="+Inf"} 1`,
		`driftd_flow_last_success_timestamp_seconds{flow="good"} 1772366400`,
		`driftd_flow_last_success_timestamp_seconds{flow="bad"} 0`,
		`driftd_scheduler_queue_depth{queue="default"} 0`,
		`driftd_scheduler_running_runs{queue="default"} 0`,
	} {
		if !strings.Contains(after, series+"\n") {
			t.Errorf("after the runs, no line %q in\n%s", series, after)
		}
	}
}
