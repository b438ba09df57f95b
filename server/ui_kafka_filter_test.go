package server

import (
	"reflect"
	"strings"
	"testing"

	"driftd/stream"
)

func TestParseMsgFilter(t *testing.T) {
	tests := []struct {
		in   string
		want []msgCond
	}{
		{"", nil},
		{"plan = pro", []msgCond{{on: "json", path: "plan", op: "=", lit: "pro"}}},
		{"x1 >= 2.5 AND key == r1", []msgCond{{on: "json", path: "x1", op: ">=", lit: "2.5", num: 2.5, isNum: true}, {on: "key", op: "=", lit: "r1"}}},
		{"headers.source ~ 'Demo Run'", []msgCond{{on: "header", path: "source", op: "~", lit: "Demo Run"}}},
		{"value ~ error", []msgCond{{on: "value", op: "~", lit: "error"}}},
		{"value.key != \"a b\"", []msgCond{{on: "json", path: "key", op: "!=", lit: "a b"}}},
		{"`user id`=7", []msgCond{{on: "json", path: "user id", op: "=", lit: "7", num: 7, isNum: true}}},
		{"headers.`x-trace id` = 1", []msgCond{{on: "header", path: "x-trace id", op: "=", lit: "1", num: 1, isNum: true}}},
		{"user.tags.0 = gold", []msgCond{{on: "json", path: "user.tags.0", op: "=", lit: "gold"}}},
	}
	for _, tt := range tests {
		f, err := parseMsgFilter(tt.in)
		if err != nil || !reflect.DeepEqual(f.conds, tt.want) {
			t.Errorf("parseMsgFilter(%q) = %+v, %v; want %+v", tt.in, f.conds, err, tt.want)
			continue
		}
		again, err := parseMsgFilter(f.String())
		if err != nil || !reflect.DeepEqual(again.conds, f.conds) {
			t.Errorf("%q: String() %q reads back as %+v, %v", tt.in, f.String(), again.conds, err)
		}
	}
}

func TestParseMsgFilterErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plan", "column 5: expected an operator"},
		{"plan =", "column 7: expected a value after ="},
		{"x1 > high", "column 6: > compares numbers; \"high\" is not one"},
		{"= 3", "column 1: expected a field"},
		{"headers = 1", "column 8: expected '.' and a name after \"headers\""},
		{"headers. = 1", "column 1: empty name in \"headers.\""},
		{"plan = 'pro", "column 8: unterminated string"},
		{"`plan = pro", "column 1: unterminated backquoted field"},
		{"plan = pro or plan = max", "column 12: expected AND, got \"or plan = ma\""},
		{"plan = pro and", "column 15: expected a condition after AND"},
		{"plan => pro", "column 6: expected an operator"},
		{strings.Repeat("a", msgFilterMax+1), "at most 500"},
	}
	for _, tt := range tests {
		_, err := parseMsgFilter(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseMsgFilter(%q) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestMsgFilterMatch(t *testing.T) {
	m := stream.Message{Key: []byte("r7"), Headers: map[string]string{"source": "Demo Run"},
		Value: []byte(`{"plan":"pro","x1":3.5,"n":"10","user":{"tags":["gold"]},"note":"Disk FULL"}`)}
	plain := stream.Message{Key: []byte("k"), Value: []byte("not json: x1 = 3.5")}
	tests := []struct {
		filter string
		m      stream.Message
		want   bool
	}{
		{"plan = pro", m, true},
		{"plan = basic", m, false},
		{"plan != basic", m, true},
		{"x1 > 3", m, true},
		{"x1 = 3.50", m, true}, // numbers compare as numbers
		{"n >= 9", m, true},    // a number written as a string is a number
		{"x1 < 3", m, false},
		{"plan > 3", m, false}, // an order needs a number on both sides
		{"missing = x", m, false},
		{"missing != x", m, false}, // a field the record lacks never matches
		{"note ~ disk", m, true},
		{"user.tags.0 = gold", m, true},
		{"key = r7 and headers.source ~ demo", m, true},
		{"key = r7 and headers.other = x", m, false},
		{`value ~ '"x1":3.5'`, m, true},
		{"x1 = 3.5", plain, false}, // not JSON: no JSON field
		{"value ~ 'x1 = 3.5'", plain, true},
		{"key = k", plain, true},
	}
	for _, tt := range tests {
		f, err := parseMsgFilter(tt.filter)
		if err != nil {
			t.Fatalf("%q: %v", tt.filter, err)
		}
		if got := f.match(tt.m); got != tt.want {
			t.Errorf("%q on %s: %v, want %v", tt.filter, tt.m.Value, got, tt.want)
		}
	}
	if !fieldEquals("x1", "3.5").match(m) || fieldEquals("plan", "Pro").match(m) {
		t.Error("the field=value form does not compare as plan = pro does")
	}
}

func FuzzMsgFilter(f *testing.F) {
	for _, s := range []string{"plan = pro", "x1 >= 2.5 and key == r1", "headers.source ~ 'Demo Run'", "value ~ error",
		"value.key != \"a b\"", "`user id`=7", "headers.`x y` = 1", "value.headers = 2", "and", "`", "'", "headers.", "a = and"} {
		f.Add(s, []byte(`{"plan":"pro","x1":3.5,"key":"a b","user id":7}`))
	}
	f.Fuzz(func(t *testing.T, s string, value []byte) {
		flt, err := parseMsgFilter(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "filter: ") {
				t.Fatalf("error %q does not name the filter", err)
			}
			return
		}
		again, err := parseMsgFilter(flt.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", flt.String(), s, err)
		}
		if !reflect.DeepEqual(again.conds, flt.conds) {
			t.Fatalf("round trip of %q via %q:\n%+v\n%+v", s, flt.String(), flt.conds, again.conds)
		}
		m := stream.Message{Key: []byte("k"), Value: value, Headers: map[string]string{"x y": "1"}}
		if flt.match(m) != again.match(m) {
			t.Fatalf("%q and %q match differently", s, flt.String())
		}
	})
}
