package server

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"driftd/stream"
)

// msgFilter keeps the records of the message browser whose key, headers or
// JSON value satisfy every comparison. The zero msgFilter keeps every record.
type msgFilter struct {
	conds []msgCond
}

// msgCond is one comparison of a record's field with a literal.
type msgCond struct {
	// on is "key", "header" (name in path), "value" (the whole value as
	// text) or "json" (path is a dotted path into the JSON value).
	on, path string
	op       string // "=", "!=", "~" (contains, any case), "<", "<=", ">", ">="
	lit      string
	num      float64
	isNum    bool
}

// msgFilterMax bounds a filter's length, so a URL cannot make every record
// of a scan pay for a huge expression.
const msgFilterMax = 500

// parseMsgFilter parses the message browser's filter. Grammar:
//
//	filter := cond { "and" cond }
//	cond   := field op literal
//	field  := "key" | "headers." name | "value" | ["value."] path
//	path   := a dotted JSON path (a.b.0) | "`" any text without backquote "`"
//	op     := "=" | "==" | "!=" | "~" | "<" | "<=" | ">" | ">="
//	literal:= 'text' | "text" | a bare word
//
// "~" keeps a field that contains the literal, in any case; "<", "<=", ">"
// and ">=" compare numbers; "=" and "!=" compare numbers as numbers when
// both sides are numbers, text otherwise. A field the record lacks never
// matches. Errors name the 1-based column.
func parseMsgFilter(s string) (msgFilter, error) {
	if len(s) > msgFilterMax {
		return msgFilter{}, fmt.Errorf("filter: %d characters; at most %d", len(s), msgFilterMax)
	}
	p := &filterScan{s: s}
	var f msgFilter
	p.space()
	if p.eof() {
		return f, nil
	}
	for {
		c, err := p.cond()
		if err != nil {
			return msgFilter{}, err
		}
		f.conds = append(f.conds, c)
		p.space()
		if p.eof() {
			return f, nil
		}
		start := p.i
		if w := p.word(); !strings.EqualFold(w, "and") {
			return msgFilter{}, p.errAt(start, "expected AND, got %q", p.near(start))
		}
		p.space()
		if p.eof() {
			return msgFilter{}, p.errAt(p.i, "expected a condition after AND")
		}
	}
}

// fieldEquals is the filter of the browser's older ?field=&value= form.
func fieldEquals(path, value string) msgFilter {
	c := msgCond{on: "json", path: path, op: "=", lit: value}
	c.num, c.isNum = parseNum(value)
	return msgFilter{conds: []msgCond{c}}
}

// String writes the filter so that parseMsgFilter reads it back.
func (f msgFilter) String() string {
	parts := make([]string, len(f.conds))
	for i, c := range f.conds {
		field := c.on
		switch c.on {
		case "header":
			field = "headers." + quotePath(c.path)
		case "json":
			field = quotePath(c.path)
			if reservedPath(c.path) {
				field = "value." + quotePath(c.path)
			}
		}
		parts[i] = field + " " + c.op + " " + quoteLit(c.lit)
	}
	return strings.Join(parts, " and ")
}

// reservedPath reports whether a plain JSON path would read as another
// field (key, value, headers.NAME), so it must be written "value.PATH".
func reservedPath(path string) bool {
	l := strings.ToLower(path)
	switch {
	case l == "key", l == "value", l == "headers", l == "header":
		return true
	}
	return strings.HasPrefix(l, "headers.") || strings.HasPrefix(l, "header.") || strings.HasPrefix(l, "value.")
}

// quotePath backquotes a path that is not a plain word.
func quotePath(p string) string {
	for i := 0; i < len(p); i++ {
		if !isPathByte(p[i]) {
			return "`" + p + "`"
		}
	}
	if p == "" {
		return "``"
	}
	return p
}

// quoteLit quotes a literal that is not a plain word.
func quoteLit(v string) string {
	plain := v != ""
	for i := 0; i < len(v) && plain; i++ {
		plain = isPathByte(v[i]) || v[i] == '+' || v[i] == ':' || v[i] == '@'
	}
	switch {
	case plain && !strings.EqualFold(v, "and"):
		return v
	case !strings.Contains(v, "'"):
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

// empty reports whether the filter keeps every record.
func (f msgFilter) empty() bool { return len(f.conds) == 0 }

// match reports whether m satisfies every comparison. The value is decoded
// once, and only when a comparison needs it.
func (f msgFilter) match(m stream.Message) bool {
	var doc any
	decoded, isJSON := false, false
	for _, c := range f.conds {
		var got string
		var ok bool
		switch c.on {
		case "key":
			got, ok = printable(m.Key), true
		case "header":
			got, ok = m.Headers[c.path]
		case "value":
			got, ok = printable(m.Value), true
		default:
			if !decoded {
				decoded, isJSON = true, json.Unmarshal(m.Value, &doc) == nil
			}
			if isJSON {
				got, ok = jsonPath(doc, c.path)
			}
		}
		if !ok || !c.holds(got) {
			return false
		}
	}
	return true
}

// holds compares a field's text with the literal.
func (c msgCond) holds(got string) bool {
	if c.op == "~" {
		return strings.Contains(strings.ToLower(got), strings.ToLower(c.lit))
	}
	n, isNum := parseNum(got)
	if c.isNum && isNum {
		return cmpFloat(n, c.op, c.num)
	}
	switch c.op {
	case "=":
		return got == c.lit
	case "!=":
		return got != c.lit
	}
	return false // an order needs two numbers
}

func cmpFloat(a float64, op string, b float64) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	}
	return a >= b
}

