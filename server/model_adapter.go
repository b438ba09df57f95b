package server

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"driftd/drift"
	"driftd/stream"
	"driftd/train"
)

// scoringModel adapts a decoded train.Model to the stream.Model interface.
// It is safe for concurrent use: each call takes a row buffer from a pool.
type scoringModel struct {
	name, version string
	m             *train.Model
	schema        stream.Schema
	classes       []string
	objective     string
	rows          sync.Pool
}

// newScoringModel decodes an artifact into a model the scorer can use.
func newScoringModel(name, version string, artifact []byte) (*scoringModel, error) {
	m, err := train.Decode(artifact)
	if err != nil {
		return nil, fmt.Errorf("decode model %s %s: %w", name, version, err)
	}
	s := &scoringModel{name: name, version: version, m: m, classes: m.Classes(), objective: m.Objective()}
	for _, f := range m.Features() {
		s.schema.Names = append(s.schema.Names, f.Name)
		s.schema.Categorical = append(s.schema.Categorical, f.Kind == train.Categorical)
	}
	n := len(s.schema.Names)
	s.rows.New = func() any { b := make([]float64, n); return &b }
	return s, nil
}

// Name implements stream.Model.
func (s *scoringModel) Name() string { return s.name }

// Version implements stream.Model.
func (s *scoringModel) Version() string { return s.version }

// Schema implements stream.Model.
func (s *scoringModel) Schema() stream.Schema { return s.schema }

// Score implements stream.Model: binary models return P(positive class) and
// the class at a 0.5 cut-off, multiclass models the probability of the
// arg-max class (with every class's probability left in rec.Proba, for the
// drift monitor's CBPE; it allocates only the first time a record buffer
// holds them), regression models the value and no label.
func (s *scoringModel) Score(rec *stream.Decoded) (float64, string) {
	bp := s.rows.Get().(*[]float64)
	defer s.rows.Put(bp)
	n := len(s.schema.Names)
	row := (*bp)[:n]
	for i := 0; i < n; i++ {
		if s.schema.Categorical[i] {
			if v := rec.Cat[i]; v == "" {
				row[i] = math.NaN()
			} else {
				row[i] = s.m.CategoryCode(i, v)
			}
		} else {
			row[i] = rec.Num[i]
		}
	}
	if s.objective != "multiclass" {
		rec.Proba = rec.Proba[:0]
	}
	switch s.objective {
	case "binary":
		p := s.m.PredictRow(row)
		label := s.classes[0]
		if p >= 0.5 {
			label = s.classes[1]
		}
		return p, label
	case "multiclass":
		k := len(s.classes)
		if cap(rec.Proba) < k {
			rec.Proba = make([]float64, k)
		}
		proba := rec.Proba[:k]
		rec.Proba = proba
		s.m.PredictProba(row, proba)
		best := 0
		for k := range proba {
			if proba[k] > proba[best] {
				best = k
			}
		}
		return proba[best], s.classes[best]
	default:
		return s.m.PredictRow(row), ""
	}
}

// driftObserver feeds scored records to a drift monitor, mapping the model's
// feature order to the profile's.
type driftObserver struct {
	mon *drift.Monitor
	// idx[i] is the schema position of profile feature i; nil when the orders agree.
	idx  []int
	bufs sync.Pool
}

// countingObserver counts the records one source (the Kafka scorer or HTTP
// scoring) feeds to a drift observer, so the Drift page can say what the
// window is made of.
type countingObserver struct {
	next stream.Observer
	n    atomic.Uint64
}

// Observe implements stream.Observer.
func (o *countingObserver) Observe(rec *stream.Decoded, score float64) {
	o.n.Add(1)
	o.next.Observe(rec, score)
}

// newDriftObserver builds the observer for a monitor whose profile has the
// given feature names; every profile feature must be a model feature.
func newDriftObserver(mon *drift.Monitor, profileNames []string, schema stream.Schema) (*driftObserver, error) {
	pos := map[string]int{}
	for i, n := range schema.Names {
		pos[n] = i
	}
	o := &driftObserver{mon: mon}
	same := len(profileNames) == len(schema.Names)
	idx := make([]int, len(profileNames))
	for i, n := range profileNames {
		p, ok := pos[n]
		if !ok {
			return nil, fmt.Errorf("drift profile feature %q is not a model feature", n)
		}
		idx[i] = p
		same = same && p == i
	}
	if !same {
		o.idx = idx
		k := len(idx)
		o.bufs.New = func() any { return &rowBuf{num: make([]float64, k), cat: make([]string, k)} }
	}
	return o, nil
}

type rowBuf struct {
	num []float64
	cat []string
}

// Observe implements stream.Observer. A multiclass record's class
// probabilities (rec.Proba, left by Score) go to the monitor's CBPE when
// they are this score's: their largest equals it. A caller that scores a
// batch before observing it leaves only the last record's probabilities
// in rec.Proba; the check keeps the others from being taken for theirs
// (those records count in the drift window but not in the estimate).
func (o *driftObserver) Observe(rec *stream.Decoded, score float64) {
	proba := rec.Proba
	if len(proba) > 0 && slices.Max(proba) != score {
		proba = nil
	}
	if o.idx == nil {
		if proba == nil {
			o.mon.Observe(rec.Num, rec.Cat, score)
		} else {
			o.mon.ObserveProba(rec.Num, rec.Cat, score, proba)
		}
		return
	}
	b := o.bufs.Get().(*rowBuf)
	for i, p := range o.idx {
		b.num[i], b.cat[i] = rec.Num[p], rec.Cat[p]
	}
	if proba == nil {
		o.mon.Observe(b.num, b.cat, score)
	} else {
		o.mon.ObserveProba(b.num, b.cat, score, proba)
	}
	o.bufs.Put(b)
}
