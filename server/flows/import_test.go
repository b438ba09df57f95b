package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"driftd/drift"
	"driftd/train"
)

// importRow is one row of the import tests' data: three numeric features
// (f1 sometimes missing), a categorical feature carried as integer codes,
// as XGBoost and LightGBM take them, and a binary label.
type importRow struct {
	F0    float64  `parquet:"f0"`
	F1    *float64 `parquet:"f1,optional"`
	F2    float64  `parquet:"f2"`
	Color int64    `parquet:"color"`
	Note  string   `parquet:"note"`
	Label int64    `parquet:"label"`
}

// importRows returns n deterministic rows.
func importRows(seed uint64, n int) []importRow {
	r := rand.New(rand.NewPCG(seed, 19))
	out := make([]importRow, n)
	for i := range out {
		row := importRow{F0: r.NormFloat64(), F2: r.Float64() * 10, Color: int64(r.IntN(3)), Note: fmt.Sprintf("n%d", i)}
		z := 1.5*row.F0 - 0.2*row.F2 + 1
		if r.IntN(8) != 0 {
			f1 := r.NormFloat64()
			row.F1 = &f1
			z += f1
		}
		if row.Color == 2 {
			z -= 1.5
		}
		if r.Float64() < 1/(1+math.Exp(-z)) {
			row.Label = 1
		}
		out[i] = row
	}
	return out
}

