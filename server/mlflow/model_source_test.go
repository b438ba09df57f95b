package mlflow

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		source string
		want   sourceRef // external: "" = driftd reads it, "*" = any reason
		bad    bool      // INVALID_PARAMETER_VALUE
	}{
		{"runs:/5/model", sourceRef{runID: "5", path: "model"}, false},
		{"runs:/5/model/", sourceRef{runID: "5", path: "model"}, false},
		{"runs:/5", sourceRef{runID: "5"}, false},
		{"mlflow-artifacts:/1/5/artifacts/m", sourceRef{runID: "5", path: "m"}, false},
		{"mlflow-artifacts://host:5000/1/5/artifacts", sourceRef{runID: "5"}, false},
		{"mlflow-artifacts:/registry/churn/1.2.0", sourceRef{model: "churn", version: "1.2.0"}, false},
		{"mlflow-artifacts:/registry/churn/3/model.driftd", sourceRef{model: "churn", version: "3"}, false},
		{"models:/churn/3", sourceRef{model: "churn", version: "3"}, false},
		{"models:/churn/Production", sourceRef{model: "churn", version: "Production"}, false},
		{"models:/churn@champion", sourceRef{model: "churn", version: "@champion"}, false},
		{"s3://bucket/model", sourceRef{external: "*"}, false},
		{"https://example.com/model.pkl", sourceRef{external: "*"}, false},
		{"dbfs:/models/m", sourceRef{external: "*"}, false},
		{"/home/me/model", sourceRef{}, true},
		{"file:///home/me/model", sourceRef{}, true},
		{"model", sourceRef{}, true},
		{"s3://bucket/a/../b", sourceRef{}, true},
		{"runs:/", sourceRef{}, true},
		{"models:/churn", sourceRef{}, true},
		{"models:/churn/1/extra", sourceRef{}, true},
		{"mlflow-artifacts:/1/5/other", sourceRef{}, true},
		{"mlflow-artifacts:/registry/churn", sourceRef{}, true},
		{"mlflow-artifacts:/registry/churn/1/other", sourceRef{}, true},
		{"%zz", sourceRef{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			got, err := parseSource(tt.source)
			var me *Error
			if tt.bad {
				if !errors.As(err, &me) || me.Code != codeInvalidParameter {
					t.Fatalf("got %+v, %v; want INVALID_PARAMETER_VALUE", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.external == "*" {
				if got.external == "" || got.runID != "" || got.model != "" {
					t.Fatalf("got %+v, want an external source", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseSource checks that any source either is refused with
// INVALID_PARAMETER_VALUE or names exactly one kind of place, with no '..'
// segment in what driftd reads.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"runs:/5/model", "mlflow-artifacts:/1/5/artifacts/m", "mlflow-artifacts:/registry/m/1",
		"models:/m/1", "models:/m@a", "s3://b/k", "/tmp/x", "runs:/5/../x", "models:/@", "mlflow-artifacts:/registry/m/1/model.driftd/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, source string) {
		ref, err := parseSource(source)
		if err != nil {
			var me *Error
			if !errors.As(err, &me) || me.Code != codeInvalidParameter {
				t.Fatalf("%q: error %v is not INVALID_PARAMETER_VALUE", source, err)
			}
			return
		}
		kinds := 0
		for _, set := range []bool{ref.runID != "", ref.model != "", ref.external != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			t.Fatalf("%q: parsed as %+v, want exactly one kind", source, ref)
		}
		if ref.model != "" && ref.version == "" {
			t.Fatalf("%q: model %q without a version", source, ref.model)
		}
		for _, seg := range strings.Split(ref.path, "/") {
			if seg == ".." {
				t.Fatalf("%q: path %q has a '..' segment", source, ref.path)
			}
		}
	})
}
