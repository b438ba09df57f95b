package mlflow

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MLflow's search filter grammar, as its documentation describes it:
//
//	filter     = [ comparison { "AND" comparison } ]
//	comparison = identifier op value
//	identifier = [ entity "." ] key          e.g. metrics.auc, params.`learning rate`, tags."team", status
//	entity     = metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run | dataset(s)
//	key        = bare | `backticked` | "double quoted"      bare: letters, digits, '_', '.'
//	op         = "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
//	value      = 'string' | "string" | number | "(" string { "," string } ")"
//
// Keywords are case-insensitive; an identifier without entity is an attribute.
// What each entity and attribute admits (numbers for metrics, strings for
// params, ...) depends on what is searched and is checked by schema.check.

// Entity kinds of an identifier.
const (
	kindAttribute = "attributes"
	kindMetric    = "metrics"
	kindParam     = "params"
	kindTag       = "tags"
	kindDataset   = "datasets"
)

// entityKinds maps every entity spelling MLflow accepts to its kind.
var entityKinds = map[string]string{
	"metric": kindMetric, "metrics": kindMetric,
	"param": kindParam, "params": kindParam, "parameter": kindParam, "parameters": kindParam,
	"tag": kindTag, "tags": kindTag,
	"attribute": kindAttribute, "attributes": kindAttribute, "attr": kindAttribute, "run": kindAttribute,
	"dataset": kindDataset, "datasets": kindDataset,
}

// maxFilterLen bounds a filter or order_by clause, so a hostile request cannot
// make the parser or a LIKE pattern allocate without bound.
const maxFilterLen = 16 << 10

// ParseError is a filter or order_by clause that does not parse; Pos is the
// byte offset of the problem in the text.
type ParseError struct {
	Pos int
	Msg string
}

// Error returns "offset N: msg".
func (e *ParseError) Error() string { return fmt.Sprintf("offset %d: %s", e.Pos, e.Msg) }

func parseErr(pos int, format string, args ...any) *ParseError {
	return &ParseError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Ident is an identifier of a filter or order_by clause: an entity kind and a key.
type Ident struct {
	Kind string // kindAttribute, kindMetric, kindParam, kindTag or kindDataset
	Key  string // the metric, param or tag key, or the attribute name
	Pos  int    // byte offset of the identifier
}

// String writes the identifier back in filter syntax.
func (id Ident) String() string { return id.Kind + "." + quoteKey(id.Key) }

// bareKey matches a key that needs no quotes.
var bareKey = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.]*$`)

// quoteKey writes a key bare, in backticks or in double quotes, whichever reads back.
func quoteKey(k string) string {
	switch {
	case bareKey.MatchString(k) && !strings.HasSuffix(k, "."):
		return k
	case !strings.Contains(k, "`"):
		return "`" + k + "`"
	}
	k = strings.ReplaceAll(k, `\`, `\\`)
	return `"` + strings.ReplaceAll(k, `"`, `""`) + `"`
}

// Comparison is one "identifier op value" of a filter.
type Comparison struct {
	Ident
	Op    string   // "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"
	Str   string   // the literal text (a string, or a number as written)
	Num   float64  // the literal as a number, when IsNum
	IsNum bool     // the literal is an unquoted number
	List  []string // the strings of IN and NOT IN
	ValAt int      // byte offset of the value
	re    *regexp.Regexp
}

// String writes the comparison back in filter syntax.
func (c Comparison) String() string {
	switch {
	case c.Op == "IS NULL" || c.Op == "IS NOT NULL":
		return c.Ident.String() + " " + c.Op
	case c.Op == "IN" || c.Op == "NOT IN":
		parts := make([]string, len(c.List))
		for i, s := range c.List {
			parts[i] = quoteString(s)
		}
		return c.Ident.String() + " " + c.Op + " (" + strings.Join(parts, ", ") + ")"
	case c.IsNum:
		return c.Ident.String() + " " + c.Op + " " + strconv.FormatFloat(c.Num, 'g', -1, 64)
	}
	return c.Ident.String() + " " + c.Op + " " + quoteString(c.Str)
}

