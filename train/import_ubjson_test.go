package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// ubjFromJSONForTest encodes JSON as UBJSON, using every container form:
// arrays of numbers as typed arrays ([$d#, [$l#), other arrays counted,
// objects alternately counted and closed with '}'.
func ubjFromJSONForTest(js []byte) ([]byte, error) {
	text, _ := xgbQuoteNonFinite(js)
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	e := &ubjTestEncoder{}
	e.value(v)
	return e.b, nil
}

type ubjTestEncoder struct {
	b       []byte
	objects int
}

func (e *ubjTestEncoder) length(n int) {
	e.b = append(e.b, 'l')
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
}

func (e *ubjTestEncoder) key(s string) {
	e.b = append(e.b, 'U', byte(len(s)))
	e.b = append(e.b, s...)
}

func (e *ubjTestEncoder) value(v any) {
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, 'Z')
	case bool:
		e.b = append(e.b, map[bool]byte{true: 'T', false: 'F'}[x])
	case string:
		if x == "NaN" { // XGBoost's NaN, quoted by xgbQuoteNonFinite
			e.b = append(e.b, 'd')
			e.b = binary.BigEndian.AppendUint32(e.b, math.Float32bits(float32(math.NaN())))
			return
		}
		e.b = append(e.b, 'S')
		e.length(len(x))
		e.b = append(e.b, x...)
	case json.Number:
		e.number(x, true)
	case []any:
		kind := byte(0)
		for _, it := range x {
			n, ok := it.(json.Number)
			k := byte('d')
			if ok && !strings.ContainsAny(string(n), ".eE") {
				k = 'l'
			}
			if !ok || (kind != 0 && kind != k) {
				kind = 'x'
				break
			}
			kind = k
		}
		if kind == 'd' || kind == 'l' {
			e.b = append(e.b, '[', '$', kind, '#')
			e.length(len(x))
			for _, it := range x {
				e.number(it.(json.Number), false)
			}
			return
		}
		e.b = append(e.b, '[', '#')
		e.length(len(x))
		for _, it := range x {
			e.value(it)
		}
	case map[string]any:
		e.objects++
		counted := e.objects%2 == 0
		e.b = append(e.b, '{')
		if counted {
			e.b = append(e.b, '#')
			e.length(len(x))
		}
		for _, k := range sortedKeys(x) {
			e.key(k)
			e.value(x[k])
		}
		if !counted {
			e.b = append(e.b, '}')
		}
	}
}

func (e *ubjTestEncoder) number(n json.Number, marker bool) {
	if i, err := n.Int64(); err == nil && !strings.ContainsAny(string(n), ".eE") {
		if marker {
			e.b = append(e.b, 'L')
			e.b = binary.BigEndian.AppendUint64(e.b, uint64(i))
			return
		}
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(int32(i)))
		return
	}
	f, _ := n.Float64()
	if marker {
		e.b = append(e.b, 'd')
	}
	e.b = binary.BigEndian.AppendUint32(e.b, math.Float32bits(float32(f)))
}

// TestUBJSONContainerForms imports the categorical fixture re-encoded with
// every UBJSON container form and checks it builds the same trees.
func TestUBJSONContainerForms(t *testing.T) {
	js := mustReadImportFixture(t, "xgb_categorical.json")
	ub, err := ubjFromJSONForTest(js)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ImportXGBoost(js)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ImportXGBoost(ub)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.nodes) != len(b.nodes) || len(a.catBits) != len(b.catBits) || b.Params()["format"] != "ubjson" {
		t.Fatalf("json %d nodes, ubjson %d nodes (format %v)", len(a.nodes), len(b.nodes), b.Params()["format"])
	}
	for i := range a.nodes {
		if a.nodes[i] != b.nodes[i] {
			t.Fatalf("node %d: json %+v, ubjson %+v", i, a.nodes[i], b.nodes[i])
		}
	}
}

func TestUBJSONToJSON(t *testing.T) {
	be32 := func(v uint32) string { return string(binary.BigEndian.AppendUint32(nil, v)) }
	cases := []struct {
		name, in, want, err string
	}{
		{"scalars", "{U\x01aZU\x01bTU\x01cFU\x01di\xffU\x01eU\xffU\x01fI\x01\x00U\x01gCxU\x01hSU\x02hi}",
			`{"a":null,"b":true,"c":false,"d":-1,"e":255,"f":256,"g":"x","h":"hi"}`, ""},
		{"floats", "{U\x01a[$d#U\x03" + be32(math.Float32bits(0.1)) + be32(math.Float32bits(float32(math.NaN()))) +
			be32(math.Float32bits(float32(math.Inf(-1)))) + "U\x01bD" + string(binary.BigEndian.AppendUint64(nil, math.Float64bits(0.1))) + "}",
			`{"a":[0.1,"NaN","-Infinity"],"b":0.1}`, ""},
		{"no-ops", "N{NU\x01a[Ni\x02N]N}N", `{"a":[2]}`, ""},
		{"counted object", "{#U\x01U\x01a[#U\x00", `{"a":[]}`, ""},
		{"escaped key", "{U\x02\"\n[]}", `{"\"\n":[]}`, ""},
		{"truncated", "{U\x01a[$l#U\x02\x00\x00\x00", "", "length 2 exceeds the data"},
		{"truncated value", "{U\x01aS", "", "truncated"},
		{"negative length", "{U\x01aSi\xff", "", "length -1 exceeds the data"},
		{"huge count", "{U\x01a[#L\x7f\xff\xff\xff\xff\xff\xff\xff", "", "exceeds the data"},
		{"high precision", "{U\x01aHU\x013}", "", `unsupported type marker 'H'`},
		{"zero-size type", "{U\x01a[$Z#U\x05}", "", "unsupported container type 'Z'"},
		{"typed without count", "{U\x01a[$U\x01\x02]}", "", "typed container without a count"},
		{"key not a length", "{S", "", `type 'S' is not an integer`},
		{"trailing", "{}x", "", "1 bytes after the document"},
		{"deep", "{U\x01a" + strings.Repeat("[", 100), "", "nested deeper than 64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ubjToJSON([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(out) != tc.want {
				t.Fatalf("got %s (%v), want %s", out, err, tc.want)
			}
		})
	}
}
