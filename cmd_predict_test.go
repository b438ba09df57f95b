package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
)

func TestPredictJSON(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	if _, stderr, code := runTrainArgs(t, "--data", "testdata/train_binary.csv", "--target", "label", "--rounds", "5", "--out", model); code != 0 {
		t.Fatalf("train exit %d: %s", code, stderr)
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"summary", []string{"--model", model, "--data", "testdata/train_binary.csv", "--out", filepath.Join(dir, "p.csv"), "--json"}, 0},
		{"json needs out", []string{"--model", model, "--data", "testdata/train_binary.csv", "--json"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			if code := runPredict(context.Background(), tc.args, &o, &e); code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, e.String())
			}
			if tc.code != 0 {
				return
			}
			var s map[string]float64
			if err := json.Unmarshal(o.Bytes(), &s); err != nil {
				t.Fatalf("stdout %q: %v", o.String(), err)
			}
			for _, k := range []string{"rows", "load_seconds", "predict_seconds", "rows_per_second"} {
				if _, ok := s[k]; !ok {
					t.Errorf("summary lacks %q: %v", k, s)
				}
			}
			if s["rows"] != 300 {
				t.Errorf("rows %v, want 300", s["rows"])
			}
		})
	}
}
