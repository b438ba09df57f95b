package mlflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// MLflow's Python client cannot be installed here (it is not in Debian and
// PyPI is out of reach), so these tests replay the HTTP exchanges it makes,
// byte for byte as its REST stores send them (testdata/replay/*.json: bodies
// are message_to_json's output re-encoded by requests' json=, GET fields are
// query parameters, int64 fields are JSON numbers), and check that every
// answer parses into the protobuf message the client parses it into, with
// the rules of protobuf's json_format.ParseDict(ignore_unknown_fields=True):
// known fields must have their type, unknown fields are ignored.

type replayFile struct {
	Doc       string           `json:"doc"`
	Client    string           `json:"client"`
	Exchanges []replayExchange `json:"exchanges"`
}

type replayExchange struct {
	Call     string            `json:"call"`   // the client call that sends it
	Method   string            `json:"method"` // as the client sends it
	Path     string            `json:"path"`
	Headers  map[string]string `json:"headers"`
	Body     *string           `json:"body"`      // exact request body
	BodyFile string            `json:"body_file"` // "@driftd-model": the uploaded file
	Status   int               `json:"status"`
	Message  string            `json:"response_message"` // protobuf message the client parses the answer into ("" = none)
	Expect   json.RawMessage   `json:"expect"`           // subset the client relies on
	Capture  map[string]string `json:"capture"`
}

// protoFields are the JSON fields of the messages the client parses, with
// their protobuf types (from mlflow/protos/service.proto and model_registry.proto).
var protoFields = map[string]map[string]string{
	"Empty":                               {},
	"Error":                               {"error_code": "string", "message": "string"},
	"CreateExperiment.Response":           {"experiment_id": "string"},
	"GetExperiment.Response":              {"experiment": "Experiment"},
	"GetExperimentByName.Response":        {"experiment": "Experiment"},
	"CreateRun.Response":                  {"run": "Run"},
	"GetRun.Response":                     {"run": "Run"},
	"UpdateRun.Response":                  {"run_info": "RunInfo"},
	"SearchRuns.Response":                 {"runs": "[]Run", "next_page_token": "string"},
	"GetMetricHistory.Response":           {"metrics": "[]Metric", "next_page_token": "string"},
	"CreateRegisteredModel.Response":      {"registered_model": "RegisteredModel"},
	"GetRegisteredModel.Response":         {"registered_model": "RegisteredModel"},
	"CreateModelVersion.Response":         {"model_version": "ModelVersion"},
	"GetModelVersionByAlias.Response":     {"model_version": "ModelVersion"},
	"GetModelVersionDownloadUri.Response": {"artifact_uri": "string"},
	"Experiment": {"experiment_id": "string", "name": "string", "artifact_location": "string", "lifecycle_stage": "string",
		"last_update_time": "int64", "creation_time": "int64", "tags": "[]ExperimentTag"},
	"ExperimentTag": {"key": "string", "value": "string"},
	"Run":           {"info": "RunInfo", "data": "RunData", "inputs": "RunInputs"},
	"RunInfo": {"run_id": "string", "run_uuid": "string", "run_name": "string", "experiment_id": "string", "user_id": "string",
		"status": "enum:RunStatus", "start_time": "int64", "end_time": "int64", "artifact_uri": "string", "lifecycle_stage": "string"},
	"RunData":      {"metrics": "[]Metric", "params": "[]Param", "tags": "[]RunTag"},
	"Metric":       {"key": "string", "value": "double", "timestamp": "int64", "step": "int64"},
	"Param":        {"key": "string", "value": "string"},
	"RunTag":       {"key": "string", "value": "string"},
	"RunInputs":    {"dataset_inputs": "[]DatasetInput"},
	"DatasetInput": {"tags": "[]InputTag", "dataset": "Dataset"},
	"InputTag":     {"key": "string", "value": "string"},
	"Dataset": {"name": "string", "digest": "string", "source_type": "string", "source": "string", "schema": "string",
		"profile": "string"},
	"RegisteredModel": {"name": "string", "creation_timestamp": "int64", "last_updated_timestamp": "int64", "user_id": "string",
		"description": "string", "latest_versions": "[]ModelVersion", "tags": "[]RegisteredModelTag", "aliases": "[]RegisteredModelAlias"},
	"RegisteredModelTag":   {"key": "string", "value": "string"},
	"RegisteredModelAlias": {"alias": "string", "version": "string"},
	"ModelVersion": {"name": "string", "version": "string", "creation_timestamp": "int64", "last_updated_timestamp": "int64",
		"user_id": "string", "current_stage": "string", "description": "string", "source": "string", "run_id": "string",
		"status": "enum:ModelVersionStatus", "status_message": "string", "tags": "[]ModelVersionTag", "run_link": "string",
		"aliases": "[]string"},
	"ModelVersionTag": {"key": "string", "value": "string"},
}

