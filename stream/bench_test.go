package stream

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// costModel stands in for a real model: ~1µs of arithmetic per record.
type costModel struct{ sumModel }

func (m *costModel) Score(r *Decoded) (float64, string) {
	s := 0.0
	for k := range 12 {
		for i, v := range r.Num {
			if v == v {
				s += math.FMA(v, float64(i+k), s*1e-9)
			}
		}
	}
	if s > 0 {
		return 1 / (1 + math.Exp(-s*1e-3)), "1"
	}
	return 0, "0"
}

// preload produces n 28-feature records to drift-data.
func preload(b *testing.B, addr string, n int) {
	cl, err := NewClient(Config{Brokers: []string{addr}}, kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(100000))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: "drift-data", Key: []byte(strconv.Itoa(i)), Value: benchRecord(28, i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkScorerEndToEnd measures records/s from a preloaded features topic
// to acknowledged predictions with committed offsets, in-process broker. With
// kcat on PATH it also times `kcat -C -e -o beginning -q` on the same topic
// and reports the ratio.
func BenchmarkScorerEndToEnd(b *testing.B) {
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("DRIFTD_BENCH_RECORDS")); err == nil {
		n = v
	}
	br := startBroker(b, "")
	addr := br.Addr()
	if err := EnsureTopics(context.Background(), Config{Brokers: []string{addr}}, DefaultTopics().All(), 3, 1); err != nil {
		b.Fatal(err)
	}
	preload(b, addr, n)
	var kcatRate float64
	if kcat, err := exec.LookPath("kcat"); err == nil {
		start := time.Now()
		out, err := exec.Command(kcat, "-C", "-b", addr, "-t", "drift-data", "-e", "-o", "beginning", "-q").Output()
		if err != nil {
			b.Fatalf("kcat: %v", err)
		}
		el := time.Since(start)
		if got := bytes.Count(out, []byte("\n")); got < n {
			b.Fatalf("kcat read %d records, want %d", got, n)
		}
		kcatRate = float64(n) / el.Seconds()
	}
	m := &costModel{sumModel{version: "1", schema: benchSchema(28)}}
	b.ResetTimer()
	var rate float64
	for i := 0; b.Loop(); i++ {
		set := metrics.NewSet()
		s, err := NewScorer(ScorerConfig{Client: Config{Brokers: []string{addr}}, Group: "bench-" + strconv.Itoa(i),
			Metrics: set, MaxPollRecords: 8192})
		if err != nil {
			b.Fatal(err)
		}
		s.SetModel(m, nil)
		start := time.Now()
		if err := s.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		for s.Status().Consumed < uint64(n) {
			time.Sleep(time.Millisecond) // polling the counter
		}
		el := time.Since(start)
		_ = s.Close(context.Background())
		rate = float64(n) / el.Seconds()
	}
	b.ReportMetric(rate, "records/s")
	if kcatRate > 0 {
		b.ReportMetric(kcatRate, "kcat_records/s")
		b.ReportMetric(rate/kcatRate, "ratio_vs_kcat")
	}
}

// BenchmarkScorerLatency50k produces at 50,000 records/s while the scorer
// runs and reports the p99 end-to-end latency bucket from the histogram.
func BenchmarkScorerLatency50k(b *testing.B) {
	br := startBroker(b, "")
	addr := br.Addr()
	if err := EnsureTopics(context.Background(), Config{Brokers: []string{addr}}, DefaultTopics().All(), 3, 1); err != nil {
		b.Fatal(err)
	}
	set := metrics.NewSet()
	s, err := NewScorer(ScorerConfig{Client: Config{Brokers: []string{addr}}, Group: "lat", Metrics: set})
	if err != nil {
		b.Fatal(err)
	}
	s.SetModel(&costModel{sumModel{version: "1", schema: benchSchema(28)}}, nil)
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	cl, err := NewClient(Config{Brokers: []string{addr}}, kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	const rate, seconds = 50000, 5
	vals := make([][]byte, 1000)
	for i := range vals {
		vals[i] = benchRecord(28, i)
	}
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		for i := range rate * seconds {
			cl.Produce(context.Background(), &kgo.Record{Topic: "drift-data", Value: vals[i%len(vals)]}, nil)
			if due := start.Add(time.Duration(i) * time.Second / rate); time.Until(due) > time.Millisecond {
				time.Sleep(time.Until(due)) // pacing
			}
		}
		_ = cl.Flush(context.Background())
	}
	want := uint64(b.N * rate * seconds)
	for s.Status().Consumed < want {
		time.Sleep(time.Millisecond)
	}
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	b.ReportMetric(histQuantile(buf.String(), "driftd_end_to_end_latency_seconds", 0.99)*1000, "p99_ms_bucket")
	b.ReportMetric(histQuantile(buf.String(), "driftd_end_to_end_latency_seconds", 0.5)*1000, "p50_ms_bucket")
}

// histQuantile returns the upper bound of the bucket holding quantile q.
func histQuantile(text, name string, q float64) float64 {
	var les []float64
	var counts []float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"_bucket{") {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.Index(line[i+4:], `"`)
		le, _ := strconv.ParseFloat(line[i+4:i+4+j], 64)
		c, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		les, counts = append(les, le), append(counts, c)
	}
	if len(counts) == 0 {
		return math.NaN()
	}
	total := counts[len(counts)-1]
	for k, c := range counts {
		if c >= q*total {
			return les[k]
		}
	}
	return math.Inf(1)
}
