package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"driftd/registry"
)

// The XGBoost fixture of the import tests, made once with python3-xgboost
// by testdata/import/make_churn.py: a binary model with missing values and
// a categorical feature, its labelled reference, held-out rows whose
// support_calls drifted, and XGBoost's own predictions for them.
const (
	churnModel     = "testdata/import/churn.json"
	churnReference = "testdata/import/churn_reference.csv"
	churnHeldout   = "testdata/import/churn_heldout.csv"
	churnPred      = "testdata/import/churn_pred.csv"
)

// churnFeatures are the model's features in the file's order.
var churnFeatures = []string{"tenure", "monthly_charges", "support_calls", "age", "plan"}

// importPart is one part of a multipart import: a form name, a file name
// and the bytes.
type importPart struct {
	name, file string
	body       []byte
}

// mustRead reads a file.
func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// importMultipart posts parts as multipart/form-data to the import route
// with query and returns the status and answer.
func (t *testApp) importMultipart(tb testing.TB, model, query string, parts ...importPart) (int, []byte) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		fw, err := w.CreateFormFile(p.name, p.file)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := fw.Write(p.body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return t.do(tb, http.MethodPost, "/api/v1/models/"+model+"/versions/import?"+query, t.token, w.FormDataContentType(), &buf)
}

// churnParts are the model and reference parts of the churn import.
func churnParts(tb testing.TB) []importPart {
	tb.Helper()
	return []importPart{{"model", "churn.json", mustRead(tb, churnModel)}, {"reference", "churn_reference.csv", mustRead(tb, churnReference)}}
}

// heldoutRecords turns the held-out CSV into JSON feature records (an
// empty cell is null, plan its integer code) and returns them with their ids.
func heldoutRecords(tb testing.TB) (records []string, ids []string) {
	tb.Helper()
	rows, err := csv.NewReader(bytes.NewReader(mustRead(tb, churnHeldout))).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	header := rows[0]
	for _, r := range rows[1:] {
		fields := make([]string, len(header))
		for j, h := range header {
			switch {
			case h == "id":
				fields[j] = fmt.Sprintf("%q:%q", h, r[j])
			case r[j] == "":
				fields[j] = fmt.Sprintf("%q:null", h)
			default:
				fields[j] = fmt.Sprintf("%q:%s", h, r[j])
			}
		}
		records, ids = append(records, "{"+strings.Join(fields, ",")+"}"), append(ids, r[0])
	}
	return records, ids
}

// xgboostPredictions reads XGBoost's predictions of the held-out rows by id.
func xgboostPredictions(tb testing.TB) map[string]float64 {
	tb.Helper()
	rows, err := csv.NewReader(bytes.NewReader(mustRead(tb, churnPred))).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			tb.Fatal(err)
		}
		out[r[0]] = v
	}
	return out
}

