package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"driftd/drift"
	"driftd/train"
)

func runTrainArgs(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runTrain(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func decodeModelFile(t *testing.T, path string) *train.Model {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := train.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return m
}

func TestTrainCLIJSONAndArtifact(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		algo      string
		objective string
		rows      int
		metrics   []string
		on        string
	}{
		{"gbdt binary split", []string{"--data", "testdata/train_binary.csv", "--target", "label", "--id", "id", "--rounds", "20"},
			"gbdt", "binary", 240, []string{"auc", "accuracy", "logloss", "f1", "precision", "recall"}, "validation"},
		{"logistic binary test file", []string{"--data", "testdata/train_binary.csv", "--test", "testdata/train_binary.csv", "--target", "label", "--id", "id", "--algo", "logistic"},
			"logistic", "binary", 300, []string{"auc", "accuracy", "logloss", "f1", "precision", "recall"}, "test"},
		{"logistic multiclass", []string{"--data", "testdata/train_multi.csv", "--target", "grade", "--algo", "logistic", "--valid-fraction", "0.25"},
			"logistic", "multiclass", 225, []string{"accuracy", "macro_f1", "logloss"}, "validation"},
		{"gbdt regression", []string{"--data", "testdata/train_binary.csv", "--target", "x0", "--id", "id", "--objective", "regression", "--rounds", "10"},
			"gbdt", "regression", 240, []string{"rmse", "mae", "r2"}, "validation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "model.bin")
			stdout, stderr, code := runTrainArgs(t, append(tc.args, "--out", out, "--json")...)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			var sum map[string]any
			if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
			}
			for _, k := range []string{"algo", "objective", "rows", "features", "rounds", "fit_seconds", "load_seconds", "metrics", "feature_importance"} {
				if _, ok := sum[k]; !ok {
					t.Errorf("JSON lacks %q: %s", k, stdout)
				}
			}
			if sum["algo"] != tc.algo || sum["objective"] != tc.objective || sum["rows"] != float64(tc.rows) || sum["metrics_on"] != tc.on {
				t.Errorf("algo %v objective %v rows %v metrics_on %v", sum["algo"], sum["objective"], sum["rows"], sum["metrics_on"])
			}
			if fs, _ := sum["fit_seconds"].(float64); fs <= 0 {
				t.Errorf("fit_seconds = %v", sum["fit_seconds"])
			}
			metrics, _ := sum["metrics"].(map[string]any)
			for _, k := range tc.metrics {
				if _, ok := metrics[k].(float64); !ok {
					t.Errorf("metric %q missing: %v", k, metrics)
				}
			}
			if auc, ok := metrics["auc"].(float64); ok && auc < 0.65 {
				t.Errorf("auc %v below 0.65", auc)
			}
			rounds := int(sum["rounds"].(float64))
			lines := regexp.MustCompile(`(?m)^round +\d+ +train_loss`).FindAllString(stderr, -1)
			if rounds == 0 || len(lines) != rounds {
				t.Errorf("%d progress lines for %d rounds:\n%s", len(lines), rounds, stderr)
			}

			m := decodeModelFile(t, out)
			if m.Algo() != tc.algo || m.Objective() != tc.objective {
				t.Errorf("decoded model: %s %s", m.Algo(), m.Objective())
			}
			pb, ok := m.Attachment("drift.profile")
			if !ok {
				t.Fatal("model has no drift.profile attachment")
			}
			prof, err := drift.DecodeProfile(pb)
			if err != nil {
				t.Fatalf("drift.profile: %v", err)
			}
			var names []string
			for _, f := range m.Features() {
				names = append(names, f.Name)
			}
			if !slices.Equal(prof.FeatureNames(), names) {
				t.Errorf("profile features %v, model features %v", prof.FeatureNames(), names)
			}
			fb, ok := m.Attachment("dataset.json")
			if !ok {
				t.Fatal("model has no dataset.json attachment")
			}
			var fp datasetFingerprint
			if err := json.Unmarshal(fb, &fp); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(tc.args[1])
			h := sha256.Sum256(raw)
			if fp.SHA256 != hex.EncodeToString(h[:]) || fp.Rows != 300 {
				t.Errorf("fingerprint %+v, want sha256 %x and 300 rows", fp, h)
			}
		})
	}
}

