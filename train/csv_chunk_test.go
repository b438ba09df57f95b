package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// genMixedCSV writes rows of: id, a numeric column with missing values and
// padding, a categorical column whose levels keep appearing down the file, a
// numeric column, and a target (numeric 0/1 or string labels). quoteAt > 0
// puts a quoted field with a newline on that row; badAt > 0 puts a stray
// string in the numeric column on that row.
func genMixedCSV(rows int, seed int64, crlf, strTarget bool, quoteAt, badAt int) []byte {
	rng := rand.New(rand.NewSource(seed))
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	var b bytes.Buffer
	b.WriteString("id,x,c,z,y" + eol)
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "r%d,", i)
		switch {
		case i == badAt:
			b.WriteString("oops")
		case rng.Intn(10) == 0:
			b.WriteString([]string{"", "NA", " nan ", "null"}[rng.Intn(4)])
		default:
			b.WriteString(strconv.FormatFloat(rng.NormFloat64()*1e3, 'g', -1, 64))
		}
		b.WriteByte(',')
		switch {
		case i == quoteAt:
			b.WriteString("\"multi\nline, \"\"quoted\"\"\"")
		case rng.Intn(12) == 0:
			b.WriteString("NA")
		default:
			fmt.Fprintf(&b, "lvl%d", rng.Intn(1+i/20))
		}
		fmt.Fprintf(&b, ", %d ,", rng.Intn(1000)-500)
		if strTarget {
			b.WriteString([]string{"cat", "dog", "emu"}[rng.Intn(3)])
		} else {
			b.WriteString(strconv.Itoa(rng.Intn(2)))
		}
		b.WriteString(eol)
		if rng.Intn(50) == 0 {
			b.WriteString(eol) // blank line
		}
	}
	return b.Bytes()
}

// datasetDiff describes the first difference between two datasets ("" = equal,
// NaN equal to NaN bit for bit).
func datasetDiff(a, b *Dataset) string {
	if a.Rows != b.Rows || fmt.Sprint(a.Names, a.Kinds, a.Levels, a.TargetLevels) != fmt.Sprint(b.Names, b.Kinds, b.Levels, b.TargetLevels) {
		return fmt.Sprintf("shape: %d %v %v %v vs %d %v %v %v", a.Rows, a.Names, a.Kinds, a.TargetLevels, b.Rows, b.Names, b.Kinds, b.TargetLevels)
	}
	floats := func(what string, x, y []float64) string {
		if len(x) != len(y) || (x == nil) != (y == nil) {
			return fmt.Sprintf("%s: %d vs %d values", what, len(x), len(y))
		}
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				return fmt.Sprintf("%s[%d]: %v vs %v", what, i, x[i], y[i])
			}
		}
		return ""
	}
	for f := range a.Names {
		if d := floats("column "+a.Names[f], a.Num[f], b.Num[f]); d != "" {
			return d
		}
		if fmt.Sprint(a.Codes[f]) != fmt.Sprint(b.Codes[f]) {
			return "codes of " + a.Names[f]
		}
	}
	if d := floats("target", a.Target, b.Target); d != "" {
		return d
	}
	if strings.Join(a.IDs, "|") != strings.Join(b.IDs, "|") || (a.IDs == nil) != (b.IDs == nil) {
		return "ids"
	}
	return ""
}

// readerOnly hides Len and Stat: a non-seekable stream of unknown size.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// checkParallel reads data sequentially and in parallel with several worker
// counts and block sizes and fails unless the results (or errors) agree.
func checkParallel(t *testing.T, data []byte, opts CSVOptions) (*Dataset, error) {
	t.Helper()
	want, wantErr := readCSV(bytes.NewReader(data), opts, 1, 0)
	for _, w := range []int{2, 3, 8} {
		for _, chunk := range []int{100, 4096, 1 << 20} {
			got, err := readCSV(readerOnly{iotest.HalfReader(bytes.NewReader(data))}, opts, w, chunk)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("workers %d chunk %d: error %v, sequential %v", w, chunk, err, wantErr)
			}
			if err == nil {
				if d := datasetDiff(want, got); d != "" {
					t.Fatalf("workers %d chunk %d: %s", w, chunk, d)
				}
			}
		}
	}
	return want, wantErr
}