// quoteString writes s as a single-quoted literal that reads back as s.
func quoteString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Filter is a parsed search filter: comparisons that must all hold.
type Filter struct {
	Conds []Comparison
}

// String writes the filter back in filter syntax ("" for the empty filter).
func (f Filter) String() string {
	parts := make([]string, len(f.Conds))
	for i, c := range f.Conds {
		parts[i] = c.String()
	}
	return strings.Join(parts, " AND ")
}

// ParseFilter parses an MLflow search filter; the empty string is the filter
// that matches everything. Errors are *ParseError naming the offset.
func ParseFilter(s string) (Filter, error) {
	if len(s) > maxFilterLen {
		return Filter{}, parseErr(maxFilterLen, "filter longer than %d bytes", maxFilterLen)
	}
	p := &parser{lx: lexer{src: s}}
	p.next()
	var f Filter
	if p.tok.kind == tEOF {
		return f, nil
	}
	for {
		c, err := p.comparison()
		if err != nil {
			return Filter{}, err
		}
		f.Conds = append(f.Conds, c)
		switch {
		case p.tok.kind == tEOF:
			return f, nil
		case p.tok.isWord("AND"):
			p.next()
		case p.tok.isWord("OR"):
			return Filter{}, parseErr(p.tok.pos, "OR is not supported: MLflow filters join comparisons with AND only")
		default:
			return Filter{}, parseErr(p.tok.pos, "expected AND or the end of the filter, found %s", p.tok)
		}
	}
}

// parser reads a filter or order_by clause one token ahead.
type parser struct {
	lx  lexer
	tok token
	err *ParseError
}

func (p *parser) next() {
	if p.err != nil {
		return
	}
	t, err := p.lx.next()
	if err != nil {
		p.err = err
		t = token{kind: tEOF, pos: err.Pos}
	}
	p.tok = t
}

// ident parses an identifier.
func (p *parser) ident() (Ident, error) {
	if p.err != nil {
		return Ident{}, p.err
	}
	t := p.tok
	if t.kind != tWord {
		return Ident{}, parseErr(t.pos, "expected an identifier such as metrics.auc, params.`name` or status, found %s", t)
	}
	p.next()
	if p.err != nil {
		return Ident{}, p.err
	}
	prefix, key, dotted := strings.Cut(t.text, ".")
	if !dotted {
		return Ident{Kind: kindAttribute, Key: t.text, Pos: t.pos}, p.errOrNil()
	}
	kind, ok := entityKinds[strings.ToLower(prefix)]
	if !ok {
		return Ident{}, parseErr(t.pos, "unknown entity %q in %q (use metrics, params, tags or attributes)", prefix, t.text)
	}
	if key == "" {
		// A quoted key right after the dot: metrics.`my key`, tags."team".
		if (p.tok.kind == tBacktick || p.tok.kind == tDouble) && p.tok.pos == t.pos+len(t.text) {
			key = p.tok.text
			p.next()
		}
		if key == "" {
			return Ident{}, parseErr(t.pos+len(t.text), "expected a key after %q", t.text)
		}
	}
	return Ident{Kind: kind, Key: key, Pos: t.pos}, p.errOrNil()
}

