package train

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadCSVBasic(t *testing.T) {
	in := "\xef\xbb\xbfid,x,c,y\r\n" +
		"a,1.5,red,yes\r\n" +
		"b,NA,\"blue, dark\",no\r\n" +
		"\n" +
		"c,-2e3,,yes\n" +
		"d,nan,\"multi\nline \"\"q\"\"\",no" // no trailing newline
	ds, err := ReadCSV(strings.NewReader(in), CSVOptions{Target: "y", ID: "id", Name: "t.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Rows != 4 || len(ds.Names) != 2 || ds.Names[0] != "x" || ds.Names[1] != "c" {
		t.Fatalf("shape: rows %d names %v", ds.Rows, ds.Names)
	}
	if ds.Kinds[0] != Numeric || ds.Kinds[1] != Categorical {
		t.Fatalf("kinds %v", ds.Kinds)
	}
	x := ds.Num[0]
	if x[0] != 1.5 || !math.IsNaN(x[1]) || x[2] != -2000 || !math.IsNaN(x[3]) {
		t.Fatalf("x = %v", x)
	}
	want := []string{"red", "blue, dark", "multi\nline \"q\""}
	if fmt.Sprint(ds.Levels[1]) != fmt.Sprint(want) {
		t.Fatalf("levels %q", ds.Levels[1])
	}
	if fmt.Sprint(ds.Codes[1]) != "[0 1 -1 2]" {
		t.Fatalf("codes %v", ds.Codes[1])
	}
	if fmt.Sprint(ds.TargetLevels) != "[no yes]" || fmt.Sprint(ds.Target) != "[1 0 1 0]" {
		t.Fatalf("target %v %v", ds.TargetLevels, ds.Target)
	}
	if fmt.Sprint(ds.IDs) != "[a b c d]" {
		t.Fatalf("ids %v", ds.IDs)
	}
}

func TestReadCSVTargets(t *testing.T) {
	cases := []struct {
		name, col string
		opts      CSVOptions
		levels    string
		target    string
	}{
		{"zero-one", "1\n0\n1", CSVOptions{}, "[0 1]", "[1 0 1]"},
		{"bool", "true\nfalse\ntrue", CSVOptions{}, "[false true]", "[1 0 1]"},
		{"strings", "dog\ncat\ndog", CSVOptions{}, "[cat dog]", "[1 0 1]"},
		{"multiclass numeric sorted numerically", "10\n2\n1\n2", CSVOptions{}, "[1 2 10]", "[2 1 0 1]"},
		{"multiclass strings", "b\nc\na", CSVOptions{}, "[a b c]", "[1 2 0]"},
		{"regression", "1.5\n2\n-3", CSVOptions{Regression: true}, "[]", "[1.5 2 -3]"},
		{"fixed levels one class", "1\n1", CSVOptions{TargetLevels: []string{"0", "1"}}, "[0 1]", "[1 1]"},
		{"fixed levels numeric spelling", "1.0\n0", CSVOptions{TargetLevels: []string{"0", "1"}}, "[0 1]", "[1 0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := "x,y\n"
			for i, v := range strings.Split(c.col, "\n") {
				in += strconv.Itoa(i) + "," + v + "\n"
			}
			o := c.opts
			o.Target = "y"
			ds, err := ReadCSV(strings.NewReader(in), o)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(ds.TargetLevels); got != c.levels {
				t.Errorf("levels %s, want %s", got, c.levels)
			}
			if got := fmt.Sprint(ds.Target); got != c.target {
				t.Errorf("target %s, want %s", got, c.target)
			}
		})
	}
}

