package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pipelineDepth is how many scored batches may have their produces in
// flight at once: the next batch is scored while the previous one's
// acknowledgements and commit are awaited. Measured on 2 cores once drift
// checks ran on their own goroutine (bench/stream/serve.sh, real 100-round
// GBDT, drift on): 2 gave 105-108k records/s against 92k for 1, and the
// in-process BenchmarkScorerLatency50k p99 bucket 10 ms against 25 ms.
// (Before checks left the scoring workers, 2 and 3 measured slower.)
const pipelineDepth = 2

// inflight is a scored batch whose outputs are being produced. The
// committer finishes batches in poll order: it waits for every
// acknowledgement, retries failed produces, replaces an output that can
// never be produced by a dead letter, then commits the batch's offsets, so
// offsets never move past an output that is neither acknowledged nor
// dead-lettered.
type inflight struct {
	w       *batchWork
	pool    *workPool
	recs    []*kgo.Record
	dead    int // inputs whose output is a dead letter
	dropped int // inputs whose dead letter could not be produced either
	acks    sync.WaitGroup
	mu      sync.Mutex
	failed  []failure
	// origin maps an output to its input's index in recs, and says
	// whether the output is already a last-resort dead letter; built when
	// an output first cannot be produced.
	origin map[*kgo.Record]origin
}

// failure is an output whose produce failed, with the error.
type failure struct {
	r   *kgo.Record
	err error
}

type origin struct {
	in      int
	minimal bool
}

// workPool recycles the batch buffers of one deployment: a batch's output
// records point into its buffers until they are acknowledged.
type workPool struct {
	dep     *deployment
	workers int
	free    chan *batchWork
	made    int
}

func newWorkPool(dep *deployment, workers int) *workPool {
	return &workPool{dep: dep, workers: workers, free: make(chan *batchWork, pipelineDepth)}
}

// get returns free buffers, waiting for a batch to finish when all
// pipelineDepth are in flight.
func (p *workPool) get() *batchWork {
	select {
	case w := <-p.free:
		return w
	default:
	}
	if p.made < pipelineDepth {
		p.made++
		return newBatchWork(p.dep, p.workers)
	}
	return <-p.free
}

// pipeline tracks the batches in flight and runs their committer.
type pipeline struct {
	s     *Scorer
	ctx   context.Context // hard stop: aborts produce retries
	queue chan *inflight
	done  chan struct{}

	mu      sync.Mutex
	idle    *sync.Cond
	pending int
	broken  bool // a batch was abandoned: commit nothing after it
}

func newPipeline(s *Scorer, hard context.Context) *pipeline {
	p := &pipeline{s: s, ctx: hard, queue: make(chan *inflight, pipelineDepth), done: make(chan struct{})}
	p.idle = sync.NewCond(&p.mu)
	go p.commitLoop()
	return p
}

// submit produces every output of a scored batch and queues it for the
// committer.
func (p *pipeline) submit(b *inflight) {
	p.mu.Lock()
	p.pending++
	p.mu.Unlock()
	p.produce(b, b.w.records)
	p.queue <- b
}

// produce sends recs, counting their acknowledgements in b.
func (p *pipeline) produce(b *inflight, recs []*kgo.Record) {
	b.acks.Add(len(recs))
	cb := func(r *kgo.Record, err error) {
		if err != nil {
			b.mu.Lock()
			b.failed = append(b.failed, failure{r, err})
			b.mu.Unlock()
		}
		b.acks.Done()
	}
	for _, r := range recs {
		p.s.client.Produce(p.ctx, r, cb)
	}
}

// drain waits until every batch submitted so far is finished (before a
// rebalance revokes partitions, and before the scorer stops).
func (p *pipeline) drain() {
	p.mu.Lock()
	for p.pending > 0 {
		p.idle.Wait()
	}
	p.mu.Unlock()
}

// close drains the pipeline and stops the committer.
func (p *pipeline) close() {
	close(p.queue)
	<-p.done
}

func (p *pipeline) commitLoop() {
	defer close(p.done)
	for b := range p.queue {
		p.mu.Lock()
		broken := p.broken
		p.mu.Unlock()
		err := p.finish(b, broken)
		if err != nil {
			p.s.setError(err)
			p.s.log.Error("batch not committed (will be redelivered)", "err", err)
		}
		b.pool.free <- b.w
		p.mu.Lock()
		if err != nil && !broken {
			p.broken = errIsAbandon(err)
		}
		p.pending--
		if p.pending == 0 {
			p.idle.Broadcast()
		}
		p.mu.Unlock()
	}
}

// abandonError marks a batch whose outputs were not all acknowledged:
// committing any later batch would skip its records.
type abandonError struct{ err error }

func (e *abandonError) Error() string { return e.err.Error() }
func (e *abandonError) Unwrap() error { return e.err }

func errIsAbandon(err error) bool {
	_, ok := err.(*abandonError)
	return ok
}

