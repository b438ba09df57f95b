package stream

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestProducerRoundTrip(t *testing.T) {
	b := startBroker(t, "")
	p, err := NewProducer(Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 500
	ctx := context.Background()
	for i := range n {
		p.Produce(ctx, "produced", fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, `{"i":%d}`, i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st != (ProducerStats{Sent: n, Acked: n}) {
		t.Fatalf("stats = %+v, want %d sent and acked", st, n)
	}
	got := map[string]string{}
	for _, r := range readN(t, b.Addr(), "produced", n, 20*time.Second) {
		got[string(r.Key)] = string(r.Value)
	}
	if len(got) != n {
		t.Fatalf("read back %d distinct keys, want %d", len(got), n)
	}
	for i := range n {
		if k, want := fmt.Sprintf("k%d", i), fmt.Sprintf(`{"i":%d}`, i); got[k] != want {
			t.Fatalf("key %s: value %q, want %q", k, got[k], want)
		}
	}
}

func TestProducerUnreachableBroker(t *testing.T) {
	p, err := NewProducer(Config{Brokers: []string{freeAddr(t)}}) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	p.Produce(ctx, "nowhere", []byte("k"), []byte("v"))
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	err = p.Flush(fctx)
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "1 records failed") || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("flush err = %v, want the failed record reported", err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("the failure took %v, want it within the record's 1s deadline (plus slack)", elapsed)
	}
	st := p.Stats()
	t.Logf("first error: %s", st.FirstError)
	if st.Sent != 1 || st.Acked != 0 || st.Failed != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if !strings.Contains(st.FirstError, "deadline exceeded") || !strings.Contains(st.FirstError, "connection refused") {
		t.Fatalf("first error %q does not say the deadline passed while the broker was unreachable", st.FirstError)
	}
	// The failure is reported once; a later Flush with nothing new is clean.
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("second flush: %v", err)
	}
}

func TestProducerFlushHonoursContext(t *testing.T) {
	p, err := NewProducer(Config{Brokers: []string{freeAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Produce(context.Background(), "nowhere", nil, []byte("v")) // waits up to the delivery timeout
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Flush(ctx); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("flush err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("flush took %v after a 200ms deadline", d)
	}
}

func TestNewProducerBadConfig(t *testing.T) {
	if _, err := NewProducer(Config{}); err == nil || !strings.Contains(err.Error(), "no bootstrap brokers") {
		t.Fatalf("err = %v", err)
	}
}
