package registry

import (
	"context"
	"strings"
	"testing"
	"time"
)

// shape writes a filter's tree with explicit grouping: a comparison by its
// key, and "and(...)" / "or(...)" around the operands of the others.
func shape(e *Expr) string {
	if e == nil {
		return ""
	}
	if e.Op == "" {
		return e.Cond.Key
	}
	parts := make([]string, len(e.Args))
	for i, a := range e.Args {
		parts[i] = shape(a)
	}
	return e.Op + "(" + strings.Join(parts, " ") + ")"
}

func TestParseFilterOrPrecedence(t *testing.T) {
	tests := []struct {
		name, in, shape, str string
	}{
		{"and binds tighter than or", "params.a = 1 or params.b = 2 and params.c = 3", "or(a and(b c))",
			"params.`a` = '1' or params.`b` = '2' and params.`c` = '3'"},
		{"and binds tighter on the left too", "params.a = 1 and params.b = 2 or params.c = 3", "or(and(a b) c)",
			"params.`a` = '1' and params.`b` = '2' or params.`c` = '3'"},
		{"parentheses group an or inside an and", "metrics.auc > 0.8 and (params.algo = 'gbdt' or tags.team = 'risk')", "and(auc or(algo team))",
			"metrics.`auc` > '0.8' and (params.`algo` = 'gbdt' or tags.`team` = 'risk')"},
		{"two ands joined by or", "params.a = 1 and params.b = 2 or params.c = 3 and params.d = 4", "or(and(a b) and(c d))", ""},
		{"nested ors flatten", "params.a = 1 or (params.b = 2 or params.c = 3)", "or(a b c)", ""},
		{"nested ands flatten", "(params.a = 1 and params.b = 2) and params.c = 3", "and(a b c)", ""},
		{"redundant parentheses vanish", "((params.a = 1))", "a", "params.`a` = '1'"},
		{"keywords in any case, no spaces around parentheses", "(params.a=1 OR params.b=2)And(params.c=3 oR params.d=4)", "and(or(a b) or(c d))",
			"(params.`a` = '1' or params.`b` = '2') and (params.`c` = '3' or params.`d` = '4')"},
		{"a word beginning with or is a value", "params.a = orange or params.b = order", "or(a b)", ""},
		{"deep but within bound", strings.Repeat("(", maxFilterDepth) + "status = x" + strings.Repeat(")", maxFilterDepth), "status", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilter(tt.in)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.in, err)
			}
			if got := shape(f.Root); got != tt.shape {
				t.Errorf("shape = %s, want %s", got, tt.shape)
			}
			if tt.str != "" && f.String() != tt.str {
				t.Errorf("String() = %q, want %q", f.String(), tt.str)
			}
			again, err := ParseFilter(f.String())
			if err != nil || shape(again.Root) != tt.shape {
				t.Errorf("String() %q parses back as %s, %v", f.String(), shape(again.Root), err)
			}
		})
	}
}

func TestParseFilterOrErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unclosed parenthesis", "(metrics.a > 1", "column 15: expected AND, OR or ')' to close the '(' of column 1, got \"end of input\""},
		{"unclosed after a value", "(params.a = x params.b = y)", "column 15: expected AND, OR or ')' to close the '(' of column 1, got \"params.b = y\""},
		{"closing parenthesis without an opening one", "metrics.a > 1)", "column 14: ')' closes no '('"},
		{"empty parentheses", "status = x and ()", "column 16: empty parentheses"},
		{"or at the end", "metrics.a > 1 or", "column 17: expected a condition after OR"},
		{"or and at once", "status = x or and status = y", "column 15: expected a condition, got AND"},
		{"or at the start", "or status = x", "column 1: expected a condition, got OR"},
		{"opening parenthesis at the end", "status = x and (", "column 17: expected a condition after '('"},
		{"bad condition inside parentheses", "status = x or (params.a < b)", "column 25: operator < needs a number"},
		{"unknown word between conditions", "status = x nor status = y", "column 12: expected AND or OR, got \"nor status =\""},
		{"nested too deep", strings.Repeat("(", maxFilterDepth+1) + "status = x" + strings.Repeat(")", maxFilterDepth+1),
			"column 33: parentheses nested deeper than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFilter(tt.in)
			if err == nil {
				t.Fatalf("ParseFilter(%q) succeeded", tt.in)
			}
			wantField(t, err, "filter")
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSearchRunsWithOr(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := mustOpen(t, Options{Now: clk.Now})
	exp, err := s.CreateExperiment(ctx, "or", "", nil)
	must(t, err)
	mk := func(algo, team string, auc float64) string {
		clk.Advance(time.Second)
		r, err := s.CreateRun(ctx, exp.ID, RunOptions{Tags: map[string]string{"team": team}})
		must(t, err)
		must(t, s.LogParams(ctx, r.ID, map[string]string{"algo": algo}))
		must(t, s.LogMetric(ctx, r.ID, "auc", auc, 0, time.Time{}))
		return r.ID
	}
	gbdtRisk := mk("gbdt", "risk", 0.9)
	gbdtGrowth := mk("gbdt", "growth", 0.85)
	logRisk := mk("logistic", "risk", 0.82)
	logGrowth := mk("logistic", "growth", 0.95)
	lowRisk := mk("logistic", "risk", 0.6)
	tests := []struct {
		filter string
		want   []string
	}{
		{"metrics.auc > 0.8 and (params.algo = 'gbdt' or tags.team = 'risk')", []string{gbdtRisk, gbdtGrowth, logRisk}},
		// Without the parentheses AND binds first: every risk run matches, whatever its AUC.
		{"metrics.auc > 0.8 and params.algo = 'gbdt' or tags.team = 'risk'", []string{gbdtRisk, gbdtGrowth, logRisk, lowRisk}},
		{"params.algo = logistic and (metrics.auc < 0.7 or metrics.auc > 0.9)", []string{logGrowth, lowRisk}},
		{"tags.team = growth or metrics.missing > 0", []string{gbdtGrowth, logGrowth}},
		{"(tags.team = nobody or params.algo = none)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			runs, err := s.SearchRuns(ctx, RunQuery{ExperimentID: exp.ID, Filter: tt.filter, OrderBy: "start asc"})
			must(t, err)
			var got []string
			for _, r := range runs {
				got = append(got, r.ID)
			}
			if !equalStrings(got, tt.want) {
				t.Errorf("runs %v, want %v", got, tt.want)
			}
		})
	}
}
