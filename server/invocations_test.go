package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"driftd/stream"
)

// TestInvocationsFormats posts the same two records in each of MLflow's
// input formats, shaped like the examples of MLflow's "Deploy MLflow Model
// as a Local Inference Server" documentation (dataframe_split with columns
// and data, dataframe_records, instances as records and as rows, inputs as
// an object of columns): every format must answer the model's own scores.
func TestInvocationsFormats(t *testing.T) {
	a := mustServingApp(t, nil)
	scores, labels := wantScores(t, a, "1.0.0", recA, recB)
	formats := []struct{ name, body string }{
		{"dataframe_split", `{"dataframe_split": {"columns": ["x1", "x2", "plan"], "data": [[0.5, 3, "pro"], [-1.25, 9.5, "basic"]]}}`},
		{"dataframe_split with index", `{"dataframe_split": {"index": [0, 1], "columns": ["plan", "x2", "x1"], "data": [["pro", 3, 0.5], ["basic", 9.5, -1.25]]}}`},
		{"dataframe_records", `{"dataframe_records": [{"x1": 0.5, "x2": 3, "plan": "pro"}, {"x1": -1.25, "x2": 9.5, "plan": "basic"}]}`},
		{"instances records", `{"instances": [{"x1": 0.5, "x2": 3, "plan": "pro"}, {"x1": -1.25, "x2": 9.5, "plan": "basic"}]}`},
		{"instances rows", `{"instances": [[0.5, 3, "pro"], [-1.25, 9.5, "basic"]]}`},
		{"inputs columns", `{"inputs": {"x1": [0.5, -1.25], "x2": [3, 9.5], "plan": ["pro", "basic"]}}`},
		{"inputs with params", `{"inputs": [{"x1": 0.5, "x2": 3, "plan": "pro"}, {"x1": -1.25, "x2": 9.5, "plan": "basic"}], "params": {"k": 1}}`},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			status, b := a.post(t, "/invocations", a.token, f.body)
			if status != 200 {
				t.Fatalf("status %d: %s", status, b)
			}
			var got predictAnswer
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Scores) != fmt.Sprint(scores) || fmt.Sprint(got.Labels) != fmt.Sprint(labels) ||
				fmt.Sprint(got.Predictions) != fmt.Sprint(labels) || got.Version != "1.0.0" || got.Model != "drift-model" {
				t.Errorf("answer %s, want predictions/labels %v scores %v of drift-model 1.0.0", b, labels, scores)
			}
		})
	}
	errs := []struct {
		name, body string
		status     int
		field, msg string
	}{
		{"no format", `{"data": [[1]]}`, 400, "data", "unknown key"},
		{"two formats", `{"instances": [], "inputs": []}`, 400, "inputs", "not both instances and inputs"},
		{"empty object", `{}`, 400, "", "no input"},
		{"short row", `{"dataframe_split": {"columns": ["x1", "x2", "plan"], "data": [[0.5, 3, "pro"], [1, 2]]}}`, 400, "dataframe_split", "record 1: 2 values for 3 columns"},
		{"bad value", `{"dataframe_records": [{"x1": 0.5, "x2": 3, "plan": "pro"}, {"x1": true, "x2": 3, "plan": "pro"}]}`, 400, "x1", "record 1"},
		{"missing feature", `{"inputs": {"x1": [0.5], "plan": ["pro"]}}`, 400, "x2", "record 0"},
		{"uneven columns", `{"inputs": {"x1": [0.5, 1], "x2": [3], "plan": ["pro", "max"]}}`, 400, "x2", "equally long"},
		{"records not a list", `{"dataframe_records": {"x1": [1]}}`, 400, "dataframe_records", "list of records"},
		{"not json", `dataframe_split`, 400, "", "not a JSON object"},
	}
	for _, e := range errs {
		t.Run(e.name, func(t *testing.T) {
			status, b := a.post(t, "/invocations", a.token, e.body)
			var got apiError
			_ = json.Unmarshal(b, &got)
			if status != e.status || got.Field != e.field || !strings.Contains(got.Error, e.msg) {
				t.Errorf("%d %s, want %d field %q and %q", status, b, e.status, e.field, e.msg)
			}
		})
	}
	status, b := a.do(t, "POST", "/invocations", a.token, "text/csv", strings.NewReader("x1,x2,plan\n1,2,pro\n"))
	if status != 415 {
		t.Errorf("text/csv: %d %s, want 415", status, b)
	}
}

// FuzzSplitRecords checks that the array splitter never panics, never
// returns more than the bound, and returns only brace-delimited elements
// that stream's decoder can be handed.
func FuzzSplitRecords(f *testing.F) {
	for _, s := range []string{recA, "[" + recA + "," + recB + "]", `[{"a":"}"},{"b":[1,{"c":"\""}]}]`, `[{`, `[1]`, `[]`, `  [ {} , {} ] `, `[{}]x`} {
		f.Add([]byte(s))
	}
	dec := stream.NewDecoder(stream.Schema{Names: []string{"x1", "plan"}, Categorical: []bool{false, true}})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := splitRecords(b, 50)
		if err != nil {
			return
		}
		if len(recs) == 0 || len(recs) > 50 {
			t.Fatalf("%d records from %q", len(recs), b)
		}
		for _, r := range recs {
			if r[0] != '{' || (len(recs) > 1 && r[len(r)-1] != '}') {
				t.Fatalf("element %q of %q is not an object", r, b)
			}
			var out stream.Decoded
			_ = dec.Decode(r, &out) // must not panic
		}
	})
}

// FuzzParseInvocation checks that MLflow bodies never panic the parser
// and that what it accepts is bounded and made of JSON objects.
func FuzzParseInvocation(f *testing.F) {
	for _, s := range []string{
		`{"dataframe_split": {"columns": ["x1", "plan"], "data": [[0.5, "pro"]]}}`,
		`{"dataframe_records": [{"x1": 1, "plan": "a"}]}`,
		`{"instances": [[1, "a"], [2, "b"]]}`,
		`{"inputs": {"x1": [1, 2], "plan": ["a", "b"]}}`,
		`{"inputs": [1, 2, 3]}`,
		`{"params": {}}`,
	} {
		f.Add([]byte(s))
	}
	schema := stream.Schema{Names: []string{"x1", "plan"}, Categorical: []bool{false, true}}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parseInvocation(b, schema, 20)
		if err != nil {
			return
		}
		if len(recs) == 0 || len(recs) > 20 {
			t.Fatalf("%d records from %q", len(recs), b)
		}
		dec := stream.NewDecoder(schema)
		for _, r := range recs {
			if len(r) == 0 || r[0] != '{' {
				t.Fatalf("record %q of %q is not an object", r, b)
			}
			var out stream.Decoded
			_ = dec.Decode(r, &out)
		}
	})
}
