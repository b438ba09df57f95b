package train

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// The fixtures in testdata/parquet were written by DuckDB (another writer
// than the library driftd reads with); make_fixtures.mjs makes them.

// pqFixture reads a fixture file.
func pqFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "parquet", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// pqExactDiff describes how two datasets differ, "" when they do not:
// numbers bit for bit (NaN equal to NaN).
func pqExactDiff(got, want *Dataset) string {
	if d := pqDatasetDiff(got, want); d != "" {
		return d
	}
	for i := range got.Names {
		for r := range got.Num[i] {
			a, b := got.Num[i][r], want.Num[i][r]
			if math.Float64bits(a) != math.Float64bits(b) && !(math.IsNaN(a) && math.IsNaN(b)) {
				return fmt.Sprintf("column %s row %d: %v, want %v", got.Names[i], r+1, a, b)
			}
		}
	}
	return ""
}

// TestParquetFixturesMatchCSV reads each fixture written by DuckDB, with
// one and with several goroutines, and checks that it gives the dataset
// its CSV twin gives, value for value: integers, unsigned integers,
// floats, doubles, booleans, decimals (INT32, INT64 and 16-byte), dates
// and timestamps (milli-, micro- and nanoseconds) as seconds, plain and
// dictionary-encoded strings, UUIDs, nulls in every one, an int64 ID past
// 2^53, several row groups, snappy, gzip and zstd, data pages v1 and v2.
func TestParquetFixturesMatchCSV(t *testing.T) {
	cases := []struct {
		file, twin string
		opts       CSVOptions
		groups     int
		codec      format.CompressionCodec
		// dict and plain name columns whose chunks must be, and must not
		// be, dictionary-encoded, so the fixture holds what it is for.
		dict, plain []string
	}{
		{"types_snappy.parquet", "types.csv", CSVOptions{Target: "label", ID: "id"}, 1, format.Snappy, []string{"city", "age"}, []string{"note", "income"}},
		{"types_gzip.parquet", "types.csv", CSVOptions{Target: "label", ID: "id"}, 1, format.Gzip, []string{"city"}, []string{"note"}},
		{"types_zstd.parquet", "types.csv", CSVOptions{Target: "label", ID: "id"}, 1, format.Zstd, []string{"city"}, []string{"note"}},
		{"types_zstd.parquet", "types.csv", CSVOptions{Target: "label", Categorical: []string{"age", "count_u"}, Exclude: []string{"note"}}, 1, format.Zstd, nil, nil},
		{"types_snappy.parquet", "types.csv", CSVOptions{Target: "label", ID: "count_u"}, 1, format.Snappy, nil, nil},
		{"groups_snappy.parquet", "groups.csv", CSVOptions{Target: "label"}, 3, format.Snappy, []string{"cat"}, []string{"x"}},
		{"groups_zstd.parquet", "groups.csv", CSVOptions{Target: "label"}, 3, format.Zstd, []string{"cat"}, nil},
		{"groups_zstd.parquet", "groups.csv", CSVOptions{Target: "x", Regression: true, Exclude: []string{"label"}}, 3, format.Zstd, nil, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %+v", tc.file, tc.opts), func(t *testing.T) {
			data := pqFixture(t, tc.file)
			pqCheckLayout(t, data, tc.groups, tc.codec, tc.dict, tc.plain)
			if tc.opts.Regression {
				// The target may not be missing: drop the rows where it is.
				data, tc.twin = pqWithoutNullTarget(t, data, tc.opts.Target), ""
			}
			var want *Dataset
			var err error
			if tc.twin != "" {
				want, err = ReadCSV(bytes.NewReader(pqFixture(t, tc.twin)), tc.opts)
			} else {
				want, err = readParquet(context.Background(), bytes.NewReader(data), int64(len(data)), tc.opts, pqDefaults(1))
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 2, 5} {
				got, err := readParquet(context.Background(), bytes.NewReader(data), int64(len(data)), tc.opts, pqDefaults(workers))
				if err != nil {
					t.Fatalf("%d workers: %v", workers, err)
				}
				if d := pqExactDiff(got, want); d != "" {
					t.Errorf("%d workers: %s", workers, d)
				}
			}
		})
	}
}

// pqCheckLayout checks that a fixture has the row groups, codec and
// encodings it is meant to test.
func pqCheckLayout(t *testing.T, data []byte, groups int, codec format.CompressionCodec, dict, plain []string) {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	md := pf.Metadata()
	if len(md.RowGroups) != groups {
		t.Fatalf("%d row groups, want %d", len(md.RowGroups), groups)
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			col := strings.Join(cc.MetaData.PathInSchema, ".")
			if cc.MetaData.Codec != codec {
				t.Errorf("column %s: codec %s, want %s", col, cc.MetaData.Codec, codec)
			}
			isDict := slices.ContainsFunc(cc.MetaData.Encoding, func(e format.Encoding) bool {
				return e == format.RLEDictionary || e == format.PlainDictionary
			})
			if slices.Contains(dict, col) && !isDict {
				t.Errorf("column %s is not dictionary-encoded: %v", col, cc.MetaData.Encoding)
			}
			if slices.Contains(plain, col) && isDict {
				t.Errorf("column %s is dictionary-encoded: %v", col, cc.MetaData.Encoding)
			}
		}
	}
}

