package stream

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchSchema returns n numeric features f0..f(n-1).
func benchSchema(n int) Schema {
	s := Schema{Names: make([]string, n), Categorical: make([]bool, n)}
	for i := range n {
		s.Names[i] = fmt.Sprintf("f%d", i)
	}
	return s
}

// benchRecord returns a JSON record with n numeric features (~470 bytes for 28).
func benchRecord(n int, seq int) []byte {
	r := rand.New(rand.NewPCG(uint64(seq), 7))
	b := []byte(`{"id":"row-` + strconv.Itoa(seq) + `"`)
	for i := range n {
		b = fmt.Appendf(b, `,"f%d":%.6f`, i, r.NormFloat64()*3)
	}
	return append(b, '}')
}

// sumModel is a small real Model: score = sum of features, label by sign.
type sumModel struct {
	version string
	schema  Schema
}

func (m *sumModel) Name() string    { return "sum" }
func (m *sumModel) Version() string { return m.version }
func (m *sumModel) Schema() Schema  { return m.schema }
func (m *sumModel) Score(r *Decoded) (float64, string) {
	s := 0.0
	for _, v := range r.Num {
		if v == v {
			s += v
		}
	}
	if s > 0 {
		return s, "pos"
	}
	return s, "neg"
}

// countObserver counts observations.
type countObserver struct{ n atomic.Int64 }

func (o *countObserver) Observe(*Decoded, float64) { o.n.Add(1) }

// startBroker starts an embedded broker on a free port in dir ("" = memory).
func startBroker(t testing.TB, dir string) *Broker {
	t.Helper()
	b, err := NewBroker(BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, Partitions: 3}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// produceValues produces the values (keyed by index) and waits for acks.
func produceValues(t testing.TB, addr, topic string, vals [][]byte) {
	t.Helper()
	cl, err := NewClient(Config{Brokers: []string{addr}}, kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(vals))
	for i, v := range vals {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: v}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readN reads topic from the start until n records arrived or the deadline passed.
func readN(t testing.TB, addr, topic string, n int, within time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := NewClient(Config{Brokers: []string{addr}}, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		f := cl.PollFetches(ctx)
		out = append(out, f.Records()...)
	}
	if len(out) < n {
		t.Fatalf("topic %s: got %d records within %v, want %d", topic, len(out), within, n)
	}
	return out
}

// waitFor polls cond until true or fails after within.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// assertCommitted waits until the group's committed offsets on topic sum to total.
func assertCommitted(t testing.TB, addr, group, topic string, total int64) {
	t.Helper()
	cl, err := NewClient(Config{Brokers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var sum int64
	waitFor(t, 10*time.Second, fmt.Sprintf("group %s committed %d on %s", group, total, topic), func() bool {
		offs, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			return false
		}
		sum = 0
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				sum += o.At
			}
		})
		return sum == total
	})
}
