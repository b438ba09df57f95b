package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var testSchema = Schema{Names: []string{"a", "b", "city"}, Categorical: []bool{false, false, true}}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; "" = success
		num     []float64
		cat     string
		id      string
	}{
		{"basic", `{"a":1.5,"b":-2,"city":"paris","id":"r1"}`, "", []float64{1.5, -2}, "paris", "r1"},
		{"numeric id, extra fields", `{"id":42,"x":{"y":[1,2,{"z":null}]},"a":0,"b":1e3,"city":7}`, "", []float64{0, 1000}, "7", "42"},
		{"null is missing", `{"a":null,"b":3,"city":null}`, "", []float64{math.NaN(), 3}, "", ""},
		{"whitespace", " \n{ \"a\" : 1 , \"b\" : 2 , \"city\" : \"x\" } \t", "", []float64{1, 2}, "x", ""},
		{"escaped", `{"a":1,"b":2,"city":"a\"b\u00e9","id":"\u0041"}`, "", []float64{1, 2}, "a\"bé", "A"},
		{"not object", `[1,2]`, "not a JSON object", nil, "", ""},
		{"missing", `{"a":1,"city":"x"}`, `missing feature "b"`, nil, "", ""},
		{"string for numeric", `{"a":"1","b":2,"city":"x"}`, `wrong type for field "a"`, nil, "", ""},
		{"bool for numeric", `{"a":true,"b":2,"city":"x"}`, `wrong type for field "a"`, nil, "", ""},
		{"object for categorical", `{"a":1,"b":2,"city":{}}`, `wrong type for field "city"`, nil, "", ""},
		{"huge number", `{"a":1e999,"b":2,"city":"x"}`, `non-finite number for field "a"`, nil, "", ""},
		{"truncated", `{"a":1,"b":2,"city":"x"`, "invalid JSON at byte 23", nil, "", ""},
		{"garbage", `hello`, "invalid JSON at byte 0", nil, "", ""},
		{"trailing", `{"a":1,"b":2,"city":"x"} x`, "invalid JSON at byte 25", nil, "", ""},
		{"bad id", `{"a":1,"b":2,"city":"x","id":[1]}`, `wrong type for field "id"`, nil, "", ""},
		{"bad ts", `{"a":1,"b":2,"city":"x","ts":"yesterday"}`, `invalid time for field "ts"`, nil, "", ""},
		{"leading zero", `{"a":01,"b":2,"city":"x"}`, "invalid JSON", nil, "", ""},
	}
	d := NewDecoder(testSchema)
	var out Decoded
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Decode([]byte(tc.in), &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.num {
				if g := out.Num[i]; g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
					t.Errorf("num[%d] = %v, want %v", i, g, w)
				}
			}
			if out.Cat[2] != tc.cat || out.ID != tc.id {
				t.Errorf("cat, id = %q, %q; want %q, %q", out.Cat[2], out.ID, tc.cat, tc.id)
			}
		})
	}
}

func TestDecodeTimestamps(t *testing.T) {
	d := NewDecoder(Schema{Names: []string{"a"}})
	var out Decoded
	want := time.Date(2024, 5, 1, 12, 0, 0, 500e6, time.UTC)
	for _, in := range []string{`{"a":1,"ts":"2024-05-01T12:00:00.5Z"}`, `{"a":1,"ts":1714564800500}`} {
		if err := d.Decode([]byte(in), &out); err != nil {
			t.Fatal(err)
		}
		if !out.HasTS || !out.TS.Equal(want) {
			t.Errorf("%s: ts = %v (%v), want %v", in, out.TS, out.HasTS, want)
		}
	}
}

func TestDecodeErrorField(t *testing.T) {
	d := NewDecoder(testSchema)
	var out Decoded
	err := d.Decode([]byte(`{"a":"x","b":1,"city":"y"}`), &out)
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "a" {
		t.Fatalf("err = %#v, want DecodeError for field a", err)
	}
	if err := d.Decode([]byte(`7`), &out); !errors.Is(err, ErrNotObject) {
		t.Fatalf("err = %v, want ErrNotObject", err)
	}
}

