package stream

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLabelJoinerBounds(t *testing.T) {
	now := time.Unix(1000, 0)
	var got []string
	j, _ := NewLabelJoiner(LabelConfig{TTL: time.Minute, MaxEntries: 3, Now: func() time.Time { return now },
		OnJoin: func(id string, _ float64, p, a string) { got = append(got, id+":"+p+"/"+a) }})
	for i := range 5 {
		j.Remember("r"+strconv.Itoa(i), float64(i), "pos")
	}
	if j.Len() != 3 {
		t.Fatalf("len = %d, want MaxEntries 3", j.Len())
	}
	if j.Join("r0", "neg") {
		t.Fatal("evicted r0 joined")
	}
	if !j.Join("r4", "pos") || j.Join("r4", "pos") {
		t.Fatal("r4 must join exactly once")
	}
	now = now.Add(2 * time.Minute)
	if j.Join("r3", "pos") {
		t.Fatal("expired r3 joined")
	}
	if len(got) != 1 || got[0] != "r4:pos/pos" {
		t.Fatalf("joins = %v", got)
	}
}

func TestParseLabel(t *testing.T) {
	for in, want := range map[string]string{`{"id":"a","label":"1"}`: "a/1", `{"id":7,"label":0}`: "7/0", `{"id":"a"}`: "", `[1]`: "", `{"id":{},"label":1}`: ""} {
		id, l, err := ParseLabel([]byte(in))
		if (err == nil) != (want != "") || (err == nil && id+"/"+l != want) {
			t.Errorf("%s: %q %q %v, want %q", in, id, l, err, want)
		}
	}
}

func TestLabelJoinerStream(t *testing.T) {
	b := startBroker(t, "")
	cfg := Config{Brokers: []string{b.Addr()}}
	if err := EnsureTopics(context.Background(), cfg, []string{"labels"}, 1, 1); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	correct, total := 0, 0
	j, _ := NewLabelJoiner(LabelConfig{Client: cfg, Logger: testLogger(t), OnJoin: func(_ string, _ float64, p, a string) {
		mu.Lock()
		defer mu.Unlock()
		total++
		if p == a {
			correct++
		}
	}})
	j.Remember("a", 0.9, "1")
	j.Remember("b", 0.2, "0")
	if err := j.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	adm, _ := NewAdmin(cfg)
	defer adm.Close()
	// The joiner starts at the end of the topic: produce until its group is assigned.
	waitFor(t, 20*time.Second, "labels joined", func() bool {
		_, _, _ = adm.ProduceTest(context.Background(), "labels", nil, []byte(`{"id":"zz","label":"1"}`))
		mu.Lock()
		defer mu.Unlock()
		return j.unmatched.Get() > 0
	})
	_, _, _ = adm.ProduceTest(context.Background(), "labels", nil, []byte(`{"id":"a","label":"1"}`))
	_, _, _ = adm.ProduceTest(context.Background(), "labels", nil, []byte(`{"id":"b","label":"1"}`))
	waitFor(t, 20*time.Second, "two joins", func() bool { mu.Lock(); defer mu.Unlock(); return total == 2 })
	if correct != 1 {
		t.Fatalf("correct = %d, want 1", correct)
	}
}

// held walks what the joiner holds: the entries in its eviction list and
// their bytes, checking them against its map and byte count.
func (j *LabelJoiner) held(t *testing.T) (entries int, bytes int64) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	for p := j.head; p != nil; p = p.next {
		entries++
		bytes += p.size()
		if j.preds[p.id] != p {
			t.Fatalf("listed entry %q is not the map's", p.id)
		}
	}
	if entries != len(j.preds) || bytes != j.bytes {
		t.Fatalf("list holds %d entries of %d bytes, map %d entries, counted %d bytes", entries, bytes, len(j.preds), j.bytes)
	}
	return entries, bytes
}

