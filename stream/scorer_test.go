package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kgo"
)

type prediction struct {
	ID, Model, Version, Label, TS string
	Score                         float64
}

func startScorer(t *testing.T, addr, group string, m Model, obs Observer, maxPoll int) *Scorer {
	t.Helper()
	s, err := NewScorer(ScorerConfig{
		Client: Config{Brokers: []string{addr}}, Group: group, Logger: testLogger(t),
		Metrics: metrics.NewSet(), MaxPollRecords: maxPoll, Partitions: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if m != nil {
		s.SetModel(m, obs)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func decodePreds(t *testing.T, recs []*kgo.Record) map[string][]prediction {
	t.Helper()
	out := map[string][]prediction{}
	for _, r := range recs {
		var p prediction
		if err := json.Unmarshal(r.Value, &p); err != nil {
			t.Fatalf("prediction %q: %v", r.Value, err)
		}
		out[p.ID] = append(out[p.ID], p)
	}
	return out
}

func TestScorerScoresAndDeadLetters(t *testing.T) {
	b := startBroker(t, "")
	schema := Schema{Names: []string{"f0", "f1", "f2"}, Categorical: make([]bool, 3)}
	bad := map[int]string{
		5:  `[1,2,3]`,
		6:  `{"id":"r6","f0":1,"f2":3}`,
		7:  `{"id":"r7","f0":"one","f1":1,"f2":3}`,
		8:  `{"id":"r8","f0":1e999,"f1":1,"f2":3}`,
		9:  `{"id":"r9","f0":1,"f1":1,`,
		10: `not json`,
	}
	want := map[string]string{"r5": "not a JSON object", "r6": `missing feature "f1"`,
		"r7": `wrong type for field "f0"`, "r8": "non-finite number", "r9": "invalid JSON", "r10": "invalid JSON"}
	var vals [][]byte
	for i := range 40 {
		if s, ok := bad[i]; ok {
			vals = append(vals, []byte(s))
			continue
		}
		vals = append(vals, fmt.Appendf(nil, `{"id":"r%d","f0":%d,"f1":null,"f2":-1}`, i, i))
	}
	if err := EnsureTopics(context.Background(), Config{Brokers: []string{b.Addr()}}, DefaultTopics().All(), 3, 1); err != nil {
		t.Fatal(err)
	}
	produceValues(t, b.Addr(), "drift-data", vals)
	obs := &countObserver{}
	s := startScorer(t, b.Addr(), "g", &sumModel{version: "1", schema: schema}, obs, 100)

	preds := decodePreds(t, readN(t, b.Addr(), "predictions", 40-len(bad), 30*time.Second))
	for i := range 40 {
		id := "r" + strconv.Itoa(i)
		if _, isBad := bad[i]; isBad {
			if len(preds[id]) != 0 {
				t.Errorf("malformed %s was scored", id)
			}
			continue
		}
		if len(preds[id]) != 1 || preds[id][0].Score != float64(i-1) || preds[id][0].Version != "1" {
			t.Errorf("%s: predictions %+v, want one with score %d", id, preds[id], i-1)
		}
	}
	dl := readN(t, b.Addr(), "dead-letter", len(bad), 30*time.Second)
	for _, r := range dl {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		i, _ := strconv.Atoi(string(r.Key))
		if string(r.Value) != bad[i] {
			t.Errorf("dead letter key %s: value %q, want original %q", r.Key, r.Value, bad[i])
		}
		if w := want["r"+string(r.Key)]; !strings.Contains(h["error"], w) {
			t.Errorf("dead letter %s: error header %q, want %q", r.Key, h["error"], w)
		}
		if h["source_topic"] != "drift-data" || h["source_partition"] == "" || h["source_offset"] == "" {
			t.Errorf("dead letter %s: headers %v", r.Key, h)
		}
	}
	waitFor(t, 10*time.Second, "commit of all records", func() bool {
		st := s.Status()
		return st.Consumed == 40 && st.Commits > 0
	})
	st := s.Status()
	if st.Produced != 34 || st.DeadLettered != 6 || obs.n.Load() != 34 || st.State != "running" {
		t.Fatalf("status %+v, observed %d", st, obs.n.Load())
	}
	assertCommitted(t, b.Addr(), "g", "drift-data", 40)
}

func TestScorerPausesWithoutModel(t *testing.T) {
	b := startBroker(t, "")
	schema := benchSchema(3)
	s := startScorer(t, b.Addr(), "g", nil, nil, 100)
	vals := make([][]byte, 30)
	for i := range vals {
		vals[i] = benchRecord(3, i)
	}
	produceValues(t, b.Addr(), "drift-data", vals)
	waitFor(t, 10*time.Second, "paused state", func() bool { return s.Status().State == "paused" })
	if st := s.Status(); st.Reason != "no model deployed" || st.Consumed != 0 {
		t.Fatalf("status without model = %+v", st)
	}
	s.SetModel(&sumModel{version: "1", schema: schema}, nil)
	readN(t, b.Addr(), "predictions", 30, 30*time.Second)
	s.SetModel(nil, nil)
	waitFor(t, 10*time.Second, "paused again", func() bool { return s.Status().State == "paused" })
	produceValues(t, b.Addr(), "drift-data", vals[:5])
	if st := s.Status(); st.Consumed != 30 {
		t.Fatalf("consumed %d while paused, want 30", st.Consumed)
	}
}

func TestScorerSwapNoGap(t *testing.T) {
	b := startBroker(t, "")
	schema := benchSchema(4)
	const n = 3000
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = benchRecord(4, i)
	}
	s := startScorer(t, b.Addr(), "g", &sumModel{version: "1", schema: schema}, nil, 50)
	produceValues(t, b.Addr(), "drift-data", vals[:n/2])
	waitFor(t, 20*time.Second, "some records scored", func() bool { return s.Status().Consumed > 0 })
	s.SetModel(&sumModel{version: "2", schema: schema}, nil)
	produceValues(t, b.Addr(), "drift-data", vals[n/2:])
	recs := readN(t, b.Addr(), "predictions", n, 60*time.Second)
	preds := decodePreds(t, recs)
	for i := range n {
		if id := "row-" + strconv.Itoa(i); len(preds[id]) != 1 {
			t.Fatalf("%s: %d predictions, want exactly 1", id, len(preds[id]))
		}
	}
	// Per input partition (the key decides it) versions only move forward.
	last := map[int32]string{}
	v2 := 0
	for _, r := range recs {
		var p prediction
		_ = json.Unmarshal(r.Value, &p)
		if last[r.Partition] == "2" && p.Version == "1" {
			t.Fatalf("partition %d: version 1 after version 2", r.Partition)
		}
		last[r.Partition] = p.Version
		if p.Version == "2" {
			v2++
		}
	}
	if v2 < n/2 {
		t.Fatalf("%d predictions by version 2, want at least %d", v2, n/2)
	}
}

func TestScorerRestartResumes(t *testing.T) {
	b := startBroker(t, t.TempDir())
	schema := benchSchema(3)
	m := &sumModel{version: "1", schema: schema}
	vals := make([][]byte, 400)
	for i := range vals {
		vals[i] = benchRecord(3, i)
	}
	s := startScorer(t, b.Addr(), "g", m, nil, 64)
	produceValues(t, b.Addr(), "drift-data", vals[:200])
	readN(t, b.Addr(), "predictions", 200, 30*time.Second)
	waitFor(t, 10*time.Second, "200 consumed", func() bool { return s.Status().Consumed == 200 })
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	produceValues(t, b.Addr(), "drift-data", vals[200:])
	s2 := startScorer(t, b.Addr(), "g", m, nil, 64)
	waitFor(t, 30*time.Second, "second scorer consumed the rest", func() bool { return s2.Status().Consumed >= 200 })
	preds := decodePreds(t, readN(t, b.Addr(), "predictions", 400, 30*time.Second))
	for i := range vals {
		if id := "row-" + strconv.Itoa(i); len(preds[id]) != 1 {
			t.Fatalf("%s: %d predictions after clean restart, want 1", id, len(preds[id]))
		}
	}
	if c := s2.Status().Consumed; c != 200 {
		t.Fatalf("restarted scorer consumed %d, want 200 (resume from committed offsets)", c)
	}
}
