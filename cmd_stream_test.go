package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProduceFailsFastWithoutBroker runs `driftd produce` against an
// address where nothing listens and one that accepts connections but never
// answers: both fail within seconds, naming the address and the reason,
// instead of waiting for ever.
func TestProduceFailsFastWithoutBroker(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "data.csv")
	if err := os.WriteFile(csv, []byte("id,f0\na,1\nb,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := closedAddr(t)
	silent := silentListener(t)
	cases := []struct {
		name string
		args []string
		addr string
		why  string
	}{
		{"nothing listens (DRIFTD_KAFKA_LISTEN)", []string{"--kafka-listen", refused}, refused, "connection refused"},
		{"a listener that never answers (--brokers)", []string{"--brokers", silent}, silent, "no kafka broker answered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := dispatch(context.Background(), append([]string{"produce", "--data", csv}, tc.args...), &stdout, &stderr)
			el := time.Since(start)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
			}
			if el > 15*time.Second {
				t.Errorf("failed after %v, want within seconds", el)
			}
			msg := stderr.String()
			for _, want := range []string{"no kafka broker answered at " + tc.addr, tc.why, "DRIFTD_KAFKA_LISTEN"} {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr %q lacks %q", msg, want)
				}
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentListener accepts connections and never answers, until the test ends.
func silentListener(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
