package stream

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
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
	// ConnectTimeout bounds the wait for a first broker to answer before
	// anything is sent (default 5s); when none does, ProduceCSV fails
	// with ErrNoBroker naming the addresses it tried.
	ConnectTimeout time.Duration
}

// ErrNoBroker is wrapped by ProduceCSV's error when no bootstrap broker
// answered within ProduceOptions.ConnectTimeout.
var ErrNoBroker = errors.New("no kafka broker answered")

// Replay delivery bounds: a record the broker has not acknowledged within
// replayDeliveryTimeout (a broker gone mid-replay) fails instead of being
// retried forever.
const (
	replayConnectTimeout  = 5 * time.Second
	replayDeliveryTimeout = 30 * time.Second
)

// ProduceStats summarises a replay.
type ProduceStats struct {
	Sent, Acked, Failed int64
	FirstError          error
	Elapsed             time.Duration
}

// ProduceCSV replays src to Kafka, keyed by record id, and waits for every
// acknowledgement before returning. It first waits up to
// opts.ConnectTimeout (default 5s) for a broker to answer and fails with ErrNoBroker,
// naming the addresses and the last connection error, when none does; a
// record not acknowledged within 30s fails with the broker's error.
func ProduceCSV(ctx context.Context, src *CSVRecords, opts ProduceOptions) (ProduceStats, error) {
	var st ProduceStats
	var dial dialError
	cl, err := NewClient(opts.Client, kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordDeliveryTimeout(replayDeliveryTimeout), kgo.WithHooks(&dial))
	if err != nil {
		return st, err
	}
	defer cl.Close()
	if err := ping(ctx, cl, opts.Client.Brokers, cmp.Or(opts.ConnectTimeout, replayConnectTimeout), &dial); err != nil {
		return st, err
	}
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
		if d := dial.last(); d != "" {
			return st, fmt.Errorf("produce to %s: %d of %d records failed: %w (last broker connection error: %s)", opts.Topic, st.Failed, st.Sent, st.FirstError, d)
		}
		return st, fmt.Errorf("produce to %s: %d of %d records failed: %w", opts.Topic, st.Failed, st.Sent, st.FirstError)
	}
	return st, ctx.Err()
}

// ping waits until one of brokers answers an ApiVersions request, retrying
// for up to timeout; it returns ErrNoBroker, wrapped with the addresses and
// the most telling error (a refused connection rather than the timeout our
// own deadline caused), when none does, and ctx's error when ctx ends first.
func ping(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, dial *dialError) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	retry := time.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	var last error // the last answer that was not cut short by the deadline
	for {
		err := cl.Ping(pctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pctx.Err() == nil {
			last = err
		} else {
			if d := dial.telling(); d != nil {
				last = d
			}
			return fmt.Errorf("%w at %s within %s: %w", ErrNoBroker, strings.Join(brokers, ","), timeout, cmp.Or(last, err))
		}
		select {
		case <-pctx.Done():
		case <-retry.C:
		}
	}
}

// dialError remembers the last failed broker connection, so that a replay
// that cannot reach its broker says why.
type dialError struct {
	err     atomic.Pointer[string]
	refused atomic.Pointer[error] // the last failure that was not a timeout
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h *dialError) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.err.Store(nil)
		h.refused.Store(nil)
		return
	}
	s := err.Error()
	h.err.Store(&s)
	var ne net.Error
	if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		h.refused.Store(&err)
	}
}

// telling returns the last connection failure that was not a timeout
// (connection refused, no such host), nil when there was none.
func (h *dialError) telling() error {
	if p := h.refused.Load(); p != nil {
		return *p
	}
	return nil
}

// last returns the last connection error, "" when the last connection worked.
func (h *dialError) last() string {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return ""
}
