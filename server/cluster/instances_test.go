package cluster

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClusterInstanceRecord(t *testing.T) {
	in := Instance{ID: "host/127.0.0.1:8091/pid-4", Role: "worker", Host: "host", HTTPAddr: "127.0.0.1:8091",
		Started: countsT0, At: countsT0.Add(time.Minute), Model: "churn", Version: "1.0.0", Partitions: []int32{0, 2},
		Consumed: 1234, RecordsPerSecond: 56.5, Lag: -1}
	got, err := DecodeInstance(EncodeInstance(in))
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, in)
	}
	for _, tc := range []struct{ in, want string }{
		{`{`, "instance record"},
		{`{"role":"worker","at":"2026-01-02T03:04:00Z"}`, "id of 0 bytes"},
		{`{"id":"` + strings.Repeat("x", maxNameBytes+1) + `","at":"2026-01-02T03:04:00Z"}`, "id of 1025 bytes"},
		{`{"id":"w"}`, "no heartbeat time"},
		{`{"id":"w","at":"yesterday"}`, "instance record"},
	} {
		if _, err := DecodeInstance([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeInstance(%.40s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzDecodeInstance(f *testing.F) {
	f.Add(EncodeInstance(Instance{ID: "w", Role: "worker", At: countsT0, Partitions: []int32{1}, Lag: -1}))
	f.Add([]byte(`{"id":"","at":"2026-01-02T03:04:00Z"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		in, err := DecodeInstance(p)
		if err != nil {
			return
		}
		if in.ID == "" || in.At.IsZero() {
			t.Fatalf("accepted a record breaking its invariants: %+v", in)
		}
		if _, err := DecodeInstance(EncodeInstance(in)); err != nil {
			t.Fatalf("a decoded record does not decode again once encoded: %v", err)
		}
	})
}

// TestClusterInstancesTTL: an instance is live for TTL after its heartbeat
// arrives; one read back at start counts from when it was sent, so a
// process dead for long is not listed; a tombstone removes one at once.
// Live lists the primary first, then by role and id.
func TestClusterInstancesTTL(t *testing.T) {
	clock := newFakeClock(countsT0)
	is, err := NewInstances(InstancesConfig{TTL: 10 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	beat := func(off int64, in Instance, replayed bool) {
		in.At = clock.Now().Add(-time.Second)
		if replayed {
			in.At = clock.Now().Add(-time.Hour)
		}
		is.apply(logRecord{Topic: InstancesTopic, Offset: off, Key: []byte(in.ID), Value: EncodeInstance(in)}, replayed, clock.Now())
	}
	beat(0, Instance{ID: "dead/1", Role: "worker"}, true)
	beat(1, Instance{ID: "w/2", Role: "worker"}, false)
	beat(2, Instance{ID: "w/1", Role: "worker"}, false)
	beat(3, Instance{ID: "p/9", Role: "primary"}, false)
	beat(4, Instance{ID: "t/1", Role: "trainer"}, false)
	ids := func() []string {
		var out []string
		for _, in := range is.Live() {
			out = append(out, in.ID)
		}
		return out
	}
	if got, want := ids(), []string{"p/9", "t/1", "w/1", "w/2"}; !slices.Equal(got, want) {
		t.Fatalf("Live() = %v, want %v", got, want)
	}
	if is.IsLive("dead/1") || !is.IsLive("w/1") {
		t.Fatal("IsLive: a process whose replayed heartbeat is an hour old is live, or a fresh one is not")
	}
	is.apply(logRecord{Topic: InstancesTopic, Offset: 5, Key: []byte("w/2")}, false, clock.Now())
	clock.Add(10 * time.Second)
	beat(6, Instance{ID: "w/1", Role: "worker"}, false)
	if got, want := ids(), []string{"p/9", "t/1", "w/1"}; !slices.Equal(got, want) {
		t.Fatalf("after a tombstone of w/2: Live() = %v, want %v", got, want)
	}
	clock.Add(time.Second)
	if got, want := ids(), []string{"w/1"}; !slices.Equal(got, want) {
		t.Fatalf("11s on, only w/1 beat again: Live() = %v, want %v", got, want)
	}
	is.apply(logRecord{Topic: InstancesTopic, Offset: 7, Key: []byte("other"), Value: EncodeInstance(Instance{ID: "w/3", At: clock.Now()})}, false, clock.Now())
	if is.IsLive("w/3") || is.IsLive("other") {
		t.Fatal("a record keyed other than its instance id was taken")
	}
}

// TestClusterHeartbeats: two processes' heartbeats through the embedded
// broker are listed live, the primary first, with what they sent; one
// closing cleanly disappears at once (its tombstone), well before the TTL.
func TestClusterHeartbeats(t *testing.T) {
	ctx := context.Background()
	kafka := startCluster(t, 1)
	is, err := NewInstances(InstancesConfig{Kafka: kafka, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	is.Start(ctx)
	defer is.Close()
	start := func(in Instance) *Heartbeat {
		h, err := NewHeartbeat(HeartbeatConfig{Kafka: kafka, Every: 50 * time.Millisecond, Snapshot: func() Instance { return in }})
		if err != nil {
			t.Fatal(err)
		}
		h.Start(ctx)
		return h
	}
	worker := start(Instance{ID: "host-b/:8092/pid-2", Role: "worker", Model: "churn", Version: "1.0.0", Partitions: []int32{1, 2}, Lag: 7})
	primary := start(Instance{ID: "host-a/:8091/pid-1", Role: "primary", Partitions: []int32{0}, Lag: -1})
	defer primary.Close(ctx)
	waitUntil(t, "both instances live", func() bool { return len(is.Live()) == 2 })
	live := is.Live()
	if live[0].ID != "host-a/:8091/pid-1" || live[1].ID != "host-b/:8092/pid-2" || live[1].Model != "churn" ||
		!slices.Equal(live[1].Partitions, []int32{1, 2}) || live[1].Lag != 7 || live[1].At.IsZero() {
		t.Fatalf("Live() = %+v, want the primary then the worker, as they sent them", live)
	}
	if err := worker.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the closed worker gone", func() bool { return !is.IsLive("host-b/:8092/pid-2") })
	if live := is.Live(); len(live) != 1 || live[0].ID != "host-a/:8091/pid-1" {
		t.Fatalf("after the worker's Close: Live() = %+v, want the primary only", live)
	}
}
