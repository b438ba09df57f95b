package train

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// colPlan is the read-only part of a source column a chunk worker needs.
type colPlan struct {
	role    int
	name    string
	feat    int
	numeric bool
}

// tgtFirst is a target value's first appearance in a chunk (file order).
type tgtFirst struct {
	v    float64 // numeric target value, or the local code of a categorical one
	s    string  // raw label
	line int     // line relative to the chunk start
}

// chunkOut holds one chunk's parsed rows: numeric values as they are,
// categorical values as codes into chunk-local dictionaries that the
// assembler remaps to the global codes in file order.
type chunkOut struct {
	num    [][]float64
	codes  [][]int32
	levels [][]string // chunk-local levels (index = local code)
	dicts  []map[string]int32
	target []float64 // numeric target, or local code of a categorical target
	tgtNew []tgtFirst
	tgtNum map[float64]struct{}
	tgtCat map[string]int32
	ids    []string
	rows   int
	lines  int // newlines consumed (the next chunk starts that many lines later)
	// the first error in the chunk, if any (line relative to the chunk start)
	failed  bool
	errLine int
	errMsg  string
}

// reset prepares a reused chunkOut for the column layout.
func (o *chunkOut) reset(plan []colPlan, nfeat int) {
	if len(o.num) != nfeat {
		o.num = make([][]float64, nfeat)
		o.codes = make([][]int32, nfeat)
		o.levels = make([][]string, nfeat)
		o.dicts = make([]map[string]int32, nfeat)
	}
	for _, p := range plan {
		if p.role != roleFeature {
			continue
		}
		if p.numeric {
			o.num[p.feat] = o.num[p.feat][:0]
			continue
		}
		o.codes[p.feat] = o.codes[p.feat][:0]
		o.levels[p.feat] = o.levels[p.feat][:0]
		if o.dicts[p.feat] == nil {
			o.dicts[p.feat] = map[string]int32{}
		}
		clear(o.dicts[p.feat])
	}
	o.target = o.target[:0]
	o.tgtNew = o.tgtNew[:0]
	if o.tgtNum == nil {
		o.tgtNum = map[float64]struct{}{}
		o.tgtCat = map[string]int32{}
	}
	clear(o.tgtNum)
	clear(o.tgtCat)
	o.ids = o.ids[:0]
	o.rows, o.lines = 0, 0
	o.failed, o.errLine, o.errMsg = false, 0, ""
}

// grow makes room for rows more rows in every column.
func (o *chunkOut) grow(plan []colPlan, rows int, target bool) {
	for _, p := range plan {
		switch {
		case p.role != roleFeature:
		case p.numeric:
			o.num[p.feat] = slices.Grow(o.num[p.feat], rows)
		default:
			o.codes[p.feat] = slices.Grow(o.codes[p.feat], rows)
		}
	}
	if target {
		o.target = slices.Grow(o.target, rows)
	}
}

// fail records the chunk's first error.
func (o *chunkOut) fail(line int, format string, args ...any) {
	o.failed, o.errLine, o.errMsg = true, line, fmt.Sprintf(format, args...)
}

// chunkParser parses chunks with no quote characters; it mirrors
// csvReader.row (same values, same messages) on chunk-local state.
type chunkParser struct {
	plan       []colPlan
	nfeat      int
	delim      byte
	hasTarget  bool
	regression bool
	tgtNumeric bool
}

// parse fills o from data: whole lines (the last may lack its newline),
// no quote characters. It stops at the first error.
func (p *chunkParser) parse(data []byte, o *chunkOut) {
	o.reset(p.plan, p.nfeat)
	o.grow(p.plan, bytes.Count(data, []byte{'\n'})+1, p.hasTarget)
	line := 0
	for len(data) > 0 {
		var rec []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			rec, data = data[:i], data[i+1:]
			o.lines++
		} else {
			rec, data = data, nil
		}
		l := line
		line++
		if len(rec) > maxRecordBytes {
			o.fail(l, "line longer than %d bytes (is this a CSV file?)", maxRecordBytes)
			return
		}
		if n := len(rec); n > 0 && rec[n-1] == '\r' {
			rec = rec[:n-1]
		}
		if len(rec) == 0 {
			continue
		}
		if !p.row(rec, l, o) {
			return
		}
		o.rows++
	}
}

// row parses and appends one non-blank line; false after an error. Numeric
// fields are parsed in place (scanAt); anything unusual takes the
// general path of csvReader.row, with the same values and messages.
func (p *chunkParser) row(rec []byte, line int, o *chunkOut) bool {
	width := len(p.plan)
	pos := 0
	d := p.delim
	for i := range p.plan {
		if pos > len(rec) {
			return p.countError(rec, line, o)
		}
		c := &p.plan[i]
		if c.role == roleFeature && c.numeric {
			if v, end, ok := scanAt(rec, pos, d); ok {
				o.num[c.feat] = append(o.num[c.feat], v)
				pos = end + 1
				continue
			}
		}
		f := rec[pos:]
		if j := bytes.IndexByte(f, d); j >= 0 {
			f = f[:j]
		}
		pos += len(f) + 1
		if !p.cell(f, c, line, o) {
			if bytes.Count(rec, []byte{d})+1 != width {
				return p.countError(rec, line, o)
			}
			return false
		}
	}
	if pos <= len(rec) {
		return p.countError(rec, line, o)
	}
	return true
}

