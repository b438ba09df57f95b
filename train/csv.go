package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"unicode/utf8"
)

// ColumnKind is the type of a feature column.
type ColumnKind int

const (
	// Numeric columns hold float64 values (NaN = missing).
	Numeric ColumnKind = iota
	// Categorical columns hold level codes (-1 = missing).
	Categorical
)

// String returns "numeric" or "categorical".
func (k ColumnKind) String() string {
	if k == Categorical {
		return "categorical"
	}
	return "numeric"
}

// maxClasses bounds the distinct target values of a classification target.
const maxClasses = 1000

// CSVOptions controls ReadCSV.
type CSVOptions struct {
	// Delimiter separates fields (default ','); it must be one ASCII byte.
	Delimiter rune
	// Target names the label column ("" = no target).
	Target string
	// ID names a column carried as Dataset.IDs, not learned ("" = none).
	ID string
	// Categorical and Numeric force column types.
	Categorical, Numeric []string
	// Exclude lists columns ignored entirely.
	Exclude []string
	// InferRows is the number of rows used to infer column types (default 1000).
	InferRows int
	// Name is the file name used in error messages (default "input").
	Name string
	// Regression reads the target as a numeric value instead of class labels.
	Regression bool
	// TargetLevels fixes the class mapping (e.g. a model's Classes() when
	// reading a test file); values outside it are an error.
	TargetLevels []string
}

// Dataset is a columnar table read from CSV.
type Dataset struct {
	// Names are the feature column names (target, ID and excluded columns removed).
	Names []string
	// Kinds are the feature column types.
	Kinds []ColumnKind
	// Num holds numeric columns (nil for categorical ones); NaN = missing.
	Num [][]float64
	// Codes holds categorical columns (nil for numeric ones); -1 = missing.
	Codes [][]int32
	// Levels holds each categorical column's levels (index = code).
	Levels [][]string
	// Target is the class index or regression value per row (nil without target).
	Target []float64
	// TargetLevels are the class names in class-index order (nil for regression).
	TargetLevels []string
	// IDs are the ID column values (nil without ID column).
	IDs []string
	// Rows is the number of data rows.
	Rows int
}

// ReadCSVFile reads a CSV file; see ReadCSV.
func ReadCSVFile(path string, opts CSVOptions) (*Dataset, error) {
	return ReadCSVFileContext(context.Background(), path, opts)
}

// ReadCSVFileContext reads a CSV file like ReadCSVFile and stops with an
// error wrapping ctx.Err() soon after ctx ends; see ReadCSVContext.
func ReadCSVFileContext(ctx context.Context, path string, opts CSVOptions) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	defer f.Close()
	if opts.Name == "" {
		opts.Name = path
	}
	return ReadCSVContext(ctx, f, opts)
}

// column roles in the source file.
const (
	roleSkip = iota
	roleFeature
	roleTarget
	roleID
)

type srcCol struct {
	role    int
	name    string
	feat    int // feature index for roleFeature
	numeric bool
	levels  map[string]int32
}

// csvReader holds the state of one ReadCSV call.
type csvReader struct {
	opts   CSVOptions
	sc     *scanner
	cols   []srcCol
	ds     *Dataset
	tgtNum bool
	// classification target bookkeeping
	tgtCodes  map[string]int32   // categorical target levels (first-seen order)
	tgtVals   map[float64]string // numeric target distinct values
	tgtLines  map[string]int     // first line of each distinct label
	tgtLevels []string
	// parallel parsing of the rows after type inference (csv_chunk.go)
	workers    int
	chunkBytes int
	inputSize  int64           // bytes in the input when known (0 = unknown)
	src        io.Reader       // the caller's reader, for its size (sc.r may wrap it)
	ctx        context.Context // ends the read (through sc.r, and between blocks)
}

// ReadCSV reads a CSV stream with a header row into a columnar Dataset.
// Errors name the file, line and column.
func ReadCSV(r io.Reader, opts CSVOptions) (*Dataset, error) {
	return ReadCSVContext(context.Background(), r, opts)
}

// ReadCSVContext is ReadCSV that stops with an error wrapping ctx.Err() soon
// after ctx ends: every read of the input (blocks of 1 to 8 MB) first checks
// ctx, and so does the parallel reader before each block it parses or
// merges. Reading a 1 GB file on 2 cores, it returned 5-20 ms after a cancel
// (train's TestReadCSVContextCancel checks that nothing is read after it).
// Errors name the file, line and column.
func ReadCSVContext(ctx context.Context, r io.Reader, opts CSVOptions) (*Dataset, error) {
	return readCSVContext(ctx, r, opts, runtime.GOMAXPROCS(0), defaultChunkBytes)
}

