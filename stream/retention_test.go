//go:build unix

package stream

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startRetentionBroker starts a broker in dir whose retention runs only when
// the test calls it (Interval an hour), unless interval is set.
func startRetentionBroker(t *testing.T, dir string, ret RetentionConfig) *Broker {
	t.Helper()
	if ret.Interval == 0 {
		ret.Interval = time.Hour
	}
	b, err := NewBroker(BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, Partitions: 3, Retention: ret}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// diskUsage returns the bytes dir takes on disk (allocated blocks, as du
// counts them), in total and per directory below it.
func diskUsage(t *testing.T, dir string) (total int64, byDir map[string]int64) {
	t.Helper()
	byDir = map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		n := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n = st.Blocks * 512
		}
		total += n
		rel, _ := filepath.Rel(dir, filepath.Dir(path))
		byDir[rel] += n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, byDir
}

// partitionOffsets returns the log start and high watermark of topic's partitions.
func partitionOffsets(t *testing.T, b *Broker, topic string) (low, high []int64) {
	t.Helper()
	for _, p := range b.cluster.PartitionInfos(topic) {
		low = append(low, p.LogStartOffset)
		high = append(high, p.HighWatermark)
	}
	return low, high
}

// TestRetentionSoak streams ten times the features topic's byte limit (1 MiB
// per partition) through the scorer: after every retention run the data
// directory, measured on disk, is within the bound. Then, with scoring
// paused, it streams twice the limit more: retention deletes nothing the
// scorer's group has not committed, and every record is scored once scoring
// resumes. The labels topic is held the same way by the label joiner's group.
func TestRetentionSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("streams tens of megabytes")
	}
	const limit = 1 << 20
	dir := t.TempDir()
	topics := DefaultTopics()
	ret := RetentionConfig{Bytes: limit, Topics: topics.All(),
		Consumers: map[string][]string{topics.Features: {"g"}, topics.Labels: {"g-labels"}}}
	b := startRetentionBroker(t, dir, ret)
	addr := b.Addr()
	ctx := context.Background()
	cfg := Config{Brokers: []string{addr}}
	if err := EnsureTopics(ctx, cfg, topics.All(), 3, 1); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	scored := map[string]int{}
	s, err := NewScorer(ScorerConfig{Client: cfg, Group: "g", Logger: testLogger(t), Metrics: metrics.NewSet(), MaxPollRecords: 1000,
		OnPrediction: func(id string, _ float64, _ string) { mu.Lock(); scored[id]++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	m := &sumModel{version: "1", schema: benchSchema(28)}
	s.SetModel(m, nil)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	seg := ret.segmentBytes()
	// A partition keeps at most the limit, plus the rest of the segment
	// the oldest kept record is in (a segment closes once past its size,
	// so it may hold one more record batch: batches are of batchBytes at
	// most here), plus a segment index per segment, plus a block of
	// rounding per file. The rest of the directory is the broker's state
	// (groups, producer ids, snapshots).
	const batchBytes, block = 64 << 10, 4 << 10
	files := 2 * (limit/seg + 3)
	perPartition := int64(limit + seg + batchBytes + files*block)
	const others = 1 << 20

	const perRound = 2000 // ~0.95 MB of records
	producer, err := NewClient(cfg, kgo.ProducerBatchMaxBytes(batchBytes), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // bytes on disk are bytes streamed
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	var produced int64
	next := 0
	round := func(topic string, n int, value func(i int) []byte) {
		t.Helper()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			v := value(i)
			recs[i] = &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: v}
			produced += int64(len(v))
		}
		if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	features := func(n int) {
		first := next
		next += n
		round(topics.Features, n, func(i int) []byte { return benchRecord(28, first+i) })
	}
	// check runs retention and measures the directory, which must be
	// within the bound except for the partitions of the topics that
	// consumers hold.
	check := func(when string, logged bool, held ...string) trimStats {
		t.Helper()
		st, err := b.retention.run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total, byDir := diskUsage(t, dir)
		bound := int64(others)
		for d, n := range byDir {
			part, ok := strings.CutPrefix(d, "partitions"+string(filepath.Separator))
			if !ok {
				continue
			}
			if slices.ContainsFunc(held, func(topic string) bool { return strings.HasPrefix(part, topic+"-") }) {
				bound += n
				continue
			}
			bound += perPartition
			if n > perPartition {
				ents, _ := os.ReadDir(filepath.Join(dir, d))
				for _, e := range ents {
					if fi, err := e.Info(); err == nil {
						t.Logf("%s/%s: %d bytes", d, e.Name(), fi.Size())
					}
				}
				t.Fatalf("%s: partition directory %s takes %d bytes, bound %d", when, d, n, perPartition)
			}
		}
		if total > bound {
			t.Fatalf("%s: data directory takes %d bytes, bound %d", when, total, bound)
		}
		if logged {
			t.Logf("%s: %.1f MB streamed, data directory %.2f MB (bound %.2f MB), %d records deleted, %d held",
				when, float64(produced)/1e6, float64(total)/1e6, float64(bound)/1e6, st.deleted, st.held)
		}
		return st
	}

	// 1. Scored as it arrives: retention keeps the directory bounded.
	const rounds = 36 // 10 times the 3 MiB the features topic may keep
	for r := range rounds {
		features(perRound)
		assertCommitted(t, addr, "g", topics.Features, int64(next))
		check(fmt.Sprintf("round %d", r), r%7 == 0 || r == rounds-1)
	}
	if produced < 10*3*limit {
		t.Fatalf("streamed %d bytes, want ten times the topic's %d", produced, 3*limit)
	}

	// 2. Scoring paused: nothing uncommitted is deleted, however large.
	s.SetModel(nil, nil)
	waitFor(t, 10*time.Second, "scorer paused", func() bool { return s.Status().State == "paused" })
	_, committedAt := partitionOffsets(t, b, topics.Features) // every record so far is committed
	before := next
	for range 8 {
		features(perRound)
	}
	// The label joiner's group has read partition 0 up to 100 and
	// nothing of the others.
	const labels = 40000 // ~4.4 MB
	pad := strings.Repeat("x", 80)
	round(topics.Labels, labels, func(i int) []byte { return fmt.Appendf(nil, `{"id":"row-%d","label":"%s"}`, i, pad) })
	cl, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topics.Labels, Partition: 0, At: 100, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "g-labels", offs); err != nil {
		t.Fatal(err)
	}
	if st := check("scoring paused", true, topics.Features, topics.Labels); st.held == 0 {
		t.Fatal("retention held nothing back while the scorer was paused past the limit")
	}
	low, _ := partitionOffsets(t, b, topics.Features)
	for p := range low {
		if low[p] > committedAt[p] {
			t.Fatalf("features partition %d: records from %d deleted, but the group committed only %d", p, low[p], committedAt[p])
		}
	}
	low, high := partitionOffsets(t, b, topics.Labels)
	if low[0] != 100 || low[1] != 0 || low[2] != 0 || high[0]+high[1]+high[2] != labels {
		t.Fatalf("labels: log starts %v of %v, want 100 (the commit) on partition 0 and 0 elsewhere", low, high)
	}

	// 3. Resumed: every record streamed while paused is scored, then
	// retention trims them too.
	s.SetModel(m, nil)
	assertCommitted(t, addr, "g", topics.Features, int64(next))
	mu.Lock()
	for i := before; i < next; i++ {
		if scored["row-"+strconv.Itoa(i)] == 0 {
			mu.Unlock()
			t.Fatalf("row-%d, streamed while scoring was paused, was never scored", i)
		}
	}
	mu.Unlock()
	if st := check("resumed", true, topics.Labels); st.held == 0 {
		t.Fatal("the labels the joiner's group has not read are no longer held")
	}
	low, _ = partitionOffsets(t, b, topics.Features)
	for p := range low {
		if low[p] <= committedAt[p] {
			t.Fatalf("features partition %d not trimmed after resuming: log starts at %d", p, low[p])
		}
	}
}

// TestRetentionAge deletes records older than the retention age, but not
// those a consumer group has not committed.
func TestRetentionAge(t *testing.T) {
	now := time.Now()
	ret := RetentionConfig{Age: time.Hour, Topics: []string{"aged", "read"},
		Consumers: map[string][]string{"read": {"reader"}}, Now: func() time.Time { return now }}
	b := startRetentionBroker(t, "", ret)
	ctx := context.Background()
	mustCreateTopic(t, b.Addr(), "aged", 1, nil)
	mustCreateTopic(t, b.Addr(), "read", 1, nil)
	vals := make([][]byte, 10)
	for i := range vals {
		vals[i] = []byte(strconv.Itoa(i))
	}
	produceValues(t, b.Addr(), "aged", vals)
	produceValues(t, b.Addr(), "read", vals)
	cl, err := NewClient(Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "read", Partition: 0, At: 4, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "reader", offs); err != nil {
		t.Fatal(err)
	}
	if st, err := b.retention.run(ctx); err != nil || st.deleted != 0 {
		t.Fatalf("fresh records: %+v, %v; want nothing deleted", st, err)
	}
	now = now.Add(2 * time.Hour)
	st, err := b.retention.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if low, _ := partitionOffsets(t, b, "aged"); low[0] != 10 {
		t.Fatalf("aged: log starts at %d, want every record deleted", low[0])
	}
	if low, _ := partitionOffsets(t, b, "read"); low[0] != 4 {
		t.Fatalf("read: log starts at %d, want 4, the group's commit", low[0])
	}
	if st.deleted != 14 || st.held != 6 {
		t.Fatalf("run %+v, want 14 deleted and 6 held", st)
	}
}

// TestRetentionRunsOnItsOwn checks that the broker runs retention on its
// interval without being asked.
func TestRetentionRunsOnItsOwn(t *testing.T) {
	const limit, batch = 64 << 10, 8 << 10
	b := startRetentionBroker(t, t.TempDir(), RetentionConfig{Bytes: limit, Topics: []string{"out"}, Interval: 20 * time.Millisecond})
	mustCreateTopic(t, b.Addr(), "out", 1, nil)
	cl, err := NewClient(Config{Brokers: []string{b.Addr()}}, kgo.ProducerBatchMaxBytes(batch))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 2000 {
		cl.Produce(context.Background(), &kgo.Record{Topic: "out", Value: benchRecord(8, i)}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The oldest batch kept may start before the limit.
	waitFor(t, 20*time.Second, "retention to trim the topic to its limit", func() bool {
		p := b.cluster.PartitionInfo("out", 0)
		return p.LogStartOffset > 0 && p.NumBytes <= limit+batch
	})
}
