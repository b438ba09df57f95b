package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/registry"
	"driftd/stream"
)

// Registry is what the primary reads from the registry.
type Registry interface {
	Deployed(ctx context.Context, name, environment string) (registry.Version, error)
	ListVersions(ctx context.Context, name string) ([]registry.Version, error)
	Artifact(ctx context.Context, name, version string) ([]byte, error)
	Profile(ctx context.Context, name, version string) ([]byte, error)
	History(ctx context.Context, q registry.HistoryQuery) ([]registry.Event, error)
	Subscribe(fn func(registry.DeploymentChange)) (cancel func())
}

// PrimaryConfig configures a Primary.
type PrimaryConfig struct {
	Kafka    stream.Config
	Registry Registry
	// Model and Environment name the deployment the scoring processes follow.
	Model, Environment string
	// Instance names this process in the records it writes and in the lease.
	Instance string
	// Drift is the drift window settings published with the deployment.
	Drift DriftSettings
	// Replication of the two topics when the primary creates them (-1 or 0:
	// the cluster's default).
	Replication int16
	// ChunkBytes bounds one artifact chunk's data (default DefaultChunkBytes).
	ChunkBytes int
	// Reconcile is how often the topics are checked against the registry
	// besides after every deployment change and retired version it is
	// notified of (default 30s): a safety net for a notification missed.
	Reconcile time.Duration
	Logger    *slog.Logger
	Metrics   *metrics.Set
	Now       func() time.Time
}

// Primary publishes the deployment of one model in one environment, and the
// bundles of its versions, for the scoring workers.
type Primary struct {
	cfg      PrimaryConfig
	log      *slog.Logger
	follower *Follower
	kl       *kafkaLog

	published, tombstoned, failures *metrics.Counter

	req         chan struct{}
	unsubscribe func()
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	// reconciling serialises reconcile (the loop's and a caller's).
	reconciling sync.Mutex
	mu          sync.Mutex
	lastErr     error
}

// NewPrimary validates cfg.
func NewPrimary(cfg PrimaryConfig) (*Primary, error) {
	if cfg.Registry == nil || cfg.Model == "" || cfg.Environment == "" {
		return nil, errors.New("cluster primary: registry, model and environment are required")
	}
	defaultDeps(&cfg.Logger, &cfg.Metrics, &cfg.Now)
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = DefaultChunkBytes
	}
	if cfg.Reconcile <= 0 {
		cfg.Reconcile = 30 * time.Second
	}
	return &Primary{cfg: cfg, log: cfg.Logger.With("component", "cluster-primary"), req: make(chan struct{}, 1),
		published:  cfg.Metrics.GetOrCreateCounter(`driftd_cluster_deployments_published_total`),
		tombstoned: cfg.Metrics.GetOrCreateCounter(`driftd_cluster_artifacts_tombstoned_total`),
		failures:   cfg.Metrics.GetOrCreateCounter(`driftd_cluster_publish_errors_total`),
	}, nil
}

// Start creates the topics when missing, reads them, publishes what the
// registry holds now and then follows the registry until Close. The first
// publication is done when Start returns.
func (p *Primary) Start(ctx context.Context) error {
	if err := ensureTopics(ctx, p.cfg.Kafka, p.cfg.Replication); err != nil {
		return fmt.Errorf("cluster primary: %w", err)
	}
	kl, err := newKafkaLog(p.cfg.Kafka)
	if err != nil {
		return fmt.Errorf("cluster primary: %w", err)
	}
	p.kl = kl
	ctx, p.cancel = context.WithCancel(ctx)
	p.follower = NewFollower(FollowerConfig{Kafka: p.cfg.Kafka, Logger: p.cfg.Logger, Metrics: p.cfg.Metrics})
	p.follower.Start(ctx)
	if err := p.reconcile(ctx); err != nil {
		return fmt.Errorf("cluster primary: first publication: %w", err)
	}
	p.unsubscribe = p.cfg.Registry.Subscribe(func(ch registry.DeploymentChange) {
		// A deployment moved, or a version was archived or deleted: its
		// published chunks are tombstoned at once, not at the next sweep.
		if ch.Model == p.cfg.Model && (ch.Environment == p.cfg.Environment || ch.Retired) {
			p.request()
		}
	})
	p.wg.Add(1)
	go p.loop(ctx)
	return nil
}

func (p *Primary) request() {
	select {
	case p.req <- struct{}{}:
	default:
	}
}

func (p *Primary) loop(ctx context.Context) {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.Reconcile)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.req:
		case <-t.C:
		}
		if err := p.reconcile(ctx); err != nil && ctx.Err() == nil {
			p.failures.Inc()
			p.log.Error("cannot publish the deployment for the workers (retrying at the next change or in "+p.cfg.Reconcile.String()+")", "err", err)
		}
	}
}

