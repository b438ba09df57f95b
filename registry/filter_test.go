package registry

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in   string
		want []Cond
	}{
		{"", nil},
		{"metrics.auc > 0.8", []Cond{{Kind: "metrics", Key: "auc", Op: ">", Value: "0.8", Num: 0.8, IsNum: true}}},
		{"params.algo = 'gbdt' AND status == finished", []Cond{
			{Kind: "params", Key: "algo", Op: "=", Value: "gbdt"},
			{Kind: "attributes", Key: "status", Op: "=", Value: "finished"}}},
		{"metric.`valid auc`>=1e-3", []Cond{{Kind: "metrics", Key: "valid auc", Op: ">=", Value: "1e-3", Num: 1e-3, IsNum: true}}},
		{`tags.note != "a b"`, []Cond{{Kind: "tags", Key: "note", Op: "!=", Value: "a b"}}},
		{"attributes.name = run-1", []Cond{{Kind: "attributes", Key: "name", Op: "=", Value: "run-1"}}},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.in)
		if got := andConds(t, f); err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"metrics.auc", "column 12: expected an operator"},
		{"metrics.auc >", "column 14: expected a value"},
		{"metrics.auc > high", "column 15: metric \"auc\" compared with \"high\", which is not a number"},
		{"metrics auc > 1", "column 8: expected '.'"},
		{"metrics. > 1", "column 9: empty key"},
		{"params.algo < gbdt", "column 13: operator < needs a number"},
		{"colour = red", "column 1: unknown attribute \"colour\""},
		{"metrics.auc > 1 xor metrics.f1 > 1", "column 17: expected AND or OR"},
		{"metrics.auc > 1 and", "column 20: expected a condition after AND"},
		{"params.a = 'x", "column 12: unterminated string"},
		{"metrics.`x > 1", "column 9: unterminated backquoted key"},
		{"> 1", "column 1: expected a field"},
		{"metrics.auc => 1", "column 13: expected an operator"},
		{"metrics.auc > NaN", "not a number"},
	}
	for _, tt := range tests {
		_, err := ParseFilter(tt.in)
		if err == nil {
			t.Errorf("ParseFilter(%q) succeeded", tt.in)
			continue
		}
		wantField(t, err, "filter")
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseFilter(%q) error %q, want %q", tt.in, err, tt.want)
		}
	}
}

// andConds returns the comparisons of a filter that is one comparison or
// an AND of comparisons (nil for the empty filter).
func andConds(tb testing.TB, f Filter) []Cond {
	tb.Helper()
	switch {
	case f.Root == nil:
		return nil
	case f.Root.Op == "":
		return []Cond{f.Root.Cond}
	case f.Root.Op != "and":
		tb.Fatalf("filter %s is not an AND of comparisons", f)
	}
	var out []Cond
	for _, a := range f.Root.Args {
		if a.Op != "" {
			tb.Fatalf("filter %s is not an AND of comparisons", f)
		}
		out = append(out, a.Cond)
	}
	return out
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"metrics.auc > 0.8", "params.algo = 'gbdt' and status = running",
		"metric.`a b` <= -1e9", `tags.x != "y'z"`, "attributes.id = 3", "and", "metrics.", "'", "`",
		"metrics.auc > 0.8 and (params.algo = 'gbdt' or tags.team = 'risk')", "a = 1 or b = 2 and c = 3", "((status = x))",
		"(metrics.a > 1 or (params.b = 2 and (tags.c = 3 or name = d)))", "(", ")", "()", "status = a or", "(status = a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			if _, ok := err.(*FieldError); !ok {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			return
		}
		again, err := ParseFilter(flt.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", flt.String(), s, err)
		}
		if !reflect.DeepEqual(again, flt) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", s, flt, again)
		}
		r := &Run{Metrics: map[string]MetricPoint{"auc": {Value: 0.9}}, Params: map[string]string{"algo": "gbdt"}, Status: RunRunning}
		if flt.Match(r) != again.Match(r) {
			t.Fatalf("%q and its String() %q match differently", s, flt.String())
		}
	})
}