// TestLabelJoinerRepeatedIDs remembers one prediction that stays waiting,
// then a million predictions of the same 10 ids, joining some: the joiner
// holds 11 entries at most. Before the fix every superseded prediction stayed
// queued behind the live first one until the TTL: 11 live predictions held
// 1,000,001 queue entries.
func TestLabelJoinerRepeatedIDs(t *testing.T) {
	now := time.Unix(1000, 0)
	j, _ := NewLabelJoiner(LabelConfig{TTL: time.Hour, MaxEntries: 1000, Now: func() time.Time { return now }})
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = "id-" + strconv.Itoa(i)
	}
	j.Remember("head", 0, "pos")
	joins := 0
	most := 0
	for i := range 1_000_000 {
		j.Remember(ids[i%10], float64(i), "pos")
		if i%7 == 0 && j.Join(ids[(i/7)%10], "pos") {
			joins++
		}
		if i%1000 == 0 {
			n, _ := j.held(t)
			most = max(most, n)
		}
	}
	n, bytes := j.held(t)
	if n > 11 || most > 11 {
		t.Fatalf("holding %d entries (at most %d seen) for 11 ids", n, most)
	}
	if want := entryOverhead + int64(len("head")+len("pos")) + int64(n-1)*(entryOverhead+int64(len("id-0")+len("pos"))); bytes != want {
		t.Fatalf("bytes = %d, want %d", bytes, want)
	}
	if joins == 0 || !j.Join("head", "pos") {
		t.Fatal("joins lost")
	}
}

func TestLabelJoinerByteBound(t *testing.T) {
	now := time.Unix(1000, 0)
	one := entryOverhead + int64(len("id-00")+len("pos"))
	j, _ := NewLabelJoiner(LabelConfig{MaxEntries: 1000, MaxBytes: 5 * one, Now: func() time.Time { return now }})
	for i := range 100 {
		j.Remember(fmt.Sprintf("id-%02d", i), 0, "pos")
	}
	if n, bytes := j.held(t); n != 5 || bytes > 5*one {
		t.Fatalf("holding %d entries of %d bytes, want 5 within %d", n, bytes, 5*one)
	}
	if j.Join("id-94", "pos") || !j.Join("id-95", "pos") {
		t.Fatal("want the 5 newest remembered, the older evicted")
	}
	j.Remember(strings.Repeat("x", int(5*one)), 0, "pos") // larger than the bound alone
	if n, bytes := j.held(t); n != 4 || bytes > 5*one {
		t.Fatalf("after an entry over MaxBytes: %d entries of %d bytes, want the 4 others", n, bytes)
	}
	now = now.Add(2 * time.Hour)
	j.Remember("late", 0, "pos")
	if n, _ := j.held(t); n != 1 {
		t.Fatalf("holding %d entries, want 1", n)
	}
}

// TestLabelJoinerEarlyLabels: with a predictions topic, a label read before
// its prediction waits for it (EarlyTTL), and one that waits too long is
// counted unmatched.
func TestLabelJoinerEarlyLabels(t *testing.T) {
	now := time.Unix(1000, 0)
	var got []string
	j, _ := NewLabelJoiner(LabelConfig{Predictions: "predictions", EarlyTTL: time.Minute, Now: func() time.Time { return now },
		OnJoin: func(id string, _ float64, p, a string) { got = append(got, id+":"+p+"/"+a) }})
	if j.Join("a", "1") {
		t.Fatal("a joined before its prediction")
	}
	j.Join("b", "0")
	if j.Early() != 2 || j.unmatched.Get() != 0 {
		t.Fatalf("early = %d, unmatched = %d; want 2 waiting, 0 unmatched", j.Early(), j.unmatched.Get())
	}
	j.Remember("a", 0.9, "1")
	if len(got) != 1 || got[0] != "a:1/1" || j.Len() != 0 {
		t.Fatalf("joins = %v, %d remembered; want a joined at once and nothing remembered", got, j.Len())
	}
	now = now.Add(2 * time.Minute)
	if j.Early() != 0 || j.unmatched.Get() != 1 {
		t.Fatalf("after EarlyTTL: early = %d, unmatched = %d; want 0 and 1", j.Early(), j.unmatched.Get())
	}
	j.Remember("b", 0.1, "0")
	if len(got) != 1 || j.Len() != 1 {
		t.Fatalf("b joined after its label expired: %v", got)
	}
}

