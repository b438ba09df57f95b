package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"driftd/train"
)

func TestConceptDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	for _, x := range []struct {
		buf  *bytes.Buffer
		seed uint64
	}{{&a, 7}, {&b, 7}, {&c, 8}} {
		if err := WriteCSV(x.buf, ConceptAt(0), 200, x.seed); err != nil {
			t.Fatal(err)
		}
	}
	if a.String() != b.String() {
		t.Fatal("the same seed wrote different data")
	}
	if a.String() == c.String() {
		t.Fatal("different seeds wrote the same data")
	}
	lines := strings.Split(strings.TrimSpace(a.String()), "\n")
	if len(lines) != 201 || lines[0] != "id,f0,f1,f2,f3,f4,f5,c0,label" || !strings.HasPrefix(lines[1], "train-1,") {
		t.Fatalf("unexpected CSV: %d lines, header %q, first row %q", len(lines), lines[0], lines[1])
	}
	if ConceptAt(1) != ConceptAt(1+NumConcepts) || ConceptAt(-1) != ConceptAt(NumConcepts-1) {
		t.Fatal("concepts do not cycle")
	}
}

// stats are model-free summaries of n rows of a concept.
type stats struct {
	mean, sd  [NumFeatures]float64
	catShare  [len(Levels)]float64
	labelRate float64
}

func sampleStats(c Concept, n int, seed uint64) stats {
	rng := newRand(seed, 99)
	var s stats
	var sum2 [NumFeatures]float64
	for range n {
		r := c.Sample(rng)
		for i, v := range r.F {
			s.mean[i] += v
			sum2[i] += v * v
		}
		s.catShare[r.Cat]++
		s.labelRate += float64(r.Label)
	}
	for i := range NumFeatures {
		s.mean[i] /= float64(n)
		s.sd[i] = math.Sqrt(sum2[i]/float64(n) - s.mean[i]*s.mean[i])
	}
	for j := range Levels {
		s.catShare[j] /= float64(n)
	}
	s.labelRate /= float64(n)
	return s
}

func TestConceptOneShifts(t *testing.T) {
	s0, s1 := sampleStats(ConceptAt(0), 20000, 1), sampleStats(ConceptAt(1), 20000, 1)
	if d := s1.mean[0] - s0.mean[0]; math.Abs(d-1.5) > 0.1 {
		t.Errorf("f0 mean moved by %.3f, want +1.5", d)
	}
	if r := s1.sd[2] / s0.sd[2]; math.Abs(r-2) > 0.1 {
		t.Errorf("f2 scale ratio %.3f, want 2", r)
	}
	if d := s1.catShare[0] - s0.catShare[0]; d > -0.2 {
		t.Errorf("share of c0=a moved by %.3f, want about -0.3", d)
	}
	for k, s := range []stats{s0, s1} {
		if s.labelRate < 0.3 || s.labelRate > 0.7 {
			t.Errorf("concept %d: label rate %.3f, want both labels common", k, s.labelRate)
		}
	}
	// The concept itself changes: concept 0's logit ranks concept 1's rows
	// worse than chance, while concept 1's own logit ranks them well.
	c0, c1 := ConceptAt(0), ConceptAt(1)
	rng := newRand(2, 3)
	var y, old, own []float64
	for range 5000 {
		r := c1.Sample(rng)
		y = append(y, float64(r.Label))
		old = append(old, c0.Logit(r))
		own = append(own, c1.Logit(r))
	}
	if a, b := train.AUC(y, old), train.AUC(y, own); a > 0.5 || b < 0.8 {
		t.Errorf("on concept 1's rows: AUC of concept 0's logit %.3f (want < 0.5), of its own %.3f (want > 0.8)", a, b)
	}
}

func TestEveryShiftMovesFeatures(t *testing.T) {
	for k := range NumConcepts {
		a, b := ConceptAt(k), ConceptAt(k+1)
		moved := false
		for i := range NumFeatures {
			if math.Abs(a.Mean[i]-b.Mean[i]) >= 1 || math.Max(a.Scale[i], b.Scale[i])/math.Min(a.Scale[i], b.Scale[i]) >= 1.8 {
				moved = true
			}
		}
		if !moved || a.Weights == b.Weights {
			t.Errorf("concept %d → %d: features moved %v, weights changed %v", k, k+1, moved, a.Weights != b.Weights)
		}
	}
}

// readCSV trains-or-evaluates input: n rows of c as a dataset.
func readCSV(t *testing.T, c Concept, n int, seed uint64) *train.Dataset {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, c, n, seed); err != nil {
		t.Fatal(err)
	}
	ds, err := train.ReadCSV(&buf, train.CSVOptions{Target: "label", ID: "id", Name: "demo.csv"})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func auc(t *testing.T, m *train.Model, ds *train.Dataset) float64 {
	t.Helper()
	met, err := train.Evaluate(m, ds)
	if err != nil {
		t.Fatal(err)
	}
	return met["auc"]
}

func fit(t *testing.T, ds *train.Dataset) *train.Model {
	t.Helper()
	p := train.DefaultParams()
	p.Rounds = 60
	m, err := train.Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDemoPremise checks with real GBDTs what the demo shows: the model of
// the demo's training data is good (AUC ≈ 0.8+), it is worse on the next
// concept, and a model trained on a few hundred records of the next concept
// beats it there, for every shift of the cycle.
func TestDemoPremise(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models")
	}
	for k := range NumConcepts {
		cur, next := ConceptAt(k), ConceptAt(k+1)
		champion := fit(t, readCSV(t, cur, 5000, 11))
		own := auc(t, champion, readCSV(t, cur, 2000, 12))
		testNext := readCSV(t, next, 2000, 13)
		stale := auc(t, champion, testNext)
		challenger := fit(t, readCSV(t, next, 400, 14))
		fresh := auc(t, challenger, testNext)
		t.Logf("concept %d → %d: champion AUC %.3f on its own concept, %.3f on the next; challenger (400 rows) %.3f", k, k+1, own, stale, fresh)
		if own < 0.8 || fresh < 0.75 || fresh < stale+0.1 {
			t.Errorf("concept %d → %d: champion %.3f own, %.3f next; challenger %.3f", k, k+1, own, stale, fresh)
		}
	}
}

func TestRecordsAreJSON(t *testing.T) {
	r := ConceptAt(1).Sample(newRand(1, 1))
	ts := time.Date(2026, 3, 1, 12, 0, 0, 5e6, time.UTC)
	var rec map[string]any
	if err := json.Unmarshal(AppendRecord(nil, "demo-1-7", ts, r), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["id"] != "demo-1-7" || rec["ts"] != "2026-03-01T12:00:00.005Z" || rec["c0"] != r.C0() || rec["f3"] != r.F[3] || len(rec) != 9 {
		t.Fatalf("record = %v for row %+v", rec, r)
	}
	var lab map[string]string
	if err := json.Unmarshal(AppendLabel(nil, "demo-1-7", 1), &lab); err != nil || lab["id"] != "demo-1-7" || lab["label"] != "1" {
		t.Fatalf("label = %v, %v", lab, err)
	}
}
