package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/drift"
)

// The XGBoost fixture of the import tests (server/testdata/import/make_churn.py).
const (
	churnModel     = "server/testdata/import/churn.json"
	churnReference = "server/testdata/import/churn_reference.csv"
)

func runImportArgs(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runImport(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestImportCLI converts the XGBoost fixture: the summary (as text and as
// JSON) and the model file with its drift profile.
func TestImportCLI(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		args    []string
		json    bool
		metrics bool
	}{
		{"text with target", []string{"--target", "churned"}, false, true},
		{"json without target", []string{"--json"}, true, false},
		{"json with target", []string{"--target", "churned", "--json", "--format", "csv"}, true, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "m"+string(rune('0'+i))+".drift")
			args := append([]string{"--from", "xgboost", "--model", churnModel, "--reference", churnReference, "--out", out}, tc.args...)
			stdout, stderr, code := runImportArgs(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			m := decodeModelFile(t, out)
			if m.Source() != "xgboost" || m.Objective() != "binary" || len(m.Features()) != 5 {
				t.Fatalf("model file: source %s, objective %s, %d features", m.Source(), m.Objective(), len(m.Features()))
			}
			pb, ok := m.Attachment("drift.profile")
			if !ok {
				t.Fatal("no drift profile in the model file")
			}
			prof, err := drift.DecodeProfile(pb)
			if err != nil || prof.Rows != 1000 {
				t.Fatalf("profile: %v rows, %v", prof, err)
			}
			if (prof.Calibration != nil) != tc.metrics {
				t.Errorf("calibrator %v, want one only with the target", prof.Calibration)
			}
			if !tc.json {
				for _, w := range []string{"imported XGBoost binary model from churn.json: 60 trees, 5 features",
					"reference churn_reference.csv: 1000 rows", "reference auc 0.", "calibration for estimates without labels: isotonic on 1000 ", "model written to " + out} {
					if !strings.Contains(stdout, w) {
						t.Errorf("output lacks %q:\n%s", w, stdout)
					}
				}
				return
			}
			var sum importSummary
			if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
				t.Fatalf("stdout %q: %v", stdout, err)
			}
			if sum.Source != "xgboost" || sum.Trees != 60 || sum.Features != 5 || sum.ReferenceRows != 1000 || sum.Out != out ||
				len(sum.FeatureImportance["gain"]) == 0 || (sum.Metrics["auc"] > 0.7) != tc.metrics {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// TestImportCLIErrors checks the exit codes: 2 for flags, 1 for input the
// import refuses, with the error prefixed and naming what is wrong; no
// file is written.
func TestImportCLIErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.drift")
	notModel := filepath.Join(dir, "notes.json")
	if err := os.WriteFile(notModel, []byte(`{"learner": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(extra ...string) []string {
		return append([]string{"--from", "xgboost", "--model", churnModel, "--reference", churnReference, "--out", out}, extra...)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no from", []string{"--model", churnModel, "--reference", churnReference, "--out", out}, 2, "--from is required"},
		{"bad from", []string{"--from", "onnx", "--model", churnModel, "--reference", churnReference, "--out", out}, 2, `--from "onnx": must be xgboost or lightgbm`},
		{"no model", []string{"--from", "xgboost", "--reference", churnReference, "--out", out}, 2, "--model is required"},
		{"no reference", []string{"--from", "xgboost", "--model", churnModel, "--out", out}, 2, "--reference is required"},
		{"no out", []string{"--from", "xgboost", "--model", churnModel, "--reference", churnReference}, 2, "--out is required"},
		{"bad format", base("--format", "xls"), 2, `--format "xls"`},
		{"unknown flag", base("--objective", "binary"), 2, "flag provided but not defined"},
		{"missing model file", []string{"--from", "xgboost", "--model", filepath.Join(dir, "nope.json"), "--reference", churnReference, "--out", out}, 1, "nope.json"},
		{"not a model", []string{"--from", "xgboost", "--model", notModel, "--reference", churnReference, "--out", out}, 1, "notes.json: xgboost model"},
		{"lightgbm reads xgboost json", []string{"--from", "lightgbm", "--model", churnModel, "--reference", churnReference, "--out", out}, 1, "churn.json: lightgbm"},
		{"bad target", base("--target", "label"), 1, `no target column "label"`},
		{"reference lacks features", []string{"--from", "xgboost", "--model", churnModel, "--reference", "train/testdata/import/xgb_binary_data.csv", "--out", out}, 1,
			"xgb_binary_data.csv: 3 of the model's 5 features are not columns of the reference: monthly_charges, support_calls, plan"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runImportArgs(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if tc.code == 1 && !strings.HasPrefix(stderr, "driftd import: ") {
				t.Errorf("stderr %q is not prefixed driftd import:", stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused import wrote %s", out)
			}
		})
	}
}

// TestImportHelpListsFlags checks `driftd import --help`.
func TestImportHelpListsFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"import", "--help"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := errb.String()
	for _, f := range []string{"-from", "-model", "-reference", "-target", "-format", "-out", "-json", "-drift-bins"} {
		if !strings.Contains(help, "  "+f+" ") && !strings.Contains(help, "  "+f+"\n") {
			t.Errorf("--help lacks %s:\n%s", f, help)
		}
	}
}
