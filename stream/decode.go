package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// maxInterned bounds the per-feature cache of categorical strings, and
// maxInternedLen the length of a string worth caching: a long value is
// copied per record instead of being kept for the life of the decoder.
const (
	maxInterned    = 4096
	maxInternedLen = 128
)

// MaxIDBytes bounds the "id" of a feature record. An id names a record; it
// is copied into every prediction and held by the label joiner, so a
// megabyte id would make a prediction too large to produce.
const MaxIDBytes = 256

// MaxExtraFields bounds the fields a record may carry besides its schema's
// features (extra fields are ignored): a record with 100,000 keys is
// rejected after the first few thousand, before any of it is scored.
const MaxExtraFields = 1024

// maxDepth bounds nesting of skipped values, like encoding/json.
const maxDepth = 10000

// ErrNotObject reports a record that is valid JSON but not an object.
var ErrNotObject = errors.New("not a JSON object")

// DecodeError describes why a record could not be decoded; Field names the
// JSON field when the problem belongs to one.
type DecodeError struct {
	Field  string // JSON field, "" for syntax errors
	Offset int    // byte offset for syntax errors, -1 otherwise
	Msg    string
}

// Error implements error.
func (e *DecodeError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
	}
	return e.Msg
}

func syntaxErr(off int, msg string) error { return &DecodeError{Offset: off, Msg: msg} }

func fieldErr(field, format string, args ...any) error {
	return &DecodeError{Field: field, Offset: -1, Msg: fmt.Sprintf(format, args...)}
}

// Decoder decodes JSON feature records against a Schema without reflection.
// A Decoder is not safe for concurrent use; use one per goroutine.
type Decoder struct {
	schema    Schema
	index     map[string]int
	seen      []bool
	intern    []map[string]string
	maxID     int // bytes of "id" (MaxIDBytes)
	maxFields int // top-level keys of a record
}

// NewDecoder returns a decoder for the schema.
func NewDecoder(s Schema) *Decoder {
	d := &Decoder{
		schema: s,
		index:  make(map[string]int, len(s.Names)),
		seen:   make([]bool, len(s.Names)),
		intern: make([]map[string]string, len(s.Names)),
		maxID:  MaxIDBytes,
		// Duplicate keys count: the bound is on work, not on meaning.
		maxFields: len(s.Names) + MaxExtraFields,
	}
	for i, n := range s.Names {
		d.index[n] = i
	}
	return d
}

// Schema returns the schema the decoder was built for.
func (d *Decoder) Schema() Schema { return d.schema }

func (d *Decoder) isCat(i int) bool { return i < len(d.schema.Categorical) && d.schema.Categorical[i] }

// Decode parses one JSON object into out, filling Num and Cat by schema
// position. An explicit null is a missing value; an absent feature, a wrong
// type, a non-finite number, an "id" longer than MaxIDBytes, more than
// MaxExtraFields fields beyond the schema's, or malformed JSON is an error
// naming the field or byte offset. Extra fields are otherwise ignored.
func (d *Decoder) Decode(b []byte, out *Decoded) error {
	n := len(d.schema.Names)
	if cap(out.Num) < n {
		out.Num = make([]float64, n)
	} else {
		out.Num = out.Num[:n]
	}
	if cap(out.Cat) < n {
		out.Cat = make([]string, n)
	} else {
		out.Cat = out.Cat[:n]
	}
	clear(d.seen)
	out.ID, out.HasTS, out.TS = "", false, time.Time{}

	next := 0 // keys usually arrive in schema order: try that before the map
	i := skipWS(b, 0)
	if i >= len(b) {
		return syntaxErr(i, "unexpected end of input")
	}
	if b[i] != '{' {
		j, err := skipValue(b, i, 0)
		if err != nil {
			return err
		}
		if j = skipWS(b, j); j != len(b) {
			return syntaxErr(j, "unexpected data after value")
		}
		return ErrNotObject
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for keys := 1; ; keys++ {
			if keys > d.maxFields {
				return &DecodeError{Offset: -1, Msg: fmt.Sprintf("too many fields: more than %d (%d features and at most %d others)",
					d.maxFields, n, d.maxFields-n)}
			}
			if i >= len(b) || b[i] != '"' {
				return syntaxErr(i, "expected string key")
			}
			ks, ke, slow, err := scanString(b, i)
			if err != nil {
				return err
			}
			key := b[ks:ke]
			if slow {
				key = []byte(unquoteSlow(b[i : ke+1]))
			}
			i = skipWS(b, ke+1)
			if i >= len(b) || b[i] != ':' {
				return syntaxErr(i, "expected ':' after key")
			}
			i = skipWS(b, i+1)
			if i >= len(b) {
				return syntaxErr(i, "unexpected end of input")
			}
			start := i
			if string(key) == "id" || string(key) == "ts" {
				if i, err = d.special(b, i, key[0] == 'i', out); err != nil {
					return err
				}
			}
			if idx, ok := d.lookup(key, &next); ok {
				if i, err = d.feature(b, start, idx, out); err != nil {
					return err
				}
			} else if i == start {
				if i, err = skipValue(b, i, 1); err != nil {
					return err
				}
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return syntaxErr(i, "unexpected end of input")
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return syntaxErr(i, "expected ',' or '}'")
			}
			i = skipWS(b, i+1)
		}
	}
	if i = skipWS(b, i); i != len(b) {
		return syntaxErr(i, "unexpected data after object")
	}
	for k, ok := range d.seen {
		if !ok {
			return fieldErr(d.schema.Names[k], "missing feature %q", d.schema.Names[k])
		}
	}
	return nil
}

