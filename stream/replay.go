package stream

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// CSVRecords streams a CSV file as JSON feature records.
type CSVRecords struct {
	r      *csv.Reader
	name   string
	header []string
	idCol  int // -1 = synthesize "row-<n>"
	ops    []*DriftOp
	row    int
}

// NewCSVRecords reads the header of r; idColumn names the id column (when
// absent, ids are "row-<n>"); drift features must be CSV columns.
func NewCSVRecords(r io.Reader, name, idColumn string, drift DriftSpec) (*CSVRecords, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	h, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", name, err)
	}
	c := &CSVRecords{r: cr, name: name, header: append([]string(nil), h...), idCol: -1, ops: make([]*DriftOp, len(h))}
	for i, col := range c.header {
		if col == idColumn {
			c.idCol = i
		}
	}
	for i := range drift {
		found := false
		for j, col := range c.header {
			if col == drift[i].Feature {
				c.ops[j], found = &drift[i], true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: drift feature %q is not a column", name, drift[i].Feature)
		}
	}
	return c, nil
}

// Next appends the next row as a JSON object to dst and returns it with the
// record id; io.EOF at the end.
func (c *CSVRecords) Next(dst []byte) (id string, rec []byte, err error) {
	row, err := c.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", nil, io.EOF
		}
		return "", nil, fmt.Errorf("%s: %w", c.name, err)
	}
	c.row++
	b := append(dst, '{')
	if c.idCol < 0 {
		id = "row-" + strconv.Itoa(c.row)
		b = append(b, `"id":`...)
		b = appendJSONString(b, id)
	}
	for i, v := range row {
		if len(b) > len(dst)+1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c.header[i])
		b = append(b, ':')
		if i == c.idCol {
			id = v
			b = appendJSONString(b, v)
			continue
		}
		b = appendCSVValue(b, v, c.ops[i])
	}
	return id, append(b, '}'), nil
}

// appendCSVValue writes a CSV cell as a JSON number, null or string, drifted by op.
func appendCSVValue(b []byte, v string, op *DriftOp) []byte {
	t := strings.TrimSpace(v)
	switch strings.ToLower(t) {
	case "", "na", "nan", "null", "none", "n/a":
		return append(b, "null"...)
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) {
		if op != nil {
			return strconv.AppendFloat(b, op.Apply(f), 'g', -1, 64)
		}
		if isJSONNumber(t) {
			return append(b, t...)
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	if op != nil {
		v = op.ApplyCat(v)
	}
	return appendJSONString(b, v)
}

func isJSONNumber(s string) bool {
	e, err := scanNumber([]byte(s), 0)
	return err == nil && e == len(s)
}

// ProduceOptions configures ProduceCSV.
type ProduceOptions struct {
	Client   Config
	Topic    string
	Rate     float64   // records per second, 0 = as fast as possible
	Limit    int       // 0 = all rows
	Progress io.Writer // a line per second and a summary; may be nil
}

// ProduceStats summarises a replay.
type ProduceStats struct {
	Sent, Acked, Failed int64
	FirstError          error
	Elapsed             time.Duration
}

// ProduceCSV replays src to Kafka, keyed by record id, and waits for every
// acknowledgement before returning.
func ProduceCSV(ctx context.Context, src *CSVRecords, opts ProduceOptions) (ProduceStats, error) {
	var st ProduceStats
	cl, err := NewClient(opts.Client, kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return st, err
	}
	defer cl.Close()
	var acked, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	start := time.Now()
	last := start
	progress := func(final bool) {
		if opts.Progress == nil {
			return
		}
		el := time.Since(start).Seconds()
		word := "progress"
		if final {
			word = "done"
		}
		fmt.Fprintf(opts.Progress, "%s: sent %d, acked %d, %.0f records/s, errors %d\n",
			word, st.Sent, acked.Load(), float64(acked.Load())/max(el, 1e-9), failed.Load())
	}
	var buf []byte
	for opts.Limit == 0 || st.Sent < int64(opts.Limit) {
		if ctx.Err() != nil {
			break
		}
		id, rec, err := src.Next(buf[:0])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cl.Flush(context.WithoutCancel(ctx))
			return st, err
		}
		val := append([]byte(nil), rec...)
		buf = rec
		cl.Produce(ctx, &kgo.Record{Topic: opts.Topic, Key: []byte(id), Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			acked.Add(1)
		})
		st.Sent++
		if opts.Rate > 0 {
			due := start.Add(time.Duration(float64(st.Sent) / opts.Rate * float64(time.Second)))
			if d := time.Until(due); d > time.Millisecond {
				time.Sleep(d) // pacing to the requested rate
			}
		}
		if time.Since(last) >= time.Second {
			last = time.Now()
			progress(false)
		}
	}
	if err := cl.Flush(context.WithoutCancel(ctx)); err != nil {
		return st, fmt.Errorf("flush: %w", err)
	}
	st.Acked, st.Failed, st.Elapsed = acked.Load(), failed.Load(), time.Since(start)
	if p := firstErr.Load(); p != nil {
		st.FirstError = *p
	}
	progress(true)
	if st.Failed > 0 {
		return st, fmt.Errorf("produce to %s: %d of %d records failed: %w", opts.Topic, st.Failed, st.Sent, st.FirstError)
	}
	return st, ctx.Err()
}