// writeImportCSV writes rows as CSV with the given columns, in that order.
func writeImportCSV(tb testing.TB, path string, cols []string, rows []importRow) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(cols, ",") + "\n")
	for _, r := range rows {
		cells := make([]string, len(cols))
		for j, c := range cols {
			switch c {
			case "f0":
				cells[j] = fmt.Sprintf("%.6f", r.F0)
			case "f1":
				if r.F1 != nil {
					cells[j] = fmt.Sprintf("%.6f", *r.F1)
				}
			case "f2":
				cells[j] = fmt.Sprintf("%.6f", r.F2)
			case "color":
				cells[j] = fmt.Sprint(r.Color)
			case "note":
				cells[j] = r.Note
			case "label":
				cells[j] = fmt.Sprint(r.Label)
			}
		}
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// mustImportableModel trains a driftd model on importRows with color
// categorical: a model of the shape an XGBoost import has.
func mustImportableModel(tb testing.TB, dir string) *train.Model {
	tb.Helper()
	path := writeImportCSV(tb, filepath.Join(dir, "fit.csv"), []string{"f0", "f1", "f2", "color", "label"}, importRows(1, 600))
	ds, err := train.ReadCSVFile(path, train.CSVOptions{Target: "label", Categorical: []string{"color"}})
	if err != nil {
		tb.Fatal(err)
	}
	p := train.DefaultParams()
	p.Rounds, p.Threads = 20, 1
	m, err := train.Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestImportModel imports a model with CSV and Parquet references, with and
// without a target, and checks what is attached: the profile of the model's
// features in its order with the prediction, the calibrator only with
// labels, the metrics on the reference, and the fingerprint of the file.
func TestImportModel(t *testing.T) {
	dir := t.TempDir()
	ref := importRows(2, 400)
	// Columns in another order than the model's, and one it does not use.
	csvPath := writeImportCSV(t, filepath.Join(dir, "ref.csv"), []string{"note", "label", "color", "f2", "f1", "f0"}, ref)
	pqPath := filepath.Join(dir, "ref.parquet")
	if err := parquet.WriteFile(pqPath, ref); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, reference, refName, target, wantFile string
	}{
		{name: "csv with target", reference: csvPath, target: "label", wantFile: "ref.csv"},
		{name: "csv without target", reference: csvPath, wantFile: "ref.csv"},
		{name: "parquet with target", reference: pqPath, target: "label", wantFile: "ref.parquet"},
		{name: "upload named", reference: csvPath, refName: "my data.csv", target: "label", wantFile: "my data.csv"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustImportableModel(t, t.TempDir())
			want := m.Features()
			out, err := ImportModel(context.Background(), ImportSpec{Model: m, Reference: tc.reference,
				ReferenceName: tc.refName, Target: tc.target, DriftBins: 8})
			if err != nil {
				t.Fatal(err)
			}
			if out.Source != "driftd" || out.Objective != "binary" || out.Rows != len(ref) || out.Features != 4 || out.Trees != 20 {
				t.Fatalf("outcome %+v", out)
			}
			if len(out.FeatureImportance["gain"]) == 0 {
				t.Errorf("no gain importance: %v", out.FeatureImportance)
			}
			got, err := train.Decode(out.Artifact)
			if err != nil {
				t.Fatal(err)
			}
			pb, ok := got.Attachment("drift.profile")
			if !ok {
				t.Fatal("no drift profile attached")
			}
			prof, err := drift.DecodeProfile(pb)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range want {
				names = append(names, f.Name)
			}
			if !slices.Equal(prof.FeatureNames(), names) || prof.Rows != len(ref) || prof.Bins != 8 {
				t.Errorf("profile features %v (%d rows, %d bins), want %v (%d rows, 8 bins)", prof.FeatureNames(), prof.Rows, prof.Bins, names, len(ref))
			}
			if prof.Prediction == nil {
				t.Error("profile has no prediction reference")
			}
			var fp DatasetFingerprint
			b, _ := got.Attachment("dataset.json")
			if err := json.Unmarshal(b, &fp); err != nil {
				t.Fatal(err)
			}
			wantCols := 4
			if tc.target != "" {
				wantCols++
			}
			if fp.File != tc.wantFile || fp.Rows != len(ref) || fp.Columns != wantCols || len(fp.SHA256) != 64 {
				t.Errorf("fingerprint %+v, want file %q, %d rows, %d columns", fp, tc.wantFile, len(ref), wantCols)
			}
			if tc.target == "" {
				if out.Metrics != nil || out.MetricsOn != "" || prof.Calibration != nil || out.Calibration != "none: no target in the reference" {
					t.Errorf("without a target: metrics %v on %q, calibrator %v, calibration %q", out.Metrics, out.MetricsOn, prof.Calibration, out.Calibration)
				}
				return
			}
			// The metrics are the model's own on the reference rows.
			ds, err := train.ReadDataFileContext(context.Background(), tc.reference, "", train.CSVOptions{Target: "label",
				Categorical: []string{"color"}, Numeric: []string{"f0", "f1", "f2"}, Exclude: []string{"note"}, TargetLevels: []string{"0", "1"}})
			if err != nil {
				t.Fatal(err)
			}
			wantMetrics, err := train.Evaluate(m, ds)
			if err != nil {
				t.Fatal(err)
			}
			if out.MetricsOn != "reference" || len(out.Metrics) != len(wantMetrics) {
				t.Fatalf("metrics %v on %q, want %v on reference", out.Metrics, out.MetricsOn, wantMetrics)
			}
			for k, v := range wantMetrics {
				if math.Abs(out.Metrics[k]-v) > 1e-12 || math.Abs(got.Metrics()["reference_"+k]-v) > 1e-12 {
					t.Errorf("%s = %v (model file: %v), want %v", k, out.Metrics[k], got.Metrics()["reference_"+k], v)
				}
			}
			if prof.Calibration == nil || !strings.HasPrefix(out.Calibration, fmt.Sprintf("isotonic on %d ", len(ref))) {
				t.Errorf("calibration %q, calibrator %v", out.Calibration, prof.Calibration)
			}
			if _, err := RegisterOptions(got); err != nil {
				t.Errorf("the imported file does not register: %v", err)
			}
		})
	}
}

