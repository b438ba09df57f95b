// Package stream moves feature records through Kafka: an embedded kfake
// broker, client configuration, topic management, the scoring consumer with
// dead-lettering, the label joiner, a CSV replayer and Kafka admin views. It
// knows nothing of concrete models: it scores through the Model and Observer
// interfaces. Besides it, only server/cluster imports franz-go, to read and
// write the compacted topics a primary and its workers share.
package stream

import "time"

// Schema lists the features a model expects, in model order.
type Schema struct {
	Names       []string
	Categorical []bool
}

// Decoded is one features record decoded against a Schema.
type Decoded struct {
	ID    string
	TS    time.Time
	HasTS bool
	Num   []float64 // per schema position; NaN = missing (numeric features)
	Cat   []string  // per schema position; "" = missing (categorical features)
	// Proba is scratch space a Model may fill while scoring the record:
	// a multiclass model's class probabilities (empty otherwise). An
	// Observer called with the record right after Score may read it; it
	// is overwritten by the next Score.
	Proba []float64
}

// Model scores decoded records; implemented by the server's model adapter.
type Model interface {
	Name() string
	Version() string
	Schema() Schema
	// Score predicts one decoded record; returns the score and the predicted label.
	Score(rec *Decoded) (score float64, label string)
}

// Observer receives every scored record (a drift monitor adapter).
type Observer interface {
	Observe(rec *Decoded, score float64)
}

// Topics names the topics driftd uses.
type Topics struct {
	Features    string
	Predictions string
	Labels      string
	DriftEvents string
	DeadLetter  string
}

// DefaultTopics returns the default topic names (features = drift-data).
func DefaultTopics() Topics {
	return Topics{
		Features:    "drift-data",
		Predictions: "predictions",
		Labels:      "labels",
		DriftEvents: "drift-events",
		DeadLetter:  "dead-letter",
	}
}

// withDefaults fills empty topic names with the defaults.
func (t Topics) withDefaults() Topics {
	d := DefaultTopics()
	if t.Features == "" {
		t.Features = d.Features
	}
	if t.Predictions == "" {
		t.Predictions = d.Predictions
	}
	if t.Labels == "" {
		t.Labels = d.Labels
	}
	if t.DriftEvents == "" {
		t.DriftEvents = d.DriftEvents
	}
	if t.DeadLetter == "" {
		t.DeadLetter = d.DeadLetter
	}
	return t
}

// All returns every topic name, features first.
func (t Topics) All() []string {
	t = t.withDefaults()
	return []string{t.Features, t.Predictions, t.Labels, t.DriftEvents, t.DeadLetter}
}
