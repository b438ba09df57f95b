package cluster

// This file and lease.go hold every franz-go call of the package (the rest
// speaks in logRecord and position), so that they can move into package
// stream, the project's Kafka package, unchanged.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"driftd/stream"
)

// logRecord is one record of a compacted topic; a nil Value is a tombstone.
type logRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
}

// position maps topic -> partition -> offset.
type position map[string]map[int32]int64

// reached reports whether p is at or past every offset of end.
func (p position) reached(end position) bool {
	for t, parts := range end {
		for part, o := range parts {
			if p[t][part] < o {
				return false
			}
		}
	}
	return true
}

func (p position) set(topic string, part int32, off int64) {
	if p[topic] == nil {
		p[topic] = map[int32]int64{}
	}
	p[topic][part] = off
}

// ensureTopics creates the two compacted topics, one partition each, when
// they do not exist; replication -1 uses the cluster's default.
func ensureTopics(ctx context.Context, cfg stream.Config, replication int16) error {
	return ensureCompactedTopics(ctx, cfg, replication, 0, DeploymentsTopic, ArtifactsTopic)
}

// ensureCompactedTopics creates topics, compacted and of one partition
// each, when they do not exist; replication -1 (or 0) uses the cluster's
// default. A retention above zero also deletes records older than it
// (cleanup.policy "compact,delete"), for topics whose keys keep changing
// (a window's start, an instance's pid): compaction alone would keep one
// record per key for ever. Its segments then roll at least every tenth of
// the retention, because a broker deletes whole closed segments only.
func ensureCompactedTopics(ctx context.Context, cfg stream.Config, replication int16, retention time.Duration, topics ...string) error {
	cl, err := stream.NewClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if replication == 0 {
		replication = -1
	}
	policy := "compact"
	configs := map[string]*string{"cleanup.policy": &policy}
	if retention > 0 {
		policy = "compact,delete"
		ms := strconv.FormatInt(retention.Milliseconds(), 10)
		seg := strconv.FormatInt(max(retention/10, time.Minute).Milliseconds(), 10)
		configs["retention.ms"], configs["segment.ms"] = &ms, &seg
	}
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, replication, configs, topics...)
	if err != nil {
		return fmt.Errorf("create topics %s: %w", strings.Join(topics, ", "), err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %q: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// kafkaLog reads topics from their start and follows them, and produces
// records synchronously.
type kafkaLog struct {
	cl  *kgo.Client
	adm *kadm.Client
}

// newKafkaLog returns a client consuming topics from the start, without a
// consumer group (every reader reads everything); no topic is needed for
// producing.
func newKafkaLog(cfg stream.Config, topics ...string) (*kafkaLog, error) {
	opts := []kgo.Opt{kgo.ProducerLinger(0), kgo.RecordRetries(10), kgo.ProducerBatchMaxBytes(DefaultChunkBytes + 64<<10)}
	if len(topics) > 0 {
		opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	cl, err := stream.NewClient(cfg, opts...)
	if err != nil {
		return nil, err
	}
	return &kafkaLog{cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (l *kafkaLog) close() { l.cl.Close() }

// poll returns the next records (blocking until some arrive or ctx ends)
// and the fetch errors met; closed is true once the client is closed.
func (l *kafkaLog) poll(ctx context.Context) (recs []logRecord, errs []error, closed bool) {
	fs := l.cl.PollFetches(ctx)
	if fs.IsClientClosed() {
		return nil, nil, true
	}
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("fetch %s/%d: %w", t, p, err))
		}
	})
	fs.EachRecord(func(r *kgo.Record) {
		recs = append(recs, logRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
	})
	return recs, errs, false
}

// endOffsets returns the end offset of every partition of topics; an error
// names a topic that does not exist (yet).
func (l *kafkaLog) endOffsets(ctx context.Context, topics ...string) (position, error) {
	offs, err := l.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %v: %w", topics, err)
	}
	end := position{}
	for _, t := range topics {
		parts, ok := offs[t]
		if !ok || len(parts) == 0 {
			return nil, fmt.Errorf("topic %s does not exist", t)
		}
		for p, o := range parts {
			if o.Err != nil {
				return nil, fmt.Errorf("end offset of %s/%d: %w", t, p, o.Err)
			}
			end.set(t, p, o.Offset)
		}
	}
	return end, nil
}

// replayEnd returns the end offsets of the partitions of topics that hold
// records (their log start is below their end): a reader that has read up
// to them has replayed what the topics held. A partition whose records were
// all deleted is left out, as no record will ever move a reader to its end.
func (l *kafkaLog) replayEnd(ctx context.Context, topics ...string) (position, error) {
	end, err := l.endOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	starts, err := l.adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %v: %w", topics, err)
	}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset >= end[o.Topic][o.Partition] {
			delete(end[o.Topic], o.Partition)
		}
	})
	return end, nil
}