// TestImportModelRefused checks that bad input is an *InputError naming the
// input and, inside it, what and where.
func TestImportModelRefused(t *testing.T) {
	dir := t.TempDir()
	rows := importRows(3, 50)
	good := writeImportCSV(t, filepath.Join(dir, "good.csv"), []string{"f0", "f1", "f2", "color", "label"}, rows)
	lacking := writeImportCSV(t, filepath.Join(dir, "lacking.csv"), []string{"f0", "f2", "label"}, rows)
	headerOnly := writeImportCSV(t, filepath.Join(dir, "empty.csv"), []string{"f0", "f1", "f2", "color", "label"}, nil)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badLabel := write("badlabel.csv", "f0,f1,f2,color,label\n0.1,0.2,3,1,0\n0.5,,2,0,yes\n")
	badValue := write("badvalue.csv", "f0,f1,f2,color,label\n0.1,0.2,3,1,0\n0.5,abc,2,0,1\n")
	cases := []struct {
		name      string
		spec      ImportSpec
		field     string
		wantInMsg []string
	}{
		{"missing features", ImportSpec{Reference: lacking}, "reference", []string{"lacking.csv", "2 of the model's 4 features", "f1, color"}},
		{"no target column", ImportSpec{Reference: good, Target: "churn"}, "target", []string{"good.csv", `no target column "churn"`}},
		{"target is a feature", ImportSpec{Reference: good, Target: "f2"}, "target", []string{`"f2" is a feature of the model`}},
		{"unknown class", ImportSpec{Reference: badLabel, Target: "label"}, "reference", []string{"badlabel.csv", "yes"}},
		{"bad value", ImportSpec{Reference: badValue, Target: "label"}, "reference", []string{"badvalue.csv:3", "f1", "abc"}},
		{"no rows", ImportSpec{Reference: headerOnly}, "reference", []string{"empty.csv", "no data rows"}},
		{"no such file", ImportSpec{Reference: filepath.Join(dir, "nope.csv")}, "reference", []string{"nope.csv"}},
		{"unknown data format", ImportSpec{Reference: good, ReferenceFormat: "xls"}, "reference", []string{`"xls"`}},
		{"unknown model format", ImportSpec{Format: "onnx", Data: []byte("{}"), Reference: good}, "format", []string{`"onnx"`, "xgboost or lightgbm"}},
		{"empty model file", ImportSpec{Format: ImportXGBoost, ModelName: "m.json", Reference: good}, "model", []string{"m.json", "empty"}},
	}
	m := mustImportableModel(t, dir)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.spec.Format == "" {
				tc.spec.Model = m
			}
			_, err := ImportModel(context.Background(), tc.spec)
			t.Log(err)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			if ie.Field != tc.field {
				t.Errorf("error %q names %q, want %q", err, ie.Field, tc.field)
			}
			for _, w := range tc.wantInMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// xgbFixtures are the XGBoost fixtures made with python3-xgboost: the
// converter's (train/testdata/import) and the import tests' own, whose
// reference carries a label (server/testdata/import).
const (
	xgbFixtures   = "../../train/testdata/import/"
	churnFixtures = "../testdata/import/"
)

// TestImportXGBoostFixtures imports models saved by XGBoost: the
// reference's features become the profile in the file's order, and the
// model file written keeps XGBoost's own predictions to 1e-6.
func TestImportXGBoostFixtures(t *testing.T) {
	cases := []struct {
		name, model, reference, target string
		objective                      string
		features                       []string
		heldout, pred                  string // rows and XGBoost's "pred" column for them
	}{
		{"churn with target", churnFixtures + "churn.json", churnFixtures + "churn_reference.csv", "churned", "binary",
			[]string{"tenure", "monthly_charges", "support_calls", "age", "plan"}, churnFixtures + "churn_heldout.csv", churnFixtures + "churn_pred.csv"},
		{"binary without target", xgbFixtures + "xgb_binary.json", xgbFixtures + "xgb_binary_data.csv", "", "binary",
			[]string{"age", "income", "score", "tenure", "visits", "balance"}, xgbFixtures + "xgb_binary_data.csv", xgbFixtures + "xgb_binary_pred.csv"},
		{"categorical", xgbFixtures + "xgb_categorical.ubj", xgbFixtures + "xgb_categorical_data.csv", "", "binary",
			[]string{"flag", "color", "zone", "x1", "x2"}, xgbFixtures + "xgb_categorical_data.csv", xgbFixtures + "xgb_categorical_pred.csv"},
		{"regression", xgbFixtures + "xgb_regression.json", xgbFixtures + "xgb_regression_data.csv", "", "regression",
			[]string{"f0", "f1", "f2", "f3", "f4"}, xgbFixtures + "xgb_regression_data.csv", xgbFixtures + "xgb_regression_pred.csv"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			out, err := ImportModel(context.Background(), ImportSpec{Format: ImportXGBoost, Data: data, ModelName: tc.model,
				Reference: tc.reference, Target: tc.target})
			if err != nil {
				t.Fatal(err)
			}
			if out.Source != "xgboost" || out.Objective != tc.objective || out.Features != len(tc.features) || out.Trees == 0 {
				t.Fatalf("outcome %+v", out)
			}
			m, err := train.Decode(out.Artifact)
			if err != nil {
				t.Fatal(err)
			}
			pb, _ := m.Attachment("drift.profile")
			prof, err := drift.DecodeProfile(pb)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(prof.FeatureNames(), tc.features) || prof.Prediction == nil {
				t.Errorf("profile features %v (prediction %v), want %v", prof.FeatureNames(), prof.Prediction != nil, tc.features)
			}
			if len(out.FeatureImportance["gain"]) == 0 {
				t.Errorf("no gain importance: %v", out.FeatureImportance)
			}
			if tc.target != "" {
				if out.Metrics["auc"] < 0.7 || m.Metrics()["reference_auc"] != out.Metrics["auc"] || prof.Calibration == nil {
					t.Errorf("metrics %v (file %v), calibrator %v", out.Metrics, m.Metrics(), prof.Calibration)
				}
			} else if out.Metrics != nil || prof.Calibration != nil {
				t.Errorf("metrics %v and calibrator %v without a target", out.Metrics, prof.Calibration)
			}
			wantPredictions(t, m, tc.heldout, tc.pred)
		})
	}
}