// LastError returns the last publication error, nil after a success.
func (p *Primary) LastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// reconcile makes the topics say what the registry says: the deployed
// version's bundle, then its deployment record (or a tombstone when nothing
// is deployed), then tombstones for the bundles of archived and deleted
// versions.
func (p *Primary) reconcile(ctx context.Context) (err error) {
	p.reconciling.Lock()
	defer p.reconciling.Unlock()
	defer func() {
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.follower.Sync(ctx); err != nil {
		return err
	}
	model, env := p.cfg.Model, p.cfg.Environment
	key := DeploymentKey(model, env)
	current, hasRecord := p.follower.Deployment(model, env)
	v, err := p.cfg.Registry.Deployed(ctx, model, env)
	keep := ""
	switch {
	case errors.Is(err, registry.ErrNotFound):
		if hasRecord {
			if err := p.kl.produce(ctx, logRecord{Topic: DeploymentsTopic, Key: []byte(key)}); err != nil {
				return err
			}
			p.published.Inc()
			p.log.Info("published: nothing deployed", "model", model, "environment", env)
		}
	case err != nil:
		return fmt.Errorf("read the version of %s deployed to %s: %w", model, env, err)
	default:
		art, err := p.cfg.Registry.Artifact(ctx, model, v.Version)
		if err != nil {
			return fmt.Errorf("artifact of %s %s: %w", model, v.Version, err)
		}
		prof, err := p.cfg.Registry.Profile(ctx, model, v.Version)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("profile of %s %s: %w", model, v.Version, err)
		}
		raw := EncodeBundle(Bundle{Model: model, Version: v.Version, ModelFile: art, Profile: prof})
		digest := Digest(raw)
		keep = digest
		chunks := SplitBundle(model, v.Version, raw, p.cfg.ChunkBytes)
		if !p.complete(digest, len(chunks)) {
			// The chunks first, every one acknowledged: a reader that sees
			// the deployment record finds them below the topic's end.
			recs := make([]logRecord, len(chunks))
			for i, c := range chunks {
				recs[i] = logRecord{Topic: ArtifactsTopic, Key: []byte(ChunkKey(digest, i)), Value: EncodeChunk(c)}
			}
			if err := p.kl.produce(ctx, recs...); err != nil {
				return fmt.Errorf("publish bundle of %s %s: %w", model, v.Version, err)
			}
			p.log.Info("published bundle", "model", model, "version", v.Version, "digest", digest, "bytes", len(raw), "chunks", len(chunks))
		}
		if !hasRecord || current.Version != v.Version || current.Digest != digest || current.Drift != p.cfg.Drift {
			d := Deployment{Model: model, Environment: env, Version: v.Version, Digest: digest, Chunks: len(chunks),
				Size: int64(len(raw)), Time: p.cfg.Now().UTC(), Primary: p.cfg.Instance, Drift: p.cfg.Drift}
			if evs, err := p.cfg.Registry.History(ctx, registry.HistoryQuery{Model: model, Environment: env, Limit: 1}); err == nil && len(evs) > 0 && evs[0].To == v.Version {
				d.Time, d.User = evs[0].Time, evs[0].User
			}
			if err := p.kl.produce(ctx, logRecord{Topic: DeploymentsTopic, Key: []byte(key), Value: EncodeDeployment(d)}); err != nil {
				return fmt.Errorf("publish deployment of %s %s: %w", model, v.Version, err)
			}
			p.published.Inc()
			p.log.Info("published deployment", "model", model, "environment", env, "version", v.Version, "digest", digest)
		}
	}
	return p.tombstoneRetired(ctx, keep)
}

// complete reports whether the follower has indexed all n chunks of digest.
func (p *Primary) complete(digest string, n int) bool {
	for _, b := range p.follower.Bundles() {
		if b.Digest == digest {
			return b.Chunks == n && b.Indexed == n
		}
	}
	return false
}

// tombstoneRetired tombstones the chunks of every bundle of the model whose
// version is archived or deleted, except keep (the deployed one).
func (p *Primary) tombstoneRetired(ctx context.Context, keep string) error {
	vs, err := p.cfg.Registry.ListVersions(ctx, p.cfg.Model)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("list versions of %s: %w", p.cfg.Model, err)
	}
	live := map[string]bool{}
	for _, v := range vs {
		if v.Status != registry.StatusArchived {
			live[v.Version] = true
		}
	}
	for _, b := range p.follower.Bundles() {
		if b.Model != p.cfg.Model || b.Digest == keep || live[b.Version] {
			continue
		}
		recs := make([]logRecord, b.Chunks)
		for i := range recs {
			recs[i] = logRecord{Topic: ArtifactsTopic, Key: []byte(ChunkKey(b.Digest, i))}
		}
		if err := p.kl.produce(ctx, recs...); err != nil {
			return fmt.Errorf("tombstone bundle of %s %s: %w", b.Model, b.Version, err)
		}
		p.tombstoned.Inc()
		p.log.Info("tombstoned the bundle of a retired version", "model", b.Model, "version", b.Version, "digest", b.Digest)
	}
	return nil
}

// Close stops following the registry; what is published stays.
func (p *Primary) Close() {
	if p.unsubscribe != nil {
		p.unsubscribe()
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	if p.follower != nil {
		p.follower.Close()
	}
	if p.kl != nil {
		p.kl.close()
	}
}