// protoEnums are the enum value names.
var protoEnums = map[string][]string{
	"RunStatus":          {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"},
	"ModelVersionStatus": {"PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY"},
}

// parseAs checks that v parses as a value of protobuf type typ.
func parseAs(v any, typ, at string) error {
	if v == nil {
		return nil // json_format clears the field
	}
	if elem, ok := strings.CutPrefix(typ, "[]"); ok {
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: repeated field is %T, not an array", at, v)
		}
		for i, e := range arr {
			if err := parseAs(e, elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case typ == "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: string field is %T (%v)", at, v, v)
		}
	case typ == "int64":
		switch x := v.(type) {
		case float64:
			if x != math.Trunc(x) {
				return fmt.Errorf("%s: int64 field is %v", at, x)
			}
		case string:
			if _, err := strconv.ParseInt(x, 10, 64); err != nil {
				return fmt.Errorf("%s: int64 field is %q", at, x)
			}
		default:
			return fmt.Errorf("%s: int64 field is %T", at, v)
		}
	case typ == "double":
		switch x := v.(type) {
		case float64:
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil && x != "NaN" && x != "Infinity" && x != "-Infinity" {
				return fmt.Errorf("%s: double field is %q", at, x)
			}
		default:
			return fmt.Errorf("%s: double field is %T", at, v)
		}
	case strings.HasPrefix(typ, "enum:"):
		s, ok := v.(string)
		if !ok || !slices.Contains(protoEnums[strings.TrimPrefix(typ, "enum:")], s) {
			return fmt.Errorf("%s: %v is not a %s", at, v, strings.TrimPrefix(typ, "enum:"))
		}
	default:
		fields, ok := protoFields[typ]
		if !ok {
			return fmt.Errorf("%s: no shape for message %s", at, typ)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: message %s is %T, not an object", at, typ, v)
		}
		for k, fv := range obj {
			if ft, known := fields[k]; known {
				if err := parseAs(fv, ft, at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func TestReplayPythonClient(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "replay", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no replay fixtures: %v", err)
	}
	model := mustDriftdModel(t)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var rf replayFile
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rf); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			s := newTestServer(t)
			vars := map[string]string{}
			for i, ex := range rf.Exchanges {
				where := fmt.Sprintf("%s exchange %d (%s: %s %s)", file, i, ex.Call, ex.Method, ex.Path)
				var body io.Reader
				switch {
				case ex.BodyFile == "@driftd-model":
					body = bytes.NewReader(model)
				case ex.Body != nil:
					body = strings.NewReader(expand(*ex.Body, vars))
				}
				req := httptest.NewRequest(ex.Method, expand(ex.Path, vars), body)
				req.Header.Set("Authorization", "Bearer "+testToken) // MLFLOW_TRACKING_TOKEN
				for k, v := range ex.Headers {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				s.e.ServeHTTP(rec, req)
				if rec.Code != ex.Status {
					t.Fatalf("%s: status %d, want %d: %s", where, rec.Code, ex.Status, rec.Body)
				}
				var got any
				// verify_rest_response: every answer under /api/2.0 must be a JSON object.
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("%s: answer is not JSON: %v: %s", where, err, rec.Body)
				}
				if _, ok := got.(map[string]any); !ok {
					t.Fatalf("%s: answer is not a JSON object: %s", where, rec.Body)
				}
				if rec.Code != http.StatusOK {
					// RestException reads error_code and message.
					if err := parseAs(got, "Error", "$"); err != nil || dig(got, "error_code") == nil {
						t.Fatalf("%s: not an MLflow error (%v): %s", where, err, rec.Body)
					}
				}
				if ex.Message != "" {
					if err := parseAs(got, ex.Message, "$"); err != nil {
						t.Fatalf("%s: the client cannot parse the answer: %v\n%s", where, err, rec.Body)
					}
				}
				if len(ex.Expect) > 0 {
					var want any
					if err := json.Unmarshal([]byte(expand(string(ex.Expect), vars)), &want); err != nil {
						t.Fatalf("%s: expect: %v", where, err)
					}
					if err := match(want, got, "$"); err != nil {
						t.Fatalf("%s: %v\n%s", where, err, rec.Body)
					}
				}
				for k, path := range ex.Capture {
					v := dig(got, path)
					if v == nil {
						t.Fatalf("%s: capture %s: nothing at %s", where, k, path)
					}
					vars[k] = fmt.Sprint(v)
				}
			}
		})
	}
}

func TestParseAs(t *testing.T) {
	tests := []struct {
		json, typ string
		ok        bool
	}{
		{`{"run_id": "1", "start_time": 12, "status": "RUNNING", "unknown": [1]}`, "RunInfo", true},
		{`{"start_time": "12"}`, "RunInfo", true},
		{`{"start_time": 1.5}`, "RunInfo", false},
		{`{"run_id": 1}`, "RunInfo", false},
		{`{"status": "DONE"}`, "RunInfo", false},
		{`{"metrics": [{"value": "NaN"}]}`, "RunData", true},
		{`{"metrics": {"value": 1}}`, "RunData", false},
		{`{"aliases": ["a", 1]}`, "ModelVersion", false},
		{`{"end_time": null}`, "RunInfo", true},
	}
	for _, tt := range tests {
		var v any
		if err := json.Unmarshal([]byte(tt.json), &v); err != nil {
			t.Fatal(err)
		}
		if err := parseAs(v, tt.typ, "$"); (err == nil) != tt.ok {
			t.Errorf("parseAs(%s, %s) = %v, want ok %v", tt.json, tt.typ, err, tt.ok)
		}
	}
}
