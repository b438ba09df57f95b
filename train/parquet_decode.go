package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
)

// pqDecoder decodes column chunks into columns. One per worker: it keeps
// the buffers it reuses from page to page.
type pqDecoder struct {
	// vals is the buffer of the generic path (booleans, odd pages).
	vals []parquet.Value
	// num and str hold a page's non-null values, converted.
	num []float64
	str []string
	// dict is the dictionary that dictNum or dictStr were converted from.
	dict    parquet.Dictionary
	dictNum []float64
	dictStr []string
}

// pqWindow is where a column chunk's values go: rows [first, end) of col.
// Rows past len(col) are appended (the sequential read of a file whose
// footer claims too many rows to allocate up front); rows below it are
// written in place (the parallel read, where every window is its own).
type pqWindow struct {
	col *rawColumn
	// first, pos and end are rows of the file (0-based; errors say pos+1).
	first, pos, end int
}

// decodeChunk reads the column chunk ch, described by s, into w: exactly
// w.end-w.pos values, or an error naming the page and its first row.
func (d *pqDecoder) decodeChunk(ctx context.Context, ch parquet.ColumnChunk, s *pqSpec, w *pqWindow) (err error) {
	d.dict, d.dictNum, d.dictStr = nil, d.dictNum[:0], d.dictStr[:0]
	pages := ch.Pages()
	defer func() {
		if cerr := pages.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("page %d (from row %d): %w", n, w.pos+1, err)
		}
		at := w.pos
		err = d.page(p, s, w)
		parquet.Release(p)
		if err != nil {
			return fmt.Errorf("page %d (from row %d): %w", n, at+1, err)
		}
	}
	if w.pos != w.end {
		return fmt.Errorf("%d values for %d rows", w.pos-w.first, w.end-w.first)
	}
	return nil
}

// page writes one page's values at w.pos and advances it.
func (d *pqDecoder) page(p parquet.Page, s *pqSpec, w *pqWindow) error {
	n64 := p.NumValues()
	if n64 < 0 || n64 > int64(w.end-w.pos) {
		return fmt.Errorf("%d values, more than the %d rows left in the row group", n64, w.end-w.pos)
	}
	n := int(n64)
	defs := p.DefinitionLevels()
	if s.maxDef > 0 && len(defs) != n || s.maxDef == 0 && len(defs) != 0 {
		return fmt.Errorf("%d definition levels for %d values", len(defs), n)
	}
	nonNull := n
	if s.maxDef > 0 {
		nonNull = 0
		for _, l := range defs {
			if l == s.maxDef {
				nonNull++
			}
		}
	}
	w.grow(n)
	data := p.Data()
	dict := p.Dictionary()
	switch {
	case s.kind == parquet.Boolean || dict == nil && data.Kind() != encodingKind(s.kind) ||
		dict != nil && (data.Kind() != encoding.Int32 || dict.Type().Kind() != s.kind):
		return d.generic(p, s, w, n)
	case s.isStr():
		src, err := d.pageStrings(data, dict, s)
		if err != nil {
			return err
		}
		if len(src) != nonNull {
			return fmt.Errorf("%d values for %d non-null rows", len(src), nonNull)
		}
		if nonNull == n {
			defs = nil // no nulls: a copy
		}
		scatterStr(w.col.str[w.pos:w.pos+n], w.col.valid[w.pos:w.pos+n], defs, s.maxDef, src)
	default:
		src, err := d.pageNumbers(data, dict, s)
		if err != nil {
			return err
		}
		if len(src) != nonNull {
			return fmt.Errorf("%d values for %d non-null rows", len(src), nonNull)
		}
		dst := w.col.num[w.pos : w.pos+n]
		if nonNull == n {
			defs = nil // no nulls: a copy
		}
		scatterNum(dst, defs, s.maxDef, src)
		if s.kind == parquet.Float || s.kind == parquet.Double || s.conv == convDecimalBytes {
			for i, x := range dst {
				if math.IsInf(x, 0) {
					return fmt.Errorf("row %d: infinite value", w.pos+i+1)
				}
			}
		}
	}
	w.pos += n
	return nil
}