// finish waits for b's acknowledgements (retrying failures with backoff
// until the hard stop, dead-lettering outputs that can never be produced),
// updates the counters and commits b's offsets, unless an earlier batch was
// abandoned.
func (p *pipeline) finish(b *inflight, broken bool) error {
	s := p.s
	backoff := 100 * time.Millisecond
	for {
		b.acks.Wait()
		b.mu.Lock()
		failed := b.failed
		b.failed = nil
		b.mu.Unlock()
		if len(failed) == 0 {
			break
		}
		s.produceErrs.Add(uint64(len(failed)))
		for _, f := range failed {
			newTopicMetricsFor(s, f.r.Topic).producerErrors.Inc()
		}
		if p.ctx.Err() != nil {
			return &abandonError{fmt.Errorf("produce %d records: %w", len(failed), failed[0].err)}
		}
		retry, err := p.replaceUnproducible(b, failed)
		if len(retry) == 0 {
			continue // replacements, if any, are in flight
		}
		if ke := (*kerr.Error)(nil); errors.As(err, &ke) && !kerr.IsRetriable(ke) {
			s.log.Error("produce failed with an error that needs the cluster fixed, retrying", "records", len(retry), "err", err)
		} else {
			s.log.Warn("produce failed, retrying", "records", len(retry), "err", err)
		}
		s.setError(fmt.Errorf("produce: %w", err))
		select {
		case <-p.ctx.Done():
			return &abandonError{fmt.Errorf("produce %d records: %w", len(retry), p.ctx.Err())}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
		for _, r := range retry {
			r.Partition, r.Offset = 0, 0 // let the partitioner choose again
		}
		p.produce(b, retry)
	}
	n, dead, dropped := len(b.recs), b.dead, b.dropped
	now := time.Now()
	for _, r := range b.recs {
		s.m.latency.Update(now.Sub(r.Timestamp).Seconds())
	}
	s.m.preds.produced.Add(n - dead - dropped)
	s.m.deadLetter.produced.Add(dead)
	s.m.features.deadLettered.Add(dead)
	s.consumed.Add(uint64(n))
	s.produced.Add(uint64(n - dead - dropped))
	s.deadLettered.Add(uint64(dead))
	s.dropped.Add(uint64(dropped))
	if cb := s.cfg.OnPrediction; cb != nil {
		for i := range b.w.outs {
			if o := &b.w.outs[i]; o.err == nil {
				cb(o.id, o.score, o.label)
			}
		}
	}
	if broken {
		return &abandonError{fmt.Errorf("batch of %d records after an abandoned batch", n)}
	}
	return s.commit(p.ctx, b.recs)
}

// replaceUnproducible sorts failed outputs: those that can never be
// produced are replaced by dead letters of their inputs, which are produced
// (counted in b's acknowledgements); it returns the rest, to retry, and the
// error of the first of them.
//
// A broker refuses a whole batch when one record in it is too large, so an
// output that fails for its size or content is first produced again on its
// own: only one that fails alone is dead-lettered. A dead letter that fails
// too is replaced by one without the input's key, value and headers, and if
// even that fails, the input is dropped, logged and counted (Status.Dropped).
func (p *pipeline) replaceUnproducible(b *inflight, failed []failure) (retry []*kgo.Record, err error) {
	s := p.s
	var replace []*kgo.Record
	for _, f := range failed {
		if !unproducible(f.err) {
			retry = append(retry, f.r)
			if err == nil {
				err = f.err
			}
			continue
		}
		f.r.Partition, f.r.Offset = 0, 0
		alone := s.solo.ProduceSync(p.ctx, f.r).FirstErr()
		if alone == nil {
			continue
		}
		if !unproducible(alone) {
			retry = append(retry, f.r)
			if err == nil {
				err = alone
			}
			continue
		}
		o := p.originOf(b, f.r)
		in, out := b.recs[o.in], &b.w.outs[o.in]
		at := fmt.Sprintf("%s/%d/%d", in.Topic, in.Partition, in.Offset)
		switch {
		case f.r.Topic != s.cfg.Topics.DeadLetter:
			s.log.Warn("prediction cannot be produced, dead-lettering its input", "partition", in.Partition, "offset", in.Offset, "err", alone)
			out.err = fmt.Errorf("its prediction cannot be produced: %w", alone)
			b.dead++
			dl := deadLetterRecord(s.cfg.Topics.DeadLetter, in, fmt.Errorf("%s: %w", at, out.err))
			b.origin[dl] = origin{in: o.in}
			replace = append(replace, dl)
		case !o.minimal:
			s.log.Warn("dead letter cannot be produced, sending one without the input", "partition", in.Partition, "offset", in.Offset, "err", alone)
			dl := minimalDeadLetter(s.cfg.Topics.DeadLetter, in, fmt.Errorf("%s: %w (and the dead letter with its content cannot be produced: %w)", at, out.err, alone))
			b.origin[dl] = origin{in: o.in, minimal: true}
			replace = append(replace, dl)
		default:
			s.log.Error("input dropped: not even a dead letter without its content can be produced", "partition", in.Partition, "offset", in.Offset, "reason", out.err, "err", alone)
			b.dead--
			b.dropped++
		}
		s.setError(fmt.Errorf("%s: %w", at, alone))
	}
	p.produce(b, replace)
	return retry, err
}

// originOf returns the input index of output r of b.
func (p *pipeline) originOf(b *inflight, r *kgo.Record) origin {
	if b.origin == nil {
		b.origin = make(map[*kgo.Record]origin, len(b.w.records))
		for i, out := range b.w.records {
			b.origin[out] = origin{in: i}
		}
	}
	return b.origin[r]
}
