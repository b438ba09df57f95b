package registry

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Filter is a parsed run search expression: conditions joined by AND, e.g.
// `metrics.auc > 0.8 and params.algo = 'gbdt' and status = finished`.
type Filter struct {
	Conds []Cond
}

// Cond is one comparison of a run field with a literal.
type Cond struct {
	Kind  string  // "metrics", "params", "tags" or "attributes"
	Key   string  // metric/param/tag key, or attribute name (status, name, experiment_id)
	Op    string  // "=", "!=", "<", "<=", ">", ">="
	Value string  // literal text
	Num   float64 // literal as a number when IsNum
	IsNum bool    // the literal parsed as a number
}

// attribute names accepted in filters.
var filterAttrs = map[string]bool{"status": true, "name": true, "experiment_id": true, "id": true, "created_by": true}

// ParseFilter parses a run search expression. Grammar:
//
//	filter := cond { "and" cond }
//	cond   := field op literal
//	field  := ("metrics"|"params"|"tags"|"attributes") "." key | attribute
//	key    := [A-Za-z0-9_./-]+ | "`" any text without backquote "`"
//	op     := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//	literal:= number | 'text' | "text" | bare word
//
// Errors are *FieldError for field "filter" naming the 1-based column.
func ParseFilter(s string) (Filter, error) {
	p := &filterParser{s: s}
	var f Filter
	p.space()
	if p.eof() {
		return f, nil
	}
	for {
		c, err := p.cond()
		if err != nil {
			return Filter{}, err
		}
		f.Conds = append(f.Conds, c)
		p.space()
		if p.eof() {
			return f, nil
		}
		start := p.i
		w := p.word()
		if !strings.EqualFold(w, "and") {
			return Filter{}, p.errAt(start, "expected AND, got %q", p.near(start))
		}
		p.space()
		if p.eof() {
			return Filter{}, p.errAt(p.i, "expected a condition after AND")
		}
	}
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) eof() bool { return p.i >= len(p.s) }

func (p *filterParser) space() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *filterParser) errAt(i int, format string, args ...any) error {
	return fieldErr("filter", "column %d: %s", i+1, fmt.Sprintf(format, args...))
}

// near returns up to 12 bytes of input from i, for error messages.
func (p *filterParser) near(i int) string {
	if i >= len(p.s) {
		return "end of input"
	}
	end := min(i+12, len(p.s))
	return p.s[i:end]
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/' || c == '+'
}

func (p *filterParser) word() string {
	start := p.i
	for !p.eof() && isWordByte(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *filterParser) cond() (Cond, error) {
	var c Cond
	start := p.i
	head := p.i
	for !p.eof() && isWordByte(p.s[p.i]) && p.s[p.i] != '.' {
		p.i++
	}
	prefix := p.s[head:p.i]
	switch strings.ToLower(prefix) {
	case "metrics", "metric", "params", "param", "tags", "tag", "attributes", "attribute", "attr":
		kinds := map[string]string{"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes", "attr": "attributes"}
		c.Kind = strings.ToLower(prefix)
		if k, ok := kinds[c.Kind]; ok {
			c.Kind = k
		}
		if p.eof() || p.s[p.i] != '.' {
			return c, p.errAt(p.i, "expected '.' and a key after %q", prefix)
		}
		p.i++
		keyStart := p.i
		if !p.eof() && p.s[p.i] == '`' {
			end := strings.IndexByte(p.s[p.i+1:], '`')
			if end < 0 {
				return c, p.errAt(keyStart, "unterminated backquoted key")
			}
			c.Key = p.s[p.i+1 : p.i+1+end]
			p.i += end + 2
		} else {
			c.Key = p.word()
		}
		if c.Key == "" {
			return c, p.errAt(keyStart, "empty key after %q", prefix+".")
		}
	case "":
		return c, p.errAt(start, "expected a field like metrics.auc, params.algo or status, got %q", p.near(start))
	default:
		p.i = head
		c.Kind, c.Key = "attributes", p.word()
	}
	if c.Kind == "attributes" {
		c.Key = strings.ToLower(c.Key)
		if !filterAttrs[c.Key] {
			return c, p.errAt(start, "unknown attribute %q (known: status, name, experiment_id, id, created_by)", c.Key)
		}
	}
	p.space()
	opStart := p.i
	for !p.eof() && strings.IndexByte("=!<>", p.s[p.i]) >= 0 {
		p.i++
	}
	c.Op = p.s[opStart:p.i]
	switch c.Op {
	case "==":
		c.Op = "="
	case "=", "!=", "<", "<=", ">", ">=":
	default:
		return c, p.errAt(opStart, "expected an operator (=, !=, <, <=, >, >=), got %q", p.near(opStart))
	}
	p.space()
	valStart := p.i
	if p.eof() {
		return c, p.errAt(valStart, "expected a value after %q", c.Op)
	}
	if q := p.s[p.i]; q == '\'' || q == '"' {
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return c, p.errAt(valStart, "unterminated string")
		}
		c.Value = p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
	} else {
		c.Value = p.word()
		if c.Value == "" {
			return c, p.errAt(valStart, "expected a value, got %q", p.near(valStart))
		}
	}
	if n, err := strconv.ParseFloat(c.Value, 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
		c.Num, c.IsNum = n, true
	}
	if c.Kind == "metrics" && !c.IsNum {
		return c, p.errAt(valStart, "metric %q compared with %q, which is not a number", c.Key, c.Value)
	}
	if c.Kind != "metrics" && !c.IsNum && c.Op != "=" && c.Op != "!=" {
		return c, p.errAt(opStart, "operator %s needs a number; text compares only with = or !=", c.Op)
	}
	return c, nil
}

// String formats f so that ParseFilter(f.String()) yields an equal Filter.
func (f Filter) String() string {
	parts := make([]string, len(f.Conds))
	for i, c := range f.Conds {
		parts[i] = c.Kind + ".`" + c.Key + "` " + c.Op + " " + quoteLiteral(c.Value)
	}
	return strings.Join(parts, " and ")
}

func quoteLiteral(v string) string {
	if !strings.Contains(v, "'") {
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

// Match reports whether run r satisfies every condition; a missing key never matches.
func (f Filter) Match(r *Run) bool {
	for _, c := range f.Conds {
		if !c.match(r) {
			return false
		}
	}
	return true
}

func (c Cond) match(r *Run) bool {
	var val string
	switch c.Kind {
	case "metrics":
		p, ok := r.Metrics[c.Key]
		return ok && cmpNum(p.Value, c.Op, c.Num)
	case "params":
		v, ok := r.Params[c.Key]
		if !ok {
			return false
		}
		val = v
	case "tags":
		v, ok := r.Tags[c.Key]
		if !ok {
			return false
		}
		val = v
	default:
		val = map[string]string{"status": r.Status, "name": r.Name, "experiment_id": r.ExperimentID,
			"id": r.ID, "created_by": r.CreatedBy}[c.Key]
	}
	if c.IsNum {
		if n, err := strconv.ParseFloat(val, 64); err == nil {
			return cmpNum(n, c.Op, c.Num)
		}
		if c.Op != "=" && c.Op != "!=" {
			return false
		}
	}
	if c.Op == "=" {
		return val == c.Value
	}
	return val != c.Value
}

func cmpNum(a float64, op string, b float64) bool {
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
	case ">=":
		return a >= b
	}
	return false
}
