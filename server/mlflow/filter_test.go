package mlflow

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"driftd/registry"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"   ", ""},
		{"metrics.auc > 0.8", "metrics.auc > 0.8"},
		{"metrics.auc>0.8 AND params.algo='gbdt'", "metrics.auc > 0.8 AND params.algo = 'gbdt'"},
		{"metrics.auc > 0.8 and params.algo = 'gbdt' and tags.x = 'y' and attributes.status = 'FINISHED'",
			"metrics.auc > 0.8 AND params.algo = 'gbdt' AND tags.x = 'y' AND attributes.status = 'FINISHED'"},
		{"metric.loss <= -1.5e-3", "metrics.loss <= -0.0015"},
		{"parameters.`learning rate` != \"0.1\"", "params.`learning rate` != '0.1'"},
		{`tags."mlflow.runName" LIKE 'base%'`, "tags.mlflow.runName LIKE 'base%'"},
		{"tag.`a-b` ILIKE '%X_'", "tags.`a-b` ILIKE '%X_'"},
		{"status = 'RUNNING'", "attributes.status = 'RUNNING'"},
		{"attr.run_id IN ('1', '2','3')", "attributes.run_id IN ('1', '2', '3')"},
		{"run.run_id NOT IN ('1')", "attributes.run_id NOT IN ('1')"},
		{"tags.x IS NULL and tags.y is not null", "tags.x IS NULL AND tags.y IS NOT NULL"},
		{"params.p = 'it''s'", "params.p = 'it''s'"},
		{`params.p = 'back\'slash\\'`, `params.p = 'back''slash\\'`},
		{"metrics.a <> 1", "metrics.a != 1"},
		{"metrics.train.loss < .5", "metrics.train.loss < 0.5"},
		{"metrics.`x` >= +2", "metrics.x >= 2"},
		{"datasets.name = 'd'", "datasets.name = 'd'"},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.in)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tt.in, err)
			continue
		}
		if got := f.String(); got != tt.want {
			t.Errorf("ParseFilter(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		in   string
		pos  int
		want string
	}{
		{"metrics.auc", 11, "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL) after metrics.auc, found the end"},
		{"metrics.auc > ", 14, "expected a value ('text' or a number) after metrics.auc >, found the end"},
		{"metrics.auc > 0.8 or params.a = 'b'", 18, "OR is not supported: MLflow filters join comparisons with AND only"},
		{"metrics.auc > 0.8 params.a = 'b'", 18, `expected AND or the end of the filter, found "params.a"`},
		{"params.a = 'open", 11, "unterminated string starting with '"},
		{"params.`open = 'x'", 7, "unterminated `key`"},
		{"params.a-b = 'x'", 8, "unexpected character '-' (quote keys with special characters in backticks: params.`my-key`)"},
		{"colour.red = 'x'", 0, `unknown entity "colour" in "colour.red" (use metrics, params, tags or attributes)`},
		{"metrics. = 1", 8, `expected a key after "metrics."`},
		{"params.a LIKE 5", 14, "LIKE needs a quoted pattern, found the number 5"},
		{"attributes.run_id IN '1'", 21, "expected ( and a list of quoted values, found the string '1'"},
		{"attributes.run_id IN ('1' '2')", 26, "expected , or ) in the list, found the string '2'"},
		{"attributes.run_id IN (1)", 22, "expected a quoted value in the list, found the number 1"},
		{"tags.x IS 'a'", 10, "expected NULL, found the string 'a'"},
		{"tags.x NOT LIKE 'a'", 11, `expected IN after NOT, found "LIKE"`},
		{"metrics.a ! 1", 10, "expected != , found a lone !"},
		{"metrics.a = 1e", 14, `expected digits of the exponent in "1e"`},
		{"metrics.a = 12abc", 14, `unexpected 'a' after the number 12`},
		{"= 1", 0, "expected an identifier such as metrics.auc, params.`name` or status, found \"=\""},
		{"metrics.a = 1 and", 17, "expected an identifier such as metrics.auc, params.`name` or status, found the end"},
	}
	for _, tt := range tests {
		_, err := ParseFilter(tt.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("ParseFilter(%q) = %v, want a *ParseError", tt.in, err)
			continue
		}
		if pe.Pos != tt.pos || pe.Msg != tt.want {
			t.Errorf("ParseFilter(%q) = offset %d %q, want offset %d %q", tt.in, pe.Pos, pe.Msg, tt.pos, tt.want)
		}
	}
}

