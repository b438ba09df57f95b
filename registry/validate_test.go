package registry

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"churn", true},
		{"churn-model_v2.1", true},
		{strings.Repeat("a", 128), true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{"has space", false},
		{"slash/x", false},
		{"ümlaut", false},
		{"..", false},
	}
	for _, tt := range tests {
		err := ValidateName("name", tt.name)
		if tt.ok && err != nil {
			t.Errorf("ValidateName(%q) = %v, want ok", tt.name, err)
		}
		if !tt.ok {
			wantField(t, err, "name")
		}
	}
}

func TestParseSemVer(t *testing.T) {
	tests := []struct {
		in      string
		want    SemVer
		errPart string
	}{
		{"1.0.0", SemVer{Major: 1}, ""},
		{"0.12.3", SemVer{Minor: 12, Patch: 3}, ""},
		{"2.0.0-rc.1", SemVer{Major: 2, Pre: "rc.1"}, ""},
		{"2.0.0-rc.1+build.5", SemVer{Major: 2, Pre: "rc.1", Build: "build.5"}, ""},
		{"1.0.0+exp.sha.5114f85", SemVer{Major: 1, Build: "exp.sha.5114f85"}, ""},
		{"", SemVer{}, "empty"},
		{"1.0", SemVer{}, "MAJOR.MINOR.PATCH"},
		{"1.0.0.0", SemVer{}, "MAJOR.MINOR.PATCH"},
		{"01.0.0", SemVer{}, "leading zero"},
		{"1.x.0", SemVer{}, "minor component"},
		{"1.0.0-", SemVer{}, "empty pre-release"},
		{"1.0.0-rc..1", SemVer{}, "empty identifier"},
		{"1.0.0-01", SemVer{}, "leading zero"},
		{"1.0.0-r c", SemVer{}, "invalid character"},
		{"99999999999.0.0", SemVer{}, "larger than"},
		{"v1.0.0", SemVer{}, "not a number"},
	}
	for _, tt := range tests {
		got, err := ParseSemVer(tt.in)
		if tt.errPart != "" {
			wantField(t, err, "version")
			if !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("ParseSemVer(%q) error %q does not mention %q", tt.in, err, tt.errPart)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSemVer(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestSemVerOrder(t *testing.T) {
	// Ascending precedence per semver.org, plus a release with build metadata.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.0+b", "1.1.0", "1.10.0", "2.0.0"}
	for i := 1; i < len(order); i++ {
		a, _ := ParseSemVer(order[i-1])
		b, _ := ParseSemVer(order[i])
		if a.Compare(b) >= 0 || b.Compare(a) <= 0 {
			t.Errorf("%s should sort before %s", order[i-1], order[i])
		}
		// Keys must keep major/minor/patch order so the last key is the highest release.
		if a.Major != b.Major || a.Minor != b.Minor || a.Patch != b.Patch {
			if string(a.key()) >= string(b.key()) {
				t.Errorf("key(%s) >= key(%s)", order[i-1], order[i])
			}
		}
	}
}

func FuzzParseSemVer(f *testing.F) {
	for _, s := range []string{"1.0.0", "1.2.3-rc.1+b.7", "0.0.0", "1.0", "01.2.3", "1.0.0-", "9999999999.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSemVer(s)
		if err != nil {
			if _, ok := err.(*FieldError); !ok {
				t.Fatalf("error %T is not a *FieldError", err)
			}
			return
		}
		if v.String() != s {
			t.Fatalf("round trip %q -> %q", s, v.String())
		}
		w, err := ParseSemVer(string(v.String()))
		if err != nil || w.Compare(v) != 0 || string(w.key()) != string(v.key()) {
			t.Fatalf("reparse %q: %+v %v", s, w, err)
		}
	})
}
