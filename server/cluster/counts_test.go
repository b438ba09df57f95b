package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"reflect"
	"slices"
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
		{"newer format", append([]byte("DRIFTDW3"), enc[8:]...), "bad magic"},
		{"no instance", edit(func(c *Contribution) { c.Instance = "" }), "empty instance"},
		{"no window", edit(func(c *Contribution) { c.Window = "" }), "empty window"},
		{"end before start", edit(func(c *Contribution) { c.End = c.Start }), "not after start"},
		{"cut in times", enc[:countsHeaderLen(good)-5], "times cut short"},
		{"cut in bins", enc[:len(enc)-3], "cut short"},
		{"cut in a name", enc[:len(enc)-2], "past the end"}, // the name's byte and the statistics' flags
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

// testStats are window statistics with every part: DLE, PCA and a
// multiclass CBPE of 3 classes and 4 bins per histogram.
func testStats() *drift.WindowStats {
	return &drift.WindowStats{
		Loss: &drift.LossStats{Records: 12, Abs: 3.25, Sq: 17.0625},
		PCA:  &drift.PCAStats{Records: 12, Error: 11.5},
		Perf: &drift.PerfStats{Records: 3, Classes: 3, Confusion: []float64{0.7, 0.1, 0, 0.2, 0.8, 0.5, 0.1, 0.1, 0.5},
			Predicted: []int64{1, 1, 1}, Bins: 4,
			Count: []int64{2, 0, 1, 0 /**/, 2, 0, 0, 1 /**/, 1, 1, 1, 0},
			Sum:   []float64{0.2, 0, 0.7, 0 /**/, 0.3, 0, 0, 0.8 /**/, 0.1, 0.3, 0.5, 0}},
	}
}

// binaryStats are a binary model's CBPE statistics alone.
func binaryStats() *drift.WindowStats {
	count, sum := make([]int64, drift.BinaryAUCBins), make([]float64, drift.BinaryAUCBins)
	count[3], sum[3] = 2, 0.0061
	count[1023], sum[1023] = 1, 1
	return &drift.WindowStats{Perf: &drift.PerfStats{Records: 3, Confusion: []float64{1, 0, 0.0061, 1.9939},
		Bins: drift.BinaryAUCBins, Count: count, Sum: sum}}
}

// TestClusterCountsStatsRoundTrip: window statistics (every part, some
// parts, a binary model's sparse 1024-bin histogram) survive encoding and
// decoding, and the encoding of the histogram is sparse.
func TestClusterCountsStatsRoundTrip(t *testing.T) {
	for _, stats := range []*drift.WindowStats{testStats(), binaryStats(), {PCA: &drift.PCAStats{Records: 1, Error: 0}},
		{Loss: &drift.LossStats{}, PCA: &drift.PCAStats{Records: 1 << 30, Error: 1e300}}} {
		c := Contribution{Instance: "w", Taken: countsT0, WindowCounts: drift.WindowCounts{Model: "m", Version: "1", Window: drift.SlidingWindow,
			End: countsT0, Counts: counts(12, num(4, 8), cat([]string{"u"}, 10, 1, 1))}}
		c.Counts.Stats = stats
		p := EncodeCounts(c)
		if !bytes.HasPrefix(p, []byte("DRIFTDW2")) || len(p) > 300 {
			t.Errorf("encoded in %d bytes with magic %q, want version 2 and a sparse histogram", len(p), p[:8])
		}
		got, err := DecodeCounts(p)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip changed the statistics:\n got %+v\nwant %+v", got.Counts.Stats, c.Counts.Stats)
		}
	}
}

// TestClusterDecodeCountsVersion1: a record written before the statistics
// (format version 1: no statistics section) still decodes, without them.
func TestClusterDecodeCountsVersion1(t *testing.T) {
	c := Contribution{Instance: "w", Taken: countsT0, WindowCounts: drift.WindowCounts{Model: "m", Version: "1", Window: drift.SlidingWindow,
		End: countsT0, Counts: counts(3, num(1, 2), cat([]string{"u"}, 1, 2))}}
	// Version 1's layout is version 2's without the statistics' flags
	// (one zero byte when there are none).
	v2 := EncodeCounts(c)
	if v2[len(v2)-1] != 0 {
		t.Fatalf("a record without statistics ends in %#x, want the flags 0", v2[len(v2)-1])
	}
	v1 := append([]byte("DRIFTDW1"), v2[8:len(v2)-1]...)
	got, err := DecodeCounts(v1)
	if err != nil {
		t.Fatalf("decode version 1: %v", err)
	}
	if !reflect.DeepEqual(got, c) || got.Counts.Stats != nil {
		t.Errorf("version 1 decoded as %+v, want %+v", got, c)
	}
	// Version 1 has no statistics section: a trailing one is refused.
	if _, err := DecodeCounts(append([]byte("DRIFTDW1"), EncodeCounts(withStats(c, testStats()))[8:]...)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("version 1 with statistics: err %v, want trailing bytes", err)
	}
}

func withStats(c Contribution, s *drift.WindowStats) Contribution {
	c.Counts = c.Counts.Clone()
	c.Counts.Stats = s
	return c
}