// wantPredictions checks that m scores the rows of heldout as the "pred"
// column of pred says, within 1e-6 (relative beyond 1: XGBoost sums a
// regression's trees in float32).
func wantPredictions(tb testing.TB, m *train.Model, heldout, pred string) {
	tb.Helper()
	opts := train.CSVOptions{}
	for _, f := range m.Features() {
		if f.Kind == train.Categorical {
			opts.Categorical = append(opts.Categorical, f.Name)
		} else {
			opts.Numeric = append(opts.Numeric, f.Name)
		}
	}
	if h, _ := CSVHeader(heldout); slices.Contains(h, "id") {
		opts.ID = "id"
	}
	ds, err := train.ReadCSVFile(heldout, opts)
	if err != nil {
		tb.Fatal(err)
	}
	pr, err := train.Predict(m, ds)
	if err != nil {
		tb.Fatal(err)
	}
	want, err := train.ReadCSVFile(pred, train.CSVOptions{Numeric: []string{"pred"}, Exclude: excludeExcept(tb, pred, "pred")})
	if err != nil {
		tb.Fatal(err)
	}
	if want.Rows != ds.Rows {
		tb.Fatalf("%d predictions for %d rows", want.Rows, ds.Rows)
	}
	for i, w := range want.Num[0] {
		if math.Abs(pr.Score[i]-w) > 1e-6*max(1, math.Abs(w)) {
			tb.Errorf("row %d: driftd %v, XGBoost %v", i+1, pr.Score[i], w)
		}
	}
}

// excludeExcept lists the columns of a CSV file other than keep.
func excludeExcept(tb testing.TB, path, keep string) []string {
	tb.Helper()
	h, err := CSVHeader(path)
	if err != nil {
		tb.Fatal(err)
	}
	return slices.DeleteFunc(h, func(s string) bool { return s == keep })
}

