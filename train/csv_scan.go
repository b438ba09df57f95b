package train

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxRecordBytes bounds one CSV record (one line, or several lines joined by a
// quoted newline). A longer record is reported as an error naming its line:
// such a line is almost always a file that is not CSV at all.
const maxRecordBytes = 4 << 20

// scanner splits a CSV byte stream into records (RFC 4180: quoted fields may
// hold the delimiter, newlines and doubled quotes). Field slices returned by
// next point into the scanner's buffers and are valid until the next call.
type scanner struct {
	r       io.Reader
	name    string
	delim   byte
	buf     []byte
	start   int // first unread byte in buf
	end     int // end of valid data in buf
	eof     bool
	line    int // physical line number of the next record (1-based)
	recLine int // line the last returned record started on
	fields  [][]byte
	offs    []int // quoted path: field end offsets into scratch
	scratch []byte
	bomDone bool
}

func newScanner(r io.Reader, name string, delim byte) *scanner {
	return &scanner{r: r, name: name, delim: delim, buf: make([]byte, 1<<20), line: 1}
}

// errorf formats an error naming file:line.
func (s *scanner) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", s.name, line, fmt.Sprintf(format, args...))
}

// fill reads more data, compacting and growing the buffer as needed. It
// reports whether any new bytes arrived.
func (s *scanner) fill() (bool, error) {
	if s.eof {
		return false, nil
	}
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.start, s.end = 0, n
	}
	if s.end == len(s.buf) {
		if len(s.buf) > maxRecordBytes {
			return false, s.errorf(s.line, "line longer than %d bytes (is this a CSV file?)", maxRecordBytes)
		}
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
			return n > 0, nil
		}
		if err != nil {
			return n > 0, fmt.Errorf("%s: read: %w", s.name, err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

// next returns the fields of the next non-blank record, or io.EOF.
func (s *scanner) next() ([][]byte, error) {
	for {
		if !s.bomDone && (s.end-s.start >= 3 || s.eof) {
			s.bomDone = true
			if bytes.HasPrefix(s.buf[s.start:s.end], []byte("\xef\xbb\xbf")) {
				s.start += 3
			}
		}
		data := s.buf[s.start:s.end]
		i := bytes.IndexByte(data, '\n')
		if (i < 0 && !s.eof) || !s.bomDone {
			if s.end-s.start > maxRecordBytes {
				return nil, s.errorf(s.line, "line longer than %d bytes (is this a CSV file?)", maxRecordBytes)
			}
			if _, err := s.fill(); err != nil {
				return nil, err
			}
			continue
		}
		var rec []byte
		consumed := 0
		if i < 0 {
			if len(data) == 0 {
				return nil, io.EOF
			}
			rec, consumed = data, len(data)
		} else {
			rec, consumed = data[:i], i+1
		}
		if bytes.IndexByte(rec, '"') >= 0 {
			f, ok, err := s.quoted(data)
			if err != nil {
				return nil, err
			}
			if !ok {
				if s.end-s.start > maxRecordBytes {
					return nil, s.errorf(s.line, "record longer than %d bytes (unbalanced quote?)", maxRecordBytes)
				}
				if _, err := s.fill(); err != nil {
					return nil, err
				}
				continue
			}
			return f, nil
		}
		if n := len(rec); n > 0 && rec[n-1] == '\r' {
			rec = rec[:n-1]
		}
		s.start += consumed
		s.recLine = s.line
		s.line++
		if len(rec) == 0 {
			continue
		}
		s.fields = s.fields[:0]
		for {
			j := bytes.IndexByte(rec, s.delim)
			if j < 0 {
				s.fields = append(s.fields, rec)
				break
			}
			s.fields = append(s.fields, rec[:j])
			rec = rec[j+1:]
		}
		return s.fields, nil
	}
}

// quoted parses one record that contains a quote character. ok is false when
// the buffer ends before the record does and more data may follow.
func (s *scanner) quoted(data []byte) (fields [][]byte, ok bool, err error) {
	s.scratch = s.scratch[:0]
	s.offs = s.offs[:0]
	pos, nl := 0, 0
	d := s.delim
	for {
		if pos < len(data) && data[pos] == '"' {
			pos++
			for {
				j := bytes.IndexByte(data[pos:], '"')
				if j < 0 {
					if s.eof {
						return nil, false, s.errorf(s.line, "unterminated quoted field")
					}
					return nil, false, nil
				}
				seg := data[pos : pos+j]
				nl += bytes.Count(seg, []byte{'\n'})
				s.scratch = append(s.scratch, seg...)
				pos += j + 1
				if pos < len(data) && data[pos] == '"' {
					s.scratch = append(s.scratch, '"')
					pos++
					continue
				}
				if pos >= len(data) && !s.eof {
					return nil, false, nil
				}
				break
			}
			s.offs = append(s.offs, len(s.scratch))
			if pos >= len(data) {
				break
			}
			c := data[pos]
			if c == d {
				pos++
				continue
			}
			if c == '\n' {
				pos++
				break
			}
			if c == '\r' && pos+1 < len(data) && data[pos+1] == '\n' {
				pos += 2
				break
			}
			if c == '\r' && pos+1 >= len(data) && !s.eof {
				return nil, false, nil
			}
			return nil, false, s.errorf(s.line+nl, "unexpected %q after closing quote of field %d", c, len(s.offs))
		}
		// Unquoted field: up to the delimiter or end of line. A quote inside
		// an unquoted field is kept literally.
		j := pos
		for j < len(data) && data[j] != d && data[j] != '\n' {
			j++
		}
		if j == len(data) && !s.eof {
			return nil, false, nil
		}
		f := data[pos:j]
		atEOL := j == len(data) || data[j] == '\n'
		if atEOL && len(f) > 0 && f[len(f)-1] == '\r' {
			f = f[:len(f)-1]
		}
		s.scratch = append(s.scratch, f...)
		s.offs = append(s.offs, len(s.scratch))
		pos = j + 1
		if atEOL {
			if j == len(data) {
				pos = j
			}
			break
		}
	}
	s.fields = s.fields[:0]
	prev := 0
	for _, o := range s.offs {
		s.fields = append(s.fields, s.scratch[prev:o])
		prev = o
	}
	s.start += pos
	s.recLine = s.line
	s.line += 1 + nl
	return s.fields, true, nil
}

// pow10 holds the exactly representable powers of ten (read-only table).
var pow10 = [23]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloatFast parses plain decimals ("-12.5e3") whose mantissa and
// exponent allow an exact result (Clinger's fast path); ok is false when the
// caller must fall back to strconv.ParseFloat. Results equal strconv's bit
// for bit.
func parseFloatFast(b []byte) (v float64, ok bool) {
	i, n := 0, len(b)
	if n == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	exp := 0
	// Count every digit (leading zeros too): 19 digits cannot overflow.
	d0 := i
	for ; i < n; i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + uint64(c)
	}
	nd := i - d0
	if i < n && b[i] == '.' {
		i++
		f0 := i
		for ; i < n; i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + uint64(c)
		}
		exp = f0 - i
		nd += i - f0
	}
	if nd > 19 {
		return 0, false
	}
	saw := nd > 0
	if !saw {
		return 0, false
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < n && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		e, ed := 0, 0
		for ; i < n; i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			if e < 10000 {
				e = e*10 + int(c)
			}
			ed++
		}
		if ed == 0 {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != n {
		return 0, false
	}
	if mant == 0 {
		if neg {
			return negZero(), true
		}
		return 0, true
	}
	if mant > 1<<53 || exp < -22 || exp > 22 {
		return 0, false
	}
	f := float64(mant)
	if exp < 0 {
		f /= pow10[-exp]
	} else {
		f *= pow10[exp]
	}
	if neg {
		f = -f
	}
	return f, true
}

func negZero() float64 {
	z := 0.0
	return -z
}

// errNotNumber and errInfinite classify number parse failures.
var (
	errNotNumber = errors.New("not a number")
	errInfinite  = errors.New("infinite value")
)

// trimSpace strips ASCII spaces and tabs.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isMissing reports the missing-value tokens: empty, NA, NaN, null (case-insensitive).
func isMissing(b []byte) bool {
	switch len(b) {
	case 0:
		return true
	case 2:
		return (b[0]|0x20) == 'n' && (b[1]|0x20) == 'a'
	case 3:
		return (b[0]|0x20) == 'n' && (b[1]|0x20) == 'a' && (b[2]|0x20) == 'n'
	case 4:
		return (b[0]|0x20) == 'n' && (b[1]|0x20) == 'u' && (b[2]|0x20) == 'l' && (b[3]|0x20) == 'l'
	}
	return false
}

// parseNumber parses a trimmed, non-missing field as a finite float64.
func parseNumber(b []byte) (float64, error) {
	if v, ok := parseFloatFast(b); ok {
		return v, nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && (v > 1 || v < -1) {
			return 0, errInfinite
		}
		if !errors.Is(err, strconv.ErrRange) {
			return 0, errNotNumber
		}
	}
	if v != v {
		return 0, errNotNumber
	}
	if v > 1.7976931348623157e308 || v < -1.7976931348623157e308 {
		return 0, errInfinite
	}
	return v, nil
}
