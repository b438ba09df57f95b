package scheduler

import (
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// durationBuckets are the upper bounds, in seconds, of driftd_flow_run_duration_seconds:
// from sub-second monitoring flows to multi-hour training.
var durationBuckets = []float64{0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400}

// terminalStates are the states counted by driftd_flow_runs_total.
var terminalStates = []string{StateCompleted, StateFailed, StateCancelled, StateCrashed}

// engineMetrics holds the engine's series on one metrics.Set. Label values are
// flow and queue names, checked by validName and bounded by what is registered
// and configured.
type engineMetrics struct {
	set *metrics.Set
}

func runsTotalName(flow, state string) string {
	return `driftd_flow_runs_total{flow="` + flow + `",state="` + state + `"}`
}

func durationName(flow string) string {
	return `driftd_flow_run_duration_seconds{flow="` + flow + `"}`
}

func lastSuccessName(flow string) string {
	return `driftd_flow_last_success_timestamp_seconds{flow="` + flow + `"}`
}

// flow creates the series of a flow, so they are exported at 0 before it runs.
func (m engineMetrics) flow(name string) {
	for _, st := range terminalStates {
		m.set.GetOrCreateCounter(runsTotalName(name, st))
	}
	m.set.GetOrCreatePrometheusHistogramExt(durationName(name), durationBuckets)
	m.set.GetOrCreateGauge(lastSuccessName(name), nil)
}

// queue returns the depth (waiting runs) and running gauges of a queue.
func (m engineMetrics) queue(name string) (depth, running *metrics.Gauge) {
	return m.set.GetOrCreateGauge(`driftd_scheduler_queue_depth{queue="`+name+`"}`, nil),
		m.set.GetOrCreateGauge(`driftd_scheduler_running_runs{queue="`+name+`"}`, nil)
}

// ended counts a run that reached a terminal state. Its duration is observed
// when it started, except for crashed runs whose end is when the process came
// back, not when the run stopped.
func (m engineMetrics) ended(r Run) {
	m.set.GetOrCreateCounter(runsTotalName(r.Flow, r.State)).Inc()
	if !r.StartedAt.IsZero() && r.State != StateCrashed {
		m.set.GetOrCreatePrometheusHistogramExt(durationName(r.Flow), durationBuckets).Update(r.EndedAt.Sub(r.StartedAt).Seconds())
	}
	if r.State == StateCompleted {
		m.set.GetOrCreateGauge(lastSuccessName(r.Flow), nil).Set(float64(r.EndedAt.UnixNano()) / float64(time.Second))
	}
}