// readCSV is ReadCSV with an explicit worker count and chunk size (tests
// compare workers == 1, the sequential reader, with the parallel one).
func readCSV(r io.Reader, opts CSVOptions, workers, chunkBytes int) (*Dataset, error) {
	return readCSVContext(context.Background(), r, opts, workers, chunkBytes)
}

// readCSVContext is ReadCSVContext with an explicit worker count and chunk size.
func readCSVContext(ctx context.Context, r io.Reader, opts CSVOptions, workers, chunkBytes int) (*Dataset, error) {
	if opts.Delimiter == 0 {
		opts.Delimiter = ','
	}
	if opts.Delimiter >= utf8.RuneSelf || opts.Delimiter == '"' || opts.Delimiter == '\n' || opts.Delimiter == '\r' {
		return nil, fmt.Errorf("read csv: delimiter %q must be one ASCII character other than quote or newline", opts.Delimiter)
	}
	if opts.InferRows <= 0 {
		opts.InferRows = 1000
	}
	if opts.Name == "" {
		opts.Name = "input"
	}
	src := r
	if ctx.Done() != nil {
		r = ctxReader{ctx: ctx, r: r}
	}
	cr := &csvReader{opts: opts, sc: newScanner(r, opts.Name, byte(opts.Delimiter)), ds: &Dataset{}, workers: workers, chunkBytes: chunkBytes, src: src, ctx: ctx}
	if err := cr.header(); err != nil {
		return nil, err
	}
	if err := cr.body(); err != nil {
		return nil, err
	}
	if err := cr.finishTarget(); err != nil {
		return nil, err
	}
	return cr.ds, nil
}