func TestSchemaCheck(t *testing.T) {
	tests := []struct {
		s       schema
		in      string
		wantErr string // "" = valid
	}{
		{runsSchema, "metrics.auc > 0.8 and params.a = 'x' and tags.t LIKE 'y%' and status = 'FINISHED'", ""},
		{runsSchema, "attributes.created > 1 and attributes.Created < 2 and end_time >= 0", ""},
		{runsSchema, "metrics.auc = 'x'", "offset 14: metrics.auc is a number: expected a number, found 'x'"},
		{runsSchema, "metrics.auc LIKE 'x'", "offset 0: metrics.auc is a number: compare it with =, !=, <, <=, > or >=, not LIKE"},
		{runsSchema, "params.a = 1", "offset 11: params.a is text: quote the value ('1')"},
		{runsSchema, "attributes.status IS NULL", "offset 0: attributes.status always has a value: IS NULL applies to params and tags"},
		{runsSchema, "attributes.start_time = '1'", "offset 24: attributes.start_time is a number: expected a number, found '1'"},
		{runsSchema, "datasets.name = 'd'", "offset 0: runs cannot be searched by datasets"},
		{runsSchema, "attributes.size = 1", `offset 0: unknown attribute "size" for runs (known: artifact_uri, end_time, experiment_id, lifecycle_stage, run_id, run_name, start_time, status, user_id)`},
		{experimentsSchema, "name LIKE 'a%' and tags.t = 'x' and creation_time > 5", ""},
		{experimentsSchema, "metrics.auc > 1", "offset 0: experiments cannot be searched by metrics"},
		{modelsSchema, "name ILIKE '%churn%'", ""},
		{versionsSchema, "name = 'm' and run_id IN ('1', '2') and version_number > 1", ""},
		{versionsSchema, "params.a = 'x'", "offset 0: model versions cannot be searched by params"},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.in)
		if err == nil {
			_, err = tt.s.check(f)
		}
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("%s: check(%q) = %q, want %q", tt.s.what, tt.in, got, tt.wantErr)
		}
	}
}

