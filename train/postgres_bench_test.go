package train

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"driftd/internal/pgtest"
)

// BenchmarkReadQuery reads 200,000 rows × 28 double precision columns and
// a label from a throwaway server into a dataset and reports rows/s and
// the client's CPU per row (bench/postgres/run.sh compares a million rows
// with psql's COPY on the same server):
//
//	go test -run '^$' -bench BenchmarkReadQuery -benchtime 3x ./train/
func BenchmarkReadQuery(b *testing.B) {
	s := pgtest.Start(b)
	var gen, cols []string
	for i := range 28 {
		gen = append(gen, fmt.Sprintf("random() * 100 - 50 as f%d", i))
		cols = append(cols, fmt.Sprintf("f%d", i))
	}
	const rows = 200000
	s.MustExec(b, fmt.Sprintf("create unlogged table bench as select %s, (random() > 0.5)::int as label from generate_series(1, %d) g", strings.Join(gen, ", "), rows))
	s.MustExec(b, "vacuum analyze bench")
	query := "select " + strings.Join(cols, ", ") + ", label from bench"
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		ds, err := ReadQuery(context.Background(), s.DSN(), query, CSVOptions{Target: "label"})
		if err != nil || ds.Rows != rows {
			b.Fatalf("%v rows, %v", ds, err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(rows*b.N), "cpu-ns/row")
}
