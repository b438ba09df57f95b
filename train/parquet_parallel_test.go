package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// pqDefaults is ReadParquet's configuration with workers goroutines.
func pqDefaults(workers int) pqConfig {
	return pqConfig{workers: workers, minCells: pqMinCells, cellsPerByte: pqCellsPerByte}
}

// TestReadParquetParallelSameAsSequential reads a file of many row groups
// with 1 to 8 goroutines, and with columns grown chunk by chunk (the path
// of a footer claiming more rows than the file's size makes plausible):
// every read gives the same dataset, bit for bit.
func TestReadParquetParallelSameAsSequential(t *testing.T) {
	data := mustParquet(t, fixtureRows(3000), 250) // 12 row groups
	opts := CSVOptions{Target: "churn", ID: "visits", Categorical: []string{"age"}}
	read := func(cfg pqConfig) *Dataset {
		t.Helper()
		ds, err := readParquet(context.Background(), bytes.NewReader(data), int64(len(data)), opts, cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		return ds
	}
	want := read(pqDefaults(1))
	if want.Rows != 3000 {
		t.Fatalf("%d rows", want.Rows)
	}
	for _, cfg := range []pqConfig{pqDefaults(2), pqDefaults(3), pqDefaults(8), {workers: 4}} {
		if d := pqExactDiff(read(cfg), want); d != "" {
			t.Errorf("%+v: %s", cfg, d)
		}
	}
}

// TestReadParquetParallelErrorsSameAsSequential damages a file of many
// row groups 300 times (a fixed seed): the parallel read fails exactly
// when the sequential one does, with the same error, or gives the same
// dataset.
func TestReadParquetParallelErrorsSameAsSequential(t *testing.T) {
	good := mustParquet(t, fixtureRows(400), 50)
	r := rand.New(rand.NewPCG(3, 4))
	failed := 0
	for i := range 300 {
		b := bytes.Clone(good)
		// Damage the data pages, not the footer: those errors are the
		// column chunks'.
		for range 1 + r.IntN(3) {
			b[4+r.IntN(len(b)/2)] = byte(r.IntN(256))
		}
		opts := CSVOptions{Name: "d.parquet"}
		want, werr := readParquet(context.Background(), bytes.NewReader(b), int64(len(b)), opts, pqDefaults(1))
		got, gerr := readParquet(context.Background(), bytes.NewReader(b), int64(len(b)), opts, pqDefaults(4))
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("damage %d: parallel error %v\nsequential error %v", i, gerr, werr)
		}
		if werr != nil {
			failed++
			continue
		}
		if d := pqExactDiff(got, want); d != "" {
			t.Fatalf("damage %d: %s", i, d)
		}
	}
	if failed == 0 {
		t.Fatal("no damage made the read fail: the test damages nothing")
	}
}

// pqCancelAfter is a ReaderAt that cancels a context at its n-th read.
type pqCancelAfter struct {
	r      io.ReaderAt
	n      int64
	reads  atomic.Int64
	cancel context.CancelFunc
}

func (c *pqCancelAfter) ReadAt(p []byte, off int64) (int, error) {
	if c.reads.Add(1) == c.n {
		c.cancel()
	}
	return c.r.ReadAt(p, off)
}

// TestReadParquetCancel checks that a read stops with an error wrapping
// the context's when the context ends before it or while it reads the
// column chunks, with one goroutine or several.
func TestReadParquetCancel(t *testing.T) {
	data := mustParquet(t, fixtureRows(3000), 100) // 30 row groups
	for _, workers := range []int{1, 3} {
		for _, at := range []int64{0, 5, 40} {
			t.Run(fmt.Sprintf("%d workers, cancel at read %d", workers, at), func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if at == 0 {
					cancel()
				}
				r := &pqCancelAfter{r: bytes.NewReader(data), n: at, cancel: cancel}
				ds, err := readParquet(ctx, r, int64(len(data)), CSVOptions{Name: "c.parquet"}, pqDefaults(workers))
				if !errors.Is(err, context.Canceled) || ds != nil {
					t.Fatalf("dataset %v, error %v; want context.Canceled", ds != nil, err)
				}
				if r.reads.Load() >= 30*7 {
					t.Errorf("%d reads after the cancel: the read went on", r.reads.Load())
				}
			})
		}
	}
}
