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
	fields [][]byte
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
	width := len(p.plan)
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
		fields := o.fields[:0]
		for {
			j := bytes.IndexByte(rec, p.delim)
			if j < 0 {
				fields = append(fields, rec)
				break
			}
			fields = append(fields, rec[:j])
			rec = rec[j+1:]
		}
		o.fields = fields
		if len(fields) != width {
			o.fail(l, "%d fields, header has %d", len(fields), width)
			return
		}
		if !p.row(fields, l, o) {
			return
		}
		o.rows++
	}
}

// row appends one record; false after an error.
func (p *chunkParser) row(rec [][]byte, line int, o *chunkOut) bool {
	for i := range rec {
		c := &p.plan[i]
		switch c.role {
		case roleSkip:
			continue
		case roleFeature:
			if c.numeric {
				f := trimSpace(rec[i])
				v := math.NaN()
				if !isMissing(f) {
					var err error
					if v, err = parseNumber(f); err != nil {
						o.fail(line, "%s", cellMsg(c.name, f, err))
						return false
					}
				}
				o.num[c.feat] = append(o.num[c.feat], v)
				continue
			}
			f := rec[i]
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
			if !p.target(rec[i], line, c, o) {
				return false
			}
		case roleID:
			if !utf8.Valid(rec[i]) {
				o.fail(line, "column %q: value is not valid UTF-8", c.name)
				return false
			}
			o.ids = append(o.ids, string(rec[i]))
		}
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
