package flows

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"driftd/train"
)

// windowDataset builds a dataset of the window's rows with the champion's
// features: numeric values as they are, categories coded in the champion's
// levels (an unseen category gets a new level), the label as target.
func windowDataset(m *train.Model, w *window) *train.Dataset {
	feats := m.Features()
	n := len(w.rows)
	ds := &train.Dataset{Names: make([]string, len(feats)), Kinds: make([]train.ColumnKind, len(feats)),
		Num: make([][]float64, len(feats)), Codes: make([][]int32, len(feats)), Levels: make([][]string, len(feats)),
		Target: make([]float64, n), IDs: make([]string, n), Rows: n}
	if !w.regression {
		ds.TargetLevels = slices.Clone(w.classNames)
	}
	for j, f := range feats {
		ds.Names[j], ds.Kinds[j] = f.Name, f.Kind
		if f.Kind != train.Categorical {
			col := make([]float64, n)
			for i := range w.rows {
				col[i] = w.rows[i].num[j]
			}
			ds.Num[j] = col
			continue
		}
		levels := slices.Clone(f.Levels)
		idx := make(map[string]int32, len(levels))
		for c, l := range levels {
			idx[l] = int32(c)
		}
		col := make([]int32, n)
		for i := range w.rows {
			v := w.rows[i].cat[j]
			if v == "" {
				col[i] = -1
				continue
			}
			c, ok := idx[v]
			if !ok {
				c = int32(len(levels))
				idx[v] = c
				levels = append(levels, v)
			}
			col[i] = c
		}
		ds.Codes[j], ds.Levels[j] = col, levels
	}
	for i := range w.rows {
		ds.IDs[i] = w.rows[i].id
		if w.regression {
			ds.Target[i] = w.rows[i].y
		} else {
			ds.Target[i] = float64(w.rows[i].class)
		}
	}
	return ds
}

// readTrainingData reads a CSV file with the champion's column kinds and
// classes; columns that are neither features, target nor id are ignored.
func readTrainingData(path string, m *train.Model, target, id string) (*train.Dataset, error) {
	header, err := CSVHeader(path)
	if err != nil {
		return nil, err
	}
	opts := train.CSVOptions{Delimiter: ',', Target: target, Name: path, Regression: m.Objective() == "regression",
		TargetLevels: m.Classes()}
	if !slices.Contains(header, target) {
		return nil, fmt.Errorf("%s: no target column %q (set the target param)", path, target)
	}
	want := map[string]bool{target: true}
	for _, f := range m.Features() {
		if !slices.Contains(header, f.Name) {
			return nil, fmt.Errorf("%s: feature %q of the champion is not a column", path, f.Name)
		}
		want[f.Name] = true
		if f.Kind == train.Categorical {
			opts.Categorical = append(opts.Categorical, f.Name)
		} else {
			opts.Numeric = append(opts.Numeric, f.Name)
		}
	}
	if id != "" && slices.Contains(header, id) {
		opts.ID, want[id] = id, true
	}
	for _, h := range header {
		if !want[h] {
			opts.Exclude = append(opts.Exclude, h)
		}
	}
	return train.ReadCSVFile(path, opts)
}

// CSVHeader returns the column names of a CSV file's first line (a
// byte-order mark and surrounding spaces removed).
func CSVHeader(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	names, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv header: %s:1: %w", path, err)
	}
	for i, n := range names {
		names[i] = strings.TrimSpace(strings.TrimPrefix(n, "\ufeff"))
	}
	return names, nil
}

// appendDataset returns the rows of a followed by those of b, whose columns
// are matched by name; b's categories unknown to a get new levels.
func appendDataset(a, b *train.Dataset) *train.Dataset {
	n := a.Rows + b.Rows
	out := &train.Dataset{Names: a.Names, Kinds: a.Kinds, TargetLevels: a.TargetLevels, Rows: n,
		Num: make([][]float64, len(a.Names)), Codes: make([][]int32, len(a.Names)), Levels: make([][]string, len(a.Names)),
		Target: append(slices.Clone(a.Target), b.Target...)}
	for j, name := range a.Names {
		k := slices.Index(b.Names, name)
		if a.Kinds[j] != train.Categorical {
			out.Num[j] = append(slices.Clone(a.Num[j]), b.Num[k]...)
			continue
		}
		levels := slices.Clone(a.Levels[j])
		idx := make(map[string]int32, len(levels))
		for c, l := range levels {
			idx[l] = int32(c)
		}
		remap := make([]int32, len(b.Levels[k]))
		for c, l := range b.Levels[k] {
			code, ok := idx[l]
			if !ok {
				code = int32(len(levels))
				idx[l] = code
				levels = append(levels, l)
			}
			remap[c] = code
		}
		col := append(make([]int32, 0, n), a.Codes[j]...)
		for _, c := range b.Codes[k] {
			if c < 0 {
				col = append(col, -1)
			} else {
				col = append(col, remap[c])
			}
		}
		out.Codes[j], out.Levels[j] = col, levels
	}
	if a.IDs != nil || b.IDs != nil {
		out.IDs = make([]string, 0, n)
		out.IDs = append(out.IDs, padIDs(a)...)
		out.IDs = append(out.IDs, padIDs(b)...)
	}
	return out
}

