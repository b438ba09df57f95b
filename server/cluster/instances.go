package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"driftd/stream"
)

// InstancesTopic holds every process's latest heartbeat, keyed by instance
// id; a process that stops cleanly writes a tombstone. One partition: its
// readers read all of it, a record every few seconds per process.
const InstancesTopic = "driftd-instances"

// InstancesRetention is how long InstancesTopic keeps a record: a killed
// process writes no tombstone, and instance ids change with every run (they
// hold the pid), so compaction alone would keep them all.
const InstancesRetention = 24 * time.Hour

// Instance is one process's heartbeat.
type Instance struct {
	ID       string    `json:"id"`
	Role     string    `json:"role"` // "primary" or "worker"
	Host     string    `json:"host,omitempty"`
	HTTPAddr string    `json:"http_addr,omitempty"`
	Started  time.Time `json:"started"`
	At       time.Time `json:"at"` // when the heartbeat was sent
	// Model and Version name what it scores now ("" when nothing).
	Model   string `json:"model,omitempty"`
	Version string `json:"version,omitempty"`
	// Partitions are the features topic's partitions assigned to it now.
	Partitions []int32 `json:"partitions,omitempty"`
	// Consumed counts the records consumed since start.
	Consumed uint64 `json:"consumed"`
	// RecordsPerSecond is the rate over the last heartbeat interval.
	RecordsPerSecond float64 `json:"records_per_second"`
	// Lag is how many records it is behind the high watermarks of its
	// partitions, -1 when unknown.
	Lag int64 `json:"lag"`
}

// EncodeInstance serialises in as JSON.
func EncodeInstance(in Instance) []byte {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("cluster: encode instance: %v", err)) // strings, numbers and times
	}
	return b
}

// DecodeInstance parses and checks a heartbeat record's value.
func DecodeInstance(p []byte) (Instance, error) {
	var in Instance
	if err := json.Unmarshal(p, &in); err != nil {
		return Instance{}, fmt.Errorf("instance record: %w", err)
	}
	switch {
	case in.ID == "" || len(in.ID) > maxNameBytes:
		return Instance{}, fmt.Errorf("instance record: id of %d bytes, want 1 to %d", len(in.ID), maxNameBytes)
	case in.At.IsZero():
		return Instance{}, fmt.Errorf("instance record of %s: no heartbeat time", in.ID)
	}
	return in, nil
}

