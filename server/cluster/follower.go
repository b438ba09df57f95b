package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/stream"
)

// ErrArtifactMissing is returned by Load when a chunk of the bundle is not
// in the artifacts topic.
var ErrArtifactMissing = errors.New("artifact chunk missing")

// ErrArtifactCorrupt is returned by Load when the chunks read back do not
// make the bundle their key names (digest mismatch) or cannot be decoded.
var ErrArtifactCorrupt = errors.New("artifact corrupt")

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	Kafka   stream.Config
	Logger  *slog.Logger
	Metrics *metrics.Set // a new set when nil
	// Retry is how long the follower waits before asking again for topics
	// that do not exist yet (default 500ms).
	Retry time.Duration
}

// chunkRef is where one chunk of a bundle is.
type chunkRef struct {
	partition int32
	offset    int64
}

// bundleIndex is what the follower knows of one published bundle.
type bundleIndex struct {
	model, version string
	count          int
	size           int64
	chunks         map[int]chunkRef
}

// complete reports whether every chunk of the bundle is indexed.
func (b *bundleIndex) complete() bool { return b != nil && len(b.chunks) == b.count }

// Follower reads the deployments and artifacts topics from the start and
// follows them.
type Follower struct {
	cfg FollowerConfig
	log *slog.Logger

	mu          sync.Mutex
	moved       *sync.Cond // broadcast whenever pos or caught up changes
	deployments map[string]Deployment
	bundles     map[string]*bundleIndex
	pos         position
	caughtUp    bool
	waiting     string // why the follower is not caught up yet
	lastErr     error
	changed     chan struct{}

	badRecords *metrics.Counter
	cancel     context.CancelFunc
	done       chan struct{}
}

// NewFollower returns a follower; Start starts reading.
func NewFollower(cfg FollowerConfig) *Follower {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 500 * time.Millisecond
	}
	f := &Follower{cfg: cfg, log: cfg.Logger.With("component", "cluster-follower"),
		deployments: map[string]Deployment{}, bundles: map[string]*bundleIndex{}, pos: position{},
		waiting: "reading " + DeploymentsTopic + " and " + ArtifactsTopic, changed: make(chan struct{}, 1),
		badRecords: cfg.Metrics.GetOrCreateCounter(`driftd_cluster_bad_records_total`)}
	f.moved = sync.NewCond(&f.mu)
	return f
}

// Changed is signalled (coalescing) after records that changed a
// deployment are applied, and when the follower first catches up.
func (f *Follower) Changed() <-chan struct{} { return f.changed }

// Start reads in the background until Close; the topics need not exist yet.
func (f *Follower) Start(ctx context.Context) {
	ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		f.run(ctx)
	}()
}

// Close stops reading and wakes every waiter.
func (f *Follower) Close() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	<-f.done
	f.mu.Lock()
	f.moved.Broadcast()
	f.mu.Unlock()
}

func (f *Follower) run(ctx context.Context) {
	var log *kafkaLog
	var end position
	// Wait for the topics: a worker may start before any primary has
	// published.
	for {
		l, err := newKafkaLog(f.cfg.Kafka)
		if err == nil {
			end, err = l.endOffsets(ctx, DeploymentsTopic, ArtifactsTopic)
			l.close()
		}
		if err == nil {
			break
		}
		f.setWaiting(fmt.Sprintf("waiting for the primary's topics %s and %s: %v", DeploymentsTopic, ArtifactsTopic, err), err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.cfg.Retry):
		}
	}
	log, err := newKafkaLog(f.cfg.Kafka, DeploymentsTopic, ArtifactsTopic)
	if err != nil {
		f.setWaiting(fmt.Sprintf("kafka client: %v", err), err)
		return
	}
	defer log.close()
	f.mu.Lock()
	f.waiting = fmt.Sprintf("reading %s and %s up to their end offsets", DeploymentsTopic, ArtifactsTopic)
	f.checkCaughtUpLocked(end)
	f.mu.Unlock()
	for ctx.Err() == nil {
		recs, errs, closed := log.poll(ctx)
		if closed {
			return
		}
		for _, err := range errs {
			f.log.Warn("fetch error", "err", err)
		}
		if len(recs) == 0 {
			continue
		}
		f.apply(recs, end)
	}
}

func (f *Follower) setWaiting(why string, err error) {
	f.mu.Lock()
	f.waiting, f.lastErr = why, err
	f.mu.Unlock()
}

