package train

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// XGBoost writes its model as UBJSON when the file name ends in ".ubj"
// (save_model("m.ubj"), the default format of XGBoost >= 2). The importer
// transcodes UBJSON (https://ubjson.org, draft 12, big-endian) to JSON text
// and parses that like a JSON model. Non-finite floats become the strings
// "NaN", "Infinity" and "-Infinity", as the JSON path quotes XGBoost's bare
// NaN tokens; float32 values are written with the shortest text that parses
// back to the same float32.

// ubjMaxDepth bounds container nesting (XGBoost models nest about 6 deep).
const ubjMaxDepth = 64

// isUBJSON reports whether data looks like a UBJSON object: '{' followed by
// a key length's integer marker or an optimized-container marker, which no
// JSON text has.
func isUBJSON(data []byte) bool {
	if len(data) < 2 || data[0] != '{' {
		return false
	}
	switch data[1] {
	case 'i', 'U', 'I', 'l', 'L', '$', '#':
		return true
	}
	return false
}

// ubjToJSON transcodes a UBJSON document to JSON. Errors name the byte offset.
func ubjToJSON(data []byte) ([]byte, error) {
	t := &ubjReader{b: data, out: make([]byte, 0, 2*len(data))}
	if err := t.value(t.marker(), 0); err != nil {
		return nil, err
	}
	if t.err != nil {
		return nil, t.err
	}
	for t.off < len(t.b) && t.b[t.off] == 'N' { // trailing no-ops
		t.off++
	}
	if t.off != len(t.b) {
		return nil, fmt.Errorf("ubjson: %d bytes after the document at byte %d", len(t.b)-t.off, t.off)
	}
	return t.out, nil
}

type ubjReader struct {
	b   []byte
	off int
	out []byte
	err error
}

func (t *ubjReader) fail(format string, args ...any) error {
	if t.err == nil {
		t.err = fmt.Errorf("ubjson: %s at byte %d", fmt.Sprintf(format, args...), t.off)
	}
	return t.err
}

// take returns the next n bytes.
func (t *ubjReader) take(n int) []byte {
	if t.err != nil {
		return nil
	}
	if n < 0 || n > len(t.b)-t.off {
		t.fail("truncated (%d bytes wanted, %d left)", n, len(t.b)-t.off)
		return nil
	}
	p := t.b[t.off : t.off+n]
	t.off += n
	return p
}

// marker returns the next type marker, skipping no-ops.
func (t *ubjReader) marker() byte {
	for {
		p := t.take(1)
		if p == nil {
			return 0
		}
		if p[0] != 'N' {
			return p[0]
		}
	}
}

// ubjSize is the payload size of a fixed-size scalar type, -1 for others.
func ubjSize(m byte) int {
	switch m {
	case 'i', 'U', 'C':
		return 1
	case 'I':
		return 2
	case 'l', 'd':
		return 4
	case 'L', 'D':
		return 8
	}
	return -1
}

// integer reads an integer of type m.
func (t *ubjReader) integer(m byte) (int64, bool) {
	p := t.take(max(ubjSize(m), 0))
	if p == nil {
		return 0, false
	}
	switch m {
	case 'i':
		return int64(int8(p[0])), true
	case 'U':
		return int64(p[0]), true
	case 'I':
		return int64(int16(binary.BigEndian.Uint16(p))), true
	case 'l':
		return int64(int32(binary.BigEndian.Uint32(p))), true
	case 'L':
		return int64(binary.BigEndian.Uint64(p)), true
	}
	t.fail("type %q is not an integer", m)
	return 0, false
}

// length reads a length (an integer with its own marker) that must be at
// most the bytes left divided by minSize.
func (t *ubjReader) length(minSize int) int {
	n, ok := t.integer(t.marker())
	if !ok {
		return 0
	}
	if n < 0 || n > int64((len(t.b)-t.off)/max(minSize, 1)) {
		t.fail("length %d exceeds the data", n)
		return 0
	}
	return int(n)
}

