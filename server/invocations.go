package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/stream"
)

// mlflowKeys are the input formats of MLflow's scoring server, in the order
// its documentation lists them.
var mlflowKeys = []string{"dataframe_split", "dataframe_records", "instances", "inputs"}

// invocations is MLflow's scoring route: it scores the model the stream
// scores with (DRIFTD_MODEL in DRIFTD_SCORING_ENVIRONMENT) and answers
// {"predictions": [...]} plus driftd's model, version, scores and labels, so
// that clients written for an MLflow model server work unchanged.
func (s *serving) invocations(c echo.Context) (err error) {
	start := time.Now()
	model, rows := "", 0
	defer func() { s.observe(model, err, rows, start) }()
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Content-Type "+ct+": /invocations takes application/json (dataframe_split, dataframe_records, instances or inputs)")
	}
	r, err := s.resolve(c.Request().Context(), target{name: s.cfg.ModelName, environment: s.cfg.ScoringEnvironment})
	if err != nil {
		return err
	}
	model = s.cfg.ModelName
	rows, err = s.answer(c, r, true, func(body []byte) ([][]byte, error) {
		return parseInvocation(body, r.sm.m.Schema(), s.cfg.ServingMaxRows)
	})
	return err
}

// parseInvocation turns an MLflow scoring body into JSON records for
// stream's decoder: dataframe_split {"columns", "data"}, dataframe_records
// [{...}], and instances or inputs as a list of records, a list of rows in
// the schema's feature order, or an object of columns. Errors are 400s
// naming the format's key or the record; more than maxRows records is a 413.
func parseInvocation(b []byte, schema stream.Schema, maxRows int) ([][]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, badRequest("", "body is not a JSON object with one of %s: %v", strings.Join(mlflowKeys, ", "), err)
	}
	for k := range top {
		if k != "params" && !slices.Contains(mlflowKeys, k) {
			return nil, badRequest(k, "unknown key %q: give one of %s", k, strings.Join(mlflowKeys, ", "))
		}
	}
	key := ""
	for _, k := range mlflowKeys {
		if _, ok := top[k]; !ok {
			continue
		}
		if key != "" {
			return nil, badRequest(k, "give one of %s, not both %s and %s", strings.Join(mlflowKeys, ", "), key, k)
		}
		key = k
	}
	if key == "" {
		return nil, badRequest("", "no input: give one of %s", strings.Join(mlflowKeys, ", "))
	}
	raw := bytes.TrimSpace(top[key])
	switch {
	case key == "dataframe_split":
		var df struct {
			Columns []string            `json:"columns"`
			Data    [][]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &df); err != nil {
			return nil, badRequest(key, "want {\"columns\": [...], \"data\": [[...], ...]}: %v", err)
		}
		cols := df.Columns
		if cols == nil {
			cols = schema.Names
		}
		return rowsToRecords(key, cols, df.Data, maxRows)
	case key == "dataframe_records" && (len(raw) == 0 || raw[0] != '['):
		return nil, badRequest(key, "want a list of records [{...}, ...]")
	case len(raw) > 0 && raw[0] == '{':
		return columnsToRecords(key, raw, maxRows)
	case len(raw) > 0 && raw[0] == '[':
		first := skipSpace(raw, 1)
		if first < len(raw) && raw[first] == '[' {
			var data [][]json.RawMessage
			if err := json.Unmarshal(raw, &data); err != nil {
				return nil, badRequest(key, "want a list of rows [[...], ...]: %v", err)
			}
			return rowsToRecords(key, schema.Names, data, maxRows)
		}
		if first < len(raw) && raw[first] != '{' && raw[first] != ']' && len(schema.Names) == 1 {
			var data []json.RawMessage
			if err := json.Unmarshal(raw, &data); err != nil {
				return nil, badRequest(key, "want a list of values: %v", err)
			}
			rows := make([][]json.RawMessage, len(data))
			for i := range data {
				rows[i] = data[i : i+1]
			}
			return rowsToRecords(key, schema.Names, rows, maxRows)
		}
		return splitRecords(raw, maxRows)
	default:
		return nil, badRequest(key, "want a list of records, a list of rows or an object of columns")
	}
}

// rowsToRecords builds one JSON object per row from column names and the
// rows' raw values; a row of the wrong width is an error naming it.
func rowsToRecords(key string, cols []string, data [][]json.RawMessage, maxRows int) ([][]byte, error) {
	if len(data) > maxRows {
		return nil, errTooManyRows(maxRows)
	}
	if len(data) == 0 {
		return nil, badRequest(key, "no records")
	}
	names := make([][]byte, len(cols))
	for i, c := range cols {
		names[i] = appendJSONString(nil, c)
	}
	out := make([][]byte, len(data))
	for i, row := range data {
		if len(row) != len(cols) {
			return nil, badRequest(key, "record %d: %d values for %d columns %v", i, len(row), len(cols), cols)
		}
		b := make([]byte, 0, 16*len(row)+2)
		b = append(b, '{')
		for j, v := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, names[j]...)
			b = append(b, ':')
			b = append(b, v...)
		}
		out[i] = append(b, '}')
	}
	return out, nil
}

// columnsToRecords turns an object of equally long columns into records.
func columnsToRecords(key string, raw []byte, maxRows int) ([][]byte, error) {
	var cols map[string][]json.RawMessage
	if err := json.Unmarshal(raw, &cols); err != nil {
		return nil, badRequest(key, "want an object of columns {\"feature\": [values...]}: %v", err)
	}
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, badRequest(key, "no columns")
	}
	n := len(cols[names[0]])
	for _, c := range names[1:] {
		if len(cols[c]) != n {
			return nil, badRequest(c, "column %q has %d values, column %q %d: columns must be equally long", c, len(cols[c]), names[0], n)
		}
	}
	if n > maxRows {
		return nil, errTooManyRows(maxRows)
	}
	data := make([][]json.RawMessage, n)
	for i := range data {
		data[i] = make([]json.RawMessage, len(names))
		for j, c := range names {
			data[i][j] = cols[c][i]
		}
	}
	return rowsToRecords(key, names, data, maxRows)
}
