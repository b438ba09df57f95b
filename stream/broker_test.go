package stream

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestBrokerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = NewBroker(BrokerConfig{Addr: ln.Addr().String()}, nil)
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("err = %v, want an error naming %s", err, ln.Addr())
	}
}

func TestBrokerPersistence(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := startBroker(t, dir)
	addr := b.Addr()
	if err := EnsureTopics(ctx, Config{Brokers: []string{addr}}, []string{"persist"}, 2, 1); err != nil {
		t.Fatal(err)
	}
	vals := make([][]byte, 50)
	for i := range vals {
		vals[i] = benchRecord(3, i)
	}
	produceValues(t, addr, "persist", vals)
	cl, err := NewClient(Config{Brokers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "persist", Partition: 0, At: 7, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "g1", offs); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Reopen on the same port and directory.
	b2, err := NewBroker(BrokerConfig{Addr: addr, DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b2.Close(ctx)
	got := readN(t, addr, "persist", len(vals), 20*time.Second)
	if len(got) != len(vals) {
		t.Fatalf("after restart: %d records, want %d", len(got), len(vals))
	}
	cl2, err := NewClient(Config{Brokers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	fetched, err := kadm.NewClient(cl2).FetchOffsets(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("persist", 0); !ok || o.At != 7 {
		t.Fatalf("committed offset after restart = %+v (found %v), want 7", o, ok)
	}
}