// TestImportXGBoostEndToEnd is the "done when": an XGBoost model
// trained in Python is imported through the API, deployed, scores HTTP
// requests and a Kafka stream with XGBoost's own probabilities (within
// 1e-6), and its drift shows on the Drift page.
func TestImportXGBoostEndToEnd(t *testing.T) {
	a := mustStartApp(t, servingConfig(t, map[string]string{"DRIFT_WINDOW_SIZE": "200", "DRIFT_CHECK_INTERVAL": "50",
		"DRIFTD_DRIFT_MIN_WINDOW": "100", "DRIFTD_SERVING_DRIFT": "false"}))
	name := a.cfg.ModelName

	status, body := a.importMultipart(t, name, "format=xgboost&target=churned", churnParts(t)...)
	if status != http.StatusCreated {
		t.Fatalf("import: %d %s", status, body)
	}
	var v registry.Version
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var schema []string
	for _, f := range v.Schema {
		schema = append(schema, f.Name)
	}
	if v.Version != "1.0.0" || v.Params["source"] != "xgboost" || v.Algo != "gbdt" || v.ProfileSize == 0 ||
		v.Metrics["reference_auc"] < 0.7 || !slices.Equal(schema, churnFeatures) || v.Fingerprint.Rows != 1000 {
		t.Fatalf("imported version %s", body)
	}
	if v.Schema[4].Type != registry.FeatureCategorical {
		t.Errorf("plan is %s, want categorical", v.Schema[4].Type)
	}
	a.apiJSON(t, http.MethodPost, "/api/v1/models/"+name+"/deploy",
		map[string]string{"version": "1.0.0", "environment": "production", "reason": "imported from XGBoost"}, http.StatusOK, nil)
	uiWaitFor(t, "the imported version scoring", 10*time.Second, func() bool { return a.pipeline.scoringVersion() == "1.0.0" })

	records, ids := heldoutRecords(t)
	want := xgboostPredictions(t)

	// HTTP: the held-out rows in one request.
	status, body = a.post(t, "/api/v1/models/"+name+"/predict", a.token, "["+strings.Join(records, ",")+"]")
	if status != http.StatusOK {
		t.Fatalf("predict: %d %s", status, body)
	}
	var ans predictAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Version != "1.0.0" || len(ans.Scores) != len(ids) || !slices.Equal(ans.IDs, ids) {
		t.Fatalf("predict answered version %s, %d scores, ids %v", ans.Version, len(ans.Scores), ans.IDs)
	}
	for i, id := range ids {
		if math.Abs(ans.Scores[i]-want[id]) > 1e-6 {
			t.Errorf("HTTP %s: driftd %v, XGBoost %v", id, ans.Scores[i], want[id])
		}
	}

	// Kafka: the same rows on the features topic, the scores on predictions.
	ctx := context.Background()
	for i, rec := range records {
		if _, _, err := a.pipeline.Admin().ProduceTest(ctx, a.pipeline.Topics().Features, []byte(ids[i]), []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]float64{}
	uiWaitFor(t, "a prediction of every held-out row on the predictions topic", 30*time.Second, func() bool {
		for off := 0; ; {
			var page struct {
				Messages []struct {
					Value json.RawMessage `json:"value"`
				} `json:"messages"`
				Next int `json:"next"`
			}
			a.apiJSON(t, http.MethodGet, fmt.Sprintf("/api/v1/kafka/topics/%s/messages?offset=%d&limit=1000", a.pipeline.Topics().Predictions, off), nil, http.StatusOK, &page)
			for _, m := range page.Messages {
				var p struct {
					ID, Version string
					Score       float64
				}
				if err := json.Unmarshal(m.Value, &p); err != nil {
					t.Fatalf("prediction %s: %v", m.Value, err)
				}
				if p.Version != "1.0.0" {
					t.Fatalf("prediction by version %q: %s", p.Version, m.Value)
				}
				got[p.ID] = p.Score
			}
			if len(page.Messages) == 0 || page.Next <= off {
				break
			}
			off = page.Next
		}
		return len(got) >= len(ids)
	})
	for _, id := range ids {
		if math.Abs(got[id]-want[id]) > 1e-6 {
			t.Errorf("Kafka %s: driftd %v, XGBoost %v", id, got[id], want[id])
		}
	}

	// Drift: the stream's support_calls are 3 higher than the reference's.
	var drift driftJSON
	uiWaitFor(t, "a drift check of the imported model", 20*time.Second, func() bool {
		drift = driftJSON{}
		a.apiJSON(t, http.MethodGet, "/api/v1/drift", nil, http.StatusOK, &drift)
		return drift.Checked && drift.WindowRecords >= 100
	})
	var listed []string
	for _, f := range drift.Features {
		listed = append(listed, f.Name)
		if f.Name == "support_calls" && !f.Drifted {
			t.Errorf("support_calls shifted by 3 is not drifted: %+v", f)
		}
	}
	slices.Sort(listed)
	if wantNames := slices.Sorted(slices.Values(churnFeatures)); !slices.Equal(listed, wantNames) || drift.Version != "1.0.0" {
		t.Fatalf("drift of version %s lists %v, want %v", drift.Version, listed, wantNames)
	}
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/drift")
	for _, f := range churnFeatures {
		mustTestID(t, doc, "feature-"+f)
	}
	if got := nodeText(mustTestID(t, doc, "feature-support_calls")); !strings.Contains(got, "drifted") {
		t.Errorf("the Drift page's support_calls row = %q, want it drifted", got)
	}
}

// TestImportAPIReferencePath imports with the model file as the body and
// the reference as a server path, relative to the data directory.
func TestImportAPIReferencePath(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	if err := os.WriteFile(filepath.Join(a.cfg.DataDir, "ref.csv"), mustRead(t, churnReference), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := a.do(t, http.MethodPost, "/api/v1/models/churn/versions/import?format=xgboost&reference=ref.csv&version=2.0.0&description=from+the+notebook",
		a.token, "application/octet-stream", bytes.NewReader(mustRead(t, churnModel)))
	if status != http.StatusCreated {
		t.Fatalf("import: %d %s", status, body)
	}
	var v registry.Version
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Metrics["reference_auc"]; ok || v.Version != "2.0.0" || v.Description != "from the notebook" || v.Params["source"] != "xgboost" || v.ProfileSize == 0 {
		t.Errorf("version %s", body)
	}
}

// TestImportAPIRefused sends bad imports: each is a 4xx naming what is
// wrong and where, nothing is registered, and no upload is left behind.
func TestImportAPIRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.TrainDataDirs = []string{t.TempDir()}
	a := mustStartApp(t, cfg)
	if status, body := a.importMultipart(t, "churn", "format=xgboost&target=churned", churnParts(t)...); status != http.StatusCreated {
		t.Fatalf("first import: %d %s", status, body)
	}
	outside := filepath.Join(t.TempDir(), "ref.csv")
	if err := os.WriteFile(outside, mustRead(t, churnReference), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.cfg.DataDir, "ref.csv"), mustRead(t, churnReference), 0o600); err != nil {
		t.Fatal(err)
	}
	model := mustRead(t, churnModel)
	otherRef := mustRead(t, "../train/testdata/import/xgb_binary_data.csv")
	type raw struct {
		query, token string
		body         []byte
	}
	cases := []struct {
		name   string
		raw    *raw         // the model file as the body
		parts  []importPart // or a multipart upload (with query raw.query)
		query  string
		status int
		field  string
		inMsg  []string
	}{
		{name: "no token", raw: &raw{query: "format=xgboost&reference=ref.csv", body: model}, status: 401},
		{name: "no format", raw: &raw{query: "reference=ref.csv", body: model}, status: 400, field: "format", inMsg: []string{"format=xgboost"}},
		{name: "unknown format", raw: &raw{query: "format=onnx&reference=ref.csv", body: model}, status: 400, field: "format", inMsg: []string{`"onnx"`}},
		{name: "bad reference format", raw: &raw{query: "format=xgboost&reference=ref.csv&reference_format=xls", body: model}, status: 400, field: "reference_format", inMsg: []string{`"xls"`}},
		{name: "no reference", raw: &raw{query: "format=xgboost", body: model}, status: 400, field: "reference", inMsg: []string{"?reference=PATH"}},
		{name: "reference outside", raw: &raw{query: "format=xgboost&reference=" + url.QueryEscape(outside), body: model}, status: 400, field: "reference", inMsg: []string{outside, "DRIFTD_TRAIN_DATA_DIRS"}},
		{name: "reference not found", raw: &raw{query: "format=xgboost&reference=nope.csv", body: model}, status: 400, field: "reference", inMsg: []string{"nope.csv", "not found"}},
		{name: "empty body", raw: &raw{query: "format=xgboost&reference=ref.csv"}, status: 400, field: "model", inMsg: []string{"empty body"}},
		{name: "truncated model", raw: &raw{query: "format=xgboost&reference=ref.csv", body: model[:len(model)/3]}, status: 400, field: "model", inMsg: []string{"xgboost model", "invalid JSON"}},
		{name: "bad target", raw: &raw{query: "format=xgboost&reference=ref.csv&target=label", body: model}, status: 400, field: "target", inMsg: []string{`no target column "label"`}},
		{name: "taken version", raw: &raw{query: "format=xgboost&reference=ref.csv&version=1.0.0", body: model}, status: 409},
		{name: "reference lacks features", parts: []importPart{{"model", "churn.json", model}, {"reference", "other.csv", otherRef}}, query: "format=xgboost",
			status: 400, field: "reference", inMsg: []string{"other.csv", "3 of the model's 5 features", "monthly_charges, support_calls, plan"}},
		{name: "no reference part", parts: []importPart{{"model", "churn.json", model}}, query: "format=xgboost", status: 400, field: "reference", inMsg: []string{`no part "reference"`}},
		{name: "no model part", parts: []importPart{{"reference", "ref.csv", otherRef}}, query: "format=xgboost", status: 400, field: "model", inMsg: []string{`no part "model"`}},
		{name: "unknown part", parts: append(churnParts(t), importPart{"labels", "l.csv", []byte("x")}), query: "format=xgboost", status: 400, field: "labels", inMsg: []string{`unknown part "labels"`}},
		{name: "part and path", parts: churnParts(t), query: "format=xgboost&reference=ref.csv", status: 400, field: "reference", inMsg: []string{"not both"}},
		{name: "bad reference part", parts: []importPart{{"model", "churn.json", model}, {"reference", "ref.parquet", []byte("not parquet")}}, query: "format=xgboost",
			status: 400, field: "reference", inMsg: []string{"ref.parquet"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var status int
			var body []byte
			if tc.raw != nil {
				tok := a.token
				if tc.status == http.StatusUnauthorized {
					tok = ""
				}
				status, body = a.do(t, http.MethodPost, "/api/v1/models/churn/versions/import?"+tc.raw.query, tok, "application/octet-stream", bytes.NewReader(tc.raw.body))
			} else {
				status, body = a.importMultipart(t, "churn", tc.query, tc.parts...)
			}
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Fatalf("answer %s is not a JSON error: %v", body, err)
			}
			if e.Field != tc.field {
				t.Errorf("error %s names %q, want %q", body, e.Field, tc.field)
			}
			for _, w := range tc.inMsg {
				if !strings.Contains(e.Error, w) {
					t.Errorf("error %q lacks %q", e.Error, w)
				}
			}
		})
	}
	var list struct {
		Versions []registry.Version `json:"versions"`
	}
	a.apiJSON(t, http.MethodGet, "/api/v1/models/churn/versions", nil, http.StatusOK, &list)
	if len(list.Versions) != 1 || list.Versions[0].Version != "1.0.0" {
		t.Errorf("refused imports changed the versions: %+v", list.Versions)
	}
	left, _ := filepath.Glob(filepath.Join(a.cfg.DataDir, "tmp", "import-*"))
	if len(left) != 0 {
		t.Errorf("uploads left behind: %v", left)
	}
}

