package main

import (
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"driftd/train"
)

// Parquet output of `driftd predict`: rows per row group and per write.
const (
	predictParquetRowGroup = 128 << 10
	predictParquetBatch    = 1024
)

// writePredictionsParquet writes what writePredictions writes as CSV, as a
// snappy-compressed Parquet file: the same columns in the same order (id
// when the data has one; then score and label, p_<class> per class and
// label, or prediction), scores as optional DOUBLE, ids and labels as
// optional strings (labels dictionary-encoded), an empty id or a NaN score
// as null (and a row without a score has no label either).
func writePredictionsParquet(w io.Writer, m *train.Model, ds *train.Dataset, pr *train.Predictions) error {
	classes := m.Classes()
	var names []string
	var nodes []parquet.Node
	add := func(name string, n parquet.Node) {
		names, nodes = append(names, name), append(nodes, parquet.Optional(n))
	}
	if ds.IDs != nil {
		add("id", parquet.String())
	}
	label := parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
	switch m.Objective() {
	case "binary":
		add("score", parquet.Leaf(parquet.DoubleType))
		add("label", label)
	case "multiclass":
		for _, c := range classes {
			add("p_"+c, parquet.Leaf(parquet.DoubleType))
		}
		add("label", label)
	default:
		add("prediction", parquet.Leaf(parquet.DoubleType))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("two output columns named %q", n)
		}
		seen[n] = true
	}
	if len(pr.Score) < ds.Rows || m.Objective() == "multiclass" && (pr.Classes != len(classes) || len(pr.Proba) < ds.Rows*pr.Classes) {
		return fmt.Errorf("%d scores of %d classes for %d rows of a model of %d classes", len(pr.Score), pr.Classes, ds.Rows, len(classes))
	}
	pw := parquet.NewWriter(w, parquet.NewSchema("predictions", orderedGroup{names: names, nodes: nodes}),
		parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(predictParquetRowGroup))
	rows := make([]parquet.Row, 0, predictParquetBatch)
	buf := make([]parquet.Value, 0, predictParquetBatch*len(names))
	k := pr.Classes
	for i := 0; i < ds.Rows; i++ {
		start := len(buf)
		col := 0
		put := func(v parquet.Value, null bool) {
			if null {
				buf = append(buf, parquet.NullValue().Level(0, 0, col))
			} else {
				buf = append(buf, v.Level(0, 1, col))
			}
			col++
		}
		num := func(x float64) { put(parquet.DoubleValue(x), math.IsNaN(x)) }
		if ds.IDs != nil {
			put(parquet.ByteArrayValue([]byte(ds.IDs[i])), ds.IDs[i] == "")
		}
		switch m.Objective() {
		case "binary":
			s := pr.Score[i]
			num(s)
			lbl := classes[0]
			if s >= 0.5 {
				lbl = classes[1]
			}
			put(parquet.ByteArrayValue([]byte(lbl)), math.IsNaN(s))
		case "multiclass":
			for c := 0; c < k; c++ {
				num(pr.Proba[i*k+c])
			}
			s := pr.Score[i]
			ok := s >= 0 && int(s) < len(classes)
			lbl := ""
			if ok {
				lbl = classes[int(s)]
			}
			put(parquet.ByteArrayValue([]byte(lbl)), !ok)
		default:
			num(pr.Score[i])
		}
		rows = append(rows, buf[start:len(buf):len(buf)])
		if len(rows) == cap(rows) || i == ds.Rows-1 {
			if _, err := pw.WriteRows(rows); err != nil {
				return fmt.Errorf("write parquet rows to %d: %w", i+1, err)
			}
			rows, buf = rows[:0], buf[:0]
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	return nil
}

// orderedGroup is a Parquet group whose columns keep the order given
// (parquet.Group, a map, sorts them by name).
type orderedGroup struct {
	names []string
	nodes []parquet.Node
}

// orderedField is one named column of an orderedGroup.
type orderedField struct {
	parquet.Node
	name string
}

func (f orderedField) Name() string { return f.name }

// Value is not used: the rows are written as parquet.Row values.
func (f orderedField) Value(base reflect.Value) reflect.Value { return base }

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return fmt.Sprint(g.names) }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeOf(struct{}{}) }
func (g orderedGroup) Fields() []parquet.Field {
	fs := make([]parquet.Field, len(g.nodes))
	for i, n := range g.nodes {
		fs[i] = orderedField{Node: n, name: g.names[i]}
	}
	return fs
}
