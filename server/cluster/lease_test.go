package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestLease: the first primary takes the lease, a second is refused with
// the holder named, and once the first releases it the second takes it.
func TestClusterLease(t *testing.T) {
	ctx := context.Background()
	kafka := startCluster(t, 3)
	first, err := AcquireLease(ctx, LeaseConfig{Kafka: kafka, Instance: "host-a/127.0.0.1:8091/pid-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLease(ctx, LeaseConfig{Kafka: kafka, Instance: "host-b/127.0.0.1:8091/pid-2"})
	holder, ok := LeaseHolder(err)
	if !errors.Is(err, ErrLeaseHeld) || !ok || holder != "host-a/127.0.0.1:8091/pid-1" || !strings.Contains(err.Error(), "host-a/127.0.0.1:8091/pid-1") {
		t.Fatalf("second primary: err = %v (holder %q), want ErrLeaseHeld naming host-a", err, holder)
	}
	first.Release()
	second, err := AcquireLease(ctx, LeaseConfig{Kafka: kafka, Instance: "host-b/127.0.0.1:8091/pid-2"})
	if err != nil {
		t.Fatalf("after the first released the lease: %v", err)
	}
	second.Release()
}

func TestClusterSameInstance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"h/127.0.0.1:8080/pid-1", "h/127.0.0.1:8080/pid-2", true},
		{"h/127.0.0.1:8080/pid-1", "h/127.0.0.1:8080/pid-1", false}, // the same name twice: two processes
		{"h/127.0.0.1:8080/pid-1", "g/127.0.0.1:8080/pid-2", false},
		{"h/127.0.0.1:8080/pid-1", "h/127.0.0.1:8081/pid-1", false},
	} {
		if got := sameInstance(tc.a, tc.b); got != tc.want {
			t.Errorf("sameInstance(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