// TestImportUIProvenance checks that the model page says where each
// version came from, and that a version's page shows its parameters as
// read from the file and its feature importance by gain.
func TestImportUIProvenance(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	name := a.cfg.ModelName
	registerUIModel(t, a, name, "1.0.0", 1)
	if status, body := a.importMultipart(t, name, "format=xgboost&target=churned", churnParts(t)...); status != http.StatusCreated {
		t.Fatalf("import: %d %s", status, body)
	}
	var ref strings.Builder
	ref.WriteString("x,y,z,c\n")
	for i := range 50 {
		fmt.Fprintf(&ref, "%d,%d,%d,%d\n", i%7-3, i%5-2, i%11-5, []int{1, 2, 4, 70}[i%4])
	}
	if status, body := a.importMultipart(t, name, "format=lightgbm", importPart{"model", "lgb_binary.txt", mustRead(t, "../train/testdata/import/lgb_binary.txt")},
		importPart{"reference", "lgb.csv", []byte(ref.String())}); status != http.StatusCreated {
		t.Fatalf("LightGBM import: %d %s", status, body)
	}
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/models/" + name)
	for version, want := range map[string]string{"1.0.0": "driftd training", "1.1.0": "XGBoost import", "1.2.0": "LightGBM import"} {
		row := mustTestID(t, doc, "version-"+version)
		if got := nodeText(findElem(row, func(n *html.Node) bool { return attrOf(n, "data-field") == "source" })); !strings.Contains(got, want) {
			t.Errorf("version %s source %q, want %q", version, got, want)
		}
	}
	doc = s.mustGet("/models/" + name + "/versions/1.1.0")
	if got := nodeText(mustTestID(t, doc, "version-source")); !strings.Contains(got, "XGBoost import") {
		t.Errorf("version page source %q", got)
	}
	params := nodeText(mustTestID(t, doc, "version-params"))
	for _, w := range []string{"booster", "gbtree", "objective", "binary:logistic", "base_score", "xgboost_version", "1.7.4", "source", "xgboost"} {
		if !strings.Contains(params, w) {
			t.Errorf("parameters lack %q: %s", w, params)
		}
	}
	if got := nodeText(mustTestID(t, doc, "version-metrics")); !strings.Contains(got, "reference_auc") {
		t.Errorf("metrics %q lack reference_auc", got)
	}
	imp := mustTestID(t, doc, "version-importance")
	if got := nodeText(imp); !strings.Contains(got, "support_calls") || !strings.Contains(got, "tenure") {
		t.Errorf("importance chart %q lacks the features", got)
	}
	if got := nodeText(mustTestID(t, doc, "version-inputs")); !strings.Contains(got, "plan") || !strings.Contains(got, "categorical (4 levels)") {
		t.Errorf("inputs %q", got)
	}
	if status, _, _ := s.get("/models/" + name + "/versions/9.9.9"); status != http.StatusNotFound {
		t.Errorf("a missing version's page answered %d", status)
	}
}
