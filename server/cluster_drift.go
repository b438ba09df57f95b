package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/server/cluster"
	"driftd/stream"
)

// clusterShare is one scoring process's part in a cluster's single drift
// answer: it publishes its drift monitor's window counts and a heartbeat
// (which partitions it holds, its rate and lag). On the primary it also
// merges every process's counts and keeps the table of live instances.
type clusterShare struct {
	id        string
	counts    *cluster.CountsPublisher
	heartbeat *cluster.Heartbeat
	merger    *cluster.Merger    // the primary only
	instances *cluster.Instances // the primary only
	ttl       time.Duration
}

// shareConfig configures startClusterShare.
type shareConfig struct {
	Kafka stream.Config
	// ID names this process in the counts it publishes and its heartbeat.
	ID string
	// Snapshot describes this process for its heartbeat.
	Snapshot func() cluster.Instance
	// OnMerged, set on the primary only, receives every merged window.
	OnMerged func(model, version string, w drift.MergedWindow, instances []string)
	Logger   *slog.Logger
	Metrics  *metrics.Set
	Now      func() time.Time
}

// shareCloseTimeout bounds the last heartbeat and counts at shutdown.
const shareCloseTimeout = 2 * time.Second

// instancesTTL is how long after its last heartbeat an instance counts as
// live, five heartbeats.
const instancesTTL = 10 * time.Second

// startClusterShare starts publishing this process's counts and
// heartbeats and, with OnMerged, the primary's merger and instance table.
func startClusterShare(ctx context.Context, cfg shareConfig) (*clusterShare, error) {
	s := &clusterShare{id: cfg.ID, ttl: instancesTTL}
	var err error
	s.counts, err = cluster.NewCountsPublisher(cluster.CountsPublisherConfig{Kafka: cfg.Kafka, Instance: cfg.ID,
		Logger: cfg.Logger, Metrics: cfg.Metrics, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("drift counts publisher: %w", err)
	}
	s.heartbeat, err = cluster.NewHeartbeat(cluster.HeartbeatConfig{Kafka: cfg.Kafka, Snapshot: cfg.Snapshot, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		_ = s.close(context.Background())
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	if cfg.OnMerged != nil {
		s.instances, err = cluster.NewInstances(cluster.InstancesConfig{Kafka: cfg.Kafka, TTL: s.ttl, Now: cfg.Now, Logger: cfg.Logger})
		if err != nil {
			_ = s.close(context.Background())
			return nil, fmt.Errorf("instances: %w", err)
		}
		s.instances.Start(ctx)
		// Every process closes a tumbling window within a second of its
		// end (its tick) and publishes at once; the grace leaves room for a
		// busy broker before the window is merged without the late ones.
		s.merger, err = cluster.NewMerger(cluster.MergerConfig{Kafka: cfg.Kafka, Logger: cfg.Logger, Metrics: cfg.Metrics, Now: cfg.Now,
			Live: s.instances.IsLive, Grace: 5 * time.Second, OnMerged: cfg.OnMerged})
		if err != nil {
			_ = s.close(context.Background())
			return nil, fmt.Errorf("drift merger: %w", err)
		}
		if err := s.merger.Start(ctx); err != nil {
			s.merger = nil
			_ = s.close(context.Background())
			return nil, fmt.Errorf("drift merger: %w", err)
		}
	}
	s.heartbeat.Start(ctx)
	return s, nil
}

// contribute publishes a drift monitor's window counts (its Contribute).
func (s *clusterShare) contribute(wc drift.WindowCounts) { s.counts.Publish(wc) }

// live returns the live instances; nil off the primary.
func (s *clusterShare) live() []cluster.Instance {
	if s == nil || s.instances == nil {
		return nil
	}
	return s.instances.Live()
}

// close stops the merger, tombstones the heartbeat and flushes the counts
// still queued, within ctx and at most shareCloseTimeout: with the brokers
// gone they would take all of ctx, which the drift history and events
// closed after it need more.
func (s *clusterShare) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, shareCloseTimeout)
	defer cancel()
	var errs []error
	if s.merger != nil {
		s.merger.Close()
	}
	if s.instances != nil {
		s.instances.Close()
	}
	if s.heartbeat != nil {
		if err := s.heartbeat.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("heartbeat: %w", err))
		}
	}
	if s.counts != nil {
		if err := s.counts.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drift counts: %w", err))
		}
	}
	return errors.Join(errs...)
}

// shareID names this process in a cluster's counts and heartbeats: its
// instance name and a random suffix, since several processes may share a
// host, an address such as 127.0.0.1:0 and (in tests) a pid.
func shareID(addr string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return instanceName(addr) + "/" + hex.EncodeToString(b[:])
}

// rateMeter turns a growing count into a rate over the time between two
// readings.
type rateMeter struct {
	mu   sync.Mutex
	n    uint64
	at   time.Time
	rate float64
}

// observe takes a reading and returns the rate since the previous one.
func (r *rateMeter) observe(n uint64, now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && now.After(r.at) && n >= r.n {
		r.rate = float64(n-r.n) / now.Sub(r.at).Seconds()
	}
	r.n, r.at = n, now
	return r.rate
}

// instanceSnapshot returns the heartbeat's description of a scoring
// process: its scorer's partitions, count, rate and lag, and what it scores.
func instanceSnapshot(id, role string, started time.Time, addr func() string, status func() stream.Status, now func() time.Time) func() cluster.Instance {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	var rate rateMeter
	return func() cluster.Instance {
		st := status()
		return cluster.Instance{ID: id, Role: role, Host: host, HTTPAddr: addr(), Started: started,
			Model: st.Model, Version: st.Version, Partitions: st.Partitions, Consumed: st.Consumed,
			RecordsPerSecond: rate.observe(st.Consumed, now()), Lag: st.Lag}
	}
}