func TestFilterMatchRuns(t *testing.T) {
	end := time.UnixMilli(startMillis + 5000).UTC()
	runs := []registry.Run{
		{ID: "1", ExperimentID: "1", Name: "a", Status: registry.RunFinished, Start: time.UnixMilli(startMillis).UTC(), End: &end,
			Params: map[string]string{"algo": "gbdt", "depth": "10"}, Tags: map[string]string{"team": "Risk"},
			Metrics: map[string]registry.MetricPoint{"auc": {Value: 0.9}}},
		{ID: "2", ExperimentID: "1", Name: "b", Status: registry.RunRunning, Start: time.UnixMilli(startMillis + 1000).UTC(),
			Params: map[string]string{"algo": "logistic", "depth": "9"}, Tags: map[string]string{},
			Metrics: map[string]registry.MetricPoint{"auc": {Value: 0.7}}},
		{ID: "3", ExperimentID: "1", Name: "c", Status: registry.RunFailed, Start: time.UnixMilli(startMillis + 2000).UTC(),
			Params: map[string]string{}, Tags: map[string]string{"team": "fraud"}, Metrics: map[string]registry.MetricPoint{}},
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"", []string{"1", "2", "3"}},
		{"metrics.auc > 0.8", []string{"1"}},
		{"metrics.auc != 0.9", []string{"2"}}, // run 3 has no auc: it never matches
		{"metrics.auc <= 0.9 and metrics.auc >= 0.7", []string{"1", "2"}},
		{"params.algo = 'gbdt'", []string{"1"}},
		{"params.depth > '9'", nil}, // params compare as text: refused by the schema, see TestSchemaCheck
		{"params.depth LIKE '1%'", []string{"1"}},
		{"tags.team LIKE 'risk'", nil},
		{"tags.team ILIKE 'risk'", []string{"1"}},
		{"tags.team ILIKE '_i%'", []string{"1"}},
		{"tags.team IS NULL", []string{"2"}},
		{"tags.team IS NOT NULL", []string{"1", "3"}},
		{"status = 'FAILED'", []string{"3"}},
		{"attributes.status IN ('RUNNING', 'FAILED')", []string{"2", "3"}},
		{"attributes.run_id NOT IN ('1')", []string{"2", "3"}},
		{"run_name != 'a'", []string{"2", "3"}},
		{"attributes.start_time > 1772366400000", []string{"2", "3"}},
		{"attributes.end_time = 1772366405000", []string{"1"}},
		{"attributes.user_id = ''", []string{"1", "2", "3"}},
		{"attributes.artifact_uri LIKE 'mlflow-artifacts:/1/2/%'", []string{"2"}},
	}
	for _, tt := range tests {
		f, err := ParseFilter(tt.filter)
		if err == nil {
			f, err = runsSchema.check(f)
		}
		if err != nil {
			if tt.want == nil {
				continue
			}
			t.Errorf("%q: %v", tt.filter, err)
			continue
		}
		var got []string
		for i := range runs {
			if f.match(runField(&runs[i], false)) {
				got = append(got, runs[i].ID)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q matched %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestParseOrderBy(t *testing.T) {
	tests := []struct {
		in      []string
		want    []OrderKey
		wantErr string
	}{
		{[]string{"metrics.auc DESC", "params.`learning rate`", "attributes.start_time asc", "run_name"},
			[]OrderKey{{Ident: Ident{Kind: kindMetric, Key: "auc"}, Desc: true}, {Ident: Ident{Kind: kindParam, Key: "learning rate"}},
				{Ident: Ident{Kind: kindAttribute, Key: "start_time"}}, {Ident: Ident{Kind: kindAttribute, Key: "run_name"}}}, ""},
		{[]string{"metrics.auc DESC LIMIT"}, nil, `order_by clause 0 "metrics.auc DESC LIMIT": offset 17: expected ASC, DESC or the end, found "LIMIT"`},
		{[]string{"name", "'x'"}, nil, `order_by clause 1 "'x'": offset 0: expected an identifier such as metrics.auc, params.` + "`name`" + ` or status, found the string 'x'`},
	}
	for _, tt := range tests {
		got, err := ParseOrderBy(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseOrderBy(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOrderBy(%q): %v", tt.in, err)
			continue
		}
		for i := range got {
			got[i].Pos = 0
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseOrderBy(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// FuzzSearchFilter checks that any text either fails with a *ParseError whose
// offset lies in the text, or parses to a filter whose canonical form parses
// back to the same comparisons; and that checking and evaluating it never panic.
func FuzzSearchFilter(f *testing.F) {
	for _, s := range []string{
		"", "metrics.auc > 0.8 and params.algo = 'gbdt' and tags.x = 'y' and attributes.status = 'FINISHED'",
		"params.`learning rate` LIKE '%0.1%'", `tags."mlflow.runName" ILIKE 'base_'`, "attr.run_id IN ('1', '2')",
		"tags.x IS NOT NULL", "metrics.a <> -1e-3", "params.p = 'it''s'", `params.p = 'a\'b\\'`, "run.start_time >= 17",
		"metrics.a = 1 or metrics.b = 2", "metrics.", "params.`x", "status != \"RUNNING\"", "tags.t NOT IN ('a')",
		"metrics.`a``b` = 1", "tags.\"a\"\"b\" = 'c'",
	} {
		f.Add(s)
	}
	run := registry.Run{ID: "1", ExperimentID: "1", Name: "r", Status: registry.RunFinished, Start: time.UnixMilli(startMillis),
		Params: map[string]string{"algo": "gbdt"}, Tags: map[string]string{"x": "y"}, Metrics: map[string]registry.MetricPoint{"auc": {Value: 0.9}}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseFilter(%q): %v is not a *ParseError", s, err)
			}
			if pe.Pos < 0 || pe.Pos > len(s) {
				t.Fatalf("ParseFilter(%q): offset %d outside the text", s, pe.Pos)
			}
			return
		}
		canon := flt.String()
		again, err := ParseFilter(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon || len(again.Conds) != len(flt.Conds) {
			t.Fatalf("canonical form %q of %q reparses as %q", canon, s, again.String())
		}
		for i, c := range flt.Conds {
			d := again.Conds[i]
			same := c.Kind == d.Kind && c.Key == d.Key && c.Op == d.Op && c.IsNum == d.IsNum && slices.Equal(c.List, d.List)
			if c.IsNum {
				same = same && (c.Num == d.Num || math.IsNaN(c.Num) && math.IsNaN(d.Num))
			} else {
				same = same && c.Str == d.Str
			}
			if !same {
				t.Fatalf("comparison %d of %q: %+v reparses as %+v", i, s, c, d)
			}
		}
		for _, sc := range []schema{runsSchema, experimentsSchema, modelsSchema, versionsSchema} {
			if checked, err := sc.check(flt); err == nil && sc.what == "runs" {
				checked.match(runField(&run, false))
			}
		}
		_, _ = ParseOrderBy([]string{s})
	})
}
