package scheduler

import (
	"cmp"
	"slices"

	"github.com/VictoriaMetrics/metrics"
)

// Default queue limits, merged under Options.Queues and Options.QueueMax.
const (
	defaultQueueMax         = 1000
	defaultTrainingQueueMax = 8
)

func defaultQueues() map[string]int {
	return map[string]int{"training": 1, "monitoring": 2, "default": 4}
}

// QueueStatus is a snapshot of one work queue.
type QueueStatus struct {
	Name       string
	Limit      int // runs that may run at once
	Running    int
	Waiting    int // scheduled and pending runs
	MaxWaiting int // Waiting at which Submit returns ErrQueueFull
}

// queue is one work queue. Its fields other than name, limit, max and the
// gauges are guarded by Engine.mu.
type queue struct {
	name       string
	limit, max int
	depthG     *metrics.Gauge
	runningG   *metrics.Gauge

	pending  []*liveRun // FIFO of pending runs
	running  int
	waiting  int // scheduled + pending
	reserved int // Submits between the capacity check and the stored run
}

// enter and leave count a run of the queue entering or leaving state.
func (q *queue) enter(state string) { q.count(state, 1) }
func (q *queue) leave(state string) { q.count(state, -1) }

func (q *queue) count(state string, d int) {
	switch state {
	case StateScheduled, StatePending:
		q.waiting += d
		q.depthG.Set(float64(q.waiting))
	case StateRunning:
		q.running += d
		q.runningG.Set(float64(q.running))
	}
}

// remove takes lr out of the pending FIFO, if it is there.
func (q *queue) remove(lr *liveRun) {
	if i := slices.Index(q.pending, lr); i >= 0 {
		q.pending = slices.Delete(q.pending, i, i+1)
	}
}

// Queues returns the status of every queue, sorted by name.
func (e *Engine) Queues() []QueueStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]QueueStatus, 0, len(e.queues))
	for _, q := range e.queues {
		out = append(out, QueueStatus{Name: q.name, Limit: q.limit, Running: q.running, Waiting: q.waiting, MaxWaiting: q.max})
	}
	slices.SortFunc(out, func(a, b QueueStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
