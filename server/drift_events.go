package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/stream"
)

// eventPublisher writes drift check results to the drift-events topic from
// its own goroutine, so a slow broker never stalls scoring. A check is
// published when the verdict changes (alert, retrain, dataset drift, number
// of drifted features) and otherwise at most once per interval, so a fast
// stream checked every 100 records does not flood the topic. When the queue
// is full the newest event is dropped and counted: the next check supersedes it.
type eventPublisher struct {
	interval time.Duration
	mu       sync.Mutex // guards last, state and closed
	last     time.Time
	state    eventState
	closed   bool // a monitor stopped late (after a shutdown timeout) may still publish

	admin   *stream.Admin
	topic   string
	queue   chan DriftView
	dropped *metrics.Counter
	failed  *metrics.Counter
	logger  *slog.Logger
	wg      sync.WaitGroup
}

func newEventPublisher(admin *stream.Admin, topic string, set *metrics.Set, logger *slog.Logger) *eventPublisher {
	return &eventPublisher{
		admin: admin, topic: topic, queue: make(chan DriftView, 256), logger: logger, interval: time.Second,
		dropped: set.GetOrCreateCounter(`driftd_drift_events_dropped_total`),
		failed:  set.GetOrCreateCounter(`driftd_drift_events_failed_total`),
	}
}

// start runs the publishing goroutine until close.
func (e *eventPublisher) start() {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for v := range e.queue {
			b, err := json.Marshal(toDriftJSON(v))
			if err != nil {
				e.failed.Inc()
				e.logger.Error("encode drift event", "err", err)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _, err = e.admin.ProduceTest(ctx, e.topic, []byte(v.Model), b)
			cancel()
			if err != nil {
				e.failed.Inc()
				e.logger.Warn("publish drift event", "topic", e.topic, "err", err)
			}
		}
	}()
}

// eventState is the part of a check whose change is always published.
type eventState struct {
	model, version               string
	alert, retrain, datasetDrift bool
	driftedFeatures              int
}

// due reports whether a check should be published, and if so records it as
// the last one published.
func (e *eventPublisher) due(ev drift.Event) bool {
	st := eventState{ev.Model, ev.Version, ev.Alert, ev.Retrain, ev.DatasetDrift, ev.DriftedFeatures}
	e.mu.Lock()
	defer e.mu.Unlock()
	if st == e.state && ev.Time.Sub(e.last) < e.interval {
		return false
	}
	e.state, e.last = st, ev.Time
	return true
}

// publish queues one event without blocking; after close it drops it.
func (e *eventPublisher) publish(v DriftView) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		e.dropped.Inc()
		return
	}
	select {
	case e.queue <- v:
	default:
		e.dropped.Inc()
	}
}

// close stops accepting events and waits for the queue to drain, until ctx
// ends; the events still queued then are lost (the admin client closes next).
func (e *eventPublisher) close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	close(e.queue)
	e.mu.Unlock()
	if err := waitContext(ctx, &e.wg); err != nil {
		return fmt.Errorf("drift events still queued: %w", err)
	}
	return nil
}