// lookup finds the schema position of key, trying *next first.
func (d *Decoder) lookup(key []byte, next *int) (int, bool) {
	if n := *next; n < len(d.schema.Names) && d.schema.Names[n] == string(key) {
		*next = n + 1
		return n, true
	}
	idx, ok := d.index[string(key)]
	if ok {
		*next = idx + 1
	}
	return idx, ok
}

// feature parses the value at b[i] into schema position idx.
func (d *Decoder) feature(b []byte, i, idx int, out *Decoded) (int, error) {
	name := d.schema.Names[idx]
	d.seen[idx] = true
	c := b[i]
	if d.isCat(idx) {
		out.Num[idx] = math.NaN()
		switch {
		case c == '"':
			s, e, slow, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			if slow {
				out.Cat[idx] = unquoteSlow(b[i : e+1])
			} else {
				out.Cat[idx] = d.internStr(idx, b[s:e])
			}
			return e + 1, nil
		case c == '-' || isDigit(c):
			e, err := scanNumber(b, i)
			if err != nil {
				return 0, err
			}
			out.Cat[idx] = d.internStr(idx, b[i:e])
			return e, nil
		case c == 't' || c == 'f':
			e, err := skipValue(b, i, 1)
			if err != nil {
				return 0, err
			}
			out.Cat[idx] = d.internStr(idx, b[i:e])
			return e, nil
		case c == 'n':
			out.Cat[idx] = ""
			return skipValue(b, i, 1)
		}
		if _, err := skipValue(b, i, 1); err != nil {
			return 0, err
		}
		return 0, fieldErr(name, "wrong type for field %q: got %s, want string", name, kindOf(c))
	}
	out.Cat[idx] = ""
	switch {
	case c == '-' || isDigit(c):
		e, err := scanNumber(b, i)
		if err != nil {
			return 0, err
		}
		f, err := parseNumber(b[i:e])
		if err != nil {
			return 0, fieldErr(name, "non-finite number for field %q: %s", name, clip(b[i:e], 32))
		}
		out.Num[idx] = f
		return e, nil
	case c == 'n':
		out.Num[idx] = math.NaN()
		return skipValue(b, i, 1)
	}
	if _, err := skipValue(b, i, 1); err != nil {
		return 0, err
	}
	return 0, fieldErr(name, "wrong type for field %q: got %s, want number", name, kindOf(c))
}

// special parses the "id" (isID) or "ts" value at b[i].
func (d *Decoder) special(b []byte, i int, isID bool, out *Decoded) (int, error) {
	field := "ts"
	if isID {
		field = "id"
	}
	c := b[i]
	switch {
	case c == '"':
		s, e, slow, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		// An escape is at most 6 bytes for one decoded byte: a longer
		// escaped id is rejected before it is decoded.
		if isID && (e-s > 6*d.maxID || !slow && e-s > d.maxID) {
			return 0, d.idTooLong(e - s)
		}
		var v string
		if slow {
			v = unquoteSlow(b[i : e+1])
		} else {
			v = string(b[s:e])
		}
		if isID {
			if len(v) > d.maxID {
				return 0, d.idTooLong(len(v))
			}
			out.ID = v
			return e + 1, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, fieldErr(field, "invalid time for field %q: want RFC 3339 or epoch milliseconds", field)
		}
		out.TS, out.HasTS = t, true
		return e + 1, nil
	case c == '-' || isDigit(c):
		e, err := scanNumber(b, i)
		if err != nil {
			return 0, err
		}
		if isID {
			if e-i > d.maxID {
				return 0, d.idTooLong(e - i)
			}
			out.ID = string(b[i:e])
			return e, nil
		}
		t, err := tsFromMillis(b[i:e])
		if err != nil {
			return 0, fieldErr(field, "invalid time for field %q: %v", field, err)
		}
		out.TS, out.HasTS = t, true
		return e, nil
	case c == 'n':
		return skipValue(b, i, 1)
	}
	if _, err := skipValue(b, i, 1); err != nil {
		return 0, err
	}
	return 0, fieldErr(field, "wrong type for field %q: got %s", field, kindOf(c))
}

func (d *Decoder) idTooLong(n int) error {
	return fieldErr("id", "field \"id\" is too long: %d bytes (at most %d)", n, d.maxID)
}