// produce writes recs and waits for every acknowledgement, in order.
func (l *kafkaLog) produce(ctx context.Context, recs ...logRecord) error {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	// ProduceSync may outlive ctx while a request is in flight to a broker
	// that went away; the caller is not held past ctx (the records fail
	// when the client is closed).
	done := make(chan error, 1)
	go func() { done <- l.cl.ProduceSync(ctx, krs...).FirstErr() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("produce to %s: %w", recs[0].Topic, err)
	}
	return nil
}

// newAsyncLog returns a client for produceAsync that buffers at most
// buffered records (produceAsync then waits for room) and fails a record
// not acknowledged within timeout, so that the brokers' absence does not
// queue records for ever.
func newAsyncLog(cfg stream.Config, buffered int, timeout time.Duration) (*kafkaLog, error) {
	cl, err := stream.NewClient(cfg, kgo.MaxBufferedRecords(buffered), kgo.RecordDeliveryTimeout(timeout),
		kgo.ProducerBatchMaxBytes(DefaultChunkBytes+64<<10))
	if err != nil {
		return nil, err
	}
	return &kafkaLog{cl: cl, adm: kadm.NewClient(cl)}, nil
}

// produceAsync hands r to the client and returns; done is called with the
// outcome on the client's goroutine. It waits only while the client's
// buffer is full (or until ctx ends: then done gets ctx's error).
func (l *kafkaLog) produceAsync(ctx context.Context, r logRecord, done func(error)) {
	l.cl.Produce(ctx, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
		if err != nil {
			err = fmt.Errorf("produce to %s: %w", r.Topic, err)
		}
		done(err)
	})
}

// flush waits until every record handed to produceAsync is acknowledged
// or has failed.
func (l *kafkaLog) flush(ctx context.Context) error {
	if err := l.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// readAt reads topic/partition from offset from until fn returns false or
// the offset reaches to (exclusive), with a client of its own.
func readAt(ctx context.Context, cfg stream.Config, topic string, partition int32, from, to int64, fn func(logRecord) bool) error {
	cl, err := stream.NewClient(cfg, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().At(from)},
	}))
	if err != nil {
		return err
	}
	defer cl.Close()
	next := from
	for next < to {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s/%d at offset %d (until %d): %w", topic, partition, next, to, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("read %s/%d at offset %d: %w", t, p, next, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			if stop {
				return
			}
			next = r.Offset + 1
			if !fn(logRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value}) {
				stop = true
			}
		})
		if stop {
			return nil
		}
	}
	return nil
}

// WaitForKafka asks the cluster for its brokers until one answers or
// within has passed (processes of one cluster start in any order, the
// brokers' among them); the error names the brokers tried and the last
// failure.
func WaitForKafka(ctx context.Context, cfg stream.Config, within time.Duration, log *slog.Logger) error {
	cl, err := stream.NewClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(within)
	logged := false
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := adm.BrokerMetadata(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("no kafka broker of %v answered within %s: %w", cfg.Brokers, within, err)
		}
		if !logged && log != nil {
			log.Info("waiting for the kafka cluster", "brokers", cfg.Brokers, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// defaultDeps fills the dependencies a configuration may leave nil: a
// logger that discards, a metrics set of its own, the wall clock.
func defaultDeps(log **slog.Logger, set **metrics.Set, now *func() time.Time) {
	if *log == nil {
		*log = slog.New(slog.DiscardHandler)
	}
	if *set == nil {
		*set = metrics.NewSet()
	}
	if *now == nil {
		*now = time.Now
	}
}
