package stream

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// mustCreateTopic creates topic with partitions and topic configs.
func mustCreateTopic(tb testing.TB, addr, topic string, partitions int32, configs map[string]string) {
	tb.Helper()
	cl, err := NewClient(Config{Brokers: []string{addr}})
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
}

// produceRecords produces recs with a client that accepts records up to
// 32 MiB, and waits for their acknowledgements.
func produceRecords(tb testing.TB, addr string, recs ...*kgo.Record) {
	tb.Helper()
	cl, err := NewClient(Config{Brokers: []string{addr}}, kgo.ProducerBatchMaxBytes(32<<20), kgo.ProducerLinger(0))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		tb.Fatal(err)
	}
}

func headerMap(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// TestScorerHostileRecords streams, on one partition, records that can never
// be scored or whose prediction can never be produced, each followed by good
// records: the good ones are scored, the bad ones are in dead-letter with
// their reason, bounded, and the group commits past them. Before the fix the
// megabyte id stalled the partition for good (its prediction was too large
// and retried forever) and the 100,000-key record was scored.
func TestScorerHostileRecords(t *testing.T) {
	b := startBroker(t, "")
	addr := b.Addr()
	mustCreateTopic(t, addr, "drift-data", 1, map[string]string{"max.message.bytes": strconv.Itoa(16 << 20)})
	if err := EnsureTopics(context.Background(), Config{Brokers: []string{addr}}, DefaultTopics().All(), 3, 1); err != nil {
		t.Fatal(err)
	}
	good := func(i int) []byte { return fmt.Appendf(nil, `{"id":"r%d","f0":%d,"f1":1,"f2":2}`, i, i) }
	manyKeys := func(n int) []byte {
		var sb strings.Builder
		sb.WriteString(`{"id":"r20","f0":1,"f1":1,"f2":2`)
		for i := range n {
			sb.WriteString(`,"` + strconv.FormatInt(int64(i), 36) + `":0`)
		}
		sb.WriteString("}")
		return []byte(sb.String())
	}
	bad := map[int]struct {
		key, value []byte
		reason     string
	}{
		10: {nil, []byte(`{"id":"` + strings.Repeat("x", 3<<20) + `","f0":1,"f1":1,"f2":2}`), `field "id" is too long: 3145728 bytes (at most 256)`},
		20: {nil, manyKeys(100_000), "too many fields"},
		30: {[]byte(strings.Repeat("k", 1500<<10)), good(30), "MESSAGE_TOO_LARGE"},
		40: {[]byte(strings.Repeat("k", 600<<10)), []byte(`{"f0":1,"f1":1,"f2":2}`), "key is too long to serve as one"},
	}
	const n = 50
	var recs []*kgo.Record
	for i := range n {
		r := &kgo.Record{Topic: "drift-data", Key: []byte(strconv.Itoa(i)), Value: good(i)}
		if x, ok := bad[i]; ok {
			r.Key, r.Value = x.key, x.value
		}
		recs = append(recs, r)
	}
	produceRecords(t, addr, recs...)
	s := startScorer(t, addr, "g", &sumModel{version: "1", schema: benchSchema(3)}, nil, 7)

	preds := decodePreds(t, readN(t, addr, "predictions", n-len(bad), 60*time.Second))
	for i := range n {
		id := "r" + strconv.Itoa(i)
		if _, isBad := bad[i]; isBad {
			if len(preds[id]) != 0 {
				t.Errorf("%s was scored: %+v", id, preds[id])
			}
		} else if len(preds[id]) != 1 {
			t.Errorf("%s: %d predictions, want 1", id, len(preds[id]))
		}
	}
	for _, r := range readN(t, addr, "dead-letter", len(bad), 30*time.Second) {
		h := headerMap(r)
		off, _ := strconv.Atoi(h["source_offset"])
		x, ok := bad[off]
		if !ok {
			t.Errorf("dead letter of offset %d, which is a good record (error %q)", off, h["error"])
			continue
		}
		if !strings.Contains(h["error"], x.reason) {
			t.Errorf("dead letter of offset %d: error %q, want %q", off, h["error"], x.reason)
		}
		if len(r.Value) > maxDeadLetterValue || len(r.Key) > maxDeadLetterKey || len(h["error"]) > maxDeadLetterHeader {
			t.Errorf("dead letter of offset %d: key %d, value %d, error %d bytes: not bounded", off, len(r.Key), len(r.Value), len(h["error"]))
		}
		if long := len(x.value) > maxDeadLetterValue || len(x.key) > maxDeadLetterKey; long != (h["truncated"] != "") {
			t.Errorf("dead letter of offset %d: truncated header %q for a %d-byte value and %d-byte key", off, h["truncated"], len(x.value), len(x.key))
		}
		if len(x.value) <= maxDeadLetterValue && string(r.Value) != string(x.value) {
			t.Errorf("dead letter of offset %d: value %.80q, want the original", off, r.Value)
		}
	}
	assertCommitted(t, addr, "g", "drift-data", n)
	waitFor(t, 10*time.Second, "every record counted", func() bool { return s.Status().Consumed == n })
	if st := s.Status(); st.Produced != n-uint64(len(bad)) || st.DeadLettered != uint64(len(bad)) || st.Dropped != 0 {
		t.Fatalf("status %+v, want %d produced and %d dead-lettered", st, n-len(bad), len(bad))
	}
}

// TestScorerBrokerRefusesBatch makes the broker refuse whole batches of
// predictions (a topic limit below the client's batch size): each refused
// prediction is produced again on its own, and only the one that is too
// large alone is dead-lettered.
func TestScorerBrokerRefusesBatch(t *testing.T) {
	b := startBroker(t, "")
	addr := b.Addr()
	mustCreateTopic(t, addr, "predictions", 1, map[string]string{"max.message.bytes": "1500"})
	if err := EnsureTopics(context.Background(), Config{Brokers: []string{addr}}, DefaultTopics().All(), 1, 1); err != nil {
		t.Fatal(err)
	}
	const n, big = 200, 77
	var recs []*kgo.Record
	for i := range n {
		r := &kgo.Record{Topic: "drift-data", Key: []byte(strconv.Itoa(i)), Value: fmt.Appendf(nil, `{"id":"r%d","f0":%d,"f1":1,"f2":2}`, i, i)}
		if i == big {
			r.Key = []byte(strings.Repeat("k", 2000)) // the prediction carries the input's key
		}
		recs = append(recs, r)
	}
	produceRecords(t, addr, recs...)
	s := startScorer(t, addr, "g", &sumModel{version: "1", schema: benchSchema(3)}, nil, 100)
	preds := decodePreds(t, readN(t, addr, "predictions", n-1, 60*time.Second))
	for i := range n {
		if id := "r" + strconv.Itoa(i); (len(preds[id]) == 1) != (i != big) {
			t.Errorf("%s: %d predictions", id, len(preds[id]))
		}
	}
	dl := readN(t, addr, "dead-letter", 1, 30*time.Second)
	if h := headerMap(dl[0]); h["source_offset"] != strconv.Itoa(big) || !strings.Contains(h["error"], "MESSAGE_TOO_LARGE") {
		t.Fatalf("dead letter headers %v, want offset %d refused as too large", h, big)
	}
	assertCommitted(t, addr, "g", "drift-data", n)
	waitFor(t, 10*time.Second, "every record counted", func() bool { return s.Status().Consumed == n })
	if st := s.Status(); st.Produced != n-1 || st.DeadLettered != 1 {
		t.Fatalf("status %+v", st)
	}
}

// TestScorerDeadLetterRefused makes the dead-letter topic refuse the bounded
// copy of a bad record: a dead letter without the input's content is sent
// instead, and when even that is refused the input is dropped and counted;
// either way the stream goes on past it.
func TestScorerDeadLetterRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    int // max.message.bytes of dead-letter
		wantDead bool
	}{
		{"minimal dead letter", 800, true},
		{"dropped", 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, "")
			addr := b.Addr()
			mustCreateTopic(t, addr, "dead-letter", 1, map[string]string{"max.message.bytes": strconv.Itoa(tc.limit)})
			if err := EnsureTopics(context.Background(), Config{Brokers: []string{addr}}, DefaultTopics().All(), 1, 1); err != nil {
				t.Fatal(err)
			}
			const n, bad = 20, 5
			var recs []*kgo.Record
			for i := range n {
				v := fmt.Appendf(nil, `{"id":"r%d","f0":%d,"f1":1,"f2":2}`, i, i)
				if i == bad {
					v = []byte(`{"id":"r5","f0":"` + strings.Repeat("x", 10_000) + `","f1":1,"f2":2}`)
				}
				recs = append(recs, &kgo.Record{Topic: "drift-data", Key: []byte(strconv.Itoa(i)), Value: v})
			}
			produceRecords(t, addr, recs...)
			s := startScorer(t, addr, "g", &sumModel{version: "1", schema: benchSchema(3)}, nil, 100)
			readN(t, addr, "predictions", n-1, 30*time.Second)
			assertCommitted(t, addr, "g", "drift-data", n)
			waitFor(t, 10*time.Second, "every record counted", func() bool { return s.Status().Consumed == n })
			st := s.Status()
			if tc.wantDead {
				dl := readN(t, addr, "dead-letter", 1, 30*time.Second)
				h := headerMap(dl[0])
				if len(dl[0].Value) != 0 || h["source_offset"] != strconv.Itoa(bad) || !strings.Contains(h["error"], `wrong type for field "f0"`) || h["truncated"] == "" {
					t.Fatalf("dead letter %q with headers %v, want one without the value naming offset %d", dl[0].Value, h, bad)
				}
				if st.DeadLettered != 1 || st.Dropped != 0 {
					t.Fatalf("status %+v", st)
				}
			} else if st.DeadLettered != 0 || st.Dropped != 1 || st.Produced != n-1 {
				t.Fatalf("status %+v, want one dropped", st)
			}
		})
	}
}

