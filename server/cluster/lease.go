package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"driftd/stream"
)

// LeaseGroup is the consumer group whose one member is the primary.
const LeaseGroup = "driftd-primary"

// ErrLeaseHeld is returned by AcquireLease when another primary holds the
// lease.
var ErrLeaseHeld = errors.New("another primary holds the lease")

// kafkaWait is how long a starting process waits for the brokers.
const kafkaWait = 30 * time.Second

// LeaseConfig configures AcquireLease.
type LeaseConfig struct {
	Kafka stream.Config
	// Instance names this process ("host/addr/pid-N"); the lease's holder is
	// reported by it.
	Instance string
	// SessionTimeout is how long after a holder's last heartbeat its lease
	// expires (default 10s): a primary killed without leaving holds it that
	// long.
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

// Lease is the primary's membership of LeaseGroup, kept alive by the
// client's heartbeats until Release (or the process's death plus the
// session timeout).
type Lease struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// AcquireLease makes this process the primary: it fails with ErrLeaseHeld,
// naming the holder, when LeaseGroup has a member already. A holder that is
// an earlier run of this very instance (same host and address, another
// pid) is waited for until its session expires. Two primaries that join at
// once both see two members; the one with the smaller member id keeps the
// lease and the other gives it up.
func AcquireLease(ctx context.Context, cfg LeaseConfig) (*Lease, error) {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := WaitForKafka(ctx, cfg.Kafka, kafkaWait, cfg.Logger); err != nil {
		return nil, fmt.Errorf("primary lease: %w", err)
	}
	if err := ensureTopics(ctx, cfg.Kafka, -1); err != nil {
		return nil, fmt.Errorf("primary lease: %w", err)
	}
	admCl, err := stream.NewClient(cfg.Kafka)
	if err != nil {
		return nil, fmt.Errorf("primary lease: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	deadline := time.Now().Add(cfg.SessionTimeout + 5*time.Second)
	for {
		members, err := leaseMembers(ctx, adm)
		if err != nil {
			return nil, err
		}
		if len(members) == 0 {
			break
		}
		h := members[0]
		if sameInstance(h.ClientID, cfg.Instance) && time.Now().Before(deadline) {
			cfg.Logger.Info("waiting for the lease of an earlier run of this instance to expire", "holder", h.ClientID, "session_timeout", cfg.SessionTimeout)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		return nil, &LeaseHeldError{Holder: h.ClientID, msg: fmt.Sprintf("%v: %s (from %s); stop it, or run this one as a worker (DRIFTD_ROLE=worker). A primary killed without leaving holds it %s after its last heartbeat",
			ErrLeaseHeld, h.ClientID, h.ClientHost, cfg.SessionTimeout)}
	}
	cl, err := stream.NewClient(cfg.Kafka, kgo.ClientID(cfg.Instance), kgo.ConsumerGroup(LeaseGroup), kgo.ConsumeTopics(DeploymentsTopic),
		kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(cfg.SessionTimeout/5), kgo.DisableAutoCommit())
	if err != nil {
		return nil, fmt.Errorf("primary lease: %w", err)
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Lease{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for pctx.Err() == nil {
			if cl.PollFetches(pctx).IsClientClosed() {
				return
			}
		}
	}()
	// Wait until the group lists this member, then check it is alone.
	for {
		members, err := leaseMembers(ctx, adm)
		if err != nil {
			l.Release()
			return nil, err
		}
		mine := slices.IndexFunc(members, func(m kadm.DescribedGroupMember) bool { return m.ClientID == cfg.Instance })
		if mine >= 0 {
			if members[0].ClientID != cfg.Instance {
				l.Release()
				h := members[0]
				return nil, &LeaseHeldError{Holder: h.ClientID, msg: fmt.Sprintf("%v: %s (from %s) joined at the same time and won", ErrLeaseHeld, h.ClientID, h.ClientHost)}
			}
			cfg.Logger.Info("primary lease taken", "group", LeaseGroup, "instance", cfg.Instance)
			return l, nil
		}
		if time.Now().After(deadline) {
			l.Release()
			return nil, fmt.Errorf("primary lease: this instance did not appear in consumer group %s within %s", LeaseGroup, cfg.SessionTimeout+5*time.Second)
		}
		select {
		case <-ctx.Done():
			l.Release()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// LeaseHeldError is AcquireLease's refusal; it matches ErrLeaseHeld.
type LeaseHeldError struct {
	Holder string // the instance holding the lease
	msg    string
}

func (e *LeaseHeldError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrLeaseHeld) hold.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// LeaseHolder returns the instance named by a LeaseHeldError in err's chain.
func LeaseHolder(err error) (string, bool) {
	var h *LeaseHeldError
	if errors.As(err, &h) {
		return h.Holder, true
	}
	return "", false
}

// leaseMembers returns LeaseGroup's members, smallest member id first.
func leaseMembers(ctx context.Context, adm *kadm.Client) ([]kadm.DescribedGroupMember, error) {
	gs, err := adm.DescribeGroups(ctx, LeaseGroup)
	if err != nil {
		return nil, fmt.Errorf("primary lease: describe group %s: %w", LeaseGroup, err)
	}
	g, ok := gs[LeaseGroup]
	if !ok {
		return nil, nil
	}
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil, nil
	}
	if g.Err != nil {
		return nil, fmt.Errorf("primary lease: describe group %s: %w", LeaseGroup, g.Err)
	}
	ms := slices.Clone(g.Members)
	slices.SortFunc(ms, func(a, b kadm.DescribedGroupMember) int { return strings.Compare(a.MemberID, b.MemberID) })
	return ms, nil
}

// sameInstance reports whether two instance names differ only in pid.
func sameInstance(a, b string) bool {
	trim := func(s string) string {
		if i := strings.LastIndex(s, "/pid-"); i >= 0 {
			return s[:i]
		}
		return s
	}
	return a != b && trim(a) == trim(b)
}

// Release leaves the group, so another primary can start at once.
func (l *Lease) Release() {
	l.once.Do(func() {
		l.cancel()
		l.cl.Close() // leaves the group
		<-l.done
	})
}