func TestDecodeAllocations(t *testing.T) {
	rec := benchRecord(28, 1)
	s := benchSchema(28)
	d := NewDecoder(s)
	var out Decoded
	_ = d.Decode(rec, &out)
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(rec, &out); err != nil {
			t.Fatal(err)
		}
	})
	// Only the id string is allocated.
	if allocs > 1 {
		t.Fatalf("allocs per decode = %v, want <= 1", allocs)
	}
}

func BenchmarkDecode(b *testing.B) {
	rec := benchRecord(28, 1)
	d := NewDecoder(benchSchema(28))
	var out Decoded
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if err := d.Decode(rec, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// reference decodes with encoding/json using the same rules as Decoder:
// every occurrence of a key is checked, the last one wins, with at most maxID
// bytes of id and maxFields top-level keys.
func reference(s Schema, b []byte, maxID, maxFields int) (*Decoded, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	idx := make(map[string]int, len(s.Names))
	for i, n := range s.Names {
		idx[n] = i
	}
	out := &Decoded{Num: make([]float64, len(s.Names)), Cat: make([]string, len(s.Names))}
	seen := make([]bool, len(s.Names))
	for keys := 1; dec.More(); keys++ {
		if keys > maxFields {
			return nil, false
		}
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		switch key {
		case "id":
			switch v := v.(type) {
			case nil:
			case string:
				out.ID = v
			case json.Number:
				out.ID = string(v)
			default:
				return nil, false
			}
			if len(out.ID) > maxID {
				return nil, false
			}
		case "ts":
			switch v := v.(type) {
			case nil:
			case string:
				t, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					return nil, false
				}
				out.TS, out.HasTS = t, true
			case json.Number:
				t, err := tsFromMillis([]byte(v))
				if err != nil {
					return nil, false
				}
				out.TS, out.HasTS = t, true
			default:
				return nil, false
			}
		}
		i, ok := idx[key]
		if !ok {
			continue
		}
		seen[i] = true
		out.Num[i], out.Cat[i] = math.NaN(), ""
		if s.Categorical[i] {
			switch v := v.(type) {
			case nil:
			case string:
				out.Cat[i] = v
			case json.Number:
				out.Cat[i] = string(v)
			case bool:
				out.Cat[i] = map[bool]string{true: "true", false: "false"}[v]
			default:
				return nil, false
			}
			continue
		}
		switch v := v.(type) {
		case nil:
		case json.Number:
			f, err := v.Float64()
			if err != nil || math.IsInf(f, 0) {
				return nil, false
			}
			out.Num[i] = f
		default:
			return nil, false
		}
	}
	for _, ok := range seen {
		if !ok {
			return nil, false
		}
	}
	return out, true
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1.5,"b":-2,"city":"paris","id":"r1"}`, `{"a":null,"b":0.1e-3,"city":12,"ts":1700000000000}`,
		`{"a":1,"b":2,"city":"x","ts":"2024-01-01T00:00:00Z","x":[{},[]]}`, `[]`, `{"a":"1"}`,
		`{"a":1e999,"b":1,"city":"x"}`, `{"a":1,"b":2,"city":"\ud800x\u00e9"}`, `{"a":1,"a":2,"b":3,"city":true}`,
		`{"id":{"x":1},"a":1,"b":1,"city":"q"}`, "{\"a\":1,\"b\":2,\"city\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"id":"0123456789","a":1,"b":2,"city":"x"}`))
	f.Add([]byte(`{"id":"\u00e9\u00e9\u00e9\u00e9\u00e9","a":1,"b":2,"city":"x"}`))
	f.Add([]byte(`{"a":1,"b":2,"city":"x","x":1,"y":2,"z":3}`))
	s := Schema{Names: []string{"a", "b", "city"}, Categorical: []bool{false, false, true}}
	// The default limits, and small ones that short inputs reach.
	small := NewDecoder(s)
	small.maxID, small.maxFields = 8, 5
	decoders := []*Decoder{NewDecoder(s), small}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, d := range decoders {
			checkDecode(t, d, b)
		}
	})
}