// grow makes room for n more values at w.pos.
func (w *pqWindow) grow(n int) {
	c := w.col
	need := w.pos + n
	if c.isStr {
		if len(c.str) < need {
			c.str = slices.Grow(c.str, need-len(c.str))[:need]
			c.valid = slices.Grow(c.valid, need-len(c.valid))[:need]
		}
		return
	}
	if len(c.num) < need {
		c.num = slices.Grow(c.num, need-len(c.num))[:need]
	}
}

// scatterNum writes src (the non-null values) to dst, NaN at the nulls.
func scatterNum(dst []float64, defs []byte, maxDef byte, src []float64) {
	if len(defs) == 0 {
		copy(dst, src)
		return
	}
	j := 0
	for i, l := range defs {
		if l == maxDef {
			dst[i] = src[j]
			j++
		} else {
			dst[i] = math.NaN()
		}
	}
}

// scatterStr writes src (the non-null values) to str, valid false at the
// nulls.
func scatterStr(str []string, valid []bool, defs []byte, maxDef byte, src []string) {
	if len(defs) == 0 {
		copy(str, src)
		for i := range valid {
			valid[i] = true
		}
		return
	}
	j := 0
	for i, l := range defs {
		if l == maxDef {
			str[i], valid[i] = src[j], true
			j++
		} else {
			str[i], valid[i] = "", false
		}
	}
}

// pageNumbers returns a page's non-null values as numbers: the page's own
// float64s when they need no conversion, else d.num.
func (d *pqDecoder) pageNumbers(data encoding.Values, dict parquet.Dictionary, s *pqSpec) ([]float64, error) {
	if dict == nil {
		if s.kind == parquet.Double {
			return data.Double(), nil
		}
		var err error
		d.num, err = appendNumbers(d.num[:0], data, s)
		return d.num, err
	}
	if d.dict != dict {
		var err error
		if d.dictNum, err = appendNumbers(d.dictNum[:0], dict.Page().Data(), s); err != nil {
			return nil, fmt.Errorf("dictionary: %w", err)
		}
		d.dict = dict
	}
	idx := data.Int32()
	d.num = slices.Grow(d.num[:0], len(idx))[:len(idx)]
	for i, k := range idx {
		if uint(k) >= uint(len(d.dictNum)) {
			return nil, fmt.Errorf("dictionary index %d out of range (%d entries)", k, len(d.dictNum))
		}
		d.num[i] = d.dictNum[k]
	}
	return d.num, nil
}

// pageStrings returns a page's non-null values as text in d.str.
func (d *pqDecoder) pageStrings(data encoding.Values, dict parquet.Dictionary, s *pqSpec) ([]string, error) {
	clear(d.str)
	if dict == nil {
		var err error
		d.str, err = appendStrings(d.str[:0], data, s)
		return d.str, err
	}
	// Dictionary strings are made once per column chunk: rows share them.
	if d.dict != dict {
		clear(d.dictStr)
		var err error
		if d.dictStr, err = appendStrings(d.dictStr[:0], dict.Page().Data(), s); err != nil {
			return nil, fmt.Errorf("dictionary: %w", err)
		}
		d.dict = dict
	}
	idx := data.Int32()
	d.str = slices.Grow(d.str[:0], len(idx))[:len(idx)]
	for i, k := range idx {
		if uint(k) >= uint(len(d.dictStr)) {
			return nil, fmt.Errorf("dictionary index %d out of range (%d entries)", k, len(d.dictStr))
		}
		d.str[i] = d.dictStr[k]
	}
	return d.str, nil
}

