package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer delivery bounds. A record that cannot be delivered within
// producerDeliveryTimeout (broker down, topic never resolvable) fails instead
// of being retried forever; each produce request may take the broker up to
// producerRequestTimeout. A record's context ends its wait sooner.
const (
	producerLinger          = 5 * time.Millisecond
	producerDeliveryTimeout = 30 * time.Second
	producerRequestTimeout  = 10 * time.Second
)

// ProducerStats counts what a Producer has done since it was made.
type ProducerStats struct {
	Sent       int64  // records handed to Produce
	Acked      int64  // records the broker acknowledged
	Failed     int64  // records that failed for good
	FirstError string // the first failure, "" when none
}

// Producer produces records asynchronously, counting acknowledgements and
// failures. It is safe for concurrent use.
type Producer struct {
	cl *kgo.Client

	sent, acked, failed atomic.Int64
	lastDial            atomic.Pointer[string] // the last failed broker connection

	mu          sync.Mutex
	firstErr    error // first failure ever
	pendingErr  error // first failure since the last Flush
	pendingFail int64 // failures since the last Flush
}

// NewProducer returns a producer for the configuration; it connects lazily,
// on the first Produce. It returns an error only for a bad configuration.
func NewProducer(cfg Config) (*Producer, error) {
	p := &Producer{}
	cl, err := NewClient(cfg,
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(producerLinger),
		kgo.RecordDeliveryTimeout(producerDeliveryTimeout),
		kgo.ProduceRequestTimeout(producerRequestTimeout),
		kgo.WithHooks(dialHook{p}),
	)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	p.cl = cl
	return p, nil
}

// Produce queues one record for topic and returns without waiting for the
// broker. It blocks only while the client's buffer is full, until ctx ends.
// ctx also bounds the record's delivery: if it ends before the record is
// written, the record fails with ctx's error. Failures are counted in Stats
// and reported by Flush.
func (p *Producer) Produce(ctx context.Context, topic string, key, value []byte) {
	p.sent.Add(1)
	p.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}, func(r *kgo.Record, err error) {
		if err == nil {
			p.acked.Add(1)
			return
		}
		p.fail(r.Topic, err)
	})
}

// fail counts one failed record and keeps the first error, with the last
// broker connection error when the record failed while waiting.
func (p *Producer) fail(topic string, err error) {
	p.failed.Add(1)
	err = fmt.Errorf("produce to %s: %w", topic, err)
	if d := p.lastDial.Load(); d != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrRecordTimeout)) {
		err = fmt.Errorf("%w (last broker connection error: %s)", err, *d)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr == nil {
		p.firstErr = err
	}
	if p.pendingErr == nil {
		p.pendingErr = err
	}
	p.pendingFail++
}

// Flush waits until every record produced so far is acknowledged or has
// failed. It returns ctx's error, wrapped, when ctx ends first, and otherwise
// an error wrapping the first failure when records failed since the previous
// Flush.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	p.mu.Lock()
	n, err := p.pendingFail, p.pendingErr
	p.pendingFail, p.pendingErr = 0, nil
	p.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("%d records failed: %w", n, err)
	}
	return nil
}

// Stats returns the counters so far.
func (p *Producer) Stats() ProducerStats {
	st := ProducerStats{Sent: p.sent.Load(), Acked: p.acked.Load(), Failed: p.failed.Load()}
	p.mu.Lock()
	if p.firstErr != nil {
		st.FirstError = p.firstErr.Error()
	}
	p.mu.Unlock()
	return st
}

// Close closes the client; records not yet delivered fail, so Flush first.
func (p *Producer) Close() { p.cl.Close() }

// dialHook remembers the last failed broker connection, so that a record that
// times out waiting for an unreachable broker says why.
type dialHook struct{ p *Producer }

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h dialHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.p.lastDial.Store(nil)
		return
	}
	s := err.Error()
	h.p.lastDial.Store(&s)
}