func TestReadCSVParallelEqualsSequential(t *testing.T) {
	cases := []struct {
		name            string
		crlf, strTarget bool
		quoteAt, badAt  int
		opts            CSVOptions
		wantErr         string
	}{
		{name: "numeric target", opts: CSVOptions{Target: "y", ID: "id"}},
		{name: "crlf string target", crlf: true, strTarget: true, opts: CSVOptions{Target: "y", ID: "id"}},
		{name: "no target", opts: CSVOptions{Exclude: []string{"id"}}},
		{name: "regression", opts: CSVOptions{Target: "z", Regression: true, ID: "id"}},
		{name: "forced categorical", opts: CSVOptions{Target: "y", Exclude: []string{"id"}, Categorical: []string{"z"}}},
		{name: "quoted field far down", quoteAt: 3500, opts: CSVOptions{Target: "y", ID: "id"}},
		{name: "quoted field and crlf", crlf: true, quoteAt: 2100, strTarget: true, opts: CSVOptions{Target: "y"}},
		{name: "error far down", badAt: 4321, opts: CSVOptions{Target: "y", ID: "id"}, wantErr: `d.csv:43`},
		{name: "error after quote", quoteAt: 1500, badAt: 4000, opts: CSVOptions{Target: "y"}, wantErr: `column "x": value "oops" is not a number`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := genMixedCSV(5000, 7, c.crlf, c.strTarget, c.quoteAt, c.badAt)
			o := c.opts
			o.Name = "d.csv"
			o.InferRows = 100
			ds, err := checkParallel(t, data, o)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Rows != 5000 {
				t.Fatalf("rows %d", ds.Rows)
			}
		})
	}
}

func TestReadCSVParallelFirstErrorWins(t *testing.T) {
	// Two bad rows: the later one is in a block a worker may finish first.
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := 2; i <= 20000; i++ {
		switch i {
		case 15000:
			b.WriteString("1,2,3\n")
		case 19990:
			b.WriteString("late,1\n")
		default:
			b.WriteString("1.5,0\n")
		}
	}
	_, err := checkParallel(t, []byte(b.String()), CSVOptions{Name: "d.csv"})
	if err == nil || err.Error() != "d.csv:15000: 3 fields, header has 2" {
		t.Fatalf("error %v", err)
	}
}

func TestReadCSVParallelClassLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&b, "%d,%d\n", i, i%1200)
	}
	_, err := checkParallel(t, []byte(b.String()), CSVOptions{Name: "d.csv", Target: "y", InferRows: 10})
	if err == nil || !strings.HasPrefix(err.Error(), "d.csv:1002: target column \"y\": more than 1000 distinct values") {
		t.Fatalf("error %v", err)
	}
}

type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestReadCSVParallelReadError(t *testing.T) {
	data := genMixedCSV(3000, 3, false, false, 0, 0)
	for _, w := range []int{1, 2} {
		_, err := readCSV(&failAfter{r: bytes.NewReader(data), n: len(data) / 2}, CSVOptions{Name: "d.csv", Target: "y"}, w, 1000)
		if err == nil || err.Error() != "d.csv: read: disk on fire" {
			t.Fatalf("workers %d: error %v", w, err)
		}
	}
}

// BenchmarkCSVChunkParse measures one worker's speed on one block (no
// pipeline): the per-core figure behind the parallel reader.
func BenchmarkCSVChunkParse(b *testing.B) {
	data := writeHiggsLike(30000, 28, 1)
	body := data[bytes.IndexByte(data, '\n')+1:]
	p := &chunkParser{delim: ',', hasTarget: true, tgtNumeric: true, nfeat: 28}
	p.plan = append(p.plan, colPlan{role: roleTarget, name: "label", numeric: true})
	for f := 0; f < 28; f++ {
		p.plan = append(p.plan, colPlan{role: roleFeature, name: fmt.Sprint("f", f), feat: f, numeric: true})
	}
	var o chunkOut
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.parse(body, &o)
		if o.failed || o.rows != 30000 {
			b.Fatalf("rows %d, error %q", o.rows, o.errMsg)
		}
	}
}

// cancelAfter is a reader that cancels its context once n bytes have been
// read, and counts the bytes read after that.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
	after  int
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		n, err := c.r.Read(p)
		c.after += n
		return n, err
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// TestReadCSVContextCancel cancels the context half-way through the input:
// both readers stop with the context's error, and no byte is read after the
// cancellation.
func TestReadCSVContextCancel(t *testing.T) {
	data := genMixedCSV(20000, 5, false, false, 0, 0)
	cases := []struct {
		name           string
		workers, chunk int
	}{
		{"sequential", 1, 0},
		{"parallel", 3, 4096},
		{"parallel default chunk", 3, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &cancelAfter{r: bytes.NewReader(data), n: len(data) / 2, cancel: cancel}
			ds, err := readCSVContext(ctx, r, CSVOptions{Name: "d.csv", Target: "y"}, tc.workers, tc.chunk)
			if !errors.Is(err, context.Canceled) || ds != nil {
				t.Fatalf("got %v rows, error %v; want context.Canceled", ds, err)
			}
			if !strings.HasPrefix(err.Error(), "d.csv: read: ") {
				t.Errorf("error %q does not name the file", err)
			}
			if r.after != 0 {
				t.Errorf("%d bytes read after the context was cancelled", r.after)
			}
		})
	}
	// An uncancelled context reads everything, as ReadCSV does.
	want, err := ReadCSV(bytes.NewReader(data), CSVOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, err := ReadCSVContext(ctx, bytes.NewReader(data), CSVOptions{Target: "y"})
	if err != nil || got.Rows != want.Rows {
		t.Fatalf("with a live context: %v rows, %v; want %d rows", got, err, want.Rows)
	}
}