// HeartbeatConfig configures a Heartbeat.
type HeartbeatConfig struct {
	Kafka stream.Config
	// Every is the time between two heartbeats (default 2s).
	Every time.Duration
	// Snapshot describes this process now; its ID must not change. The
	// heartbeat sets At.
	Snapshot func() Instance
	Logger   *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Heartbeat publishes this process's Instance to InstancesTopic every
// Every until Close, which tombstones it.
type Heartbeat struct {
	cfg HeartbeatConfig
	log *slog.Logger
	kl  *kafkaLog

	mu     sync.Mutex
	id     string // the id last published
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// NewHeartbeat validates cfg.
func NewHeartbeat(cfg HeartbeatConfig) (*Heartbeat, error) {
	if cfg.Snapshot == nil {
		return nil, errors.New("heartbeat: Snapshot is required")
	}
	if cfg.Every <= 0 {
		cfg.Every = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	kl, err := newKafkaLog(cfg.Kafka)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return &Heartbeat{cfg: cfg, log: cfg.Logger.With("component", "cluster-heartbeat"), kl: kl}, nil
}

// Start creates InstancesTopic when missing and beats, the first time at
// once, until Close or ctx's end.
func (h *Heartbeat) Start(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.done != nil {
		return
	}
	ctx, h.cancel = context.WithCancel(ctx)
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		h.run(ctx)
	}()
}

func (h *Heartbeat) run(ctx context.Context) {
	for {
		err := ensureCompactedTopics(ctx, h.cfg.Kafka, -1, InstancesRetention, InstancesTopic)
		if err == nil {
			break
		}
		h.log.Warn("cannot create the instances topic (retrying)", "topic", InstancesTopic, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.cfg.Every):
		}
	}
	t := time.NewTicker(h.cfg.Every)
	defer t.Stop()
	failing := false
	for {
		err := h.beat(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			h.log.Warn("heartbeat not published (logged once until one is)", "err", err)
			failing = true
		case err == nil && failing:
			h.log.Info("heartbeat published again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// beat publishes one heartbeat.
func (h *Heartbeat) beat(ctx context.Context) error {
	in := h.cfg.Snapshot()
	if in.ID == "" {
		return errors.New("heartbeat: the snapshot has no instance id")
	}
	in.At = h.cfg.Now().UTC()
	h.mu.Lock()
	h.id = in.ID
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, max(h.cfg.Every, 5*time.Second))
	defer cancel()
	return h.kl.produce(ctx, logRecord{Topic: InstancesTopic, Key: []byte(in.ID), Value: EncodeInstance(in)})
}

// Close stops beating and writes a tombstone, so that readers forget this
// instance at once rather than after their TTL.
func (h *Heartbeat) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	cancel, done := h.cancel, h.done
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	defer h.kl.close()
	h.mu.Lock()
	id := h.id
	h.mu.Unlock()
	if id == "" {
		return nil // never published
	}
	// Bounded: a tombstone only spares readers the TTL, and shutdown has
	// more important work for what is left of ctx.
	ctx, cancelTomb := context.WithTimeout(ctx, 2*time.Second)
	defer cancelTomb()
	// A heartbeat whose produce was abandoned by the cancel may still be
	// in the client: it goes (or fails) first, or it would land after the
	// tombstone and bring the instance back to life until the TTL.
	_ = h.kl.flush(ctx)
	if err := h.kl.produce(ctx, logRecord{Topic: InstancesTopic, Key: []byte(id)}); err != nil {
		return fmt.Errorf("heartbeat: tombstone %s: %w", id, err)
	}
	return nil
}

// InstancesConfig configures Instances.
type InstancesConfig struct {
	Kafka stream.Config
	// TTL is how long after its last heartbeat an instance counts as live
	// (default 10s).
	TTL    time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// Retry is how long to wait before trying again when the brokers do
	// not answer (default 1s).
	Retry time.Duration
}

// Instances reads InstancesTopic from the start and follows it: the table
// of the processes of the cluster and which of them are live.
type Instances struct {
	cfg InstancesConfig
	log *slog.Logger

	mu   sync.Mutex
	byID map[string]seenInstance

	cancel context.CancelFunc
	done   chan struct{}
}

// seenInstance is an instance's latest heartbeat and when it counts from.
type seenInstance struct {
	Instance
	// seen is when the heartbeat arrived, or for one read back at start,
	// when it was sent (at the latest now): liveness does not depend on
	// the clocks of two hosts agreeing, except at start.
	seen time.Time
}

// NewInstances validates cfg; Start starts reading.
func NewInstances(cfg InstancesConfig) (*Instances, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	return &Instances{cfg: cfg, log: cfg.Logger.With("component", "cluster-instances"), byID: map[string]seenInstance{}}, nil
}

// Start reads in the background until Close; it creates InstancesTopic
// when missing.
func (i *Instances) Start(ctx context.Context) {
	if i.done != nil {
		return
	}
	ctx, i.cancel = context.WithCancel(ctx)
	i.done = make(chan struct{})
	go func() {
		defer close(i.done)
		i.run(ctx)
	}()
}

func (i *Instances) run(ctx context.Context) {
	var end position
	for {
		err := ensureCompactedTopics(ctx, i.cfg.Kafka, -1, InstancesRetention, InstancesTopic)
		if err == nil {
			var l *kafkaLog
			if l, err = newKafkaLog(i.cfg.Kafka); err == nil {
				end, err = l.endOffsets(ctx, InstancesTopic)
				l.close()
			}
		}
		if err == nil {
			break
		}
		i.log.Warn("cannot read the instances topic (retrying)", "topic", InstancesTopic, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(i.cfg.Retry):
		}
	}
	kl, err := newKafkaLog(i.cfg.Kafka, InstancesTopic)
	if err != nil {
		i.log.Error("cannot read the instances topic", "err", err)
		return
	}
	defer kl.close()
	for ctx.Err() == nil {
		recs, errs, closed := kl.poll(ctx)
		if closed {
			return
		}
		for _, err := range errs {
			i.log.Warn("fetch error", "err", err)
		}
		now := i.cfg.Now()
		for _, r := range recs {
			i.apply(r, r.Offset < end[r.Topic][r.Partition], now)
		}
	}
}

// apply records one heartbeat or tombstone.
func (i *Instances) apply(r logRecord, replayed bool, now time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if r.Value == nil {
		delete(i.byID, string(r.Key))
		return
	}
	in, err := DecodeInstance(r.Value)
	if err == nil && in.ID != string(r.Key) {
		err = fmt.Errorf("key %q is not the instance's id %q", r.Key, in.ID)
	}
	if err != nil {
		i.log.Error("skipping a bad instance record", "at", fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset), "err", err)
		return
	}
	seen := now
	if replayed && in.At.Before(now) {
		seen = in.At
	}
	i.byID[in.ID] = seenInstance{Instance: in, seen: seen}
}

// Live returns the live instances (heartbeat within TTL), the primary
// first, then by role and id. Instances heard of long ago are forgotten.
func (i *Instances) Live() []Instance {
	now := i.cfg.Now()
	i.mu.Lock()
	defer i.mu.Unlock()
	var out []Instance
	for id, s := range i.byID {
		switch age := now.Sub(s.seen); {
		case age <= i.cfg.TTL:
			in := s.Instance
			in.Partitions = slices.Clone(in.Partitions)
			out = append(out, in)
		case age > InstancesRetention:
			delete(i.byID, id)
		}
	}
	slices.SortFunc(out, func(a, b Instance) int {
		return cmp.Or(-cmp.Compare(boolInt(a.Role == "primary"), boolInt(b.Role == "primary")),
			strings.Compare(a.Role, b.Role), strings.Compare(a.ID, b.ID))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// IsLive reports whether id's last heartbeat is within TTL.
func (i *Instances) IsLive(id string) bool {
	now := i.cfg.Now()
	i.mu.Lock()
	defer i.mu.Unlock()
	s, ok := i.byID[id]
	return ok && now.Sub(s.seen) <= i.cfg.TTL
}

// Close stops reading.
func (i *Instances) Close() {
	if i.cancel == nil {
		return
	}
	i.cancel()
	<-i.done
}
