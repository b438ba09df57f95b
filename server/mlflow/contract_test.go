package mlflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// A contract fixture (testdata/contract/*.json) is a sequence of requests in
// MLflow's documented shapes against one fresh server, each with the status
// and the answer MLflow documents. Answers match as a subset: every key of
// the expected object must be there with a matching value (arrays match
// element by element and in length); "$any" matches any present value,
// "$absent" requires the key to be missing. "${name}" in a path, body or
// expected answer is a value captured from an earlier answer.
type contractFile struct {
	Doc   string         `json:"doc"`
	Steps []contractStep `json:"steps"`
}

type contractStep struct {
	Name      string            `json:"name"`
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Body      json.RawMessage   `json:"body"`
	RawBody   *string           `json:"raw_body"`
	BodyFile  string            `json:"body_file"` // "@driftd-model" or a path under testdata/
	Headers   map[string]string `json:"headers"`
	AdvanceMS int64             `json:"advance_ms"`
	Status    int               `json:"status"`
	Response  json.RawMessage   `json:"response"`
	RawResp   *string           `json:"response_raw"`
	RespFile  string            `json:"response_file"`
	Capture   map[string]string `json:"capture"`
}

func TestContract(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "contract", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no contract fixtures: %v", err)
	}
	model := mustDriftdModel(t)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var cf contractFile
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&cf); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			runContract(t, file, cf, model)
		})
	}
}

// runContract plays the steps of one fixture in order on a fresh server.
func runContract(t *testing.T, file string, cf contractFile, model []byte) {
	s := newTestServer(t)
	vars := map[string]string{}
	for i, st := range cf.Steps {
		name := st.Name
		if name == "" {
			name = st.Method + " " + st.Path
		}
		where := fmt.Sprintf("%s step %d (%s)", file, i, name)
		s.clock.Advance(time.Duration(st.AdvanceMS) * time.Millisecond)
		var body io.Reader
		switch {
		case st.BodyFile == "@driftd-model":
			body = bytes.NewReader(model)
		case st.BodyFile != "":
			b, err := os.ReadFile(filepath.Join("testdata", st.BodyFile))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			body = bytes.NewReader(b)
		case st.RawBody != nil:
			body = strings.NewReader(expand(*st.RawBody, vars))
		case len(st.Body) > 0:
			body = strings.NewReader(expand(string(st.Body), vars))
		}
		status, out := s.do(t, st.Method, expand(st.Path, vars), body, st.Headers)
		if status != st.Status {
			t.Fatalf("%s: status %d, want %d: %s", where, status, st.Status, out)
		}
		switch {
		case st.RawResp != nil:
			if string(out) != expand(*st.RawResp, vars) {
				t.Fatalf("%s: answer %q, want %q", where, out, *st.RawResp)
			}
			continue
		case st.RespFile == "@driftd-model":
			if !bytes.Equal(out, model) {
				t.Fatalf("%s: downloaded %d bytes, not the %d-byte model uploaded", where, len(out), len(model))
			}
			continue
		}
		var got any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: answer is not JSON: %v: %s", where, err, out)
		}
		if _, ok := got.(map[string]any); !ok {
			t.Fatalf("%s: answer is not a JSON object (MLflow clients refuse it): %s", where, out)
		}
		if len(st.Response) > 0 {
			var want any
			if err := json.Unmarshal([]byte(expand(string(st.Response), vars)), &want); err != nil {
				t.Fatalf("%s: expected answer: %v", where, err)
			}
			if err := match(want, got, "$"); err != nil {
				t.Fatalf("%s: %v\nanswer: %s", where, err, out)
			}
		}
		for k, path := range st.Capture {
			v := dig(got, path)
			if v == nil {
				t.Fatalf("%s: capture %s: nothing at %s in %s", where, k, path, out)
			}
			vars[k] = fmt.Sprint(v)
		}
	}
}

// expand replaces ${name} with captured values.
func expand(s string, vars map[string]string) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s = strings.ReplaceAll(s, "${"+k+"}", vars[k])
	}
	return s
}

// match checks that got contains want (see contractFile); at names the place.
func match(want, got any, at string) error {
	if w, ok := want.(string); ok && w == "$any" {
		if got == nil {
			return fmt.Errorf("%s: missing, want any value", at)
		}
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", at, got)
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, present := g[k]
			if s, ok := w[k].(string); ok && s == "$absent" {
				if present {
					return fmt.Errorf("%s.%s: present (%v), want absent", at, k, gv)
				}
				continue
			}
			if !present {
				return fmt.Errorf("%s.%s: missing, want %v", at, k, w[k])
			}
			if err := match(w[k], gv, at+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an array", at, got)
		}
		if len(g) != len(w) {
			return fmt.Errorf("%s: %d elements, want %d: %v", at, len(g), len(w), got)
		}
		for i := range w {
			if err := match(w[i], g[i], fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if want != got { // numbers, strings, booleans and null: same type and value
		return fmt.Errorf("%s: got %v (%T), want %v (%T)", at, got, got, want, want)
	}
	return nil
}
