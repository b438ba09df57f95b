package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// worker holds one goroutine's decoding scratch space.
type worker struct {
	dec   *Decoder
	rec   Decoded
	arena []byte // prediction JSON of the current batch
}

// output is the result for one input record.
type output struct {
	err        error // decode error: dead-letter
	start, end int   // prediction bytes in the worker's arena
	worker     int
	id, label  string
	score      float64
}

// batchWork is the reusable state for scoring batches with one deployment.
type batchWork struct {
	dep     *deployment
	prefix  []byte // `","model":"…","version":"…","score":`
	workers []*worker
	outs    []output
	records []*kgo.Record
}

func newBatchWork(dep *deployment, n int) *batchWork {
	w := &batchWork{dep: dep}
	w.prefix = append(w.prefix, `","model":`...)
	w.prefix = appendJSONString(w.prefix, dep.model.Name())
	w.prefix = append(w.prefix, `,"version":`...)
	w.prefix = appendJSONString(w.prefix, dep.model.Version())
	w.prefix = append(w.prefix, `,"score":`...)
	schema := dep.model.Schema()
	for range n {
		w.workers = append(w.workers, &worker{dec: NewDecoder(schema)})
	}
	return w
}

// score decodes and scores recs[lo:hi] with worker wi, appending the
// predictions to its arena.
func (w *batchWork) score(wi int, recs []*kgo.Record, lo, hi int) {
	wk := w.workers[wi]
	m, obs := w.dep.model, w.dep.obs
	for i := lo; i < hi; i++ {
		r, o := recs[i], &w.outs[i]
		*o = output{worker: wi}
		if err := wk.dec.Decode(r.Value, &wk.rec); err != nil {
			o.err = err
			continue
		}
		id := wk.rec.ID
		if id == "" && len(r.Key) > MaxIDBytes {
			o.err = fieldErr("id", "record has no \"id\" and its key is too long to serve as one: %d bytes (at most %d)", len(r.Key), MaxIDBytes)
			continue
		}
		score, label := m.Score(&wk.rec)
		if obs != nil {
			obs.Observe(&wk.rec, score)
		}
		if id == "" {
			id = string(r.Key)
		}
		if id == "" {
			id = r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
		}
		ts := r.Timestamp
		if wk.rec.HasTS {
			ts = wk.rec.TS
		}
		o.id, o.label, o.score = id, label, score
		o.start = len(wk.arena)
		wk.arena = appendPrediction(wk.arena, w.prefix, id, score, label, ts)
		o.end = len(wk.arena)
	}
}

// appendPrediction appends {"id","model","version","score","label","ts"}.
func appendPrediction(b, prefix []byte, id string, score float64, label string, ts time.Time) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, id)
	b = append(b, prefix[1:]...) // prefix starts with the id's closing quote
	if math.IsNaN(score) || math.IsInf(score, 0) {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendFloat(b, score, 'g', -1, 64)
	}
	b = append(b, `,"label":`...)
	b = appendJSONString(b, label)
	b = append(b, `,"ts":"`...)
	b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// scoreBatch decodes and scores recs with w's workers and builds their
// output records (predictions, or dead letters with the reason).
func (s *Scorer) scoreBatch(w *batchWork, recs []*kgo.Record) (dead int) {
	n := len(recs)
	if cap(w.outs) < n {
		w.outs = make([]output, n)
	}
	w.outs = w.outs[:n]
	nw := len(w.workers)
	if n < 64 {
		nw = 1
	}
	// Workers take chunks of the batch as they go rather than a fixed
	// share, so one that stops to evaluate a drift check does not leave
	// the batch waiting for it.
	const chunk = 128
	var next atomic.Int64
	work := func(k int) {
		w.workers[k].arena = w.workers[k].arena[:0]
		for {
			lo := int(next.Add(chunk)) - chunk
			if lo >= n {
				return
			}
			w.score(k, recs, lo, min(lo+chunk, n))
		}
	}
	var wg sync.WaitGroup
	for k := range nw - 1 {
		wg.Go(func() { work(k) })
	}
	work(nw - 1)
	wg.Wait()

	t := s.cfg.Topics
	w.records = w.records[:0]
	var bytes int64
	for i, r := range recs {
		bytes += int64(len(r.Value))
		o := &w.outs[i]
		if o.err != nil {
			dead++
			w.records = append(w.records, deadLetterRecord(t.DeadLetter, r, fmt.Errorf("%s/%d/%d: %w", r.Topic, r.Partition, r.Offset, o.err)))
			continue
		}
		v := w.workers[o.worker].arena[o.start:o.end]
		w.records = append(w.records, &kgo.Record{Topic: t.Predictions, Key: r.Key, Value: v})
	}
	s.m.features.consumed.Add(n)
	s.m.features.consumedBytes.AddInt64(bytes)
	s.m.batch.Update(float64(n))
	return dead
}

func newTopicMetricsFor(s *Scorer, topic string) topicMetrics {
	if topic == s.cfg.Topics.DeadLetter {
		return s.m.deadLetter
	}
	return s.m.preds
}

// commit commits the highest offset per partition of recs.
func (s *Scorer) commit(ctx context.Context, recs []*kgo.Record) error {
	last := make(map[int32]*kgo.Record)
	for _, r := range recs {
		if p, ok := last[r.Partition]; !ok || r.Offset > p.Offset {
			last[r.Partition] = r
		}
	}
	top := make([]*kgo.Record, 0, len(last))
	for _, r := range last {
		top = append(top, r)
	}
	if err := s.client.CommitRecords(ctx, top...); err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("commit offsets: %w", err)
		}
		return fmt.Errorf("commit offsets (outputs were acknowledged; a restart may duplicate them): %w", err)
	}
	s.commits.Add(1)
	return nil
}