func padIDs(ds *train.Dataset) []string {
	if ds.IDs != nil {
		return ds.IDs
	}
	return make([]string, ds.Rows)
}

// datasetCSV writes the assembled dataset of a retrain as CSV: id, the
// features, label, and split (train or holdout), training rows first.
func datasetCSV(tr, ho *train.Dataset) ([]byte, error) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	header := append(append([]string{"id"}, tr.Names...), "label", "split")
	if err := cw.Write(header); err != nil {
		return nil, fmt.Errorf("write dataset csv: %w", err)
	}
	rec := make([]string, len(header))
	for _, part := range []struct {
		ds    *train.Dataset
		split string
	}{{tr, "train"}, {ho, "holdout"}} {
		ds := part.ds
		for i := range ds.Rows {
			rec[0] = ""
			if ds.IDs != nil {
				rec[0] = ds.IDs[i]
			}
			for j := range ds.Names {
				rec[1+j] = cell(ds, j, i)
			}
			if ds.TargetLevels != nil {
				rec[len(rec)-2] = ds.TargetLevels[int(ds.Target[i])]
			} else {
				rec[len(rec)-2] = strconv.FormatFloat(ds.Target[i], 'g', -1, 64)
			}
			rec[len(rec)-1] = part.split
			if err := cw.Write(rec); err != nil {
				return nil, fmt.Errorf("write dataset csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, fmt.Errorf("write dataset csv: %w", err)
	}
	return buf.Bytes(), nil
}

// cell formats column j of row i ("" when missing).
func cell(ds *train.Dataset, j, i int) string {
	if ds.Kinds[j] == train.Categorical {
		if c := ds.Codes[j][i]; c >= 0 {
			return ds.Levels[j][c]
		}
		return ""
	}
	if v := ds.Num[j][i]; !math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return ""
}

// paramsOf rebuilds the training parameters of a model from its stored
// params (numbers come back from the model file as float64). Threads is
// left to this machine.
func paramsOf(m *train.Model) train.Params {
	p := train.DefaultParams()
	p.Algo, p.Objective = m.Algo(), m.Objective()
	mp := m.Params()
	num := func(k string) (float64, bool) {
		switch v := mp[k].(type) {
		case float64:
			return v, true
		case int:
			return float64(v), true
		case int64:
			return float64(v), true
		case json.Number:
			f, err := v.Float64()
			return f, err == nil
		}
		return 0, false
	}
	setF := func(k string, dst *float64) {
		if v, ok := num(k); ok {
			*dst = v
		}
	}
	setI := func(k string, dst *int) {
		if v, ok := num(k); ok {
			*dst = int(v)
		}
	}
	if p.Algo == "logistic" {
		setF("C", &p.LogisticC)
		setI("max_iter", &p.LogisticMaxIter)
		return p
	}
	setI("rounds", &p.Rounds)
	setF("learning_rate", &p.LearningRate)
	setI("max_leaves", &p.MaxLeaves)
	setI("max_depth", &p.MaxDepth)
	setI("max_bins", &p.MaxBins)
	setF("min_child_weight", &p.MinChildWeight)
	setI("min_samples_leaf", &p.MinSamplesLeaf)
	if mp["min_samples_leaf_rule"] == "auto" {
		p.MinSamplesLeaf = train.AutoMinSamplesLeaf // from the challenger's own rows
	}
	setF("lambda", &p.Lambda)
	setF("min_split_gain", &p.MinSplitGain)
	setF("subsample", &p.Subsample)
	setF("colsample", &p.Colsample)
	setI("early_stopping", &p.EarlyStopping)
	if v, ok := num("seed"); ok {
		p.Seed = int64(v)
	}
	if g, ok := mp["grow"].(string); ok {
		p.Grow = g
	}
	return p
}