// checkDecode compares d's decoding of b with the reference decoder's.
func checkDecode(t *testing.T, d *Decoder, b []byte) {
	t.Helper()
	s := d.Schema()
	var got Decoded
	err := d.Decode(b, &got)
	want, ok := reference(s, b, d.maxID, d.maxFields)
	if !json.Valid(b) {
		if err == nil {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		return
	}
	if (err == nil) != ok {
		t.Fatalf("decode %q (max id %d, max fields %d): err = %v, reference ok = %v", b, d.maxID, d.maxFields, err, ok)
	}
	if !ok {
		return
	}
	for i := range s.Names {
		g, w := got.Num[i], want.Num[i]
		if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
			t.Fatalf("decode %q: num[%d] = %v, want %v", b, i, g, w)
		}
		if got.Cat[i] != want.Cat[i] {
			t.Fatalf("decode %q: cat[%d] = %q, want %q", b, i, got.Cat[i], want.Cat[i])
		}
	}
	if got.ID != want.ID || got.HasTS != want.HasTS || !got.TS.Equal(want.TS) {
		t.Fatalf("decode %q: id/ts = %q %v, want %q %v", b, got.ID, got.TS, want.ID, want.TS)
	}
}

func TestDecodeLimits(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"a":1,"b":2,"city":"x"`)
		for i := range n {
			fmt.Fprintf(&b, `,"k%d":0`, i)
		}
		return b.String() + "}"
	}
	long := strings.Repeat("x", MaxIDBytes)
	tests := []struct {
		name, in, wantErr string
	}{
		{"id at the limit", `{"id":"` + long + `","a":1,"b":2,"city":"x"}`, ""},
		{"id over the limit", `{"id":"` + long + `y","a":1,"b":2,"city":"x"}`, `field "id" is too long: 257 bytes (at most 256)`},
		{"escaped id over the limit", `{"id":"` + strings.Repeat(`\u00e9`, MaxIDBytes/2+1) + `","a":1,"b":2,"city":"x"}`, `field "id" is too long: 258 bytes`},
		{"escaped id far over the limit", `{"id":"` + strings.Repeat(`\u0041`, 6*MaxIDBytes) + `","a":1,"b":2,"city":"x"}`, `field "id" is too long`},
		{"numeric id over the limit", `{"id":` + strings.Repeat("1", MaxIDBytes+1) + `,"a":1,"b":2,"city":"x"}`, `field "id" is too long`},
		{"a megabyte id", `{"id":"` + strings.Repeat("x", 3<<20) + `","a":1,"b":2,"city":"x"}`, `field "id" is too long: 3145728 bytes`},
		{"fields at the limit", many(MaxExtraFields), ""},
		{"fields over the limit", many(MaxExtraFields + 1), "too many fields: more than 1027"},
		{"100,000 fields", many(100_000), "too many fields"},
		{"long number quoted short", `{"a":1` + strings.Repeat("0", 400) + `e999,"b":2,"city":"x"}`, `non-finite number for field "a": 10000000000000000000000000000000...`},
	}
	d := NewDecoder(testSchema)
	var out Decoded
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Decode([]byte(tc.in), &out)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error message of %d bytes quotes the input", len(err.Error()))
			}
		})
	}
	var de *DecodeError
	if err := d.Decode([]byte(`{"id":"`+long+`yy"}`), &out); !errors.As(err, &de) || de.Field != "id" {
		t.Fatalf("err = %#v, want a DecodeError naming the field id", err)
	}
}