// TestImportXGBoostRefused checks that files XGBoost cannot have written for
// driftd, or that are no model at all, are refused on the model input,
// naming the file.
func TestImportXGBoostRefused(t *testing.T) {
	churn, err := os.ReadFile(churnFixtures + "churn.json")
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", churn[:len(churn)/2], "unexpected end"},
		{"not a model", read(churnFixtures + "churn_reference.csv"), "invalid JSON"},
		{"gblinear", read(xgbFixtures + "xgb_gblinear.json"), "gblinear"},
		{"weighted dart", read(xgbFixtures + "xgb_dart_weighted.json"), "dart"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImportModel(context.Background(), ImportSpec{Format: ImportXGBoost, Data: tc.data, ModelName: "churn.json",
				Reference: churnFixtures + "churn_reference.csv", Target: "churned"})
			t.Log(err)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != "model" {
				t.Fatalf("error %v: want an *InputError on model", err)
			}
			if !strings.HasPrefix(err.Error(), "churn.json: xgboost") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

// TestImportLightGBM imports a LightGBM text model (the converter's
// hand-written fixture) with a labelled reference: the source, the
// categorical feature read as codes, metrics, and a hand-worked score kept
// by the model file.
func TestImportLightGBM(t *testing.T) {
	data, err := os.ReadFile(xgbFixtures + "lgb_binary.txt")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("c,z,y,x,label\n")
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 300 {
		c := []string{"1", "2", "4", "70", ""}[r.IntN(5)]
		fmt.Fprintf(&b, "%s,%.4f,%.4f,%.4f,%d\n", c, r.Float64()*10-5, r.NormFloat64(), r.Float64()*7-3, i%3%2)
	}
	ref := filepath.Join(t.TempDir(), "lgb_ref.csv")
	if err := os.WriteFile(ref, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ImportModel(context.Background(), ImportSpec{Format: ImportLightGBM, Data: data, ModelName: "lgb_binary.txt", Reference: ref, Target: "label"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Source != "lightgbm" || out.Objective != "binary" || out.Trees != 2 || out.Rows != 300 || out.MetricsOn != "reference" || len(out.Metrics) == 0 {
		t.Fatalf("outcome %+v", out)
	}
	m, err := train.Decode(out.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := m.Attachment("drift.profile")
	prof, err := drift.DecodeProfile(pb)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(prof.FeatureNames(), []string{"x", "y", "z", "c"}) || !prof.Features[3].Categorical {
		t.Errorf("profile features %v, c categorical %v", prof.FeatureNames(), prof.Features[3].Categorical)
	}
	// x=1 (<= 1.5: left), y=-1 (<= -0.5: leaf 0.1); z=5 right, x=1 > 1e-300: 0.25; P = sigmoid(2 raw).
	if got, want := m.PredictRow([]float64{1, -1, 5, m.CategoryCode(3, "0")}), 1/(1+math.Exp(-0.7)); math.Abs(got-want) > 1e-12 {
		t.Errorf("score %v, want %v", got, want)
	}
}

// FuzzImportModel feeds mutated model files through the whole import with
// a reference holding the seeds' features: an import either succeeds with
// a model file that decodes and registers, or is refused with an
// *InputError; it never panics.
func FuzzImportModel(f *testing.F) {
	for _, s := range []struct{ format, path string }{
		{ImportXGBoost, churnFixtures + "churn.json"}, {ImportXGBoost, xgbFixtures + "xgb_categorical.ubj"},
		{ImportXGBoost, xgbFixtures + "xgb_softprob.json"}, {ImportLightGBM, xgbFixtures + "lgb_binary.txt"},
		{ImportLightGBM, xgbFixtures + "lgb_multiclass.txt"},
	} {
		b, err := os.ReadFile(s.path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.format == ImportLightGBM, b)
	}
	var ref strings.Builder
	cols := []string{"tenure", "monthly_charges", "support_calls", "age", "plan", "x", "y", "z", "c", "f0", "f1", "f2", "f3", "f4", "label"}
	ref.WriteString(strings.Join(cols, ",") + "\n")
	r := rand.New(rand.NewPCG(9, 9))
	for i := range 200 {
		for j := range cols[:len(cols)-1] {
			switch cols[j] {
			case "plan", "c":
				fmt.Fprintf(&ref, "%d,", r.IntN(5))
			default:
				fmt.Fprintf(&ref, "%.3f,", r.NormFloat64()*10)
			}
		}
		fmt.Fprintf(&ref, "%d\n", i%2)
	}
	path := filepath.Join(f.TempDir(), "ref.csv")
	if err := os.WriteFile(path, []byte(ref.String()), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, lightgbm bool, data []byte) {
		format := ImportXGBoost
		if lightgbm {
			format = ImportLightGBM
		}
		out, err := ImportModel(context.Background(), ImportSpec{Format: format, Data: data, Reference: path, DriftBins: 4})
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			return
		}
		m, err := train.Decode(out.Artifact)
		if err != nil {
			t.Fatalf("the imported model file does not decode: %v", err)
		}
		if _, err := RegisterOptions(m); err != nil {
			t.Fatalf("the imported model file does not register: %v", err)
		}
	})
}
