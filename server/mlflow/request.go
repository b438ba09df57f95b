package mlflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// maxJSONBody bounds a JSON request body (MLflow documents 1 MB for log-batch;
// a search or a log-inputs call with schemas may be larger).
const maxJSONBody = 8 << 20

// bind decodes a request into v: the JSON body, or the query string for a GET
// and for a DELETE without a body (MLflow's Python client sends GET fields as
// query parameters, and its server accepts DELETE fields either way). Unknown
// fields are ignored, as newer clients send fields older servers lack.
func bind(c echo.Context, v any) error {
	req := c.Request()
	var body []byte
	if req.Method != http.MethodGet && req.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxJSONBody+1))
		if err != nil {
			return invalid("read request body: %v", err)
		}
		if len(body) > maxJSONBody {
			return invalid("request body larger than %d bytes", maxJSONBody)
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		q := map[string]any{}
		for k, vs := range c.QueryParams() {
			if len(vs) == 1 {
				q[k] = vs[0]
			} else {
				q[k] = vs
			}
		}
		var err error
		if body, err = json.Marshal(q); err != nil {
			return invalid("query string: %v", err)
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(body, err)
	}
	return nil
}

// jsonError describes a body that does not decode: the offset of a syntax
// error, or the field of a value of the wrong type.
func jsonError(body []byte, err error) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var fe *fieldError
	switch {
	case errors.As(err, &se):
		return invalid("malformed JSON request body at offset %d: %v", se.Offset, err)
	case errors.As(err, &te):
		return invalid("invalid value for parameter '%s': expected %s, got JSON %s (offset %d)", te.Field, te.Type, te.Value, te.Offset)
	case errors.As(err, &fe):
		return invalid("invalid value %s: %s", fe.value, fe.msg)
	}
	return invalid("request body: %v", err)
}

// fieldError is a value a flexible type could not decode.
type fieldError struct{ value, msg string }

func (e *fieldError) Error() string { return e.value + ": " + e.msg }

// unquote returns the text of a JSON string, or the raw JSON of another value.
func unquote(b []byte) (string, bool) {
	var s string
	if len(b) > 0 && b[0] == '"' && json.Unmarshal(b, &s) == nil {
		return s, true
	}
	return string(b), false
}

// optInt is an int64 request field given as a JSON number or a decimal string
// (protobuf's JSON form of int64, and every query parameter).
type optInt struct {
	V   int64
	Set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *optInt) UnmarshalJSON(b []byte) error {
	s, _ := unquote(b)
	if s == "null" || s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return &fieldError{value: string(b), msg: "not an integer"}
		}
		n = int64(f)
	}
	o.V, o.Set = n, true
	return nil
}

// optFloat is a double request field: a JSON number, or a string holding a
// number or protobuf's "NaN", "Infinity", "-Infinity".
type optFloat struct {
	V   float64
	Set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *optFloat) UnmarshalJSON(b []byte) error {
	s, _ := unquote(b)
	if s == "null" {
		return nil
	}
	var f float64
	switch s {
	case "NaN":
		f = math.NaN()
	case "Infinity", "inf":
		f = math.Inf(1)
	case "-Infinity", "-inf":
		f = math.Inf(-1)
	default:
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return &fieldError{value: string(b), msg: "not a number"}
		}
	}
	o.V, o.Set = f, true
	return nil
}

// optBool is a bool request field: JSON true/false or "true"/"false" in any case.
type optBool struct {
	V   bool
	Set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *optBool) UnmarshalJSON(b []byte) error {
	s, _ := unquote(b)
	switch strings.ToLower(s) {
	case "null":
		return nil
	case "true":
		o.V, o.Set = true, true
	case "false":
		o.V, o.Set = false, true
	default:
		return &fieldError{value: string(b), msg: "not true or false"}
	}
	return nil
}

// optString is a string request field that remembers whether it was given
// (a run_name of "" differs from no run_name).
type optString struct {
	V   string
	Set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *optString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s, ok := unquote(b)
	if !ok {
		return &fieldError{value: string(b), msg: "not a string"}
	}
	o.V, o.Set = s, true
	return nil
}

// strList is a repeated string field: a JSON array, or one string (a repeated
// query parameter given once).
type strList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *strList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if s, ok := unquote(b); ok {
		*l = strList{s}
		return nil
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return &fieldError{value: string(b), msg: "not a list of strings"}
	}
	*l = out
	return nil
}

// viewType is MLflow's ViewType: ACTIVE_ONLY (default), DELETED_ONLY or ALL, by
// name or by number (1, 2, 3).
type viewType string

// View types.
const (
	viewActive  viewType = "ACTIVE_ONLY"
	viewDeleted viewType = "DELETED_ONLY"
	viewAll     viewType = "ALL"
)

// UnmarshalJSON implements json.Unmarshaler.
func (v *viewType) UnmarshalJSON(b []byte) error {
	s, _ := unquote(b)
	switch strings.ToUpper(s) {
	case "null", "":
		*v = ""
	case "ACTIVE_ONLY", "1":
		*v = viewActive
	case "DELETED_ONLY", "2":
		*v = viewDeleted
	case "ALL", "3":
		*v = viewAll
	default:
		return &fieldError{value: string(b), msg: "not a view type (ACTIVE_ONLY, DELETED_ONLY or ALL)"}
	}
	return nil
}

// shows reports whether an entity that is (or is not) deleted is in view v.
func (v viewType) shows(deleted bool) bool {
	switch v {
	case viewAll:
		return true
	case viewDeleted:
		return deleted
	}
	return !deleted
}

// keyValue is a {key, value} pair of a request or a response.
type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}
