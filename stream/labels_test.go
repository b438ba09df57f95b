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