// clip returns b, cut to at most n bytes with "..." when longer, for
// quoting input in an error message.
func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// tsFromMillis converts an epoch-milliseconds JSON number to a time.
func tsFromMillis(num []byte) (time.Time, error) {
	f, err := parseNumber(num)
	if err != nil || math.Abs(f) > 1e15 {
		return time.Time{}, fmt.Errorf("epoch milliseconds out of range: %s", clip(num, 32))
	}
	ms := math.Floor(f)
	ns := int64(math.Round((f - ms) * 1e6))
	return time.UnixMilli(int64(ms)).Add(time.Duration(ns)).UTC(), nil
}

func (d *Decoder) internStr(idx int, b []byte) string {
	m := d.intern[idx]
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) > maxInternedLen {
		return s
	}
	if m == nil {
		m = make(map[string]string)
		d.intern[idx] = m
	}
	if len(m) < maxInterned {
		m[s] = s
	}
	return s
}

func kindOf(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case '{':
		return "object"
	case '[':
		return "array"
	case 'n':
		return "null"
	}
	return "number"
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// unquoteSlow decodes a quoted JSON string with escapes or invalid UTF-8
// exactly as encoding/json does. The quoted string is already validated.
func unquoteSlow(q []byte) string {
	var s string
	_ = json.Unmarshal(q, &s)
	return s
}

// scanString validates the string starting at b[i] == '"'. It returns the
// content bounds [s, e) with b[e] the closing quote, and whether the content
// needs the slow decoding path (escapes or invalid UTF-8).
func scanString(b []byte, i int) (s, e int, slow bool, err error) {
	s = i + 1
	high := false
	for j := s; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			if high && !utf8.Valid(b[s:j]) {
				slow = true
			}
			return s, j, slow, nil
		case c == '\\':
			slow = true
			j++
			if j >= len(b) {
				return 0, 0, false, syntaxErr(j, "unterminated string")
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return 0, 0, false, syntaxErr(j, "unterminated string")
				}
				for k := j + 1; k <= j+4; k++ {
					if !isHex(b[k]) {
						return 0, 0, false, syntaxErr(k, "invalid \\u escape")
					}
				}
				j += 4
			default:
				return 0, 0, false, syntaxErr(j, "invalid escape")
			}
		case c < 0x20:
			return 0, 0, false, syntaxErr(j, "control character in string")
		case c >= 0x80:
			high = true
		}
	}
	return 0, 0, false, syntaxErr(len(b), "unterminated string")
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// scanNumber validates the JSON number starting at b[i] and returns its end.
func scanNumber(b []byte, i int) (int, error) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	default:
		return 0, syntaxErr(j, "invalid number")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || !isDigit(b[j]) {
			return 0, syntaxErr(j, "invalid number")
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || !isDigit(b[j]) {
			return 0, syntaxErr(j, "invalid number")
		}
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	}
	return j, nil
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumber converts a validated JSON number to a finite float64, using an
// exact fast path for short decimals and strconv otherwise.
func parseNumber(num []byte) (float64, error) {
	j, neg := 0, false
	if num[0] == '-' {
		neg, j = true, 1
	}
	var mant uint64
	digits, exp := 0, 0
	for ; j < len(num) && isDigit(num[j]); j++ {
		mant = mant*10 + uint64(num[j]-'0')
		digits++
	}
	if j < len(num) && num[j] == '.' {
		for j++; j < len(num) && isDigit(num[j]); j++ {
			mant = mant*10 + uint64(num[j]-'0')
			digits++
			exp--
		}
	}
	if j == len(num) && digits <= 15 && exp >= -22 {
		f := float64(mant) / pow10[-exp]
		if neg {
			f = -f
		}
		return f, nil
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, errors.New("non-finite number")
	}
	return f, nil
}

// skipValue validates and skips the JSON value at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		_, e, _, err := scanString(b, i)
		return e + 1, err
	case c == '-' || isDigit(c):
		return scanNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return 0, syntaxErr(i, "nesting too deep")
		}
		return skipComposite(b, i, depth)
	default:
		return 0, syntaxErr(i, "invalid character")
	}
}

func skipComposite(b []byte, i, depth int) (int, error) {
	obj := b[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		var err error
		if obj {
			if i >= len(b) || b[i] != '"' {
				return 0, syntaxErr(i, "expected string key")
			}
			if _, e, _, err := scanString(b, i); err != nil {
				return 0, err
			} else {
				i = skipWS(b, e+1)
			}
			if i >= len(b) || b[i] != ':' {
				return 0, syntaxErr(i, "expected ':' after key")
			}
			i = skipWS(b, i+1)
		}
		if i, err = skipValue(b, i, depth+1); err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, syntaxErr(i, "unexpected end of input")
		}
		if b[i] == closer {
			return i + 1, nil
		}
		if b[i] != ',' {
			return 0, syntaxErr(i, "expected ',' or closing bracket")
		}
		i = skipWS(b, i+1)
	}
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}