// countError reports a line with the wrong number of fields (checked before
// any cell, as csvReader does) and forgets the line's target values.
func (p *chunkParser) countError(rec []byte, line int, o *chunkOut) bool {
	for len(o.tgtNew) > 0 && o.tgtNew[len(o.tgtNew)-1].line == line {
		o.tgtNew = o.tgtNew[:len(o.tgtNew)-1]
	}
	o.fail(line, "%d fields, header has %d", bytes.Count(rec, []byte{p.delim})+1, len(p.plan))
	return false
}

// scanAt parses the field starting at rec[pos] when it is empty (missing:
// NaN) or a plain decimal taking parseFloatFast's exact path (same result), returning the
// field's end; ok is false otherwise.
func scanAt(rec []byte, pos int, delim byte) (v float64, end int, ok bool) {
	i := pos
	if i >= len(rec) || rec[i] == delim {
		return math.NaN(), i, true
	}
	// signs are random in real data: no branches on them
	c0 := rec[i]
	var sign uint64
	if c0 == '-' {
		sign = 1 << 63
	}
	skip := 0
	if c0 == '-' || c0 == '+' {
		skip = 1
	}
	i += skip
	var mant uint64
	d0 := i
	for ; i < len(rec); i++ {
		c := rec[i] - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + uint64(c)
	}
	nd := i - d0
	exp := 0
	if i < len(rec) && rec[i] == '.' {
		i++
		f0 := i
		for ; i < len(rec); i++ {
			c := rec[i] - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + uint64(c)
		}
		exp = f0 - i
		nd += i - f0
	}
	if nd == 0 || nd > 19 || (i < len(rec) && rec[i] != delim) || mant > 1<<53 {
		return 0, 0, false
	}
	f := float64(mant) / pow10[-exp]
	return math.Float64frombits(math.Float64bits(f) | sign), i, true
}

// cell appends one field; false after an error.
func (p *chunkParser) cell(field []byte, c *colPlan, line int, o *chunkOut) bool {
	switch c.role {
	case roleSkip:
	case roleFeature:
		if c.numeric {
			f := trimSpace(field)
			v := math.NaN()
			if !isMissing(f) {
				var err error
				if v, err = parseNumber(f); err != nil {
					o.fail(line, "%s", cellMsg(c.name, f, err))
					return false
				}
			}
			o.num[c.feat] = append(o.num[c.feat], v)
			return true
		}
		f := field
		code := int32(-1)
		if !isMissing(trimSpace(f)) {
			var ok bool
			d := o.dicts[c.feat]
			if code, ok = d[string(f)]; !ok {
				if !utf8.Valid(f) {
					o.fail(line, "column %q: value is not valid UTF-8", c.name)
					return false
				}
				code = int32(len(d))
				s := string(f)
				d[s] = code
				o.levels[c.feat] = append(o.levels[c.feat], s)
			}
		}
		o.codes[c.feat] = append(o.codes[c.feat], code)
	case roleTarget:
		if !p.target(field, line, c, o) {
			return false
		}
	case roleID:
		if !utf8.Valid(field) {
			o.fail(line, "column %q: value is not valid UTF-8", c.name)
			return false
		}
		o.ids = append(o.ids, string(field))
	}
	return true
}

// target reads one target cell (see csvReader.target).
func (p *chunkParser) target(raw []byte, line int, c *colPlan, o *chunkOut) bool {
	f := trimSpace(raw)
	if isMissing(f) {
		o.fail(line, "target column %q: missing value", c.name)
		return false
	}
	if p.tgtNumeric {
		v, err := parseNumber(f)
		if err != nil {
			o.fail(line, "%s", cellMsg(c.name, f, err))
			return false
		}
		if !p.regression {
			if _, ok := o.tgtNum[v]; !ok {
				// the file-wide count is at least the chunk's
				if len(o.tgtNum) >= maxClasses {
					o.fail(line, "target column %q: more than %d distinct values; use the regression objective", c.name, maxClasses)
					return false
				}
				o.tgtNum[v] = struct{}{}
				o.tgtNew = append(o.tgtNew, tgtFirst{v: v, s: string(f), line: line})
			}
		}
		o.target = append(o.target, v)
		return true
	}
	code, ok := o.tgtCat[string(f)]
	if !ok {
		if !utf8.Valid(f) {
			o.fail(line, "target column %q: value is not valid UTF-8", c.name)
			return false
		}
		if len(o.tgtCat) >= maxClasses {
			o.fail(line, "target column %q: more than %d distinct labels", c.name, maxClasses)
			return false
		}
		code = int32(len(o.tgtCat))
		s := string(f)
		o.tgtCat[s] = code
		o.tgtNew = append(o.tgtNew, tgtFirst{v: float64(code), s: s, line: line})
	}
	o.target = append(o.target, float64(code))
	return true
}