// pqWithoutNullTarget rewrites data without the rows where column target
// is null, with the rows and schema as read by the library.
func pqWithoutNullTarget(t *testing.T, data []byte, target string) []byte {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	col, ok := pf.Schema().Lookup(target)
	if !ok {
		t.Fatalf("no column %s", target)
	}
	var out bytes.Buffer
	w := parquet.NewWriter(&out, pf.Schema())
	rows := parquet.NewReader(pf)
	buf := make([]parquet.Row, 100)
	for {
		n, err := rows.ReadRows(buf)
		for _, r := range buf[:n] {
			if !r[col.ColumnIndex].IsNull() {
				if _, err := w.WriteRows([]parquet.Row{r}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err != nil {
			break
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestParquetFixtureTypes checks the values of types the CSV twin cannot
// state on its own: what each Parquet type becomes.
func TestParquetFixtureTypes(t *testing.T) {
	data := pqFixture(t, "types_snappy.parquet")
	ds, err := ReadParquet(context.Background(), bytes.NewReader(data), int64(len(data)), CSVOptions{Target: "label", ID: "id"})
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int {
		i := slices.Index(ds.Names, name)
		if i < 0 {
			t.Fatalf("no feature %s in %v", name, ds.Names)
		}
		return i
	}
	// Row 2 (i = 1) of make_fixtures.mjs.
	checks := []struct {
		name string
		want float64
	}{
		{"seen_at", 1704067200 + 3600.123457},       // TIMESTAMP micros, as seconds
		{"seen_ns", 1500000000 + 1.000001},          // TIMESTAMP nanos
		{"day", 18262*86400 + 3*86400},              // DATE 2020-01-04, as seconds
		{"price", 7919/100.0 - 2500},                // DECIMAL(9,2) on INT32
		{"amount", 10.4729},                         // DECIMAL(18,4) on INT64
		{"big_dec", -2962962936296296293635.999999}, // DECIMAL(38,6) on 16 bytes
		{"ratio", float64(float32(17.0 / 7))},       // FLOAT, widened
	}
	for _, c := range checks {
		if got := ds.Num[col(c.name)][1]; got != c.want {
			t.Errorf("%s row 2: %v, want %v", c.name, got, c.want)
		}
	}
	if got := ds.Num[col("count_u")][2]; got != 3000000014 { // UINT32 past 2^31
		t.Errorf("count_u row 3: %v", got)
	}
	if ds.IDs[1] != "9007199255740996" {
		t.Errorf("id row 2: %q, want the int64 exactly", ds.IDs[1])
	}
	uid := col("uid")
	if got := ds.Levels[uid][ds.Codes[uid][1]]; got != "00000000-0000-4000-8000-00009e3779b1" {
		t.Errorf("uid row 2: %q", got)
	}
	if ds.Kinds[col("active")] != Numeric || ds.Num[col("active")][0] != 1 || ds.Num[col("active")][2] != 0 {
		t.Errorf("active: %v %v", ds.Kinds[col("active")], ds.Num[col("active")][:3])
	}
	if !math.IsNaN(ds.Num[col("seen_at")][0]) {
		t.Error("a null timestamp is not missing")
	}
}

// TestParquetFixtureErrors checks the errors of files driftd refuses,
// written by DuckDB: each names the file, the column and, for a value, the
// row group and the row.
func TestParquetFixtureErrors(t *testing.T) {
	cases := []struct {
		file string
		want string
	}{
		{"infinite.parquet", `x.parquet: row group 0 (rows 1-5), column "y": page 0 (from row 1): row 3: infinite value`},
		{"nested.parquet", `x.parquet: column "xs" is nested or repeated: only flat columns can be read`},
		{"interval.parquet", `x.parquet: column "span" has type INTERVAL, which driftd does not read`},
		// A limit of the library, not of the file: parquet-go wants the
		// first value of a DELTA_BINARY_PACKED INT32 page in int32's
		// range, and DuckDB writes a UINT32's unsigned.
		{"uint_delta.parquet", `x.parquet: row group 0 (rows 1-3), column "n": page 0 (from row 1): decoding page 0 of column "n": DELTA_BINARY_PACKED: first value out of range: 3000000000`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data := pqFixture(t, tc.file)
			_, err := ReadParquet(context.Background(), bytes.NewReader(data), int64(len(data)), CSVOptions{Name: "x.parquet"})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant       %s", err, tc.want)
			}
		})
	}
}
