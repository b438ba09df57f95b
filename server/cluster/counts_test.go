package cluster

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
	"driftd/stream"
)

var countsT0 = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

// counts builds drift counts of records records: bins per feature, and
// for categorical features (unseen != nil) the unseen categories' names,
// counted in the last bins.
func counts(records int64, features ...feature) *drift.Counts {
	c := &drift.Counts{Records: records, Bins: make([][]int64, len(features)), Unseen: make([][]string, len(features))}
	for i, f := range features {
		c.Bins[i], c.Unseen[i] = f.bins, f.unseen
	}
	return c
}

type feature struct {
	bins   []int64
	unseen []string
}

func num(bins ...int64) feature { return feature{bins: bins} }

func cat(unseen []string, bins ...int64) feature {
	if unseen == nil {
		unseen = []string{}
	}
	return feature{bins: bins, unseen: unseen}
}

func TestClusterCountsRoundTrip(t *testing.T) {
	for _, c := range []Contribution{
		{Instance: "host/127.0.0.1:8080/pid-7", Taken: countsT0.Add(time.Minute), WindowCounts: drift.WindowCounts{
			Model: "churn", Version: "1.0.0", Window: countsT0.Format(time.RFC3339Nano), Start: countsT0, End: countsT0.Add(time.Minute),
			Counts: counts(12, num(1, 2, 3, 6), cat(nil, 4, 8), cat([]string{"new", "другой"}, 1, 1, 0, 5, 5))}},
		{Instance: "w", Taken: countsT0, WindowCounts: drift.WindowCounts{
			Model: "m", Version: "2", Window: drift.SlidingWindow, End: countsT0, Counts: counts(1<<40, num(1<<40, 0))}},
		{Instance: "w", WindowCounts: drift.WindowCounts{Model: "m", Version: "2", Window: drift.SlidingWindow, Counts: counts(0)}},
	} {
		p := EncodeCounts(c)
		got, err := DecodeCounts(p)
		if err != nil {
			t.Fatalf("decode %s %s: %v", c.Model, c.Window, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip changed the counts:\n got %+v\nwant %+v", got, c)
		}
		if got.key() != CountsKey(c.Model, c.Version, c.Window, c.Instance) {
			t.Errorf("key %q", got.key())
		}
	}
}

func TestClusterDecodeCountsErrors(t *testing.T) {
	good := Contribution{Instance: "w", WindowCounts: drift.WindowCounts{Model: "m", Version: "1", Window: "x", Start: countsT0, End: countsT0.Add(time.Minute),
		Counts: counts(3, num(1, 2), cat([]string{"u"}, 1, 2))}}
	enc := EncodeCounts(good)
	edit := func(f func(*Contribution)) []byte {
		c := good
		c.Counts = cloneCounts(good.Counts)
		f(&c)
		return EncodeCounts(c)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"newer format", append([]byte("DRIFTDW2"), enc[8:]...), "bad magic"},
		{"no instance", edit(func(c *Contribution) { c.Instance = "" }), "empty instance"},
		{"no window", edit(func(c *Contribution) { c.Window = "" }), "empty window"},
		{"end before start", edit(func(c *Contribution) { c.End = c.Start }), "not after start"},
		{"cut in times", enc[:countsHeaderLen(good)-5], "times cut short"},
		{"cut in bins", enc[:len(enc)-3], "cut short"},
		{"cut in a name", enc[:len(enc)-1], "past the end"},
		{"overlong varint", append(append([]byte{}, enc[:countsHeaderLen(good)]...), 0x83, 0x00), "not minimally encoded"},
		{"trailing", append(append([]byte{}, enc...), 0), "trailing"},
		{"more unseen than bins", edit(func(c *Contribution) { c.Counts.Unseen[1] = []string{"a", "b", "c"} }), "unseen count"},
		{"negative count", edit(func(c *Contribution) { c.Counts.Bins[0][1] = -1 }), "over the limit"},
		{"huge feature count", append(append([]byte{}, enc[:countsHeaderLen(good)]...), 0x03, 0xff, 0xff, 0x03), "feature count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCounts(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// countsHeaderLen is the length of c's encoding before its counts.
func countsHeaderLen(c Contribution) int {
	return len(countsMagic) + 4*4 + len(c.Instance) + len(c.Model) + len(c.Version) + len(c.Window) + 3*8
}

func FuzzDecodeCounts(f *testing.F) {
	f.Add(EncodeCounts(Contribution{Instance: "w", Taken: countsT0, WindowCounts: drift.WindowCounts{Model: "m", Version: "1",
		Window: drift.SlidingWindow, End: countsT0, Counts: counts(3, num(1, 2), cat([]string{"u"}, 1, 2))}}))
	f.Add(EncodeCounts(Contribution{Instance: "w", WindowCounts: drift.WindowCounts{Model: "m", Version: "1", Window: "t",
		Start: countsT0, End: countsT0.Add(time.Second), Counts: counts(0)}}))
	f.Add([]byte("DRIFTDW1"))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := DecodeCounts(p)
		if err != nil {
			return
		}
		if err := mergeable(c.Counts); err != nil {
			t.Fatalf("decoded counts cannot be merged: %v", err)
		}
		if !bytes.Equal(EncodeCounts(c), p) {
			t.Fatal("decoded counts do not encode back to their input")
		}
		// Merging with itself must not panic and must double every count.
		sum := cloneCounts(c.Counts)
		if err := sum.Merge(c.Counts); err != nil || sum.Records != 2*c.Counts.Records {
			t.Fatalf("merge with itself: %v (records %d of %d)", err, sum.Records, c.Counts.Records)
		}
	})
}

// TestClusterCountsPublisherQueue: with the brokers away nothing is sent;
// a sliding window's newer counts replace its unsent ones, a new key past
// the queue's bound is dropped, and Close drops (and counts) what never
// left.
func TestClusterCountsPublisherQueue(t *testing.T) {
	set := metrics.NewSet()
	p, err := NewCountsPublisher(CountsPublisherConfig{Kafka: stream.Config{Brokers: []string{"127.0.0.1:1"}}, Instance: "w/1", Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	sliding := func(model string, records int64) drift.WindowCounts {
		return drift.WindowCounts{Model: model, Version: "1", Window: drift.SlidingWindow, End: countsT0, Counts: counts(records, num(records))}
	}
	p.Publish(sliding("m", 1))
	p.Publish(sliding("m", 2))
	p.mu.Lock()
	n, v := len(p.pending), p.pending[CountsKey("m", "1", drift.SlidingWindow, "w/1")]
	p.mu.Unlock()
	if c, err := DecodeCounts(v); n != 1 || err != nil || c.Counts.Records != 2 {
		t.Fatalf("after two sliding publications: %d pending, the queued one %+v (%v), want 1 holding the newer counts", n, c, err)
	}
	for i := range maxPendingCounts {
		p.Publish(sliding("m"+string(rune('a'+i%26))+strings.Repeat("x", i/26), 1))
	}
	dropped := set.GetOrCreateCounter(`driftd_cluster_drift_counts_dropped_total`)
	if got := dropped.Get(); got != 1 {
		t.Fatalf("dropped = %d after %d keys into a queue of %d, want 1", got, maxPendingCounts+1, maxPendingCounts)
	}
	p.Publish(drift.WindowCounts{Model: "m", Version: "1", Window: drift.SlidingWindow, Counts: &drift.Counts{Bins: [][]int64{{1}}}})
	if got := dropped.Get(); got != 2 {
		t.Fatalf("dropped = %d after malformed counts (no unseen list), want 2", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil {
		t.Fatal("Close with the brokers away succeeded, want the error of counts not delivered")
	}
	if got := dropped.Get(); got != 2+maxPendingCounts {
		t.Fatalf("dropped = %d after Close, want %d (the queue's)", got, 2+maxPendingCounts)
	}
	if got := set.GetOrCreateCounter(`driftd_cluster_drift_counts_published_total`).Get(); got != 0 {
		t.Fatalf("published = %d with no broker", got)
	}
}
