package train

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// higgsParquet writes a dataset read from CSV as Parquet, the way the
// usual writers write such data: required DOUBLE columns, snappy, row
// groups of 128k rows.
func higgsParquet(tb testing.TB, ds *Dataset) []byte {
	tb.Helper()
	group := parquet.Group{}
	for _, n := range ds.Names {
		group[n] = parquet.Leaf(parquet.DoubleType)
	}
	schema := parquet.NewSchema("higgs", group)
	// The schema orders the columns by name: col[i] is the leaf of ds.Names[i].
	col := make([]int, len(ds.Names))
	for i, n := range ds.Names {
		c, ok := schema.Lookup(n)
		if !ok {
			tb.Fatalf("no column %s", n)
		}
		col[i] = c.ColumnIndex
	}
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(128<<10))
	rows := make([]parquet.Row, 0, 1024)
	for r := 0; r < ds.Rows; r++ {
		row := make(parquet.Row, len(ds.Names))
		for i := range ds.Names {
			row[col[i]] = parquet.DoubleValue(ds.Num[i][r]).Level(0, 0, col[i])
		}
		rows = append(rows, row)
		if len(rows) == cap(rows) || r == ds.Rows-1 {
			if _, err := w.WriteRows(rows); err != nil {
				tb.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkReadParquet reads 300,000 rows × 28 features and a label as
// CSV and as Parquet (the same values), in one run, so the ratio of the
// two is measured on the same machine state:
//
//	go test -run '^$' -bench BenchmarkReadParquet -benchmem ./train/
func BenchmarkReadParquet(b *testing.B) {
	csv := writeHiggsLike(300_000, 28, 1)
	ds, err := ReadCSV(bytes.NewReader(csv), CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	pq := higgsParquet(b, ds)
	// The twin must hold the same data, or the comparison means nothing.
	got, err := ReadParquet(context.Background(), bytes.NewReader(pq), int64(len(pq)), CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if got.Rows != ds.Rows || len(got.Names) != len(ds.Names) {
		b.Fatalf("the Parquet twin has %d rows × %d columns, the CSV %d × %d", got.Rows, len(got.Names), ds.Rows, len(ds.Names))
	}
	for i, n := range got.Names {
		j := 0
		for ds.Names[j] != n {
			j++
		}
		for r, x := range got.Num[i] {
			if x != ds.Num[j][r] && !(math.IsNaN(x) && math.IsNaN(ds.Num[j][r])) {
				b.Fatalf("column %s row %d: %v, the CSV %v", n, r, x, ds.Num[j][r])
			}
		}
	}
	opts := CSVOptions{Target: "label"}
	// Each reports the CPU seconds of a read too ("cpu-s/op", the process's
	// user and system time): steadier than ns/op on a shared machine.
	bench := func(name string, read func() error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := read(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
	bench("csv", func() error {
		_, err := ReadCSV(bytes.NewReader(csv), opts)
		return err
	})
	bench("parquet", func() error {
		_, err := ReadParquet(context.Background(), bytes.NewReader(pq), int64(len(pq)), opts)
		return err
	})
	bench("parquet-1-goroutine", func() error {
		_, err := readParquet(context.Background(), bytes.NewReader(pq), int64(len(pq)), opts, pqDefaults(1))
		return err
	})
}