// ctxReader fails every Read with ctx's error once ctx has ended. Both the
// scanner and the parallel block reader read through it, so a cancelled read
// stops within one block.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (cr *csvReader) header() error {
	rec, err := cr.sc.next()
	if err == io.EOF {
		return fmt.Errorf("%s: empty file: a header row is required", cr.opts.Name)
	}
	if err != nil {
		return err
	}
	line := cr.sc.recLine
	seen := map[string]int{}
	for i, f := range rec {
		if !utf8.Valid(f) {
			return cr.sc.errorf(line, "header field %d is not valid UTF-8", i+1)
		}
		name := string(trimSpace(f))
		if name == "" {
			name = "column_" + strconv.Itoa(i+1)
		}
		if j, dup := seen[name]; dup {
			return cr.sc.errorf(line, "duplicate column name %q (columns %d and %d)", name, j+1, i+1)
		}
		seen[name] = i
		cr.cols = append(cr.cols, srcCol{role: roleFeature, name: name})
	}
	mark := func(names []string, what string, fn func(c *srcCol) error) error {
		for _, n := range names {
			i, ok := seen[n]
			if !ok {
				return cr.sc.errorf(line, "%s column %q not found in header", what, n)
			}
			if err := fn(&cr.cols[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := mark(cr.opts.Exclude, "excluded", func(c *srcCol) error { c.role = roleSkip; return nil }); err != nil {
		return err
	}
	if cr.opts.Target != "" {
		if err := mark([]string{cr.opts.Target}, "target", func(c *srcCol) error {
			if c.role == roleSkip {
				return cr.sc.errorf(line, "target column %q is also excluded", c.name)
			}
			c.role = roleTarget
			return nil
		}); err != nil {
			return err
		}
	}
	if cr.opts.ID != "" {
		if err := mark([]string{cr.opts.ID}, "id", func(c *srcCol) error {
			if c.role == roleTarget {
				return cr.sc.errorf(line, "column %q cannot be both target and id", c.name)
			}
			c.role = roleID
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// body infers column types from the first rows, then streams the rest.
func (cr *csvReader) body() error {
	// Buffer the inference rows as copies (bounded by InferRows).
	var arena []byte
	var ends [][]int
	var lines []int
	width := len(cr.cols)
	for len(lines) < cr.opts.InferRows {
		rec, err := cr.sc.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if len(rec) != width {
			return cr.sc.errorf(cr.sc.recLine, "%d fields, header has %d", len(rec), width)
		}
		e := make([]int, width)
		for i, f := range rec {
			arena = append(arena, f...)
			e[i] = len(arena)
		}
		ends = append(ends, e)
		lines = append(lines, cr.sc.recLine)
	}
	if len(lines) == 0 {
		return fmt.Errorf("%s:1: header only, no data rows", cr.opts.Name)
	}
	if err := cr.inferKinds(arena, ends); err != nil {
		return err
	}
	cr.reserve(len(arena), len(lines))
	rec := make([][]byte, width)
	prev := 0
	for r, e := range ends {
		for i := range rec {
			rec[i] = arena[prev:e[i]]
			prev = e[i]
		}
		if err := cr.row(rec, lines[r]); err != nil {
			return err
		}
	}
	if cr.workers > 1 {
		return cr.parallelRest()
	}
	return cr.sequentialRest()
}

// sequentialRest reads the remaining records one by one on this goroutine.
func (cr *csvReader) sequentialRest() error {
	width := len(cr.cols)
	for {
		rec, err := cr.sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec) != width {
			return cr.sc.errorf(cr.sc.recLine, "%d fields, header has %d", len(rec), width)
		}
		if err := cr.row(rec, cr.sc.recLine); err != nil {
			return err
		}
	}
}

// reserve preallocates the columns when the input size is known (a file or
// an in-memory reader), estimating rows from the inference rows' size.
func (cr *csvReader) reserve(sampleBytes, sampleRows int) {
	var size int64
	switch r := cr.src.(type) {
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	case interface{ Len() int }:
		size = int64(r.Len()) + int64(cr.sc.end-cr.sc.start)
	}
	cr.inputSize = size
	// the arena holds the fields without delimiters: add them back
	perRow := float64(sampleBytes+sampleRows*len(cr.cols)) / float64(sampleRows)
	if size <= 0 || perRow <= 0 {
		return
	}
	rows := int(float64(size)/perRow*1.1) + 16
	if rows > 1<<28 {
		return
	}
	ds := cr.ds
	for f := range ds.Names {
		// A column of a 1 GB file takes ~35 ms to allocate; a cancelled
		// read stops reserving (its next read fails).
		if cr.ctx.Err() != nil {
			return
		}
		if ds.Num[f] != nil {
			ds.Num[f] = growUncleared(ds.Num[f], rows)
		} else {
			ds.Codes[f] = growUncleared(ds.Codes[f], rows)
		}
	}
	if cr.opts.Target != "" {
		ds.Target = growUncleared(ds.Target, rows)
	}
}

// growUncleared is slices.Grow for the big column arrays: slices.Grow
// clears the new capacity, touching every page of memory the rows are
// about to overwrite; a fresh array from make comes from zeroed pages the
// runtime need not clear, so the pages are touched once, by the rows.
func growUncleared[E any](s []E, n int) []E {
	if cap(s)-len(s) >= n {
		return s
	}
	out := make([]E, len(s), len(s)+n)
	copy(out, s)
	return out
}

func (cr *csvReader) inferKinds(arena []byte, ends [][]int) error {
	forced := map[string]ColumnKind{}
	for _, n := range cr.opts.Categorical {
		forced[n] = Categorical
	}
	for _, n := range cr.opts.Numeric {
		if k, ok := forced[n]; ok && k == Categorical {
			return fmt.Errorf("%s: column %q is forced both numeric and categorical", cr.opts.Name, n)
		}
		forced[n] = Numeric
	}
	idx := map[string]int{}
	for i, c := range cr.cols {
		idx[c.name] = i
	}
	for n := range forced {
		if _, ok := idx[n]; !ok {
			return fmt.Errorf("%s:1: type override names unknown column %q", cr.opts.Name, n)
		}
	}
	for i := range cr.cols {
		c := &cr.cols[i]
		if c.role == roleSkip || c.role == roleID {
			continue
		}
		if k, ok := forced[c.name]; ok {
			c.numeric = k == Numeric
		} else {
			c.numeric = true
			prev := 0
			for _, e := range ends {
				start := prev
				if i > 0 {
					start = e[i-1]
				}
				f := trimSpace(arena[start:e[i]])
				prev = e[len(e)-1]
				if isMissing(f) {
					continue
				}
				if _, err := parseNumber(f); errors.Is(err, errNotNumber) {
					c.numeric = false
					break
				}
			}
		}
		switch c.role {
		case roleFeature:
			c.feat = len(cr.ds.Names)
			cr.ds.Names = append(cr.ds.Names, c.name)
			if c.numeric {
				cr.ds.Kinds = append(cr.ds.Kinds, Numeric)
				cr.ds.Num = append(cr.ds.Num, make([]float64, 0, 1024))
				cr.ds.Codes = append(cr.ds.Codes, nil)
				cr.ds.Levels = append(cr.ds.Levels, nil)
			} else {
				c.levels = map[string]int32{}
				cr.ds.Kinds = append(cr.ds.Kinds, Categorical)
				cr.ds.Num = append(cr.ds.Num, nil)
				cr.ds.Codes = append(cr.ds.Codes, make([]int32, 0, 1024))
				cr.ds.Levels = append(cr.ds.Levels, []string{})
			}
		case roleTarget:
			cr.tgtNum = c.numeric
			if cr.opts.Regression && !c.numeric {
				return fmt.Errorf("%s: target column %q is not numeric; regression needs numbers", cr.opts.Name, c.name)
			}
			cr.tgtLines = map[string]int{}
			if c.numeric {
				cr.tgtVals = map[float64]string{}
			} else {
				cr.tgtCodes = map[string]int32{}
			}
		}
	}
	return nil
}

func valueForError(f []byte) string {
	if len(f) > 40 {
		f = f[:40]
	}
	return strconv.Quote(string(f))
}

// row appends one record to the dataset.
func (cr *csvReader) row(rec [][]byte, line int) error {
	ds := cr.ds
	for i := range rec {
		c := &cr.cols[i]
		switch c.role {
		case roleSkip:
			continue
		case roleFeature:
			if c.numeric {
				f := trimSpace(rec[i])
				v := math.NaN()
				if !isMissing(f) {
					var err error
					if v, err = parseNumber(f); err != nil {
						return cr.cellError(line, c, f, err)
					}
				}
				ds.Num[c.feat] = append(ds.Num[c.feat], v)
				continue
			}
			f := rec[i]
			code := int32(-1)
			if !isMissing(trimSpace(f)) {
				var ok bool
				if code, ok = c.levels[string(f)]; !ok {
					if !utf8.Valid(f) {
						return cr.sc.errorf(line, "column %q: value is not valid UTF-8", c.name)
					}
					code = int32(len(c.levels))
					s := string(f)
					c.levels[s] = code
					ds.Levels[c.feat] = append(ds.Levels[c.feat], s)
				}
			}
			ds.Codes[c.feat] = append(ds.Codes[c.feat], code)
		case roleTarget:
			if err := cr.target(rec[i], line, c); err != nil {
				return err
			}
		case roleID:
			if !utf8.Valid(rec[i]) {
				return cr.sc.errorf(line, "column %q: value is not valid UTF-8", c.name)
			}
			ds.IDs = append(ds.IDs, string(rec[i]))
		}
	}
	ds.Rows++
	return nil
}

func (cr *csvReader) cellError(line int, c *srcCol, f []byte, err error) error {
	return cr.sc.errorf(line, "%s", cellMsg(c.name, f, err))
}

// cellMsg describes a numeric cell that failed to parse (without file:line).
func cellMsg(name string, f []byte, err error) string {
	if errors.Is(err, errInfinite) {
		return fmt.Sprintf("column %q: infinite value %s", name, valueForError(f))
	}
	if !utf8.Valid(f) {
		return fmt.Sprintf("column %q: value is not valid UTF-8", name)
	}
	return fmt.Sprintf("column %q: value %s is not a number (the column is numeric from its first rows; force it with a categorical override)", name, valueForError(f))
}

// Subset returns the rows of ds listed in rows (in that order) as a new
// data set sharing ds's names, kinds and levels.
func (ds *Dataset) Subset(rows []int) *Dataset {
	out := &Dataset{Names: ds.Names, Kinds: ds.Kinds, Levels: ds.Levels, TargetLevels: ds.TargetLevels, Rows: len(rows)}
	out.Num = make([][]float64, len(ds.Num))
	out.Codes = make([][]int32, len(ds.Codes))
	for j := range ds.Names {
		if c := ds.Num[j]; c != nil {
			v := make([]float64, len(rows))
			for i, r := range rows {
				v[i] = c[r]
			}
			out.Num[j] = v
		}
		if c := ds.Codes[j]; c != nil {
			v := make([]int32, len(rows))
			for i, r := range rows {
				v[i] = c[r]
			}
			out.Codes[j] = v
		}
	}
	if ds.Target != nil {
		out.Target = make([]float64, len(rows))
		for i, r := range rows {
			out.Target[i] = ds.Target[r]
		}
	}
	if ds.IDs != nil {
		out.IDs = make([]string, len(rows))
		for i, r := range rows {
			out.IDs[i] = ds.IDs[r]
		}
	}
	return out
}