// appendNumbers appends the values of data (of s's physical type),
// converted to numbers, to dst.
func appendNumbers(dst []float64, data encoding.Values, s *pqSpec) ([]float64, error) {
	switch s.kind {
	case parquet.Int32:
		for _, x := range data.Int32() {
			dst = append(dst, s.int64Number(int64(x), uint64(uint32(x))))
		}
	case parquet.Int64:
		for _, x := range data.Int64() {
			dst = append(dst, s.int64Number(x, uint64(x)))
		}
	case parquet.Int96:
		for _, x := range data.Int96() {
			dst = append(dst, int96Seconds(x))
		}
	case parquet.Float:
		for _, x := range data.Float() {
			dst = append(dst, float64(x))
		}
	case parquet.Double:
		dst = append(dst, data.Double()...)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if s.conv != convDecimalBytes {
			return dst, fmt.Errorf("a %s column read as numbers", s.kind)
		}
		err := eachBytes(data, s, func(b []byte) error {
			dst = append(dst, decimalBytes(b, s))
			return nil
		})
		return dst, err
	default:
		return dst, fmt.Errorf("a %s column read as numbers", s.kind)
	}
	return dst, nil
}

// appendStrings appends the values of data (of s's physical type) as text
// to dst.
func appendStrings(dst []string, data encoding.Values, s *pqSpec) ([]string, error) {
	switch {
	case s.conv == convIntText && s.kind == parquet.Int32:
		for _, x := range data.Int32() {
			dst = append(dst, intText(int64(x), uint64(uint32(x)), s))
		}
	case s.conv == convIntText && s.kind == parquet.Int64:
		for _, x := range data.Int64() {
			dst = append(dst, intText(x, uint64(x), s))
		}
	case s.conv == convText || s.conv == convUUID:
		err := eachBytes(data, s, func(b []byte) error {
			if s.conv == convUUID {
				dst = append(dst, uuidText(b))
			} else {
				dst = append(dst, string(b))
			}
			return nil
		})
		return dst, err
	default:
		return dst, fmt.Errorf("a %s column read as text", s.kind)
	}
	return dst, nil
}

// eachBytes calls f with every value of a BYTE_ARRAY or
// FIXED_LEN_BYTE_ARRAY data block, checking its offsets.
func eachBytes(data encoding.Values, s *pqSpec, f func([]byte) error) error {
	if s.kind == parquet.FixedLenByteArray {
		b, size := data.FixedLenByteArray()
		if size <= 0 || len(b)%size != 0 {
			return fmt.Errorf("%d bytes of values of %d bytes each", len(b), size)
		}
		for i := 0; i < len(b); i += size {
			if err := f(b[i : i+size]); err != nil {
				return err
			}
		}
		return nil
	}
	b, offsets := data.ByteArray()
	for i := 0; i+1 < len(offsets); i++ {
		lo, hi := offsets[i], offsets[i+1]
		if lo > hi || int(hi) > len(b) {
			return fmt.Errorf("value %d: offsets %d-%d outside %d bytes", i, lo, hi, len(b))
		}
		if err := f(b[lo:hi]); err != nil {
			return err
		}
	}
	return nil
}

// generic reads a page through parquet.Value: booleans, and any page whose
// data is not laid out as its column's type.
func (d *pqDecoder) generic(p parquet.Page, s *pqSpec, w *pqWindow, n int) error {
	if d.vals == nil {
		d.vals = make([]parquet.Value, 1024)
	}
	vr := p.Values()
	got := 0
	for {
		k, err := vr.ReadValues(d.vals)
		if got+k > n {
			return fmt.Errorf("more than the page's %d values", n)
		}
		for i, v := range d.vals[:k] {
			at := w.pos + got + i
			if s.isStr() {
				w.col.str[at], w.col.valid[at] = "", false
				if !v.IsNull() {
					t, err := valueText(v, s)
					if err != nil {
						return err
					}
					w.col.str[at], w.col.valid[at] = t, true
				}
				continue
			}
			x, err := valueNumber(v, s)
			if err != nil {
				return err
			}
			if math.IsInf(x, 0) {
				return fmt.Errorf("row %d: infinite value", at+1)
			}
			w.col.num[at] = x
		}
		got += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if k == 0 {
			return fmt.Errorf("the page's values end after %d of %d", got, n)
		}
	}
	if got != n {
		return fmt.Errorf("%d values for %d rows", got, n)
	}
	w.pos += n
	return nil
}
