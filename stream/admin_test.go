package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminViews(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	cfg := Config{Brokers: []string{b.Addr()}}
	if err := EnsureTopics(ctx, cfg, []string{"t1"}, 1, 1); err != nil {
		t.Fatal(err)
	}
	// Existing topics are accepted as they are.
	if err := EnsureTopics(ctx, cfg, []string{"t1"}, 4, 1); err != nil {
		t.Fatal(err)
	}
	adm, err := NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for i := range 20 {
		if _, _, err := adm.ProduceTest(ctx, "t1", nil, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	topics, err := adm.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 1 || topics[0].Name != "t1" || topics[0].Messages != 20 || len(topics[0].Partitions) != 1 {
		t.Fatalf("topics = %+v", topics)
	}
	msgs, err := adm.Messages(ctx, "t1", 0, -5, 10)
	if err != nil || len(msgs) != 5 || msgs[0].Offset != 15 || string(msgs[4].Value) != `{"n":19}` {
		t.Fatalf("newest 5 = %+v, %v", msgs, err)
	}
	msgs, err = adm.Messages(ctx, "t1", 0, 3, 2)
	if err != nil || len(msgs) != 2 || msgs[0].Offset != 3 {
		t.Fatalf("from 3 = %+v, %v", msgs, err)
	}
	if _, err := adm.Messages(ctx, "nope", 0, 0, 1); err == nil {
		t.Fatal("unknown topic accepted")
	}
	// A scorer group shows up with zero lag after consuming everything.
	s := startScorer(t, b.Addr(), "grp", &sumModel{version: "1", schema: Schema{Names: []string{"n"}, Categorical: []bool{false}}}, nil, 100)
	_ = s
	if _, _, err := adm.ProduceTest(ctx, "drift-data", []byte("k"), []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, b.Addr(), "grp", "drift-data", 1)
	groups, err := adm.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Group != "grp" || groups[0].TotalLag != 0 || len(groups[0].Lag) == 0 {
		t.Fatalf("groups = %+v", groups)
	}
}

// TestBrowseCompactedGap browses a range whose offsets were compacted away:
// it returns what exists, complete. Before the fix it waited for the last
// offset of the range, which never came.
func TestBrowseCompactedGap(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	mustCreateTopic(t, b.Addr(), "compacted", 1, map[string]string{"cleanup.policy": "compact"})
	for i, k := range []string{"k0", "k1", "k2", "k1", "k2", "k3"} { // one batch each
		produceRecords(t, b.Addr(), &kgo.Record{Topic: "compacted", Key: []byte(k), Value: fmt.Appendf(nil, "%d", i)})
	}
	b.cluster.Compact() // offsets 1 and 2 are superseded by 3 and 4
	adm, err := NewAdmin(Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for _, tc := range []struct {
		from    int64
		limit   int
		offsets []int64
	}{
		{0, 3, []int64{0}},
		{1, 2, nil},
		{0, 4, []int64{0, 3}},
		{1, 100, []int64{3, 4, 5}},
	} {
		page, err := adm.Browse(ctx, "compacted", 0, tc.from, tc.limit)
		if err != nil || page.Partial {
			t.Fatalf("from %d limit %d: partial %v, err %v", tc.from, tc.limit, page.Partial, err)
		}
		var got []int64
		for _, m := range page.Messages {
			got = append(got, m.Offset)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.offsets) || page.Next != min(6, tc.from+int64(tc.limit)) {
			t.Fatalf("from %d limit %d: offsets %v, next %d; want %v", tc.from, tc.limit, got, page.Next, tc.offsets)
		}
	}
}

// TestBrowseTransactionMarker browses a topic whose last offset is a
// transaction's commit marker, which no consumer receives as a record.
func TestBrowseTransactionMarker(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	mustCreateTopic(t, b.Addr(), "txn", 1, nil)
	cl, err := NewClient(Config{Brokers: []string{b.Addr()}}, kgo.TransactionalID("browse-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "txn", Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	adm, err := NewAdmin(Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	page, err := adm.Browse(ctx, "txn", 0, -10, 10)
	if err != nil || page.Partial || len(page.Messages) != 3 || page.Next != 4 {
		t.Fatalf("page %+v, err %v; want 3 messages, complete up to the marker at 3", page, err)
	}
}

// TestBrowseStopsInTime browses a partition whose fetches never answer: the
// browser returns within its time bound, partial, without an error.
func TestBrowseStopsInTime(t *testing.T) {
	b := startBroker(t, "")
	mustCreateTopic(t, b.Addr(), "stuck", 1, nil)
	produceValues(t, b.Addr(), "stuck", [][]byte{[]byte("a"), []byte("b")})
	h := b.cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: "stuck", Err: kerr.NotLeaderForPartition, Count: -1})
	defer h.Remove()
	adm, err := NewAdmin(Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for _, within := range []time.Duration{time.Hour, 300 * time.Millisecond} { // our bound, the caller's
		ctx, cancel := context.WithTimeout(context.Background(), within)
		page, err := adm.Browse(ctx, "stuck", 0, 0, 10)
		cancel()
		if err != nil || !page.Partial || len(page.Messages) != 0 || page.Next != 0 {
			t.Fatalf("page %+v, err %v; want partial and empty", page, err)
		}
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := adm.Browse(canceled, "stuck", 0, 0, 10); err == nil {
		t.Fatal("a canceled browse returned no error")
	}
}

// TestAdminOffsetsAt seeks a topic by time: the first offset at or after the
// time, the start before the first record, the high watermark after the last.
func TestAdminOffsetsAt(t *testing.T) {
	b := startBroker(t, "")
	mustCreateTopic(t, b.Addr(), "ts", 1, nil)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 3 {
		recs = append(recs, &kgo.Record{Topic: "ts", Value: fmt.Appendf(nil, `{"n":%d}`, i), Timestamp: t0.Add(time.Duration(i) * time.Minute)})
	}
	produceRecords(t, b.Addr(), recs...)
	adm, err := NewAdmin(Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{
		{t0.Add(-time.Hour), 0},
		{t0, 0},
		{t0.Add(30 * time.Second), 1},
		{t0.Add(2 * time.Minute), 2},
		{t0.Add(10 * time.Minute), 3},
	} {
		got, err := adm.OffsetsAt(context.Background(), "ts", tc.at)
		if err != nil || len(got) != 1 || got[0] != tc.want {
			t.Errorf("OffsetsAt(%s) = %v, %v; want partition 0 at %d", tc.at.Format(time.TimeOnly), got, err, tc.want)
		}
	}
}
