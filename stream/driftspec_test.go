package stream

import (
	"strings"
	"testing"
)

func TestParseDriftSpec(t *testing.T) {
	tests := []struct {
		in, err string
		want    DriftSpec
	}{
		{"", "", nil},
		{"a:shift=1.5,b:scale=2", "", DriftSpec{{Feature: "a", Shift: 1.5, Scale: 1}, {Feature: "b", Scale: 2}}},
		{"a:shift=1, a:scale=3", "", DriftSpec{{Feature: "a", Shift: 1, Scale: 3}}},
		{"city:swap=paris>rome", "", DriftSpec{{Feature: "city", Scale: 1, From: "paris", To: "rome"}}},
		{"a", "item 1", nil},
		{"a:shift=x", "finite number", nil},
		{"a:shift=NaN", "finite number", nil},
		{"a:tilt=1", "unknown setting", nil},
		{"a:swap=x", "from>to", nil},
		{"a:shift=1,:scale=2", "item 2", nil},
	}
	for _, tc := range tests {
		got, err := ParseDriftSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%q: %v, %v", tc.in, got, err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: op %d = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseDriftSpec(f *testing.F) {
	f.Add("a:shift=1.5,b:scale=2")
	f.Add("c:swap=x>y")
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseDriftSpec(s)
		if err != nil {
			return
		}
		for _, op := range spec {
			if op.Feature == "" || op.Scale != op.Scale || op.Shift != op.Shift {
				t.Fatalf("%q: accepted bad op %+v", s, op)
			}
		}
	})
}
