package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// readScoringBody reads a scoring request's body; a body over the limit is
// a 413, an empty one a 400.
func readScoringBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(r)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, errTooLarge(mbe.Limit)
	case err != nil:
		return nil, fmt.Errorf("read scoring body: %w", err)
	case len(b) == 0:
		return nil, badRequest("", "empty body: send a JSON record or an array of records")
	}
	return b, nil
}

// errTooManyRows is the 413 of a request with more records than allowed.
func errTooManyRows(limit int) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("too many records: one request may score at most %d (DRIFTD_SERVING_MAX_ROWS)", limit))
}

// splitRecords splits a body holding one JSON object or an array of them
// into the objects' bytes, which stream's decoder then validates. It only
// finds where each element begins and ends (strings and nesting respected);
// an element that is not an object, an array of more than maxRows, or a
// malformed array is an error naming the record index or byte offset.
func splitRecords(b []byte, maxRows int) ([][]byte, error) {
	i := skipSpace(b, 0)
	if i >= len(b) {
		return nil, badRequest("", "empty body: send a JSON record or an array of records")
	}
	if b[i] == '{' {
		return [][]byte{b[i:]}, nil
	}
	if b[i] != '[' {
		return nil, badRequest("", "body is neither a JSON object nor an array of objects")
	}
	var out [][]byte
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		if j := skipSpace(b, i+1); j != len(b) {
			return nil, badRequest("", "invalid JSON at byte %d: unexpected data after the array", j)
		}
		return nil, badRequest("", "no records: the array is empty")
	}
	for {
		if i >= len(b) {
			return nil, badRequest("", "invalid JSON at byte %d: unexpected end of input", i)
		}
		if len(out) == maxRows {
			return nil, errTooManyRows(maxRows)
		}
		if b[i] != '{' {
			return nil, badRequest("", "record %d: not a JSON object", len(out))
		}
		end, err := skipComposite(b, i)
		if err != nil {
			return nil, badRequest("", "record %d: %v", len(out), err)
		}
		out = append(out, b[i:end])
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, badRequest("", "invalid JSON at byte %d: unexpected end of input", i)
		}
		if b[i] == ']' {
			break
		}
		if b[i] != ',' {
			return nil, badRequest("", "invalid JSON at byte %d: expected ',' or ']' after record %d", i, len(out)-1)
		}
		i = skipSpace(b, i+1)
	}
	if j := skipSpace(b, i+1); j != len(b) {
		return nil, badRequest("", "invalid JSON at byte %d: unexpected data after the array", j)
	}
	return out, nil
}

// maxNesting bounds the depth skipComposite follows, like encoding/json.
const maxNesting = 10000

// skipComposite returns the offset just past the object or array starting
// at b[i], matching brackets outside strings.
func skipComposite(b []byte, i int) (int, error) {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
			if depth > maxNesting {
				return 0, fmt.Errorf("invalid JSON at byte %d: nested too deep", i)
			}
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case '"':
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return 0, fmt.Errorf("invalid JSON at byte %d: unterminated string", i)
			}
			i = j
		}
	}
	return 0, fmt.Errorf("invalid JSON at byte %d: unexpected end of input", i)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// appendScore appends a score as a JSON number, null when not finite.
func appendScore(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendScores appends a JSON array of scores.
func appendScores(b []byte, vs []float64) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendScore(b, v)
	}
	return append(b, ']')
}
