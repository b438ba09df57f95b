package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeDriftCSV writes rows to a CSV file in dir and returns its path.
func writeDriftCSV(t *testing.T, dir, name string, rows ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runDriftCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runDrift(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestDriftCLIJSON checks the --json output on a small hand-made case: a
// numeric feature whose PSI is worked out by hand, a categorical feature
// whose current levels come in another order plus an unseen one, an id
// column excluded, and an all-missing column.
func TestDriftCLIJSON(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", "id,x,color,empty", "1,1,red,", "2,2,red,", "3,3,blue,", "4,4,red,", "5,5,blue,")
	cur := writeDriftCSV(t, dir, "cur.csv", "empty,color,x,id", ",green,3,9", ",blue,3,8", ",blue,3,7", ",red,4,6")
	code, out, errOut := runDriftCmd(t, "--reference", ref, "--current", cur, "--bins", "2", "--exclude", "id", "--test", "psi", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Fatalf("non-finite number in JSON:\n%s", out)
	}
	var got struct {
		RowsReference int `json:"rows_reference"`
		RowsCurrent   int `json:"rows_current"`
		Features      []struct {
			Name, Type, Level, Test string
			PSI, Statistic          *float64
			PValue                  *float64 `json:"p_value"`
			Drifted                 bool
		}
		DriftShare   float64 `json:"drift_share"`
		DatasetDrift bool    `json:"dataset_drift"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.RowsReference != 5 || got.RowsCurrent != 4 || len(got.Features) != 3 {
		t.Fatalf("output %+v", got)
	}
	term := func(a, e float64) float64 { return (a - e) * math.Log(a/e) }
	f := 0.0001
	want := map[string]float64{
		"x":     term(0.75, 0.6) + term(0.25, 0.4),                // edge 3, right-closed
		"color": term(0.25, 0.6) + term(0.5, 0.4) + term(0.25, f), // green unseen
		"empty": 0,                                                // all missing on both sides
	}
	for _, ft := range got.Features {
		if ft.PSI == nil || math.Abs(*ft.PSI-want[ft.Name]) > 1e-12 {
			t.Errorf("%s: psi %v, want %v", ft.Name, ft.PSI, want[ft.Name])
		}
		if ft.Test != "psi" || ft.PValue != nil || ft.Statistic == nil || *ft.Statistic != *ft.PSI {
			t.Errorf("%s: test %q statistic %v p %v", ft.Name, ft.Test, ft.Statistic, ft.PValue)
		}
	}
	if got.Features[1].Type != "categorical" || got.Features[0].Type != "numeric" {
		t.Errorf("types %+v", got.Features)
	}
	if !got.Features[1].Drifted || got.Features[2].Drifted || got.DriftShare != 2.0/3 || !got.DatasetDrift {
		t.Errorf("verdict %+v share %v drift %v", got.Features, got.DriftShare, got.DatasetDrift)
	}
}

func TestDriftCLITable(t *testing.T) {
	dir := t.TempDir()
	var ref, cur []string
	ref, cur = append(ref, "a,b"), append(cur, "a,b")
	for i := 0; i < 300; i++ {
		ref = append(ref, fmt.Sprintf("%d,%d", i%37, i%3))
		cur = append(cur, fmt.Sprintf("%d,%d", i%37+20, i%3))
	}
	code, out, errOut := runDriftCmd(t, "--reference", writeDriftCSV(t, dir, "r.csv", ref...), "--current", writeDriftCSV(t, dir, "c.csv", cur...))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"FEATURE", "P-VALUE", "a  ", "ks", "b  ", "chisquare", "1 of 2 features drifted", "DATASET DRIFT"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestDriftCLIErrors(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", "a,b", "1,2", "3,4")
	cur := writeDriftCSV(t, dir, "cur.csv", "a", "1")
	empty := writeDriftCSV(t, dir, "empty.csv", "a,b")
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"feature missing from current", []string{"--reference", ref, "--current", cur}, 1, `feature "b" of the reference is missing from the current data ` + cur},
		{"reference with no rows", []string{"--reference", empty, "--current", ref}, 1, empty + ":1: header only, no data rows"},
		{"current with no rows", []string{"--reference", ref, "--current", empty}, 1, empty + ":1: header only, no data rows"},
		{"unknown --features", []string{"--reference", ref, "--current", cur, "--features", "zz"}, 1, `--features: "zz" is not a column`},
		{"bad test", []string{"--reference", ref, "--current", ref, "--test", "anova"}, 1, `--test "anova"`},
		{"bad binning", []string{"--reference", ref, "--current", ref, "--binning", "log"}, 1, `binning "log"`},
		{"bad delimiter", []string{"--reference", ref, "--current", ref, "--delimiter", "ab"}, 1, `--delimiter "ab"`},
		{"missing file", []string{"--reference", filepath.Join(dir, "nope.csv"), "--current", ref}, 1, "nope.csv"},
		{"no reference", []string{"--current", ref}, 2, "--reference and --current are required"},
		{"bad flag", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"text in a numeric reference column", []string{"--reference", ref, "--current", writeDriftCSV(t, dir, "txt.csv", "a,b", "1,x", "2,3")}, 1, "txt.csv:2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runDriftCmd(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want exit %d containing %q", code, errOut, c.code, c.want)
			}
		})
	}
}

func TestDriftCLIHelpListsFlags(t *testing.T) {
	code, _, errOut := runDriftCmd(t, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"-reference", "-current", "-bins", "-binning", "-test", "-features", "-exclude", "-json", "-delimiter", "(default 10)", `(default "quantile")`} {
		if !strings.Contains(errOut, f) {
			t.Errorf("--help lacks %q:\n%s", f, errOut)
		}
	}
}

// TestDriftCLITypesFollowTheReference: a column categorical in the
// reference but numeric-looking in the current file is read as categorical.
func TestDriftCLITypesFollowTheReference(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", "code", "a", "b", "a")
	cur := writeDriftCSV(t, dir, "cur.csv", "code", "1", "2", "a")
	code, out, errOut := runDriftCmd(t, "--reference", ref, "--current", cur, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct{ Features []struct{ Type, Test string } }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Features) != 1 || got.Features[0].Type != "categorical" || got.Features[0].Test != "chisquare" {
		t.Fatalf("features %+v, want one categorical feature tested with chisquare", got.Features)
	}
}
