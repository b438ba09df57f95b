package stream

import (
	"context"
	"strconv"
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
