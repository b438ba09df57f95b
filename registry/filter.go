package registry

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Filter is a parsed run search expression: comparisons joined by AND and
// OR, AND binding tighter than OR, grouped with parentheses, e.g.
// `metrics.auc > 0.8 and (params.algo = 'gbdt' or tags.team = 'risk')`.
// The zero Filter matches every run.
type Filter struct {
	// Root is the expression; nil for an empty filter.
	Root *Expr
}

// Expr is one node of a filter: a comparison (Op "") or the AND or OR of
// two or more sub-expressions. The parser flattens nested nodes of the
// same operator, so an "and" node never has an "and" argument.
type Expr struct {
	Op   string  // "", "and" or "or"
	Cond Cond    // the comparison, when Op is ""
	Args []*Expr // the operands, when Op is "and" or "or"
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

// maxFilterDepth bounds how deeply parentheses nest, so that a hostile
// filter cannot exhaust the parser's stack.
const maxFilterDepth = 32

// ParseFilter parses a run search expression. Grammar:
//
//	filter := or
//	or     := and { "or" and }
//	and    := unary { "and" unary }
//	unary  := "(" or ")" | cond
//	cond   := field op literal
//	field  := ("metrics"|"params"|"tags"|"attributes") "." key | attribute
//	key    := [A-Za-z0-9_./-]+ | "`" any text without backquote "`"
//	op     := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//	literal:= number | 'text' | "text" | bare word
//
// AND and OR are case-insensitive. Errors are *FieldError for field
// "filter" naming the 1-based column.
func ParseFilter(s string) (Filter, error) {
	p := &filterParser{s: s}
	p.space()
	if p.eof() {
		return Filter{}, nil
	}
	e, err := p.or(0)
	if err != nil {
		return Filter{}, err
	}
	p.space()
	switch {
	case p.eof():
		return Filter{Root: e}, nil
	case p.s[p.i] == ')':
		return Filter{}, p.errAt(p.i, "')' closes no '('")
	}
	return Filter{}, p.errAt(p.i, "expected AND or OR, got %q", p.near(p.i))
}

// or parses conditions joined by OR.
func (p *filterParser) or(depth int) (*Expr, error) {
	return p.joined("or", depth, p.and)
}

// and parses conditions joined by AND.
func (p *filterParser) and(depth int) (*Expr, error) {
	return p.joined("and", depth, p.unary)
}

// joined parses operands joined by the keyword op and flattens them into
// one node (or returns the only operand).
func (p *filterParser) joined(op string, depth int, operand func(int) (*Expr, error)) (*Expr, error) {
	first, err := operand(depth)
	if err != nil {
		return nil, err
	}
	args := []*Expr{first}
	for {
		p.space()
		if !p.keyword(op) {
			break
		}
		p.space()
		if p.eof() {
			return nil, p.errAt(p.i, "expected a condition after %s", strings.ToUpper(op))
		}
		next, err := operand(depth)
		if err != nil {
			return nil, err
		}
		args = append(args, next)
	}
	if len(args) == 1 {
		return first, nil
	}
	e := &Expr{Op: op}
	for _, a := range args {
		if a.Op == op {
			e.Args = append(e.Args, a.Args...)
		} else {
			e.Args = append(e.Args, a)
		}
	}
	return e, nil
}

// unary parses a parenthesised expression or one condition.
func (p *filterParser) unary(depth int) (*Expr, error) {
	p.space()
	if p.eof() || p.s[p.i] != '(' {
		start := p.i
		if w := p.word(); strings.EqualFold(w, "and") || strings.EqualFold(w, "or") {
			return nil, p.errAt(start, "expected a condition, got %s", strings.ToUpper(w))
		}
		p.i = start
		c, err := p.cond()
		if err != nil {
			return nil, err
		}
		return &Expr{Cond: c}, nil
	}
	open := p.i
	if depth >= maxFilterDepth {
		return nil, p.errAt(open, "parentheses nested deeper than %d", maxFilterDepth)
	}
	p.i++
	p.space()
	switch {
	case p.eof():
		return nil, p.errAt(p.i, "expected a condition after '('")
	case p.s[p.i] == ')':
		return nil, p.errAt(open, "empty parentheses")
	}
	e, err := p.or(depth + 1)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.eof() || p.s[p.i] != ')' {
		return nil, p.errAt(p.i, "expected AND, OR or ')' to close the '(' of column %d, got %q", open+1, p.near(p.i))
	}
	p.i++
	return e, nil
}

// keyword consumes the word w (any case) when it comes next.
func (p *filterParser) keyword(w string) bool {
	start := p.i
	if strings.EqualFold(p.word(), w) {
		return true
	}
	p.i = start
	return false
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

// String formats f so that ParseFilter(f.String()) yields an equal Filter;
// an OR inside an AND is parenthesised.
func (f Filter) String() string {
	if f.Root == nil {
		return ""
	}
	return f.Root.string("")
}

// string formats e as an operand of an expression whose operator is parent.
func (e *Expr) string(parent string) string {
	if e.Op == "" {
		c := e.Cond
		return c.Kind + ".`" + c.Key + "` " + c.Op + " " + quoteLiteral(c.Value)
	}
	parts := make([]string, len(e.Args))
	for i, a := range e.Args {
		parts[i] = a.string(e.Op)
	}
	s := strings.Join(parts, " "+e.Op+" ")
	if parent == "and" && e.Op == "or" {
		return "(" + s + ")"
	}
	return s
}

func quoteLiteral(v string) string {
	if !strings.Contains(v, "'") {
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

// Match reports whether run r satisfies the filter; a comparison with a
// key the run lacks is false.
func (f Filter) Match(r *Run) bool {
	return f.Root == nil || f.Root.match(r)
}

func (e *Expr) match(r *Run) bool {
	switch e.Op {
	case "and":
		for _, a := range e.Args {
			if !a.match(r) {
				return false
			}
		}
		return true
	case "or":
		for _, a := range e.Args {
			if a.match(r) {
				return true
			}
		}
		return false
	}
	return e.Cond.match(r)
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
