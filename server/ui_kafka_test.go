package server

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"driftd/stream"
)

func TestMessageRow(t *testing.T) {
	cases := []struct {
		name, value, want string
		json              bool
	}{
		{"object is indented", `{"a":1,"b":[true,null]}`, "{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null\n  ]\n}", true},
		{"plain text stays", `hello <b>`, `hello <b>`, false},
		{"broken JSON stays as text", `{"a":`, `{"a":`, false},
		{"invalid UTF-8 is quoted", "\xff\xfe", `"\xff\xfe"`, false},
		{"empty value", ``, ``, false},
	}
	for _, tc := range cases {
		row := messageRow(stream.Message{Offset: 3, Key: []byte("k"), Value: []byte(tc.value), Headers: map[string]string{"b": "2", "a": "1"}})
		if row.Value != tc.want || row.JSON != tc.json {
			t.Errorf("%s: value %q json=%v, want %q json=%v", tc.name, row.Value, row.JSON, tc.want, tc.json)
		}
		if len(row.Headers) != 2 || row.Headers[0].Key != "a" {
			t.Errorf("%s: headers not sorted: %v", tc.name, row.Headers)
		}
	}
}

// FuzzMessageRow checks that any record value is shown either as indented
// JSON equal to the input once compacted, or as valid UTF-8 text.
func FuzzMessageRow(f *testing.F) {
	for _, s := range []string{`{"id":"x","v":1.5}`, `[1,2]`, `"s"`, `plain`, "\xff", ``, ` {"a" : [ ] } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		row := messageRow(stream.Message{Key: b, Value: b})
		if !utf8.ValidString(row.Value) || !utf8.ValidString(row.Key) {
			t.Fatalf("not UTF-8: %q", row.Value)
		}
		if row.JSON {
			var want, got bytes.Buffer
			if err := json.Compact(&want, b); err != nil {
				t.Fatalf("marked JSON but input does not compact: %v", err)
			}
			if err := json.Compact(&got, []byte(row.Value)); err != nil || got.String() != want.String() {
				t.Fatalf("indented value %q does not compact back to %q", row.Value, want.String())
			}
		} else if utf8.Valid(b) && row.Value != string(b) {
			t.Fatalf("text value changed: %q -> %q", b, row.Value)
		}
	})
}