// checkCaughtUpLocked marks the follower caught up once it has read to end.
func (f *Follower) checkCaughtUpLocked(end position) {
	if !f.caughtUp && f.pos.reached(end) {
		f.caughtUp, f.waiting = true, ""
		f.log.Info("caught up with the cluster topics", "deployments", len(f.deployments), "bundles", len(f.bundles))
		f.signal()
	}
	f.moved.Broadcast()
}

func (f *Follower) signal() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// apply indexes recs.
func (f *Follower) apply(recs []logRecord, end position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := false
	for _, r := range recs {
		f.pos.set(r.Topic, r.Partition, r.Offset+1)
		at := fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
		switch r.Topic {
		case DeploymentsTopic:
			if r.Value == nil {
				if _, ok := f.deployments[string(r.Key)]; ok {
					delete(f.deployments, string(r.Key))
					changed = true
				}
				continue
			}
			d, err := DecodeDeployment(r.Value)
			if err != nil || DeploymentKey(d.Model, d.Environment) != string(r.Key) {
				f.badRecords.Inc()
				f.log.Error("skipping a bad deployment record", "at", at, "key", string(r.Key), "err", err)
				continue
			}
			f.deployments[string(r.Key)] = d
			changed = true
		case ArtifactsTopic:
			digest, idx, err := ParseChunkKey(string(r.Key))
			if err != nil {
				f.badRecords.Inc()
				f.log.Error("skipping a bad artifact chunk", "at", at, "err", err)
				continue
			}
			if r.Value == nil {
				if b := f.bundles[digest]; b != nil {
					delete(b.chunks, idx)
					if len(b.chunks) == 0 {
						delete(f.bundles, digest)
					}
				}
				continue
			}
			c, err := DecodeChunk(r.Value)
			if err != nil || c.Index != idx {
				f.badRecords.Inc()
				f.log.Error("skipping a bad artifact chunk", "at", at, "key", string(r.Key), "err", err)
				continue
			}
			b := f.bundles[digest]
			if b == nil || b.count != c.Count || b.size != c.Size {
				b = &bundleIndex{model: c.Model, version: c.Version, count: c.Count, size: c.Size, chunks: map[int]chunkRef{}}
				f.bundles[digest] = b
			}
			b.chunks[idx] = chunkRef{partition: r.Partition, offset: r.Offset}
		}
	}
	if changed && f.caughtUp {
		f.signal()
	}
	f.checkCaughtUpLocked(end)
}

// Ready reports whether the follower has read both topics to the end
// offsets they had when it started, and if not, why.
func (f *Follower) Ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caughtUp, f.waiting
}

// Deployment returns the deployment record of model in environment.
func (f *Follower) Deployment(model, environment string) (Deployment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.deployments[DeploymentKey(model, environment)]
	return d, ok
}

// BundleInfo describes one bundle the follower has indexed.
type BundleInfo struct {
	Digest, Model, Version string
	Chunks, Indexed        int
}

// Bundles lists the indexed bundles (complete or not).
func (f *Follower) Bundles() []BundleInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]BundleInfo, 0, len(f.bundles))
	for d, b := range f.bundles {
		out = append(out, BundleInfo{Digest: d, Model: b.model, Version: b.version, Chunks: b.count, Indexed: len(b.chunks)})
	}
	return out
}

// Sync waits until the follower has read both topics up to their end
// offsets as of now: every record acknowledged before the call is applied.
func (f *Follower) Sync(ctx context.Context) error {
	l, err := newKafkaLog(f.cfg.Kafka)
	if err != nil {
		return err
	}
	end, err := l.endOffsets(ctx, DeploymentsTopic, ArtifactsTopic)
	l.close()
	if err != nil {
		return err
	}
	return f.waitFor(ctx, end)
}

// waitFor blocks until the follower's position reaches end or ctx ends.
func (f *Follower) waitFor(ctx context.Context, end position) error {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.moved.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.pos.reached(end) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cluster topics not read up to %v (at %v): %w", end, f.pos, err)
		}
		select {
		case <-f.done:
			return errors.New("cluster follower closed")
		default:
		}
		f.moved.Wait()
	}
	return nil
}

