package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceAt produces one record per value to the given partition with the
// given timestamp and waits for the acknowledgements.
func produceAt(t testing.TB, addr, topic string, recs []*kgo.Record) {
	t.Helper()
	cl, err := NewClient(Config{Brokers: []string{addr}}, kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs {
		r.Topic = topic
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestReadSince(t *testing.T) {
	b := startBroker(t, "")
	cfg := Config{Brokers: []string{b.Addr()}}
	if err := EnsureTopics(context.Background(), cfg, []string{"rb"}, 3, 1); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Per partition, records at minutes 0..9; the value names partition and minute.
	var recs []*kgo.Record
	for p := int32(0); p < 3; p++ {
		for m := range 10 {
			recs = append(recs, &kgo.Record{Partition: p, Timestamp: base.Add(time.Duration(m) * time.Minute),
				Key: fmt.Appendf(nil, "k%d-%d", p, m), Value: fmt.Appendf(nil, "p%d-m%d", p, m)})
		}
	}
	// Partition 2 gets one late record whose timestamp is older than the rest.
	recs = append(recs, &kgo.Record{Partition: 2, Timestamp: base.Add(-time.Hour), Value: []byte("p2-old")})
	produceAt(t, b.Addr(), "rb", recs)

	tests := []struct {
		name      string
		since     time.Time
		want      int64
		wantOlder int64
		first     string // smallest value read
	}{
		{"everything", base.Add(-2 * time.Hour), 31, 0, "p0-m0"},
		{"last five minutes", base.Add(5 * time.Minute), 15, 1, "p0-m5"},
		{"between two records", base.Add(5*time.Minute + time.Second), 12, 1, "p0-m6"},
		{"after the last record", base.Add(time.Hour), 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var last = map[int32]int64{0: -1, 1: -1, 2: -1}
			st, err := ReadSince(context.Background(), cfg, "rb", tc.since, func(r Record) error {
				if r.Offset <= last[r.Partition] {
					t.Errorf("partition %d: offset %d after %d", r.Partition, r.Offset, last[r.Partition])
				}
				last[r.Partition] = r.Offset
				if r.Timestamp.Before(tc.since) {
					t.Errorf("record %s at %v is before %v", r.Value, r.Timestamp, tc.since)
				}
				got = append(got, string(r.Value))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Records != tc.want || int64(len(got)) != tc.want || st.Older != tc.wantOlder {
				t.Fatalf("read %d records (stats %+v), want %d with %d older", len(got), st, tc.want, tc.wantOlder)
			}
			if tc.want > 0 {
				if slices.Sort(got); got[0] != tc.first {
					t.Errorf("first value %q, want %q", got[0], tc.first)
				}
				if st.Partitions != 3 {
					t.Errorf("partitions %d, want 3", st.Partitions)
				}
			}
		})
	}
}

func TestReadSinceStopsAtTheStartEnd(t *testing.T) {
	b := startBroker(t, "")
	cfg := Config{Brokers: []string{b.Addr()}}
	produceValues(t, b.Addr(), "grow", [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	// Records produced while reading are not waited for nor returned.
	n := 0
	st, err := ReadSince(context.Background(), cfg, "grow", time.Now().Add(-time.Hour), func(Record) error {
		if n++; n == 1 {
			produceValues(t, b.Addr(), "grow", [][]byte{[]byte("d"), []byte("e"), []byte("f")})
		}
		return nil
	})
	if err != nil || st.Records != 3 || n != 3 {
		t.Fatalf("read %d records (stats %+v, err %v), want the 3 present at the start", n, st, err)
	}
}

func TestReadSinceMissingTopic(t *testing.T) {
	b := startBroker(t, "")
	cfg := Config{Brokers: []string{b.Addr()}}
	st, err := ReadSince(context.Background(), cfg, "no-such-topic", time.Time{}, func(Record) error {
		t.Error("fn called for a missing topic")
		return nil
	})
	if err != nil || st.Records != 0 {
		t.Fatalf("missing topic: %+v, %v; want no records and no error", st, err)
	}
	// An existing empty topic reads nothing too.
	if err := EnsureTopics(context.Background(), cfg, []string{"empty"}, 2, 1); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadSince(context.Background(), cfg, "empty", time.Time{}, func(Record) error { return nil }); err != nil || st.Records != 0 {
		t.Fatalf("empty topic: %+v, %v", st, err)
	}
}

func TestReadSinceErrors(t *testing.T) {
	b := startBroker(t, "")
	cfg := Config{Brokers: []string{b.Addr()}}
	produceValues(t, b.Addr(), "errs", [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")})
	since := time.Now().Add(-time.Hour)

	stop := errors.New("stop here")
	n := 0
	_, err := ReadSince(context.Background(), cfg, "errs", since, func(Record) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn error: got %v after %d calls, want %v after 1", err, n, stop)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err = ReadSince(ctx, cfg, "errs", since, func(Record) error {
		cancel()
		return nil
	})
	// Records already fetched may still be delivered; the read must end
	// with the context's error unless it had already reached the end.
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v, want context.Canceled or nil", err)
	}
	cancel()
	if _, err := ReadSince(ctx, cfg, "errs", since, func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context: %v, want context.Canceled", err)
	}
}

// BenchmarkReadSince reads back 100,000 records of ~470 bytes from three
// partitions of the embedded broker.
func BenchmarkReadSince(b *testing.B) {
	br := startBroker(b, "")
	cfg := Config{Brokers: []string{br.Addr()}}
	const n = 100_000
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = benchRecord(28, i)
	}
	produceValues(b, br.Addr(), "bench", vals)
	since := time.Now().Add(-time.Hour)
	b.ResetTimer()
	for range b.N {
		st, err := ReadSince(context.Background(), cfg, "bench", since, func(Record) error { return nil })
		if err != nil || st.Records != n {
			b.Fatalf("%+v, %v", st, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