// TestTrainCLIDriftBins checks that `driftd train` takes DRIFTD_DRIFT_BINS
// (flag --drift-bins) as the server does, for the reference profile it
// attaches to the model.
func TestTrainCLIDriftBins(t *testing.T) {
	cases := []struct {
		name    string
		env     string // DRIFTD_DRIFT_BINS, "" = unset
		args    []string
		want    int
		wantErr string
	}{
		{"default", "", nil, drift.DefaultBins, ""},
		{"flag", "", []string{"--drift-bins", "4"}, 4, ""},
		{"environment", "6", nil, 6, ""},
		{"flag over environment", "6", []string{"--drift-bins=5"}, 5, ""},
		{"too few", "", []string{"--drift-bins", "1"}, 0, "--drift-bins: must be at least 2, got 1"},
		{"bad environment", "many", nil, 0, `DRIFTD_DRIFT_BINS: not an integer: "many"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("DRIFTD_DRIFT_BINS", tc.env)
			}
			out := filepath.Join(t.TempDir(), "model.bin")
			args := append([]string{"--data", "testdata/train_binary.csv", "--target", "label", "--rounds", "3", "--out", out}, tc.args...)
			_, stderr, code := runTrainArgs(t, args...)
			if tc.wantErr != "" {
				if code != 2 || !strings.Contains(stderr, tc.wantErr) {
					t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			pb, _ := decodeModelFile(t, out).Attachment("drift.profile")
			prof, err := drift.DecodeProfile(pb)
			if err != nil {
				t.Fatal(err)
			}
			if prof.Bins != tc.want {
				t.Errorf("profile has %d bins, want %d", prof.Bins, tc.want)
			}
		})
	}
}

func TestTrainCLISplitIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	run := func(seed, name string) map[string]any {
		stdout, stderr, code := runTrainArgs(t, "--data", "testdata/train_binary.csv", "--target", "label", "--id", "id",
			"--algo", "logistic", "--seed", seed, "--out", filepath.Join(dir, name), "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var sum map[string]any
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
			t.Fatal(err)
		}
		return sum["metrics"].(map[string]any)
	}
	a, b, c := run("7", "a"), run("7", "b"), run("8", "c")
	if a["logloss"] != b["logloss"] || a["auc"] != b["auc"] {
		t.Errorf("same seed, different metrics: %v vs %v", a, b)
	}
	if a["logloss"] == c["logloss"] {
		t.Errorf("seeds 7 and 8 gave the same validation log loss %v: the split ignores the seed", a["logloss"])
	}
}

func TestTrainCLIErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.bin")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no target", []string{"--data", "testdata/train_binary.csv", "--out", out}, 2, "--target is required"},
		{"no out", []string{"--data", "testdata/train_binary.csv", "--target", "label"}, 2, "--out is required"},
		{"bad algo", []string{"--data", "testdata/train_binary.csv", "--target", "label", "--out", out, "--algo", "svm"}, 2, `--algo "svm"`},
		{"missing file", []string{"--data", "testdata/nope.csv", "--target", "label", "--out", out}, 1, "nope.csv"},
		{"unknown target", []string{"--data", "testdata/train_binary.csv", "--target", "zzz", "--out", out}, 1, `"zzz"`},
		{"binary on three classes", []string{"--data", "testdata/train_multi.csv", "--target", "grade", "--objective", "binary", "--out", out}, 1, "3 classes"},
		{"bad flag", []string{"--bogus"}, 2, "bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runTrainArgs(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q lacks %q", code, tc.code, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote the model file")
	}
}

func TestTrainAndPredictHelpListEveryFlag(t *testing.T) {
	for _, tc := range []struct {
		run   func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int
		flags []string
	}{
		{func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return runTrain(ctx, a, o, e) },
			[]string{"data", "target", "test", "valid-fraction", "algo", "objective", "rounds", "learning-rate", "max-leaves",
				"max-depth", "max-bins", "min-child-weight", "lambda", "subsample", "colsample", "grow", "early-stopping",
				"seed", "threads", "delimiter", "id", "categorical", "numeric", "out", "json", "drift-bins"}},
		{func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return runPredict(ctx, a, o, e) },
			[]string{"model", "data", "out", "id", "delimiter"}},
	} {
		var o, e bytes.Buffer
		if code := tc.run(context.Background(), []string{"--help"}, &o, &e); code != 0 {
			t.Fatalf("--help exit %d", code)
		}
		help := o.String() + e.String()
		for _, f := range tc.flags {
			if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(f) + `\b`).MatchString(help) {
				t.Errorf("--help does not list -%s:\n%s", f, help)
			}
		}
		if !strings.Contains(help, "(default 100)") && tc.flags[0] == "data" {
			t.Errorf("--help does not show the defaults:\n%s", help)
		}
	}
}

func TestPredictCLI(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data, target string
		extra              []string
		header             []string
	}{
		{"binary with id", "testdata/train_binary.csv", "label", []string{"--id", "id"}, []string{"id", "score", "label"}},
		{"multiclass", "testdata/train_multi.csv", "grade", []string{"--algo", "logistic"}, []string{"p_A", "p_B", "p_C", "label"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			model := filepath.Join(dir, tc.target+".bin")
			args := append([]string{"--data", tc.data, "--target", tc.target, "--rounds", "10", "--out", model}, tc.extra...)
			if _, stderr, code := runTrainArgs(t, args...); code != 0 {
				t.Fatalf("train exit %d: %s", code, stderr)
			}
			preds := filepath.Join(dir, tc.target+".csv")
			var o, e bytes.Buffer
			if code := runPredict(context.Background(), []string{"--model", model, "--data", tc.data, "--out", preds}, &o, &e); code != 0 {
				t.Fatalf("predict exit %d: %s", code, e.String())
			}
			if !regexp.MustCompile(`scored 300 rows: \d+ rows/s`).MatchString(e.String()) {
				t.Errorf("stderr lacks the throughput line: %q", e.String())
			}
			f, err := os.Open(preds)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			recs, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(recs[0], tc.header) || len(recs) != 301 {
				t.Fatalf("header %v and %d lines, want %v and 301", recs[0], len(recs), tc.header)
			}
			m := decodeModelFile(t, model)
			for i, r := range recs[1:] {
				if tc.header[0] == "id" && r[0] != "r"+strconv.Itoa(i+1) {
					t.Fatalf("line %d: id %q", i+2, r[0])
				}
				lbl := r[len(r)-1]
				if !slices.Contains(m.Classes(), lbl) {
					t.Fatalf("line %d: label %q not a class of %v", i+2, lbl, m.Classes())
				}
				probs := r[len(r)-2 : len(r)-1] // binary: the score column
				if k := len(m.Classes()); k > 2 {
					probs = r[len(r)-1-k : len(r)-1]
				}
				var sum float64
				for _, v := range probs {
					p, err := strconv.ParseFloat(v, 64)
					if err != nil || p < 0 || p > 1 {
						t.Fatalf("line %d: bad probability %q", i+2, v)
					}
					sum += p
				}
				if len(m.Classes()) > 2 && (sum < 1-1e-6 || sum > 1+1e-6) {
					t.Fatalf("line %d: probabilities sum to %v", i+2, sum)
				}
			}
		})
	}
	var o, e bytes.Buffer
	if code := runPredict(context.Background(), []string{"--model", "testdata/train_binary.csv", "--data", "testdata/train_binary.csv"}, &o, &e); code != 1 || !strings.Contains(e.String(), "train_binary.csv") {
		t.Errorf("a CSV passed as model: exit %d, %q", code, e.String())
	}
}

func TestSplitDatasetPartitionsRows(t *testing.T) {
	n := 1000
	ds := &train.Dataset{Names: []string{"a"}, Kinds: []train.ColumnKind{train.Numeric}, Num: [][]float64{make([]float64, n)},
		Codes: [][]int32{nil}, Levels: [][]string{nil}, Target: make([]float64, n), Rows: n}
	for i := range n {
		ds.Num[0][i] = float64(i)
		ds.Target[i] = float64(i % 2)
	}
	tr, va := splitDataset(ds, 0.2, 3)
	if tr.Rows != 800 || va.Rows != 200 {
		t.Fatalf("split %d/%d, want 800/200", tr.Rows, va.Rows)
	}
	seen := make([]bool, n)
	for _, part := range []*train.Dataset{tr, va} {
		for i, v := range part.Num[0] {
			if seen[int(v)] {
				t.Fatalf("row %v in both parts", v)
			}
			seen[int(v)] = true
			if part.Target[i] != float64(int(v)%2) {
				t.Fatalf("row %v: target not carried along", v)
			}
			if i > 0 && part.Num[0][i-1] >= v {
				t.Fatalf("row order not kept: %v after %v", v, part.Num[0][i-1])
			}
		}
	}
	if all, _ := splitDataset(ds, 0, 3); all != ds {
		t.Error("fraction 0 did not keep every row for training")
	}
}

func TestAppendCSVField(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "a,b": `"a,b"`, `say "hi"`: `"say ""hi"""`, "two\nlines": "\"two\nlines\""} {
		if got := string(appendCSVField(nil, in, ',')); got != want {
			t.Errorf("appendCSVField(%q) = %s, want %s", in, got, want)
		}
	}
}
