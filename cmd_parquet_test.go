package main

import (
	"bytes"
	"context"
	"driftd/train"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// csvToParquet writes a CSV file's data as Parquet, in row groups of 100
// rows: numeric columns as optional doubles, the others as optional
// strings, empty cells as nulls.
func csvToParquet(tb testing.TB, src, dst string) {
	tb.Helper()
	f, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	header, body := recs[0], recs[1:]
	numeric := make([]bool, len(header))
	group := parquet.Group{}
	for c, name := range header {
		numeric[c] = true
		for _, r := range body {
			if _, err := strconv.ParseFloat(r[c], 64); r[c] != "" && err != nil {
				numeric[c] = false
			}
		}
		if numeric[c] {
			group[name] = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		} else {
			group[name] = parquet.Optional(parquet.String())
		}
	}
	schema := parquet.NewSchema("data", group)
	// The schema orders columns by name; a leaf's index is its place there.
	order := slices.Clone(header)
	slices.Sort(order)
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema)
	for i, r := range body {
		row := make(parquet.Row, len(header))
		for c, name := range header {
			col := slices.Index(order, name)
			var v parquet.Value
			switch {
			case r[c] == "":
				v = parquet.Value{}.Level(0, 0, col)
			case numeric[c]:
				x, _ := strconv.ParseFloat(r[c], 64)
				v = parquet.ValueOf(x).Level(0, 1, col)
			default:
				v = parquet.ValueOf(r[c]).Level(0, 1, col)
			}
			row[col] = v
		}
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			tb.Fatal(err)
		}
		if (i+1)%100 == 0 {
			if err := w.Flush(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// TestPredictAndDriftReadParquet checks that `driftd predict` and `driftd
// drift` give the same output for a Parquet file (by extension or
// --format) as for the same data as CSV.
func TestPredictAndDriftReadParquet(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	if _, stderr, code := runTrainArgs(t, "--data", "testdata/train_binary.csv", "--target", "label", "--rounds", "5", "--out", model); code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	pq := filepath.Join(dir, "train.parquet")
	csvToParquet(t, "testdata/train_binary.csv", pq)
	odd := filepath.Join(dir, "train.bin")
	csvToParquet(t, "testdata/train_binary.csv", odd)

	predict := func(args ...string) string {
		t.Helper()
		var o, e bytes.Buffer
		if code := runPredict(context.Background(), args, &o, &e); code != 0 {
			t.Fatalf("predict %v: exit %d: %s", args, code, e.String())
		}
		return o.String()
	}
	want := predict("--model", model, "--data", "testdata/train_binary.csv")
	for _, args := range [][]string{{"--data", pq}, {"--data", odd, "--format", "parquet"}} {
		if got := predict(append([]string{"--model", model}, args...)...); got != want {
			t.Errorf("predict %v differs from the CSV's:\n%.300s\nwant\n%.300s", args, got, want)
		}
	}
	var e bytes.Buffer
	if code := runPredict(context.Background(), []string{"--model", model, "--data", pq, "--format", "orc"}, &bytes.Buffer{}, &e); code != 2 {
		t.Errorf("--format orc: exit %d, want 2: %s", code, e.String())
	}

	drift := func(args ...string) string {
		t.Helper()
		var o, e bytes.Buffer
		if code := runDrift(context.Background(), append(args, "--json", "--exclude", "id,label"), &o, &e); code != 0 && code != 3 {
			t.Fatalf("drift %v: exit %d: %s", args, code, e.String())
		}
		return o.String()
	}
	// The Parquet schema orders columns by name: compare features by name.
	byName := func(out string) map[string]string {
		t.Helper()
		var v struct {
			Features []map[string]any `json:"features"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Features) == 0 {
			t.Fatalf("drift output %q: %v", out, err)
		}
		m := map[string]string{}
		for _, f := range v.Features {
			m[fmt.Sprint(f["name"])] = fmt.Sprint(f)
		}
		return m
	}
	wantDrift := byName(drift("--reference", "testdata/train_binary.csv", "--current", "testdata/train_binary.csv"))
	if got := byName(drift("--reference", pq, "--current", odd, "--format", "parquet")); !maps.Equal(got, wantDrift) {
		t.Errorf("drift of Parquet files:\n%v\nwant\n%v", got, wantDrift)
	}
}

// TestTrainReadsParquet trains from a Parquet copy of a CSV file: the same
// rows give the same features and the same metrics.
func TestTrainReadsParquet(t *testing.T) {
	dir := t.TempDir()
	pq := filepath.Join(dir, "train.parquet")
	csvToParquet(t, "testdata/train_binary.csv", pq)
	fromCSV, fromPQ := filepath.Join(dir, "csv.bin"), filepath.Join(dir, "pq.bin")
	for _, tc := range []struct{ data, out string }{{"testdata/train_binary.csv", fromCSV}, {pq, fromPQ}} {
		if _, stderr, code := runTrainArgs(t, "--data", tc.data, "--target", "label", "--id", "id", "--rounds", "10", "--threads", "1", "--out", tc.out); code != 0 {
			t.Fatalf("train --data %s: exit %d: %s", tc.data, code, stderr)
		}
	}
	a, b := decodeModelFile(t, fromCSV), decodeModelFile(t, fromPQ)
	// The Parquet writer orders columns by name: compare the features as sets.
	sorted := func(fs []train.FeatureSpec) string {
		s := slices.Clone(fs)
		slices.SortFunc(s, func(x, y train.FeatureSpec) int { return strings.Compare(x.Name, y.Name) })
		return fmt.Sprint(s)
	}
	if fa, fb := sorted(a.Features()), sorted(b.Features()); fa != fb {
		t.Errorf("features differ: CSV %s, Parquet %s", fa, fb)
	}
	if len(a.Metrics()) == 0 {
		t.Fatal("the CSV model has no metrics")
	}
	if ma, mb := a.Metrics(), b.Metrics(); fmt.Sprint(ma) != fmt.Sprint(mb) {
		t.Errorf("metrics differ: CSV %v, Parquet %v", ma, mb)
	}
}

// TestPredictWritesParquet checks that `driftd predict` writes Parquet for
// an --out ending in .parquet, or with --out-format parquet: the same
// columns and values as its CSV output, as driftd reads them back.
func TestPredictWritesParquet(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	if _, stderr, code := runTrainArgs(t, "--data", "testdata/train_binary.csv", "--target", "label", "--id", "id", "--rounds", "5", "--out", model); code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	predict := func(args ...string) {
		t.Helper()
		var o, e bytes.Buffer
		if code := runPredict(context.Background(), append([]string{"--model", model, "--data", "testdata/train_binary.csv"}, args...), &o, &e); code != 0 {
			t.Fatalf("predict %v: exit %d: %s", args, code, e.String())
		}
	}
	csvOut, pqOut, odd := filepath.Join(dir, "p.csv"), filepath.Join(dir, "p.parquet"), filepath.Join(dir, "p.out")
	predict("--out", csvOut)
	predict("--out", pqOut)
	predict("--out", odd, "--out-format", "parquet")
	opts := train.CSVOptions{ID: "id", Categorical: []string{"label"}}
	want, err := train.ReadCSVFile(csvOut, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pqOut, odd} {
		got, err := train.ReadDataFileContext(context.Background(), p, "parquet", opts)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fmt.Sprint(got.Names, got.Levels, got.Codes, got.IDs) != fmt.Sprint(want.Names, want.Levels, want.Codes, want.IDs) {
			t.Fatalf("%s: columns %v, the CSV's %v", p, got.Names, want.Names)
		}
		for r, x := range got.Num[0] {
			if math.Abs(x-want.Num[0][r]) > 1e-7 { // the CSV has 8 digits
				t.Fatalf("%s row %d: score %v, the CSV's %v", p, r+1, x, want.Num[0][r])
			}
		}
	}
	var e bytes.Buffer
	if code := runPredict(context.Background(), []string{"--model", model, "--data", "testdata/train_binary.csv", "--out", odd, "--out-format", "orc"}, &bytes.Buffer{}, &e); code != 2 {
		t.Errorf("--out-format orc: exit %d, want 2: %s", code, e.String())
	}
}