// TestClusterDecodeCountsStatsErrors: statistics that could not be merged
// or evaluated, or would not encode back alike, are refused with the field
// at fault.
func TestClusterDecodeCountsStatsErrors(t *testing.T) {
	good := Contribution{Instance: "w", WindowCounts: drift.WindowCounts{Model: "m", Version: "1", Window: drift.SlidingWindow,
		Counts: counts(3, num(1, 2))}}
	edit := func(f func(*drift.WindowStats)) []byte {
		s := testStats()
		f(s)
		return EncodeCounts(withStats(good, s))
	}
	// raw replaces the statistics section with the given bytes.
	head := EncodeCounts(good)
	head = head[:len(head)-1]
	raw := func(parts ...[]byte) []byte { return append(slices.Clone(head), bytes.Join(parts, nil)...) }
	uv := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	f64 := func(vs ...float64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	binaryHead := append(uv(4, 2, 0), f64(1, 0, 0, 1)...) // CBPE of 2 binary records, then the histogram
	enc := EncodeCounts(withStats(good, testStats()))
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown flag", raw(uv(8)), "statistics flags"},
		{"NaN loss sum", edit(func(s *drift.WindowStats) { s.Loss.Abs = math.NaN() }), "loss sums"},
		{"infinite PCA sum", edit(func(s *drift.WindowStats) { s.PCA.Error = math.Inf(1) }), "PCA sum"},
		{"negative confusion cell", edit(func(s *drift.WindowStats) { s.Perf.Confusion[4] = -0.5 }), "confusion cell"},
		{"NaN histogram sum", edit(func(s *drift.WindowStats) { s.Perf.Sum[2] = math.NaN() }), "histogram 0 bin 2 sum"},
		{"sum over the bin's records", edit(func(s *drift.WindowStats) { s.Perf.Sum[3+4] = 1.5 }), "over its 1 records"},
		{"one class", raw(uv(4, 1, 1)), "classes"},
		{"huge record count", raw(uv(2, 1<<40)), "PCA records"},
		{"classes past the end", raw(uv(4, 1, 1000), f64(0)), "classes"},
		{"no bins", raw(binaryHead, uv(0)), "histogram bins"},
		{"too many bins", raw(binaryHead, uv(1<<13)), "histogram bins"},
		{"too many cells", raw(uv(4, 2, 300), make([]byte, 8*300*300), make([]byte, 300), uv(1<<12)), "cells"},
		{"bins out of order", raw(binaryHead, uv(8, 2, 5, 1), f64(0.7), uv(5, 1), f64(0.7)), "out of order"},
		{"empty bin listed", raw(binaryHead, uv(8, 1, 5, 0), f64(0)), "empty bin"},
		{"bin past the histogram", raw(binaryHead, uv(8, 1, 8, 1), f64(0.9)), "over the limit"},
		{"more bins used than bins", raw(binaryHead, uv(8, 9)), "bins used"},
		{"cut short", enc[:len(enc)-3], "cut short"},
		{"trailing", append(slices.Clone(enc), 0), "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCounts(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzDecodeCounts(f *testing.F) {
	f.Add(EncodeCounts(Contribution{Instance: "w", Taken: countsT0, WindowCounts: drift.WindowCounts{Model: "m", Version: "1",
		Window: drift.SlidingWindow, End: countsT0, Counts: counts(3, num(1, 2), cat([]string{"u"}, 1, 2))}}))
	f.Add(EncodeCounts(Contribution{Instance: "w", WindowCounts: drift.WindowCounts{Model: "m", Version: "1", Window: "t",
		Start: countsT0, End: countsT0.Add(time.Second), Counts: counts(0)}}))
	f.Add([]byte("DRIFTDW1"))
	f.Add(EncodeCounts(Contribution{Instance: "w", Taken: countsT0, WindowCounts: drift.WindowCounts{Model: "m", Version: "1",
		Window: drift.SlidingWindow, End: countsT0, Counts: &drift.Counts{Records: 3, Bins: [][]int64{{1, 2}}, Unseen: [][]string{nil}, Stats: testStats()}}}))
	f.Add(EncodeCounts(Contribution{Instance: "w", Taken: countsT0, WindowCounts: drift.WindowCounts{Model: "m", Version: "1",
		Window: drift.SlidingWindow, End: countsT0, Counts: &drift.Counts{Records: 3, Bins: [][]int64{{3}}, Unseen: [][]string{nil}, Stats: binaryStats()}}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := DecodeCounts(p)
		if err != nil {
			return
		}
		if err := mergeable(c.Counts); err != nil {
			t.Fatalf("decoded counts cannot be merged: %v", err)
		}
		// A version 1 record encodes back as version 2 without statistics.
		want := p
		if bytes.HasPrefix(p, []byte("DRIFTDW1")) {
			if c.Counts.Stats != nil {
				t.Fatal("a version 1 record decoded with statistics")
			}
			want = append(append([]byte("DRIFTDW2"), p[8:]...), 0)
		}
		if !bytes.Equal(EncodeCounts(c), want) {
			t.Fatal("decoded counts do not encode back to their input")
		}
		// Merging with itself must not panic and must double every count,
		// the statistics' too.
		sum := c.Counts.Clone()
		if err := sum.Merge(c.Counts); err != nil || sum.Records != 2*c.Counts.Records {
			t.Fatalf("merge with itself: %v (records %d of %d)", err, sum.Records, c.Counts.Records)
		}
		if s, m := c.Counts.Stats, sum.Stats; s != nil {
			switch {
			case m == nil:
				t.Fatal("merge with itself dropped the statistics")
			case s.Loss != nil && (m.Loss == nil || m.Loss.Records != 2*s.Loss.Records || m.Loss.Abs != 2*s.Loss.Abs),
				s.PCA != nil && (m.PCA == nil || m.PCA.Records != 2*s.PCA.Records || m.PCA.Error != 2*s.PCA.Error),
				s.Perf != nil && (m.Perf == nil || m.Perf.Records != 2*s.Perf.Records || len(m.Perf.Count) != len(s.Perf.Count)):
				t.Fatalf("merge with itself: statistics %+v from %+v", m, s)
			}
			if err := m.Validate(); err != nil && s.Loss == nil && s.PCA == nil && s.Perf.Records <= math.MaxInt32/2 {
				t.Fatalf("merged statistics invalid: %v", err)
			}
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