// comparison parses "identifier op value".
func (p *parser) comparison() (Comparison, error) {
	id, err := p.ident()
	if err != nil {
		return Comparison{}, err
	}
	c := Comparison{Ident: id}
	t := p.tok
	switch {
	case t.kind == tOp:
		c.Op = t.text
		if c.Op == "<>" {
			c.Op = "!="
		}
	case t.isWord("LIKE"), t.isWord("ILIKE"), t.isWord("IN"):
		c.Op = strings.ToUpper(t.text)
	case t.isWord("NOT"):
		p.next()
		if !p.tok.isWord("IN") {
			return Comparison{}, parseErr(p.tok.pos, "expected IN after NOT, found %s", p.tok)
		}
		c.Op = "NOT IN"
	case t.isWord("IS"):
		p.next()
		c.Op = "IS NULL"
		if p.tok.isWord("NOT") {
			c.Op = "IS NOT NULL"
			p.next()
		}
		if !p.tok.isWord("NULL") {
			return Comparison{}, parseErr(p.tok.pos, "expected NULL, found %s", p.tok)
		}
		p.next()
		return c, p.errOrNil()
	default:
		return Comparison{}, parseErr(t.pos, "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL) after %s, found %s", id, t)
	}
	p.next()
	if p.err != nil {
		return Comparison{}, p.err
	}
	c.ValAt = p.tok.pos
	if c.Op == "IN" || c.Op == "NOT IN" {
		list, err := p.list()
		if err != nil {
			return Comparison{}, err
		}
		c.List = list
		return c, nil
	}
	switch p.tok.kind {
	case tString, tDouble:
		c.Str = p.tok.text
	case tNumber:
		n, err := strconv.ParseFloat(p.tok.text, 64)
		if err != nil {
			return Comparison{}, parseErr(p.tok.pos, "bad number %q", p.tok.text)
		}
		c.Str, c.Num, c.IsNum = p.tok.text, n, true
	default:
		return Comparison{}, parseErr(p.tok.pos, "expected a value ('text' or a number) after %s %s, found %s", id, c.Op, p.tok)
	}
	p.next()
	if c.Op == "LIKE" || c.Op == "ILIKE" {
		if c.IsNum {
			return Comparison{}, parseErr(c.ValAt, "%s needs a quoted pattern, found the number %s", c.Op, c.Str)
		}
		re, err := likePattern(c.Str, c.Op == "ILIKE")
		if err != nil {
			return Comparison{}, parseErr(c.ValAt, "pattern %s: %v", quoteString(c.Str), err)
		}
		c.re = re
	}
	return c, p.errOrNil()
}

func (p *parser) errOrNil() error {
	if p.err != nil {
		return p.err
	}
	return nil
}

// list parses "( 'a', 'b', ... )".
func (p *parser) list() ([]string, error) {
	if p.tok.kind != tLParen {
		return nil, parseErr(p.tok.pos, "expected ( and a list of quoted values, found %s", p.tok)
	}
	p.next()
	var out []string
	for {
		if p.tok.kind != tString && p.tok.kind != tDouble {
			return nil, parseErr(p.tok.pos, "expected a quoted value in the list, found %s", p.tok)
		}
		out = append(out, p.tok.text)
		p.next()
		switch p.tok.kind {
		case tComma:
			p.next()
		case tRParen:
			p.next()
			return out, p.errOrNil()
		default:
			return nil, parseErr(p.tok.pos, "expected , or ) in the list, found %s", p.tok)
		}
	}
}

// likePattern compiles a SQL LIKE pattern ('%' any run, '_' one character) to
// an anchored regular expression; ilike makes it case-insensitive.
func likePattern(pat string, ilike bool) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("(?s")
	if ilike {
		b.WriteString("i")
	}
	b.WriteString(")^")
	for _, r := range pat {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// OrderKey is one order_by clause: an identifier and a direction.
type OrderKey struct {
	Ident
	Desc bool
}

// ParseOrderBy parses order_by clauses such as "metrics.auc DESC" or
// "attributes.start_time"; errors name the clause and the offset in it.
func ParseOrderBy(clauses []string) ([]OrderKey, error) {
	out := make([]OrderKey, 0, len(clauses))
	for i, cl := range clauses {
		if len(cl) > maxFilterLen {
			return nil, fmt.Errorf("order_by clause %d: %w", i, parseErr(maxFilterLen, "longer than %d bytes", maxFilterLen))
		}
		p := &parser{lx: lexer{src: cl}}
		p.next()
		id, err := p.ident()
		if err != nil {
			return nil, fmt.Errorf("order_by clause %d %q: %w", i, cl, err)
		}
		k := OrderKey{Ident: id}
		switch {
		case p.tok.isWord("DESC"):
			k.Desc = true
			p.next()
		case p.tok.isWord("ASC"):
			p.next()
		}
		if p.err != nil {
			return nil, fmt.Errorf("order_by clause %d %q: %w", i, cl, p.err)
		}
		if p.tok.kind != tEOF {
			return nil, fmt.Errorf("order_by clause %d %q: %w", i, cl, parseErr(p.tok.pos, "expected ASC, DESC or the end, found %s", p.tok))
		}
		out = append(out, k)
	}
	return out, nil
}
