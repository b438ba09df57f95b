package stream

import (
	"bytes"
	"encoding/json"
	"errors"
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

// reference decodes with encoding/json using the same rules as Decoder.
func reference(s Schema, b []byte) (*Decoded, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false // trailing data
	}
	out := &Decoded{Num: make([]float64, len(s.Names)), Cat: make([]string, len(s.Names))}
	switch v := m["id"].(type) {
	case nil:
	case string:
		out.ID = v
	case json.Number:
		out.ID = string(v)
	default:
		return nil, false
	}
	switch v := m["ts"].(type) {
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
	for i, n := range s.Names {
		v, ok := m[n]
		if !ok {
			return nil, false
		}
		out.Num[i] = math.NaN()
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
	s := Schema{Names: []string{"a", "b", "city"}, Categorical: []bool{false, false, true}}
	d := NewDecoder(s)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Decoded
		err := d.Decode(b, &got)
		want, ok := reference(s, b)
		if !json.Valid(b) {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			return
		}
		if (err == nil) != ok {
			t.Fatalf("decode %q: err = %v, reference ok = %v", b, err, ok)
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
	})
}
