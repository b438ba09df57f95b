package stream

import (
	"fmt"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// latencyBuckets are the end-to-end latency histogram upper bounds (seconds).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// batchBuckets are the batch-size histogram upper bounds (records).
var batchBuckets = []float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000}

// topicMetrics are the per-topic counters.
type topicMetrics struct {
	consumed, consumedBytes, produced, deadLettered, producerErrors *metrics.Counter
}

func newTopicMetrics(set *metrics.Set, topic string) topicMetrics {
	l := `{topic=` + strconv.Quote(topic) + `}`
	return topicMetrics{
		consumed:       set.GetOrCreateCounter("driftd_records_consumed_total" + l),
		consumedBytes:  set.GetOrCreateCounter("driftd_consumed_bytes_total" + l),
		produced:       set.GetOrCreateCounter("driftd_records_produced_total" + l),
		deadLettered:   set.GetOrCreateCounter("driftd_records_dead_lettered_total" + l),
		producerErrors: set.GetOrCreateCounter("driftd_producer_errors_total" + l),
	}
}

// scorerMetrics are the scorer's series, registered in an injected set.
type scorerMetrics struct {
	set        *metrics.Set
	features   topicMetrics
	preds      topicMetrics
	deadLetter topicMetrics
	latency    *metrics.PrometheusHistogram
	batch      *metrics.PrometheusHistogram
	up         *metrics.Gauge
}

func newScorerMetrics(set *metrics.Set, t Topics) *scorerMetrics {
	if set == nil {
		set = metrics.NewSet()
	}
	return &scorerMetrics{
		set:        set,
		features:   newTopicMetrics(set, t.Features),
		preds:      newTopicMetrics(set, t.Predictions),
		deadLetter: newTopicMetrics(set, t.DeadLetter),
		latency:    set.GetOrCreatePrometheusHistogramExt("driftd_end_to_end_latency_seconds", latencyBuckets),
		batch:      set.GetOrCreatePrometheusHistogramExt("driftd_batch_size_records", batchBuckets),
		up:         set.GetOrCreateGauge("driftd_scorer_up", nil),
	}
}

// lag sets the consumer lag gauge of one partition.
func (m *scorerMetrics) lag(topic string, partition int32, lag int64) {
	name := fmt.Sprintf("driftd_consumer_lag_records{topic=%q,partition=\"%d\"}", topic, partition)
	m.set.GetOrCreateGauge(name, nil).Set(float64(lag))
}