// TestLabelJoinerFollowsPredictions: the joiner remembers the predictions
// another process produced to the predictions topic and joins their labels,
// whichever comes first.
func TestLabelJoinerFollowsPredictions(t *testing.T) {
	b := startBroker(t, "")
	cfg := Config{Brokers: []string{b.Addr()}}
	ctx := context.Background()
	if err := EnsureTopics(ctx, cfg, []string{"labels", "predictions"}, 3, 1); err != nil {
		t.Fatal(err)
	}
	adm, _ := NewAdmin(cfg)
	defer adm.Close()
	// Scored before the joiner starts: read back within TTL.
	if _, _, err := adm.ProduceTest(ctx, "predictions", []byte("p1"), []byte(`{"id":"p1","model":"m","version":"1","score":0.8,"label":"1","ts":"2026-12-07T00:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	joined := map[string]string{}
	j, _ := NewLabelJoiner(LabelConfig{Client: cfg, Predictions: "predictions", Logger: testLogger(t), OnJoin: func(id string, _ float64, p, a string) {
		mu.Lock()
		defer mu.Unlock()
		joined[id] = p + "/" + a
	}})
	if err := j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer j.Close(ctx)
	waitFor(t, 20*time.Second, "p1 read from the predictions topic", func() bool { return j.predictionsRead.Get() == 1 })
	// The labels consumer starts at the end: produce until it is assigned.
	waitFor(t, 20*time.Second, "the labels consumer to read", func() bool {
		_, _, _ = adm.ProduceTest(ctx, "labels", nil, []byte(`{"id":"zz","label":"1"}`))
		return j.Early() > 0
	})
	// p2's label comes before its prediction.
	_, _, _ = adm.ProduceTest(ctx, "labels", nil, []byte(`{"id":"p2","label":"0"}`))
	_, _, _ = adm.ProduceTest(ctx, "labels", nil, []byte(`{"id":"p1","label":"1"}`))
	waitFor(t, 20*time.Second, "p1 joined", func() bool { mu.Lock(); defer mu.Unlock(); return joined["p1"] != "" })
	_, _, _ = adm.ProduceTest(ctx, "predictions", []byte("p2"), []byte(`{"id":"p2","model":"m","version":"1","score":0.7,"label":"1","ts":"2026-12-07T00:00:01Z"}`))
	waitFor(t, 20*time.Second, "p2 joined", func() bool { mu.Lock(); defer mu.Unlock(); return joined["p2"] != "" })
	mu.Lock()
	defer mu.Unlock()
	if joined["p1"] != "1/1" || joined["p2"] != "1/0" {
		t.Fatalf("joins = %v, want p1 1/1 and p2 1/0", joined)
	}
}

func TestParsePrediction(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{`{"id":"a","score":0.25,"label":"1"}`, "a/0.25/1", ""},
		{`{"id":7,"score":3,"label":null}`, "7/3/", ""},
		{`{"score":1}`, "", `"id"`},
		{`{"id":"a"}`, "", `"score"`},
		{`{"id":"a","score":"x"}`, "", "prediction record"},
		{`{"id":"a","score":1,"label":{}}`, "", `"label"`},
	} {
		id, score, label, err := ParsePrediction([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want one naming %s", c.in, err, c.err)
			}
			continue
		}
		if got := fmt.Sprintf("%s/%g/%s", id, score, label); err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzParsePrediction(f *testing.F) {
	for _, s := range []string{`{"id":"a","score":0.25,"label":"1"}`, `{"id":7,"score":3}`, `{"score":1}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, _, _, err := ParsePrediction(b)
		if err == nil && id == "" {
			t.Fatalf("%q: accepted without an id", b)
		}
	})
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{`{"id":"a","label":"1"}`, `{"id":7,"label":0}`, `{"id":"a"}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, label, err := ParseLabel(b)
		if err == nil && (id == "" || label == "") {
			t.Fatalf("%q: accepted with an empty id or label", b)
		}
	})
}
