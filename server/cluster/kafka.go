package cluster

// This file and lease.go hold every franz-go call of the package (the rest
// speaks in logRecord and position), so that they can move into package
// stream, the project's Kafka package, unchanged.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	cl, err := stream.NewClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if replication == 0 {
		replication = -1
	}
	compact := "compact"
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, replication, map[string]*string{"cleanup.policy": &compact},
		DeploymentsTopic, ArtifactsTopic)
	if err != nil {
		return fmt.Errorf("create topics %s, %s: %w", DeploymentsTopic, ArtifactsTopic, err)
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

// produce writes recs and waits for every acknowledgement, in order.
func (l *kafkaLog) produce(ctx context.Context, recs ...logRecord) error {
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	if err := l.cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", recs[0].Topic, err)
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
