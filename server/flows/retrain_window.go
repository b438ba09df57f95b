package flows

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"driftd/stream"
	"driftd/train"
)

// labelledRow is one feature record joined with its label.
type labelledRow struct {
	id    string
	ts    time.Time // the feature record's time (its "ts" field, else the Kafka timestamp)
	part  int32
	off   int64
	num   []float64 // per model feature; NaN = missing
	cat   []string  // per model feature; "" = missing
	class int       // class index in the champion's classes (classification)
	y     float64   // label value (regression)
}

// window is the labelled data read back from Kafka for a retrain.
type window struct {
	rows                     []labelledRow // in time order
	classNames               []string      // the champion's classes
	regression               bool
	featuresRead, labelsRead int64
	badFeatures, badLabels   int64
	unknownClass             int64
	orphans                  int // labels whose id has no feature record in the window
	featureStats, labelStats stream.ReadStats
}

// label is one parsed label record.
type label struct {
	ts    time.Time
	class int
	y     float64
}

// readWindow reads the labels topic, then the features topic, since since,
// and joins them by id (the last record of an id wins). Feature records are
// decoded with the champion's schema; records that do not decode are
// counted and skipped, as are labels of a class the champion does not know.
func (d Deps) readWindow(ctx context.Context, m *train.Model, since time.Time) (*window, error) {
	cfg := d.Kafka()
	w := &window{classNames: m.Classes(), regression: m.Objective() == "regression"}
	classIdx := classIndex(w.classNames)
	labels := map[string]label{}
	st, err := stream.ReadSince(ctx, cfg, d.Topics.Labels, since, func(r stream.Record) error {
		w.labelsRead++
		id, v, err := stream.ParseLabel(r.Value)
		if err != nil {
			w.badLabels++
			return nil
		}
		l := label{ts: r.Timestamp}
		if w.regression {
			if l.y, err = strconv.ParseFloat(v, 64); err != nil || math.IsNaN(l.y) || math.IsInf(l.y, 0) {
				w.badLabels++
				return nil
			}
		} else if l.class = classIdx(v); l.class < 0 {
			w.unknownClass++
			return nil
		}
		if old, ok := labels[id]; !ok || !l.ts.Before(old.ts) {
			labels[id] = l
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	w.labelStats = st
	feats := m.Features()
	schema := stream.Schema{Names: make([]string, len(feats)), Categorical: make([]bool, len(feats))}
	for i, f := range feats {
		schema.Names[i], schema.Categorical[i] = f.Name, f.Kind == train.Categorical
	}
	dec := stream.NewDecoder(schema)
	var rec stream.Decoded
	rows := map[string]*labelledRow{}
	st, err = stream.ReadSince(ctx, cfg, d.Topics.Features, since, func(r stream.Record) error {
		w.featuresRead++
		if err := dec.Decode(r.Value, &rec); err != nil {
			w.badFeatures++
			return nil
		}
		id := rec.ID
		if id == "" {
			id = string(r.Key)
		}
		l, ok := labels[id]
		if !ok {
			return nil
		}
		ts := r.Timestamp
		if rec.HasTS {
			ts = rec.TS
		}
		if old, ok := rows[id]; ok && ts.Before(old.ts) {
			return nil
		}
		rows[id] = &labelledRow{id: id, ts: ts, part: r.Partition, off: r.Offset,
			num: slices.Clone(rec.Num), cat: slices.Clone(rec.Cat), class: l.class, y: l.y}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read feature records: %w", err)
	}
	w.featureStats = st
	w.orphans = len(labels) - len(rows)
	w.rows = make([]labelledRow, 0, len(rows))
	for _, r := range rows {
		w.rows = append(w.rows, *r)
	}
	slices.SortFunc(w.rows, func(a, b labelledRow) int {
		if c := a.ts.Compare(b.ts); c != 0 {
			return c
		}
		if a.part != b.part {
			return int(a.part - b.part)
		}
		return int(a.off - b.off)
	})
	return w, nil
}

// classes returns the names of the classes present in the window, in the
// champion's class order.
func (w *window) classes() []string {
	seen := make([]bool, len(w.classNames))
	for _, r := range w.rows {
		seen[r.class] = true
	}
	var out []string
	for i, ok := range seen {
		if ok {
			out = append(out, w.classNames[i])
		}
	}
	return out
}

// classIndex returns a function mapping a label to its class index (-1 when
// unknown); a numeric label also matches a class holding the same number
// written another way ("1.0" and "1").
func classIndex(classes []string) func(string) int {
	exact := make(map[string]int, len(classes))
	numeric := map[float64]int{}
	for i, c := range classes {
		exact[c] = i
		if f, err := strconv.ParseFloat(c, 64); err == nil {
			numeric[f] = i
		}
	}
	return func(s string) int {
		if i, ok := exact[s]; ok {
			return i
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			if i, ok := numeric[f]; ok {
				return i
			}
		}
		return -1
	}
}