func TestReadCSVOptions(t *testing.T) {
	in := "a;b;c;d\n1;2;x;9\n3;4;y;9\n"
	ds, err := ReadCSV(strings.NewReader(in), CSVOptions{Delimiter: ';', Categorical: []string{"a"}, Numeric: []string{}, Exclude: []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ds.Names) != "[a b c]" || ds.Kinds[0] != Categorical || ds.Kinds[1] != Numeric || ds.Kinds[2] != Categorical {
		t.Fatalf("names %v kinds %v", ds.Names, ds.Kinds)
	}
	if ds.Target != nil || ds.TargetLevels != nil || ds.IDs != nil {
		t.Fatal("no target/id expected")
	}
}

func TestReadCSVErrors(t *testing.T) {
	long := "a,b\n1," + strings.Repeat("x", 10<<20) + "\n"
	many := "x,y\n"
	for i := 0; i < 2000; i++ {
		many += "1,0\n"
	}
	stray := many + "oops,1\n"
	cases := []struct {
		name, in string
		opts     CSVOptions
		want     string
	}{
		{"empty file", "", CSVOptions{}, "d.csv: empty file"},
		{"header only", "x,y\n", CSVOptions{}, "d.csv:1: header only"},
		{"ragged row", "x,y\n1,2\n3\n", CSVOptions{}, "d.csv:3: 1 fields, header has 2"},
		{"ragged row late", many + "1,2,3\n", CSVOptions{}, "d.csv:2002: 3 fields, header has 2"},
		{"missing target", "x,y\n1,2\n", CSVOptions{Target: "z"}, "d.csv:1: target column \"z\" not found"},
		{"one class", "x,y\n1,1\n2,1\n", CSVOptions{Target: "y"}, "target column \"y\" has only one class (\"1\")"},
		{"one class strings", "x,y\nq,a\n2,a\n", CSVOptions{Target: "y"}, "only one class"},
		{"non-utf8 value", "x,y\nab,1\n\xff\xfe,2\n", CSVOptions{}, "d.csv:3: column \"x\": value is not valid UTF-8"},
		{"non-utf8 header", "x,\xff\n1,2\n", CSVOptions{}, "d.csv:1: header field 2 is not valid UTF-8"},
		{"10 MB line", long, CSVOptions{}, "d.csv:2: line longer than"},
		{"stray string far down", stray, CSVOptions{}, "d.csv:2002: column \"x\": value \"oops\" is not a number"},
		{"infinity", "x,y\n1,2\ninf,3\n", CSVOptions{}, "d.csv:3: column \"x\": infinite value"},
		{"infinity overflow", "x,y\n1,2\n1e999,3\n", CSVOptions{}, "d.csv:3: column \"x\": infinite value"},
		{"duplicate column", "x,y,x\n1,2,3\n", CSVOptions{}, "d.csv:1: duplicate column name \"x\""},
		{"missing target value", "x,y\n1,0\n2,\n", CSVOptions{Target: "y"}, "d.csv:3: target column \"y\": missing value"},
		{"unterminated quote", "x,y\n1,\"abc\n", CSVOptions{}, "d.csv:2: unterminated quoted field"},
		{"garbage after quote", "x,y\n1,\"ab\"c\n", CSVOptions{}, "d.csv:2: unexpected 'c' after closing quote"},
		{"unknown override", "x,y\n1,2\n", CSVOptions{Categorical: []string{"q"}}, "unknown column \"q\""},
		{"regression strings", "x,y\n1,a\n", CSVOptions{Target: "y", Regression: true}, "not numeric"},
		{"unknown class", "x,y\n1,2\n", CSVOptions{Target: "y", TargetLevels: []string{"0", "1"}}, "d.csv:2: target column \"y\": label \"2\""},
		{"bad delimiter", "x\n1\n", CSVOptions{Delimiter: 'é'}, "delimiter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			o.Name = "d.csv"
			_, err := ReadCSV(strings.NewReader(c.in), o)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseFloatFastExact(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200000; i++ {
		var s string
		switch i % 4 {
		case 0:
			s = strconv.FormatFloat(rng.NormFloat64()*100, 'g', 6, 64)
		case 1:
			s = strconv.FormatFloat(rng.NormFloat64(), 'f', rng.Intn(12), 64)
		case 2:
			s = strconv.FormatFloat(rng.ExpFloat64()*1e10, 'e', rng.Intn(16), 64)
		default:
			s = strconv.FormatFloat(rng.NormFloat64()*1e-5, 'g', -1, 64)
		}
		want, _ := strconv.ParseFloat(s, 64)
		got, err := parseNumber([]byte(s))
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: got %v (%v), want %v", s, got, err, want)
		}
		// the in-place scanner of the parallel reader agrees when it accepts
		if v, n, ok := scanAt([]byte("7,"+s+",9"), 2, ','); ok && (n != len(s)+2 || math.Float64bits(v) != math.Float64bits(want)) {
			t.Fatalf("scanAt(%q) = %v, %d", s, v, n)
		}
		// digits beyond the slice's length (within its capacity) are not read
		if v, n, ok := scanAt([]byte(s + "12345678")[:len(s)], 0, ','); ok && (n != len(s) || math.Float64bits(v) != math.Float64bits(want)) {
			t.Fatalf("scanAt(%q) with digits past the end = %v, %d", s, v, n)
		}
	}
	for _, s := range []string{"-0", "0.000", "+7", "1e22", "9007199254740993", "123456789012345678901234", ".5", "5.", "1e-300"} {
		want, _ := strconv.ParseFloat(s, 64)
		got, err := parseNumber([]byte(s))
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: got %v (%v), want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"1.2.3", "e5", "-", "1e", "0x", "abc"} {
		if _, err := parseNumber([]byte(s)); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("a,b,y\n1,x,0\n2,\"q,\"\"r\",1\n"), 2)
	f.Add([]byte("a\n\"\n"), 1)
	f.Add([]byte("x,y\n1,NA\n,2\r\n"), 0)
	f.Fuzz(func(t *testing.T, b []byte, infer int) {
		ds, err := ReadCSV(bytes.NewReader(b), CSVOptions{InferRows: infer % 5})
		// the parallel reader (tiny blocks) agrees with the sequential one
		seq, serr := readCSV(bytes.NewReader(b), CSVOptions{InferRows: infer % 5}, 1, 0)
		par, perr := readCSV(bytes.NewReader(b), CSVOptions{InferRows: infer % 5}, 3, 8+infer%64)
		if fmt.Sprint(serr) != fmt.Sprint(perr) || fmt.Sprint(serr) != fmt.Sprint(err) {
			t.Fatalf("errors differ: sequential %v, parallel %v, ReadCSV %v", serr, perr, err)
		}
		if err != nil {
			return
		}
		if d := datasetDiff(seq, par); d != "" {
			t.Fatalf("parallel differs: %s", d)
		}
		for i, k := range ds.Kinds {
			if k == Numeric && len(ds.Num[i]) != ds.Rows {
				t.Fatalf("column %d: %d values, %d rows", i, len(ds.Num[i]), ds.Rows)
			}
			if k == Categorical {
				if len(ds.Codes[i]) != ds.Rows {
					t.Fatalf("column %d: %d codes, %d rows", i, len(ds.Codes[i]), ds.Rows)
				}
				for _, c := range ds.Codes[i] {
					if c < -1 || int(c) >= len(ds.Levels[i]) {
						t.Fatalf("code %d out of range", c)
					}
				}
			}
			if k == Numeric {
				for _, v := range ds.Num[i] {
					if math.IsInf(v, 0) {
						t.Fatal("infinity stored")
					}
				}
			}
		}
	})
}

// writeHiggsLike writes a numeric CSV like the bench data (6 significant digits).
func writeHiggsLike(rows, cols int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	var b bytes.Buffer
	b.WriteString("label")
	for j := 0; j < cols; j++ {
		fmt.Fprintf(&b, ",f%d", j)
	}
	b.WriteByte('\n')
	buf := make([]byte, 0, 32)
	for i := 0; i < rows; i++ {
		b.WriteString(strconv.Itoa(rng.Intn(2)))
		for j := 0; j < cols; j++ {
			b.WriteByte(',')
			buf = strconv.AppendFloat(buf[:0], rng.NormFloat64()*float64(1+j%5), 'g', 6, 64)
			b.Write(buf)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkReadCSV(b *testing.B) {
	data := writeHiggsLike(100000, 28, 1)
	if p := os.Getenv("DRIFTD_BENCH_CSV"); p != "" {
		var err error
		if data, err = os.ReadFile(filepath.Clean(p)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := ReadCSV(bytes.NewReader(data), CSVOptions{Target: "label"}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0, len(data))
}

func BenchmarkReadCSVSequential(b *testing.B) {
	data := writeHiggsLike(100000, 28, 1)
	if p := os.Getenv("DRIFTD_BENCH_CSV"); p != "" {
		var err error
		if data, err = os.ReadFile(filepath.Clean(p)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := readCSV(bytes.NewReader(data), CSVOptions{Target: "label"}, 1, 0); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0, len(data))
}

// reportCPU reports MB parsed per CPU-second since cpu0 as "cpuMB/s".
func reportCPU(b *testing.B, cpu0 time.Duration, size int) {
	if d := cpuTime() - cpu0; d > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/d.Seconds()/1e6, "cpuMB/s")
	}
}
