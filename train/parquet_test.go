package train

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
)

// pqRow is the fixture's schema: every type driftd maps, with nulls
// (pointers), a dictionary-encoded string and a string target.
type pqRow struct {
	Age    int32    `parquet:"age"`
	Income *float64 `parquet:"income,optional"`
	Visits int64    `parquet:"visits"`
	Ratio  float32  `parquet:"ratio"`
	Active bool     `parquet:"active"`
	Plan   *string  `parquet:"plan,optional,dict"`
	Churn  string   `parquet:"churn"`
}

// fixtureRows are n rows; every 7th income and every 5th plan is null.
func fixtureRows(n int) []pqRow {
	plans := []string{"basic", "pro", "max"}
	rows := make([]pqRow, n)
	for i := range rows {
		inc := float64(i%50) * 1000.5
		plan := plans[(i*7)%3]
		r := pqRow{Age: int32(18 + i%60), Income: &inc, Visits: int64(i * 3), Ratio: float32(i%10) / 4, Active: i%2 == 0, Plan: &plan, Churn: []string{"no", "yes"}[i%3%2]}
		if i%7 == 3 {
			r.Income = nil
		}
		if i%5 == 1 {
			r.Plan = nil
		}
		rows[i] = r
	}
	return rows
}

// mustParquet writes rows in row groups of perGroup rows.
func mustParquet(tb testing.TB, rows []pqRow, perGroup int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[pqRow](&buf, parquet.MaxRowsPerRowGroup(int64(perGroup)))
	for i := 0; i < len(rows); i += perGroup {
		if _, err := w.Write(rows[i:min(i+perGroup, len(rows))]); err != nil {
			tb.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// fixtureCSV is the same data as CSV, for comparison with the CSV reader.
func fixtureCSV(rows []pqRow) string {
	var b strings.Builder
	b.WriteString("age,income,visits,ratio,active,plan,churn\n")
	for _, r := range rows {
		inc, plan := "", ""
		if r.Income != nil {
			inc = fmt.Sprint(*r.Income)
		}
		if r.Plan != nil {
			plan = *r.Plan
		}
		active := 0
		if r.Active {
			active = 1
		}
		fmt.Fprintf(&b, "%d,%s,%d,%g,%d,%s,%s\n", r.Age, inc, r.Visits, r.Ratio, active, plan, r.Churn)
	}
	return b.String()
}

// TestReadParquetMatchesCSV reads a file of several row groups and checks
// that it gives the dataset the same data gives as CSV: types, nulls as
// missing, dictionary strings as categories, the target's classes.
func TestReadParquetMatchesCSV(t *testing.T) {
	rows := fixtureRows(1000)
	data := mustParquet(t, rows, 300) // 4 row groups
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(pf.RowGroups()) != 4 {
		t.Fatalf("fixture: %v, %d row groups", err, len(pf.RowGroups()))
	}
	cases := []struct {
		name string
		opts CSVOptions
	}{
		{"classification", CSVOptions{Target: "churn"}},
		{"forced types and exclude", CSVOptions{Target: "churn", Categorical: []string{"age"}, Exclude: []string{"visits"}}},
		{"regression", CSVOptions{Target: "income", Regression: true, Exclude: []string{"plan", "churn"}}},
		{"fixed classes", CSVOptions{Target: "churn", TargetLevels: []string{"yes", "no"}}},
		{"id column", CSVOptions{Target: "churn", ID: "visits"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			csvRows := rows
			if tc.opts.Regression {
				csvRows = nil
				for _, r := range rows {
					if r.Income != nil {
						csvRows = append(csvRows, r)
					}
				}
				data = mustParquet(t, csvRows, 300)
				defer func() { data = mustParquet(t, rows, 300) }()
			}
			got, err := ReadParquet(context.Background(), bytes.NewReader(data), int64(len(data)), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ReadCSV(strings.NewReader(fixtureCSV(csvRows)), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := pqDatasetDiff(got, want); d != "" {
				t.Error(d)
			}
		})
	}
}

// pqDatasetDiff describes how two datasets differ, "" when they do not.
func pqDatasetDiff(got, want *Dataset) string {
	if fmt.Sprint(got.Names, got.Kinds, got.Levels, got.TargetLevels, got.Rows, got.IDs) != fmt.Sprint(want.Names, want.Kinds, want.Levels, want.TargetLevels, want.Rows, want.IDs) {
		return fmt.Sprintf("got %v %v %v %v %d rows, want %v %v %v %v %d rows", got.Names, got.Kinds, got.Levels, got.TargetLevels, got.Rows, want.Names, want.Kinds, want.Levels, want.TargetLevels, want.Rows)
	}
	for i := range got.Names {
		if fmt.Sprint(got.Codes[i]) != fmt.Sprint(want.Codes[i]) {
			return fmt.Sprintf("column %s: codes differ", got.Names[i])
		}
		for r := range got.Num[i] {
			a, b := got.Num[i][r], want.Num[i][r]
			if !(a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-6*math.Abs(b)) {
				return fmt.Sprintf("column %s row %d: %v, want %v", got.Names[i], r, a, b)
			}
		}
	}
	if fmt.Sprint(got.Target) != fmt.Sprint(want.Target) {
		return "targets differ"
	}
	return ""
}

// nestedRow has a nested column, which driftd refuses.
type nestedRow struct {
	X    float64 `parquet:"x"`
	Addr struct {
		City string `parquet:"city"`
	} `parquet:"addr"`
}

// TestReadParquetErrors checks that errors name the file and the column
// (and the row group where one is at fault).
func TestReadParquetErrors(t *testing.T) {
	good := mustParquet(t, fixtureRows(50), 20)
	var nested bytes.Buffer
	w := parquet.NewGenericWriter[nestedRow](&nested)
	if _, err := w.Write([]nestedRow{{X: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	nullTarget := fixtureRows(50)
	cases := []struct {
		name string
		data []byte
		opts CSVOptions
		want string
	}{
		{"nested", nested.Bytes(), CSVOptions{}, `f.parquet: column "addr" is nested or repeated`},
		{"no such target", good, CSVOptions{Target: "label"}, `f.parquet: no column "label"`},
		{"missing target", good, CSVOptions{Target: "plan"}, `f.parquet: row 2 (row group 0), column "plan": target column "plan": missing value`},
		{"string as number", good, CSVOptions{Target: "churn", Numeric: []string{"plan"}}, `f.parquet: row 1 (row group 0), column "plan": value "basic" is not a number`},
		{"one class", mustParquet(t, nullTarget[:1], 1), CSVOptions{Target: "churn"}, `has only one class`},
		{"truncated", good[:len(good)/2], CSVOptions{}, "f.parquet: "},
		{"not parquet", []byte("age,churn\n1,2\n"), CSVOptions{}, "f.parquet: open parquet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Name = "f.parquet"
			_, err := ReadParquet(context.Background(), bytes.NewReader(tc.data), int64(len(tc.data)), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestReadDataFileByExtension checks the format choice: by extension, or
// --format whatever the name.
func TestReadDataFileByExtension(t *testing.T) {
	dir := t.TempDir()
	rows := fixtureRows(200)
	pq := filepath.Join(dir, "train.parquet")
	odd := filepath.Join(dir, "train.data")
	csv := filepath.Join(dir, "train.csv")
	for p, b := range map[string][]byte{pq: mustParquet(t, rows, 64), odd: mustParquet(t, rows, 64), csv: []byte(fixtureCSV(rows))} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts := CSVOptions{Target: "churn"}
	want, err := ReadDataFileContext(context.Background(), csv, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, format string }{{pq, ""}, {odd, "parquet"}, {pq, "PARQUET"}} {
		got, err := ReadDataFileContext(context.Background(), c.path, c.format, opts)
		if err != nil {
			t.Fatalf("%s --format %q: %v", c.path, c.format, err)
		}
		if d := pqDatasetDiff(got, want); d != "" {
			t.Errorf("%s --format %q: %s", c.path, c.format, d)
		}
	}
	if _, err := ReadDataFileContext(context.Background(), odd, "", opts); err == nil {
		t.Error("a Parquet file named .data was read as CSV without an error")
	}
	if _, err := ReadDataFileContext(context.Background(), pq, "orc", opts); err == nil || !strings.Contains(err.Error(), `unknown data format "orc"`) {
		t.Errorf("--format orc: %v", err)
	}
}

// FuzzReadParquet checks that no input panics the reader, yields a
// dataset whose columns disagree with its row count or hold an infinity,
// or reads differently with one goroutine and with three. Seeds: files of
// this library and DuckDB's fixtures (testdata/parquet).
func FuzzReadParquet(f *testing.F) {
	f.Add(mustParquet(f, fixtureRows(20), 8))
	f.Add(mustParquet(f, fixtureRows(3), 1))
	f.Add([]byte("PAR1"))
	for _, name := range []string{"groups_zstd.parquet", "types_zstd.parquet", "infinite.parquet", "nested.parquet", "interval.parquet", "uint_delta.parquet"} {
		f.Add(pqFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		opts := CSVOptions{Name: "fuzz.parquet"}
		ds, err := readParquet(context.Background(), bytes.NewReader(b), int64(len(b)), opts, pqDefaults(1))
		par, perr := readParquet(context.Background(), bytes.NewReader(b), int64(len(b)), opts, pqDefaults(3))
		if fmt.Sprint(err) != fmt.Sprint(perr) {
			t.Fatalf("sequential error %v, parallel %v", err, perr)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.parquet") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if d := pqExactDiff(par, ds); d != "" {
			t.Fatalf("parallel read differs: %s", d)
		}
		for i := range ds.Names {
			if n := len(ds.Num[i]) + len(ds.Codes[i]); n != ds.Rows {
				t.Fatalf("column %s has %d values for %d rows", ds.Names[i], n, ds.Rows)
			}
			for _, x := range ds.Num[i] {
				if math.IsInf(x, 0) {
					t.Fatalf("column %s holds an infinity", ds.Names[i])
				}
			}
		}
	})
}

// TestReadParquetCorruptFiles flips bytes of a valid file 500 times (a
// fixed seed, so failures reproduce): each read must end within a deadline
// with a dataset or an error naming the file, never a panic or a hang.
func TestReadParquetCorruptFiles(t *testing.T) {
	good := mustParquet(t, fixtureRows(20), 8)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		b := bytes.Clone(good)
		for range 1 + r.IntN(4) {
			b[r.IntN(len(b))] = byte(r.IntN(256))
		}
		done := make(chan error, 1)
		go func() {
			_, err := ReadParquet(context.Background(), bytes.NewReader(b), int64(len(b)), CSVOptions{Name: "c.parquet"})
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil && !strings.HasPrefix(err.Error(), "c.parquet") {
				t.Fatalf("mutation %d: error does not name the file: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("mutation %d: the read did not end within 10s", i)
		}
	}
}

// bigLabelRow has integer class labels that 'g' formatting would print
// with an exponent.
type bigLabelRow struct {
	X float64 `parquet:"x"`
	Y int64   `parquet:"y"`
}

// TestReadParquetIntegerLabels checks that integer classes read from
// Parquet are named as the CSV reader names them (1000000, not 1e+06).
func TestReadParquetIntegerLabels(t *testing.T) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[bigLabelRow](&buf)
	rows := []bigLabelRow{{1, 2000000}, {2, 1000000}, {3, 2000000}, {4, 30000000}}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadParquet(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), CSVOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadCSV(strings.NewReader("x,y\n1,2000000\n2,1000000\n3,2000000\n4,30000000\n"), CSVOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if d := pqDatasetDiff(got, want); d != "" || fmt.Sprint(got.TargetLevels) != "[1000000 2000000 30000000]" {
		t.Errorf("classes %v: %s", got.TargetLevels, d)
	}
}

// int96Row has a legacy INT96 timestamp (Impala's and Spark's).
type int96Row struct {
	T deprecated.Int96 `parquet:"t"`
	Y int32            `parquet:"y"`
}

// TestReadParquetInt96 checks that an INT96 timestamp (nanoseconds of the
// day, then the Julian day) reads as seconds since the Unix epoch.
func TestReadParquetInt96(t *testing.T) {
	// 2024-01-01T00:00:00.5Z: Julian day 2460311, half a second into it.
	nanos := uint64(500_000_000)
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[int96Row](&buf)
	if _, err := w.Write([]int96Row{{T: deprecated.Int96{uint32(nanos), uint32(nanos >> 32), 2460311}, Y: 1}, {Y: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ds, err := ReadParquet(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), CSVOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Num[0]; got[0] != 1704067200.5 || got[1] != -2440588*86400 {
		t.Errorf("INT96 as seconds: %v, want [1704067200.5 %v]", got, -2440588*86400)
	}
}
