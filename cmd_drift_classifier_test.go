package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestDriftCLIClassifier: `driftd drift --test classifier` on the same
// distribution (columns in another order) finds no drift; with two
// correlated features rotated (every marginal unchanged, so no per-feature
// test can see it) it finds drift and names them.
func TestDriftCLIClassifier(t *testing.T) {
	dir := t.TempDir()
	rows := func(seed uint64, n int, rot float64, header string, line func(a, b, c float64, color string) string) []string {
		rng := rand.New(rand.NewPCG(seed, 1))
		out := []string{header}
		for range n {
			a := rng.NormFloat64()
			out = append(out, line(a, rot*a+0.3*rng.NormFloat64(), rng.NormFloat64(), []string{"red", "blue"}[rng.IntN(2)]))
		}
		return out
	}
	abc := func(a, b, c float64, color string) string { return fmt.Sprintf("%.4f,%.4f,%.4f,%s", a, b, c, color) }
	cba := func(a, b, c float64, color string) string { return fmt.Sprintf("%s,%.4f,%.4f,%.4f", color, c, b, a) }
	ref := writeDriftCSV(t, dir, "ref.csv", rows(1, 3000, 1, "a,b,c,color", abc)...)
	same := writeDriftCSV(t, dir, "same.csv", rows(2, 2000, 1, "color,c,b,a", cba)...)
	rotated := writeDriftCSV(t, dir, "rot.csv", rows(3, 2000, -1, "a,b,c,color", abc)...)

	type result struct {
		Test      string
		AUC       float64
		Threshold float64
		Drifted   bool
		Features  []struct {
			Name  string
			Share float64
		}
	}
	for _, tc := range []struct {
		cur     string
		drifted bool
	}{{same, false}, {rotated, true}} {
		code, out, errOut := runDriftCmd(t, "--reference", ref, "--current", tc.cur, "--test", "classifier", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got result
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if got.Test != "classifier" || got.Drifted != tc.drifted || len(got.Features) != 4 || math.IsNaN(got.AUC) {
			t.Fatalf("%s: %+v", tc.cur, got)
		}
		if tc.drifted {
			top := got.Features[0].Name + got.Features[1].Name
			if !strings.Contains(top, "a") || !strings.Contains(top, "b") {
				t.Errorf("the features that separate are %v, want a and b first", got.Features)
			}
		}
	}
	code, out, _ := runDriftCmd(t, "--reference", ref, "--current", rotated, "--test", "classifier")
	if code != 0 || !strings.Contains(out, "DRIFT: a classifier tells the current rows from the reference rows") || !strings.Contains(out, "domain classifier: ROC AUC") {
		t.Errorf("table output:\n%s", out)
	}
	if code, _, errOut := runDriftCmd(t, "--reference", ref, "--current", rotated, "--test", "magic"); code != 1 || !strings.Contains(errOut, "classifier") {
		t.Errorf("unknown test: exit %d, %q", code, errOut)
	}
}
