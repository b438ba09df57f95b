package stream

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

func TestGenerateDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	o := GenOptions{Rows: 50, Features: 5, Categorical: 2, Seed: 7}
	if err := Generate(&a, o); err != nil {
		t.Fatal(err)
	}
	_ = Generate(&b, o)
	o.Seed = 8
	_ = Generate(&c, o)
	if a.String() != b.String() || a.String() == c.String() {
		t.Fatal("generation is not deterministic per seed")
	}
	if lines := strings.Count(a.String(), "\n"); lines != 51 {
		t.Fatalf("%d lines, want 51", lines)
	}
	if err := Generate(&c, GenOptions{Rows: 1, Features: 2, Drift: DriftSpec{{Feature: "zz", Scale: 1}}}); err == nil {
		t.Fatal("unknown drift feature accepted")
	}
}

func TestCSVRecords(t *testing.T) {
	in := "a,b,city,label\n1.5,NA,paris,1\n2,,rome,0\n1e2,3,\"x,y\",1\n"
	drift, _ := ParseDriftSpec("a:shift=1,city:swap=paris>oslo")
	src, err := NewCSVRecords(strings.NewReader(in), "t.csv", "id", drift)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(testSchema2)
	var out Decoded
	want := []struct {
		id   string
		a, b float64
		city string
	}{{"row-1", 2.5, math.NaN(), "oslo"}, {"row-2", 3, math.NaN(), "rome"}, {"row-3", 101, 3, "x,y"}}
	for _, w := range want {
		id, rec, err := src.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Decode(rec, &out); err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		if id != w.id || out.ID != w.id || out.Num[0] != w.a || out.Cat[2] != w.city || (out.Num[1] != w.b && !math.IsNaN(w.b)) {
			t.Errorf("record %s decoded to %+v", rec, out)
		}
	}
	if _, err := NewCSVRecords(strings.NewReader(in), "t.csv", "", DriftSpec{{Feature: "nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v", err)
	}
}

var testSchema2 = Schema{Names: []string{"a", "b", "city"}, Categorical: []bool{false, false, true}}

func TestProduceCSV(t *testing.T) {
	b := startBroker(t, "")
	var csv bytes.Buffer
	if err := Generate(&csv, GenOptions{Rows: 500, Features: 4, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	src, err := NewCSVRecords(&csv, "gen.csv", "id", nil)
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	st, err := ProduceCSV(context.Background(), src, ProduceOptions{Client: Config{Brokers: []string{b.Addr()}}, Topic: "drift-data", Limit: 300, Progress: &progress})
	if err != nil || st.Acked != 300 {
		t.Fatalf("stats %+v, err %v", st, err)
	}
	if !strings.Contains(progress.String(), "done: sent 300") {
		t.Fatalf("summary = %q", progress.String())
	}
	readN(t, b.Addr(), "drift-data", 300, 20*time.Second)
}
