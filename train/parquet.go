package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Data file formats ReadDataFileContext reads.
const (
	FormatCSV     = "csv"
	FormatParquet = "parquet"
)

// DataFormat returns the format of path: format when given ("csv" or
// "parquet"), else from the extension (.parquet is Parquet, anything else
// CSV). It returns an error for an unknown format.
func DataFormat(path, format string) (string, error) {
	switch strings.ToLower(format) {
	case "":
		if strings.EqualFold(filepath.Ext(path), ".parquet") {
			return FormatParquet, nil
		}
		return FormatCSV, nil
	case FormatCSV:
		return FormatCSV, nil
	case FormatParquet:
		return FormatParquet, nil
	}
	return "", fmt.Errorf("unknown data format %q: want csv or parquet", format)
}

// ReadDataFileContext reads a CSV or Parquet file (see DataFormat) with
// the same options and rules.
func ReadDataFileContext(ctx context.Context, path, format string, opts CSVOptions) (*Dataset, error) {
	f, err := DataFormat(path, format)
	if err != nil {
		return nil, err
	}
	if f == FormatParquet {
		return ReadParquetFileContext(ctx, path, opts)
	}
	return ReadCSVFileContext(ctx, path, opts)
}

// ReadParquetFileContext reads a Parquet file into a Dataset with CSV's
// rules (see CSVOptions; Delimiter and InferRows do not apply): integer,
// float and boolean columns are numeric, string and byte-array columns
// categorical, nulls missing. Nested and repeated columns are refused.
// Errors name the file, the row group and the column.
func ReadParquetFileContext(ctx context.Context, path string, opts CSVOptions) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w", path, err)
	}
	if opts.Name == "" {
		opts.Name = path
	}
	return ReadParquet(ctx, f, st.Size(), opts)
}

// ReadParquet reads Parquet data of size bytes from r; see
// ReadParquetFileContext.
func ReadParquet(ctx context.Context, r io.ReaderAt, size int64, opts CSVOptions) (ds *Dataset, err error) {
	name := opts.Name
	if name == "" {
		name = "input"
	}
	defer func() {
		// The library panics on some corrupt files; a bad file is an error.
		if p := recover(); p != nil {
			ds, err = nil, fmt.Errorf("%s: corrupt parquet file: %v", name, p)
		}
	}()
	pf, err := parquet.OpenFile(r, size, parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("%s: open parquet: %w", name, err)
	}
	fields := pf.Schema().Fields()
	cols := make([]rawColumn, len(fields))
	for i, fd := range fields {
		if !fd.Leaf() || fd.Repeated() {
			return nil, fmt.Errorf("%s: column %q is nested or repeated: only flat columns can be read", name, fd.Name())
		}
		kind := fd.Type().Kind()
		switch kind {
		case parquet.Boolean, parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
		case parquet.ByteArray, parquet.FixedLenByteArray:
			cols[i].isStr = true
		default:
			return nil, fmt.Errorf("%s: column %q has type %s, which driftd does not read", name, fd.Name(), kind)
		}
		cols[i].name = fd.Name()
	}
	rows := 0
	for _, rg := range pf.RowGroups() {
		rows += int(rg.NumRows())
	}
	if rows != int(pf.NumRows()) || rows < 0 {
		return nil, fmt.Errorf("%s: the row groups hold %d rows, the footer says %d", name, rows, pf.NumRows())
	}
	// Capacity from the footer only up to a bound: a corrupt footer must
	// not allocate gigabytes before the data says otherwise.
	capRows := min(rows, 1<<20)
	for i := range cols {
		if cols[i].isStr {
			cols[i].str, cols[i].valid = make([]string, 0, capRows), make([]bool, 0, capRows)
		} else {
			cols[i].num = make([]float64, 0, capRows)
		}
	}
	buf := make([]parquet.Value, 1024)
	for g, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		if len(chunks) != len(cols) {
			return nil, fmt.Errorf("%s: row group %d has %d columns, the schema %d", name, g, len(chunks), len(cols))
		}
		for ci, ch := range chunks {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			want := colLen(&cols[ci]) + int(rg.NumRows())
			if err := readChunk(ch, &cols[ci], buf); err != nil {
				return nil, fmt.Errorf("%s: row group %d, column %q: %w", name, g, cols[ci].name, err)
			}
			if got := colLen(&cols[ci]); got != want {
				return nil, fmt.Errorf("%s: row group %d, column %q: %d values for %d rows", name, g, cols[ci].name, got-want+int(rg.NumRows()), rg.NumRows())
			}
		}
	}
	return buildDataset(name, cols, rows, opts, func(row int, column, format string, args ...any) error {
		return fmt.Errorf("%s: row %d, column %q: %s", name, row+1, column, fmt.Sprintf(format, args...))
	})
}

// colLen returns how many values c holds.
func colLen(c *rawColumn) int {
	if c.isStr {
		return len(c.valid)
	}
	return len(c.num)
}

// readChunk appends a column chunk's values to c.
func readChunk(ch parquet.ColumnChunk, c *rawColumn, buf []parquet.Value) error {
	pages := ch.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				appendValue(c, v)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return err
			}
		}
		parquet.Release(p)
	}
}

// appendValue appends one value to c; nulls are missing.
func appendValue(c *rawColumn, v parquet.Value) {
	if c.isStr {
		if v.IsNull() {
			c.str, c.valid = append(c.str, ""), append(c.valid, false)
			return
		}
		c.str, c.valid = append(c.str, string(v.ByteArray())), append(c.valid, true)
		return
	}
	x := math.NaN()
	if !v.IsNull() {
		switch v.Kind() {
		case parquet.Boolean:
			x = 0
			if v.Boolean() {
				x = 1
			}
		case parquet.Int32:
			x = float64(v.Int32())
		case parquet.Int64:
			x = float64(v.Int64())
		case parquet.Float:
			x = float64(v.Float())
		case parquet.Double:
			x = v.Double()
		}
	}
	c.num = append(c.num, x)
}

// ParquetColumns returns the top-level column names of a Parquet file.
func ParquetColumns(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read parquet columns: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read parquet columns of %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		return nil, fmt.Errorf("%s: open parquet: %w", path, err)
	}
	var names []string
	for _, fd := range pf.Schema().Fields() {
		names = append(names, fd.Name())
	}
	return names, nil
}