// TestLabelJoinerMillionLabels streams a million labels for the same 10 ids
// through the broker while the same 10 ids are predicted a million times
// behind one prediction that waits all along: the joiner holds at most 11
// entries throughout (before the fix, every superseded prediction stayed
// queued behind the waiting one until the TTL).
func TestLabelJoinerMillionLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("a million records")
	}
	b := startBroker(t, "")
	cfg := Config{Brokers: []string{b.Addr()}}
	if err := EnsureTopics(context.Background(), cfg, []string{"labels"}, 3, 1); err != nil {
		t.Fatal(err)
	}
	j, _ := NewLabelJoiner(LabelConfig{Client: cfg, Logger: testLogger(t), MaxEntries: 1000})
	if err := j.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	adm, _ := NewAdmin(cfg)
	defer adm.Close()
	// The joiner starts at the end of the topic: produce until it reads.
	warm := 0
	waitFor(t, 20*time.Second, "joiner reading", func() bool {
		_, _, _ = adm.ProduceTest(context.Background(), "labels", nil, []byte(`{"id":"warm","label":"1"}`))
		warm++
		return j.unmatched.Get() > 0
	})
	base := j.joined.Get() + j.unmatched.Get()

	const n = 1_000_000
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = "id-" + strconv.Itoa(i)
	}
	j.Remember("head", 0.5, "1") // waits for its label all along
	most := 0
	cl, err := NewClient(cfg, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var produceErr error
	var mu sync.Mutex
	for i := range n {
		// A prediction and a label of the same id, a million each: the
		// labels are read while the predictions go on.
		j.Remember(ids[(i+5)%10], 0.5, "1")
		cl.Produce(context.Background(), &kgo.Record{Topic: "labels", Value: []byte(`{"id":"` + ids[i%10] + `","label":"1"}`)}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				produceErr = err
				mu.Unlock()
			}
		})
		if i%1000 == 0 {
			held, _ := j.held(t)
			most = max(most, held)
		}
	}
	if err := cl.Flush(context.Background()); err != nil || produceErr != nil {
		t.Fatalf("produce: %v %v", err, produceErr)
	}
	waitFor(t, 120*time.Second, "a million labels read", func() bool {
		held, _ := j.held(t)
		most = max(most, held)
		return j.joined.Get()+j.unmatched.Get()-base >= n
	})
	entries, bytes := j.held(t)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d labels, %d joined, %d unmatched; at most %d entries held; now %d entries, %d bytes; heap in use after GC %.1f MB (%d warm-up labels)",
		n, j.joined.Get(), j.unmatched.Get(), most, entries, bytes, float64(ms.HeapInuse)/1e6, warm)
	if most > 11 || entries > 11 || bytes > 11*(entryOverhead+int64(len("head")+len("1"))) {
		t.Fatalf("joiner held %d entries at most, %d entries of %d bytes at the end, for 11 ids", most, entries, bytes)
	}
	if j.joined.Get() == 0 {
		t.Fatal("no label joined")
	}
}