// parseNum reads a finite number.
func parseNum(s string) (float64, bool) {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return n, err == nil && !math.IsNaN(n) && !math.IsInf(n, 0)
}

// jsonPath finds a dotted path ("a.b.0") in a decoded JSON document and
// returns its value as text: strings unquoted, anything else as compact
// JSON. A path that is a key of the object as a whole ("a.b" with a dot in
// the key) is found too.
func jsonPath(doc any, path string) (string, bool) {
	v := doc
	if obj, ok := doc.(map[string]any); ok {
		if x, ok := obj[path]; ok {
			return jsonText(x), true
		}
	}
	for _, key := range strings.Split(path, ".") {
		switch n := v.(type) {
		case map[string]any:
			x, ok := n[key]
			if !ok {
				return "", false
			}
			v = x
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n) {
				return "", false
			}
			v = n[i]
		default:
			return "", false
		}
	}
	return jsonText(v), true
}

// filterScan is the filter's scanner.
type filterScan struct {
	s string
	i int
}

func (p *filterScan) eof() bool { return p.i >= len(p.s) }

func (p *filterScan) space() {
	for !p.eof() && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *filterScan) errAt(i int, format string, args ...any) error {
	return fmt.Errorf("filter: column %d: %s", i+1, fmt.Sprintf(format, args...))
}

// near returns up to 12 bytes of input from i, for error messages.
func (p *filterScan) near(i int) string {
	if i >= len(p.s) {
		return "end of input"
	}
	return p.s[i:min(i+12, len(p.s))]
}

func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c >= 0x80
}

func (p *filterScan) word() string {
	start := p.i
	for !p.eof() && isPathByte(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// path reads a plain or backquoted path.
func (p *filterScan) path() (string, error) {
	start := p.i
	if !p.eof() && p.s[p.i] == '`' {
		end := strings.IndexByte(p.s[p.i+1:], '`')
		if end < 0 {
			return "", p.errAt(start, "unterminated backquoted field")
		}
		p.i += end + 2
		return p.s[start+1 : p.i-1], nil
	}
	return p.word(), nil
}

func (p *filterScan) cond() (msgCond, error) {
	var c msgCond
	start := p.i
	quoted := !p.eof() && p.s[p.i] == '`'
	name, err := p.path()
	if err != nil {
		return c, err
	}
	lower := strings.ToLower(name)
	switch {
	case name == "" && !quoted:
		return c, p.errAt(start, "expected a field (key, headers.NAME, value or a JSON path like plan or user.id), got %q", p.near(start))
	case quoted:
		c.on, c.path = "json", name
	case lower == "key" || lower == "value":
		c.on = lower
	case lower == "headers" || lower == "header":
		return c, p.errAt(p.i, "expected '.' and a name after %q", name)
	case strings.HasPrefix(lower, "headers.") || strings.HasPrefix(lower, "header."):
		c.on, c.path = "header", name[strings.IndexByte(name, '.')+1:]
		if c.path == "" && !p.eof() && p.s[p.i] == '`' {
			if c.path, err = p.path(); err != nil {
				return c, err
			}
		}
	case strings.HasPrefix(lower, "value."):
		c.on, c.path = "json", name[len("value."):]
		if c.path == "" && !p.eof() && p.s[p.i] == '`' {
			if c.path, err = p.path(); err != nil {
				return c, err
			}
		}
	default:
		c.on, c.path = "json", name
	}
	if (c.on == "header" || c.on == "json") && c.path == "" {
		return c, p.errAt(start, "empty name in %q", name)
	}
	p.space()
	opStart := p.i
	for !p.eof() && strings.IndexByte("=!<>~", p.s[p.i]) >= 0 {
		p.i++
	}
	c.op = p.s[opStart:p.i]
	switch c.op {
	case "==":
		c.op = "="
	case "=", "!=", "~", "<", "<=", ">", ">=":
	default:
		return c, p.errAt(opStart, "expected an operator (= != ~ < <= > >=), got %q", p.near(opStart))
	}
	p.space()
	valStart := p.i
	switch {
	case p.eof():
		return c, p.errAt(valStart, "expected a value after %s", c.op)
	case p.s[p.i] == '\'' || p.s[p.i] == '"':
		q := p.s[p.i]
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return c, p.errAt(valStart, "unterminated string")
		}
		c.lit = p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
	default:
		for !p.eof() && strings.IndexByte(" \t\r\n'\"", p.s[p.i]) < 0 {
			p.i++
		}
		c.lit = p.s[valStart:p.i]
	}
	c.num, c.isNum = parseNum(c.lit)
	switch c.op {
	case "<", "<=", ">", ">=":
		if !c.isNum {
			return c, p.errAt(valStart, "%s compares numbers; %q is not one", c.op, c.lit)
		}
	}
	return c, nil
}
