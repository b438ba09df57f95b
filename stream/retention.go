package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RetentionConfig bounds the disk of the embedded broker: old records of the
// listed topics are deleted by time and by bytes per partition, as Kafka's
// retention.ms and retention.bytes do, except that a record a listed consumer
// group has not committed yet is never deleted.
//
// kfake enforces retention.ms and retention.bytes topic configs itself (on a
// timer, log.cleaner.backoff.ms), but like Kafka it deletes whether or not
// anyone has read the records; so driftd sets no retention configs and trims
// with DeleteRecords instead.
type RetentionConfig struct {
	// Age deletes records older than this (by record timestamp); 0 keeps
	// them for ever.
	Age time.Duration
	// Bytes is the size each partition is trimmed to (its oldest records go
	// first); 0 is no limit. On disk a partition takes up to Bytes plus one
	// segment (Bytes/8, at most 100 MiB: only whole segments are removed)
	// plus what arrives between two runs.
	Bytes int64
	// Topics are the topics trimmed: those driftd creates.
	Topics []string
	// Consumers names, per topic, the consumer groups whose uncommitted
	// records are kept whatever their age or size: nothing at or after a
	// group's committed offset is deleted, and nothing at all of a
	// partition the group has not committed on yet. In serve, the scorer's
	// group protects the features topic and the label joiner's group the
	// labels topic; the other topics have no consumer of ours.
	Consumers map[string][]string
	// Interval is the time between two runs (default 10s).
	Interval time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

func (r RetentionConfig) enabled() bool { return (r.Age > 0 || r.Bytes > 0) && len(r.Topics) > 0 }

// segmentBytes is the segment size for a per-partition byte limit: small
// enough that removing whole segments keeps a partition near its limit,
// large enough that a partition has few files.
func (r RetentionConfig) segmentBytes() int64 {
	return min(max(r.Bytes/8, 64<<10), 100<<20)
}

// retention trims the embedded broker's topics.
type retention struct {
	cfg     RetentionConfig
	cluster *kfake.Cluster
	adm     *kadm.Client // timestamp lookups (ListOffsets has no kfake API)
	log     *slog.Logger
	set     *metrics.Set

	mu   sync.Mutex // one run at a time
	held map[string]bool
}

// trimStats is what one run did.
type trimStats struct {
	deleted int64 // records deleted
	held    int64 // records retention would delete but a consumer has not committed
}

// run trims every listed topic once.
func (r *retention) run(ctx context.Context) (trimStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var st trimStats
	now := r.cfg.Now()
	var byTime kadm.ListedOffsets
	if r.cfg.Age > 0 {
		var err error
		byTime, err = r.adm.ListOffsetsAfterMilli(ctx, now.Add(-r.cfg.Age).UnixMilli(), r.cfg.Topics...)
		if err != nil {
			return st, fmt.Errorf("retention: list offsets by time: %w", err)
		}
	}
	commits := map[string]*kfake.GroupInfo{}
	for _, groups := range r.cfg.Consumers {
		for _, g := range groups {
			if _, ok := commits[g]; !ok {
				commits[g] = r.cluster.GroupInfo(g)
			}
		}
	}
	var errs []error
	for _, topic := range r.cfg.Topics {
		var deleted, held int64
		for _, p := range r.cluster.PartitionInfos(topic) {
			low, high := p.LogStartOffset, p.HighWatermark
			want := low
			if o, ok := byTime.Lookup(topic, p.Partition); ok && o.Err == nil {
				want = max(want, o.Offset)
			}
			if r.cfg.Bytes > 0 && p.NumBytes > r.cfg.Bytes && high > low {
				// Records of a topic are of similar size: keep as many
				// of the newest as fit.
				perRecord := float64(p.NumBytes) / float64(high-low)
				want = max(want, high-int64(float64(r.cfg.Bytes)/perRecord))
			}
			want = min(want, high)
			to, by := want, ""
			for _, g := range r.cfg.Consumers[topic] {
				c, ok := committed(commits[g], topic, p.Partition)
				if !ok {
					c = low
				}
				if c < to {
					to, by = c, g
				}
			}
			if to > low {
				if err := r.cluster.DeleteRecords(topic, p.Partition, to); err != nil {
					errs = append(errs, fmt.Errorf("retention: delete records of %s/%d before %d: %w", topic, p.Partition, to, err))
					continue
				}
				deleted += to - low
			}
			key := topic + "/" + strconv.Itoa(int(p.Partition))
			if want > to {
				held += want - to
				if !r.held[key] {
					r.log.Warn("retention held back: records not yet committed by a consumer group are kept",
						"topic", topic, "partition", p.Partition, "group", by, "records", want-to)
				}
			}
			r.held[key] = want > to
		}
		l := `{topic=` + strconv.Quote(topic) + `}`
		r.set.GetOrCreateCounter(`driftd_broker_retention_deleted_records_total` + l).AddInt64(deleted)
		r.set.GetOrCreateGauge(`driftd_broker_retention_held_records`+l, nil).Set(float64(held))
		st.deleted += deleted
		st.held += held
	}
	if st.deleted > 0 {
		r.log.Debug("retention deleted records", "records", st.deleted)
	}
	return st, errors.Join(errs...)
}

// committed returns g's committed offset on topic/partition.
func committed(g *kfake.GroupInfo, topic string, partition int32) (int64, bool) {
	if g == nil {
		return 0, false
	}
	c, ok := g.Commits[topic][partition]
	if !ok || c.Offset < 0 {
		return 0, false
	}
	return c.Offset, true
}

// loop runs retention every Interval until ctx ends.
func (r *retention) loop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.run(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("retention run failed", "err", err)
		}
	}
}

// newRetention returns the trimmer of cluster, reached at addr.
func newRetention(cfg RetentionConfig, cluster *kfake.Cluster, addr string, logger *slog.Logger, set *metrics.Set) (*retention, *kgo.Client, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if set == nil {
		set = metrics.NewSet()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("driftd-retention"))
	if err != nil {
		return nil, nil, fmt.Errorf("retention client: %w", err)
	}
	return &retention{cfg: cfg, cluster: cluster, adm: kadm.NewClient(cl), log: logger, set: set, held: map[string]bool{}}, cl, nil
}