// Load reads the bundle d refers to back from the artifacts topic and
// decodes it. It first syncs, so chunks written before d are indexed. The
// error wraps ErrArtifactMissing or ErrArtifactCorrupt for a bundle that
// cannot be trusted.
func (f *Follower) Load(ctx context.Context, d Deployment) (Bundle, error) {
	if err := f.Sync(ctx); err != nil {
		return Bundle{}, err
	}
	f.mu.Lock()
	b := f.bundles[d.Digest]
	var refs map[int]chunkRef
	count := 0
	if b != nil {
		refs, count = make(map[int]chunkRef, len(b.chunks)), b.count
		for i, r := range b.chunks {
			refs[i] = r
		}
	}
	f.mu.Unlock()
	if b == nil {
		return Bundle{}, fmt.Errorf("%s %s: bundle %s: no chunk of its %d in %s: %w", d.Model, d.Version, d.Digest, d.Chunks, ArtifactsTopic, ErrArtifactMissing)
	}
	if count != d.Chunks {
		return Bundle{}, fmt.Errorf("%s %s: bundle %s has %d chunks in %s, the deployment record says %d: %w", d.Model, d.Version, d.Digest, count, ArtifactsTopic, d.Chunks, ErrArtifactCorrupt)
	}
	for i := range count {
		if _, ok := refs[i]; !ok {
			return Bundle{}, fmt.Errorf("%s %s: bundle %s: chunk %d of %d (key %s) not in %s: %w", d.Model, d.Version, d.Digest, i, count, ChunkKey(d.Digest, i), ArtifactsTopic, ErrArtifactMissing)
		}
	}
	// All chunks are in one partition (the topic has one); read from the
	// first one's offset until every chunk is in hand.
	part, lo, hi := refs[0].partition, refs[0].offset, refs[0].offset
	for _, r := range refs {
		if r.partition != part {
			return Bundle{}, fmt.Errorf("%s %s: bundle %s spans partitions %d and %d of %s: %w", d.Model, d.Version, d.Digest, part, r.partition, ArtifactsTopic, ErrArtifactCorrupt)
		}
		lo, hi = min(lo, r.offset), max(hi, r.offset)
	}
	data := make([][]byte, count)
	got := 0
	var bad error
	err := readAt(ctx, f.cfg.Kafka, ArtifactsTopic, part, lo, hi+1, func(r logRecord) bool {
		digest, idx, err := ParseChunkKey(string(r.Key))
		if err != nil || digest != d.Digest || idx >= count || r.Value == nil {
			return true
		}
		if ref, ok := refs[idx]; !ok || ref.offset != r.Offset {
			return true // an older copy of the chunk, not compacted yet
		}
		c, err := DecodeChunk(r.Value)
		if err != nil {
			bad = fmt.Errorf("chunk %d at %s/%d/%d: %w", idx, r.Topic, r.Partition, r.Offset, err)
			return false
		}
		if data[idx] == nil {
			got++
		}
		data[idx] = c.Data
		return got < count
	})
	if bad != nil {
		return Bundle{}, fmt.Errorf("%s %s: %w: %w", d.Model, d.Version, bad, ErrArtifactCorrupt)
	}
	if err != nil {
		return Bundle{}, fmt.Errorf("%s %s: read bundle %s: %w", d.Model, d.Version, d.Digest, err)
	}
	if got < count {
		return Bundle{}, fmt.Errorf("%s %s: bundle %s: %d of %d chunks read back from %s: %w", d.Model, d.Version, d.Digest, got, count, ArtifactsTopic, ErrArtifactMissing)
	}
	var raw []byte
	for _, p := range data {
		raw = append(raw, p...)
	}
	if got := Digest(raw); got != d.Digest {
		return Bundle{}, fmt.Errorf("%s %s: bundle read back has digest %s, its chunks are keyed %s: %w", d.Model, d.Version, got, d.Digest, ErrArtifactCorrupt)
	}
	bundle, err := DecodeBundle(raw)
	if err != nil {
		return Bundle{}, fmt.Errorf("%s %s: %w: %w", d.Model, d.Version, err, ErrArtifactCorrupt)
	}
	if bundle.Model != d.Model || bundle.Version != d.Version {
		return Bundle{}, fmt.Errorf("deployment of %s %s refers to a bundle of %s %s: %w", d.Model, d.Version, bundle.Model, bundle.Version, ErrArtifactCorrupt)
	}
	return bundle, nil
}
