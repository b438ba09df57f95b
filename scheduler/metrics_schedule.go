package scheduler

import (
	"context"
	"sync"
	"time"
)

// Flow health series, one of each per registered flow (flow names are
// bounded by what is registered; schedule names are user-chosen and are never
// a label):
//
//	driftd_flow_expected_interval_seconds{flow}    how often the flow should succeed: the shortest
//	                                               period of its enabled schedules (0: none)
//	driftd_flow_next_fire_timestamp_seconds{flow}  the earliest next fire of its enabled schedules (0: none)
//	driftd_flow_last_run_failed{flow}              1 when its newest run that completed, failed or
//	                                               crashed did not complete (cancelled runs do not count)
const (
	// flowHealthTTL is how long a computed snapshot of the schedules serves
	// scrapes, so a scrape reads the schedule bucket at most once per TTL.
	flowHealthTTL = 5 * time.Second
	// periodFires is how many upcoming fires a schedule's period is measured
	// over: its longest gap among them, so "weekdays at 9" has a period of
	// three days (the weekend), not one.
	periodFires = 32
	// seedRuns is how many of the newest stored runs are read to seed
	// driftd_flow_last_run_failed when the series are exported.
	seedRuns = 1000
)

// flowHealth computes the flow health series; it is safe for concurrent use.
type flowHealth struct {
	e *Engine

	mu       sync.Mutex
	at       time.Time          // when interval and next were computed
	interval map[string]float64 // by flow, seconds
	next     map[string]float64 // by flow, Unix seconds
	failed   map[string]bool    // by flow, from the stored runs and then from events
}

// ExportFlowHealth registers driftd_flow_expected_interval_seconds,
// driftd_flow_next_fire_timestamp_seconds and driftd_flow_last_run_failed for
// every registered flow on the engine's metrics set. The first two are
// computed at scrape time from the enabled schedules (cached for 5s); the
// third is seeded from the newest 1,000 stored runs and then follows run
// events. Call it once, after the last Register; the returned func stops the
// event subscription. It returns an error when the stored runs cannot be read.
func (e *Engine) ExportFlowHealth(ctx context.Context) (stop func(), err error) {
	h := &flowHealth{e: e, failed: map[string]bool{}}
	stop = e.Subscribe(h.observe)
	if err := h.seed(ctx); err != nil {
		stop()
		return nil, err
	}
	for _, f := range e.Flows() {
		name := f.Name
		l := `{flow="` + name + `"}`
		e.metrics.set.GetOrCreateGauge(`driftd_flow_expected_interval_seconds`+l, func() float64 { return h.schedules(name, true) })
		e.metrics.set.GetOrCreateGauge(`driftd_flow_next_fire_timestamp_seconds`+l, func() float64 { return h.schedules(name, false) })
		e.metrics.set.GetOrCreateGauge(`driftd_flow_last_run_failed`+l, func() float64 { return h.lastFailed(name) })
	}
	return stop, nil
}

// observe follows run events: a run that ends sets its flow's last-run state.
func (h *flowHealth) observe(r Run) {
	failed, counts := lastRunFailed(r.State)
	if !counts {
		return
	}
	h.mu.Lock()
	h.failed[r.Flow] = failed
	h.mu.Unlock()
}

// lastRunFailed tells whether a run in state failed, and whether the state
// decides the flow's last-run series at all.
func lastRunFailed(state string) (failed, counts bool) {
	switch state {
	case StateCompleted:
		return false, true
	case StateFailed, StateCrashed:
		return true, true
	}
	return false, false
}

// seed sets the last-run state of every flow not yet set by an event from
// its newest ended run among the newest stored runs.
func (h *flowHealth) seed(ctx context.Context) error {
	runs, err := h.e.store.ListFlowRuns(ctx, RunFilter{Limit: seedRuns})
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range runs { // newest first
		failed, counts := lastRunFailed(r.State)
		if !counts || seen[r.Flow] {
			continue
		}
		seen[r.Flow] = true
		if _, ok := h.failed[r.Flow]; !ok {
			h.failed[r.Flow] = failed
		}
	}
	return nil
}

func (h *flowHealth) lastFailed(flow string) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed[flow] {
		return 1
	}
	return 0
}

// schedules returns a flow's expected interval (interval true) or next fire,
// recomputing every flow's values when the snapshot is older than the TTL.
// When the schedules cannot be read, the last values stay.
func (h *flowHealth) schedules(flow string, interval bool) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.e.now()
	if h.interval == nil || now.Sub(h.at) >= flowHealthTTL || now.Before(h.at) {
		if err := h.refreshLocked(now); err != nil {
			h.e.log.Warn("flow health metrics: list schedules", attrErr, err)
		}
	}
	if interval {
		return h.interval[flow]
	}
	return h.next[flow]
}

func (h *flowHealth) refreshLocked(now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	list, err := h.e.store.ListSchedules(ctx)
	if err != nil {
		return err
	}
	interval, next := map[string]float64{}, map[string]float64{}
	for _, s := range list {
		if !s.Enabled {
			continue
		}
		sched, err := h.e.timing(s, now)
		if err != nil {
			continue // Tick logs it
		}
		if p := schedulePeriod(sched.Next, now); p > 0 {
			if cur, ok := interval[s.Flow]; !ok || p.Seconds() < cur {
				interval[s.Flow] = p.Seconds()
			}
		}
		if n := h.e.nextRun(s, now); !n.IsZero() {
			ts := float64(n.UnixNano()) / float64(time.Second)
			if cur, ok := next[s.Flow]; !ok || ts < cur {
				next[s.Flow] = ts
			}
		}
	}
	h.interval, h.next, h.at = interval, next, now
	return nil
}

// schedulePeriod is the longest gap between consecutive fires among the
// periodFires fires after now; 0 when the schedule fires fewer than twice.
func schedulePeriod(next func(time.Time) time.Time, now time.Time) time.Duration {
	var longest time.Duration
	prev := next(now)
	for i := 1; i < periodFires && !prev.IsZero(); i++ {
		t := next(prev)
		if t.IsZero() {
			break
		}
		longest = max(longest, t.Sub(prev))
		prev = t
	}
	return longest
}
