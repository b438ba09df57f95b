package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"driftd/train"
)

// predictOutputs trains a model with args on data and returns it with the
// dataset (read as `driftd predict` reads it) and its predictions.
func predictOutputs(t *testing.T, data string, args ...string) (*train.Model, *train.Dataset, *train.Predictions) {
	t.Helper()
	model := filepath.Join(t.TempDir(), "m.bin")
	if _, stderr, code := runTrainArgs(t, append([]string{"--data", data, "--rounds", "5", "--out", model}, args...)...); code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	m := decodeModelFile(t, model)
	opts := train.CSVOptions{Name: data}
	if id, _ := m.Params()["id"].(string); id != "" {
		opts.ID = id
	}
	for _, f := range m.Features() {
		if f.Kind == train.Categorical {
			opts.Categorical = append(opts.Categorical, f.Name)
		} else {
			opts.Numeric = append(opts.Numeric, f.Name)
		}
	}
	ds, err := train.ReadCSVFile(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := train.Predict(m, ds)
	if err != nil {
		t.Fatal(err)
	}
	return m, ds, pr
}

// withNulls makes rows 2 and 5 lose their id, and row 4 its score, so
// nulls are written.
func withNulls(ds *train.Dataset, pr *train.Predictions) {
	if ds.IDs != nil {
		ds.IDs[1], ds.IDs[4] = "", ""
	}
	pr.Score[3] = math.NaN()
	if pr.Proba != nil {
		for c := range pr.Classes {
			pr.Proba[3*pr.Classes+c] = math.NaN()
		}
	}
}

// TestWritePredictionsParquet writes the predictions of binary,
// multiclass and regression models as Parquet and reads them back: the
// CSV writer's columns in its order, numbers as DOUBLE and text as
// strings, nulls where an id or a score is missing, and the values of the
// predictions (exactly, where the CSV has 8 digits), read by driftd's own
// reader and by DuckDB.
func TestWritePredictionsParquet(t *testing.T) {
	cases := []struct {
		name, data string
		args       []string
	}{
		{"binary with id", "testdata/train_binary.csv", []string{"--target", "label", "--id", "id"}},
		{"multiclass", "testdata/train_multi.csv", []string{"--target", "grade"}},
		{"regression", "testdata/train_multi.csv", []string{"--target", "x1", "--objective", "regression"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, ds, pr := predictOutputs(t, tc.data, tc.args...)
			var csvOut bytes.Buffer
			bw := bufio.NewWriter(&csvOut)
			if err := writePredictions(bw, m, ds, pr, ','); err != nil {
				t.Fatal(err)
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			header := strings.Split(strings.SplitN(csvOut.String(), "\n", 2)[0], ",")
			withNulls(ds, pr)
			var pq bytes.Buffer
			if err := writePredictionsParquet(&pq, m, ds, pr); err != nil {
				t.Fatal(err)
			}
			want := wantPredictionColumns(m, ds, pr)

			// The schema, as the library reads it.
			pf, err := parquet.OpenFile(bytes.NewReader(pq.Bytes()), int64(pq.Len()))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range pf.Schema().Fields() {
				names = append(names, f.Name())
				kind, isText := f.Type().Kind(), f.Type().LogicalType() != nil && f.Type().LogicalType().Value != nil
				if !f.Optional() || (want[f.Name()].text && (kind != parquet.ByteArray || !isText)) || (!want[f.Name()].text && kind != parquet.Double) {
					t.Errorf("column %s: %s optional=%v", f.Name(), f.Type(), f.Optional())
				}
			}
			if !slices.Equal(names, header) {
				t.Fatalf("columns %v, the CSV's %v", names, header)
			}
			if pf.NumRows() != int64(ds.Rows) {
				t.Fatalf("%d rows, want %d", pf.NumRows(), ds.Rows)
			}

			// The values, as driftd reads them.
			var text []string
			for _, n := range header {
				if want[n].text {
					text = append(text, n)
				}
			}
			got, err := train.ReadParquet(context.Background(), bytes.NewReader(pq.Bytes()), int64(pq.Len()), train.CSVOptions{Name: "p.parquet", Categorical: text})
			if err != nil {
				t.Fatal(err)
			}
			for i, name := range got.Names {
				w := want[name]
				for r := 0; r < got.Rows; r++ {
					var v string
					if got.Kinds[i] == train.Categorical {
						if c := got.Codes[i][r]; c >= 0 {
							v = got.Levels[i][c]
						}
					} else if x := got.Num[i][r]; !math.IsNaN(x) {
						v = fmt.Sprint(x)
					}
					if v != w.values[r] {
						t.Fatalf("column %s row %d: %q, want %q", name, r+1, v, w.values[r])
					}
				}
			}
			checkWithDuckDB(t, pq.Bytes(), header, want)
		})
	}
}

// predictionColumn is what a column of the output should hold: its rows
// as text ("" for null) and whether it is text.
type predictionColumn struct {
	values []string
	text   bool
}

// wantPredictionColumns computes the output's columns from the model and
// the predictions.
func wantPredictionColumns(m *train.Model, ds *train.Dataset, pr *train.Predictions) map[string]predictionColumn {
	cols := map[string]predictionColumn{}
	put := func(name string, text bool, v string) {
		c := cols[name]
		c.values, c.text = append(c.values, v), text
		cols[name] = c
	}
	num := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return fmt.Sprint(x)
	}
	classes := m.Classes()
	for r := 0; r < ds.Rows; r++ {
		if ds.IDs != nil {
			put("id", true, ds.IDs[r])
		}
		s := pr.Score[r]
		switch m.Objective() {
		case "binary":
			put("score", false, num(s))
			lbl := classes[0]
			if s >= 0.5 {
				lbl = classes[1]
			}
			if math.IsNaN(s) {
				lbl = ""
			}
			put("label", true, lbl)
		case "multiclass":
			for c, name := range classes {
				put("p_"+name, false, num(pr.Proba[r*pr.Classes+c]))
			}
			lbl := ""
			if !math.IsNaN(s) {
				lbl = classes[int(s)]
			}
			put("label", true, lbl)
		default:
			put("prediction", false, num(s))
		}
	}
	return cols
}

// duckDBRead is a Node.js script that prints a Parquet file's columns and
// rows as DuckDB reads them, as JSON.
const duckDBRead = `
const { createRequire } = require('node:module');
const { DuckDBInstance } = createRequire(process.argv[1] + '/node_modules/')('@duckdb/node-api');
(async () => {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  const f = "'" + process.argv[2].replaceAll("'", "''") + "'";
  const d = await c.runAndReadAll('DESCRIBE SELECT * FROM read_parquet(' + f + ')');
  const r = await c.runAndReadAll('SELECT * FROM read_parquet(' + f + ')');
  console.log(JSON.stringify({columns: d.getRowObjectsJson().map(o => [o.column_name, o.column_type]), rows: r.getRowsJson()}));
})().catch(e => { console.error(e); process.exit(1); });
`

// duckDBNode returns node and the directory holding DuckDB's Node.js
// package (train/testdata/parquet/install_duckdb.sh installs it). Without
// them the test is skipped, unless DRIFTD_INTEGRATION is set, when it
// fails.
func duckDBNode(t *testing.T) (node, dir string) {
	t.Helper()
	dir = os.Getenv("DRIFTD_DUCKDB_NODE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "driftd", "duckdb-node")
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json"))
	}
	if err != nil {
		if os.Getenv("DRIFTD_INTEGRATION") == "" {
			t.Skipf("node with DuckDB's package in %s: %v (sh train/testdata/parquet/install_duckdb.sh installs it)", dir, err)
		}
		t.Fatalf("DRIFTD_INTEGRATION is set but node with DuckDB's package in %s is not there: %v (sh train/testdata/parquet/install_duckdb.sh installs it)", dir, err)
	}
	return node, dir
}

// checkWithDuckDB reads the file with DuckDB and checks its columns, their
// types and every value against want.
func checkWithDuckDB(t *testing.T, data []byte, header []string, want map[string]predictionColumn) {
	t.Helper()
	node, dir := duckDBNode(t)
	path := filepath.Join(t.TempDir(), "p.parquet")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", duckDBRead, dir, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v: %s", err, stderr.String())
	}
	var got struct {
		Columns [][2]string `json:"columns"`
		Rows    [][]any     `json:"rows"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("duckdb output %.300s: %v", out, err)
	}
	for i, c := range got.Columns {
		typ := "DOUBLE"
		if want[c[0]].text {
			typ = "VARCHAR"
		}
		if i >= len(header) || c[0] != header[i] || c[1] != typ {
			t.Fatalf("DuckDB reads columns %v, want %v (numbers DOUBLE, text VARCHAR)", got.Columns, header)
		}
	}
	if len(got.Columns) != len(header) || len(got.Rows) != len(want[header[0]].values) {
		t.Fatalf("DuckDB reads %d columns and %d rows", len(got.Columns), len(got.Rows))
	}
	for r, row := range got.Rows {
		for i, v := range row {
			s := ""
			switch v := v.(type) {
			case nil:
			case string:
				s = v
				if s == "" {
					s = "(empty, not null)"
				}
			default:
				s = fmt.Sprint(v)
			}
			if w := want[header[i]].values[r]; s != w {
				t.Fatalf("DuckDB reads column %s row %d as %q, want %q", header[i], r+1, s, w)
			}
		}
	}
}