func (t *ubjReader) value(m byte, depth int) error {
	if t.err != nil {
		return t.err
	}
	switch m {
	case 'Z':
		t.out = append(t.out, "null"...)
	case 'T':
		t.out = append(t.out, "true"...)
	case 'F':
		t.out = append(t.out, "false"...)
	case 'i', 'U', 'I', 'l', 'L':
		if v, ok := t.integer(m); ok {
			t.out = strconv.AppendInt(t.out, v, 10)
		}
	case 'd':
		if p := t.take(4); p != nil {
			t.float(float64(math.Float32frombits(binary.BigEndian.Uint32(p))), 32)
		}
	case 'D':
		if p := t.take(8); p != nil {
			t.float(math.Float64frombits(binary.BigEndian.Uint64(p)), 64)
		}
	case 'C':
		if p := t.take(1); p != nil {
			t.str(p)
		}
	case 'S':
		t.str(t.take(t.length(1)))
	case '[':
		return t.array(depth + 1)
	case '{':
		return t.object(depth + 1)
	case 0:
		return t.fail("truncated")
	default:
		return t.fail("unsupported type marker %q", m)
	}
	return t.err
}

func (t *ubjReader) float(v float64, bits int) {
	switch {
	case math.IsNaN(v):
		t.out = append(t.out, `"NaN"`...)
	case math.IsInf(v, 1):
		t.out = append(t.out, `"Infinity"`...)
	case math.IsInf(v, -1):
		t.out = append(t.out, `"-Infinity"`...)
	default:
		t.out = strconv.AppendFloat(t.out, v, 'g', -1, bits)
	}
}

func (t *ubjReader) str(p []byte) {
	if t.err != nil {
		return
	}
	q, _ := json.Marshal(string(p)) // a string always marshals
	t.out = append(t.out, q...)
}

// container reads the optional "$type" and "#count" of an array or object:
// typ 0 and count -1 when absent.
func (t *ubjReader) container() (typ byte, count int) {
	count = -1
	if t.off < len(t.b) && t.b[t.off] == '$' {
		t.off++
		typ = t.marker()
		if ubjSize(typ) < 0 && typ != 'S' && typ != '[' && typ != '{' {
			t.fail("unsupported container type %q", typ)
			return 0, 0
		}
		if t.off >= len(t.b) || t.b[t.off] != '#' {
			t.fail("typed container without a count")
			return 0, 0
		}
	}
	if t.off < len(t.b) && t.b[t.off] == '#' {
		t.off++
		count = t.length(max(ubjSize(typ), 1))
	}
	return typ, count
}

func (t *ubjReader) array(depth int) error {
	if depth > ubjMaxDepth {
		return t.fail("nested deeper than %d", ubjMaxDepth)
	}
	typ, count := t.container()
	t.out = append(t.out, '[')
	for i := 0; t.err == nil; i++ {
		var m byte
		switch {
		case count >= 0 && i == count:
			t.out = append(t.out, ']')
			return t.err
		case typ != 0:
			m = typ
		default:
			if m = t.marker(); m == ']' && count < 0 {
				t.out = append(t.out, ']')
				return t.err
			}
		}
		if i > 0 {
			t.out = append(t.out, ',')
		}
		t.value(m, depth)
	}
	return t.err
}

func (t *ubjReader) object(depth int) error {
	if depth > ubjMaxDepth {
		return t.fail("nested deeper than %d", ubjMaxDepth)
	}
	typ, count := t.container()
	t.out = append(t.out, '{')
	for i := 0; t.err == nil; i++ {
		if count >= 0 && i == count {
			break
		}
		if count < 0 {
			for t.off < len(t.b) && t.b[t.off] == 'N' {
				t.off++
			}
			if t.off < len(t.b) && t.b[t.off] == '}' {
				t.off++
				break
			}
		}
		if i > 0 {
			t.out = append(t.out, ',')
		}
		t.str(t.take(t.length(1)))
		t.out = append(t.out, ':')
		m := typ
		if m == 0 {
			m = t.marker()
		}
		t.value(m, depth)
	}
	t.out = append(t.out, '}')
	return t.err
}
