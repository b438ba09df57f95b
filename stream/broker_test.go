package stream

import (
	"context"
	"net"
	"slices"
	"strconv"
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

// TestBrokerCluster runs three brokers in one process: each listens on its
// own TCP port, metadata lists all three, a topic created with replication
// 3 reports three replicas per partition with leaders on more than one
// broker, and records produced through one broker's address are read back
// through another's.
func TestBrokerCluster(t *testing.T) {
	ctx := context.Background()
	b, err := NewBroker(BrokerConfig{Addr: "127.0.0.1:0", Brokers: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	addrs := b.Addrs()
	if len(addrs) != 3 || addrs[0] == addrs[1] || addrs[1] == addrs[2] {
		t.Fatalf("addrs = %v, want three distinct addresses", addrs)
	}
	if err := EnsureTopics(ctx, Config{Brokers: addrs}, []string{"replicated"}, 6, 3); err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(Config{Brokers: addrs[2:]})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, "replicated")
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("metadata lists %d brokers, want 3", len(md.Brokers))
	}
	for _, mb := range md.Brokers {
		if !slices.Contains(addrs, net.JoinHostPort(mb.Host, strconv.Itoa(int(mb.Port)))) {
			t.Errorf("broker %d advertises %s:%d, not one of %v", mb.NodeID, mb.Host, mb.Port, addrs)
		}
	}
	leaders := map[int32]bool{}
	for _, p := range md.Topics["replicated"].Partitions {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Errorf("partition %d: replicas %v isr %v, want 3 of each", p.Partition, p.Replicas, p.ISR)
		}
		leaders[p.Leader] = true
	}
	if len(leaders) < 2 {
		t.Errorf("partition leaders all on %v, want them spread over the brokers", leaders)
	}
	vals := make([][]byte, 30)
	for i := range vals {
		vals[i] = benchRecord(2, i)
	}
	produceValues(t, addrs[0], "replicated", vals)
	if got := readN(t, addrs[1], "replicated", len(vals), 20*time.Second); len(got) != len(vals) {
		t.Fatalf("read %d records through broker 1, want %d", len(got), len(vals))
	}
}

func TestListedAddrs(t *testing.T) {
	for _, tc := range []struct {
		addrs []string
		n     int
		err   bool
	}{
		{[]string{"127.0.0.1:9092", "127.0.0.1:9500"}, 1, false},
		{[]string{"127.0.0.1:9092", "127.0.0.1:9500"}, 2, false},
		{[]string{"127.0.0.1:9092", "127.0.0.1:9500"}, 3, true},
		{[]string{"127.0.0.1:9092", "nohost"}, 0, true},
	} {
		got, err := listedAddrs(tc.addrs, tc.n)
		if (err != nil) != tc.err || (err == nil && !slices.Equal(got, tc.addrs)) {
			t.Errorf("listedAddrs(%q, %d) = %v, %v; want error %v", tc.addrs, tc.n, got, err, tc.err)
		}
	}
}

func TestBrokerAddrs(t *testing.T) {
	for _, tc := range []struct {
		addr string
		n    int
		want []string
		err  bool
	}{
		{"127.0.0.1:9092", 3, []string{"127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094"}, false},
		{"127.0.0.1:0", 2, []string{"127.0.0.1:0", "127.0.0.1:0"}, false},
		{"127.0.0.1:65535", 2, nil, true},
		{"nohost", 1, nil, true},
	} {
		got, err := brokerAddrs(tc.addr, tc.n)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("brokerAddrs(%q, %d) = %v, %v; want %v (error %v)", tc.addr, tc.n, got, err, tc.want, tc.err)
		}
	}
}
