package server

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// exposition returns what set writes to /metrics.
func exposition(set *metrics.Set) string {
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	return buf.String()
}

func TestCustomMetricsRecord(t *testing.T) {
	set := metrics.NewSet()
	cm := newCustomMetrics(set, 10)
	n, err := cm.record([]CustomMetric{
		{Name: "drift", Fields: map[string]float64{"psi_score": 0.15, "ks": 0.5}, Labels: map[string]string{"feature": "feature_1", "env": `a "quoted" \ value`}},
		{Name: "jobs", Type: "counter", Fields: map[string]float64{"done": 2}},
		{Name: "jobs", Type: "counter", Fields: map[string]float64{"done": 3}},
	})
	if err != nil || n != 4 {
		t.Fatalf("record = %d, %v", n, err)
	}
	out := exposition(set)
	for _, want := range []string{
		`driftd_custom_drift_psi_score{env="a \"quoted\" \\ value",feature="feature_1"} 0.15`,
		`driftd_custom_drift_ks{env="a \"quoted\" \\ value",feature="feature_1"} 0.5`,
		`driftd_custom_jobs_done 5`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("exposition lacks %s:\n%s", want, out)
		}
	}
	// A gauge is set, not added to.
	if _, err := cm.record([]CustomMetric{{Name: "drift", Fields: map[string]float64{"psi_score": 0.3}, Labels: map[string]string{"feature": "feature_1", "env": `a "quoted" \ value`}}}); err != nil {
		t.Fatal(err)
	}
	if out := exposition(set); !strings.Contains(out, `driftd_custom_drift_psi_score{env="a \"quoted\" \\ value",feature="feature_1"} 0.3`+"\n") {
		t.Errorf("gauge not set to 0.3:\n%s", out)
	}
	if cm.size() != 3 {
		t.Errorf("size = %d, want 3", cm.size())
	}
}

func TestCustomMetricsInvalid(t *testing.T) {
	long := strings.Repeat("a", 65)
	cases := []struct {
		name  string
		m     CustomMetric
		field string
	}{
		{"empty name", CustomMetric{Fields: map[string]float64{"x": 1}}, "[0].name"},
		{"name with a dash", CustomMetric{Name: "my-metric", Fields: map[string]float64{"x": 1}}, "[0].name"},
		{"name with a colon", CustomMetric{Name: "a:b", Fields: map[string]float64{"x": 1}}, "[0].name"},
		{"name starting with a digit", CustomMetric{Name: "1a", Fields: map[string]float64{"x": 1}}, "[0].name"},
		{"long name", CustomMetric{Name: long, Fields: map[string]float64{"x": 1}}, "[0].name"},
		{"unknown type", CustomMetric{Name: "a", Type: "histogram", Fields: map[string]float64{"x": 1}}, "[0].type"},
		{"no fields", CustomMetric{Name: "a"}, "[0].fields"},
		{"bad field", CustomMetric{Name: "a", Fields: map[string]float64{"psi score": 1}}, "[0].fields.psi score"},
		{"NaN", CustomMetric{Name: "a", Fields: map[string]float64{"x": math.NaN()}}, "[0].fields.x"},
		{"+Inf", CustomMetric{Name: "a", Fields: map[string]float64{"x": math.Inf(1)}}, "[0].fields.x"},
		{"negative counter", CustomMetric{Name: "a", Type: "counter", Fields: map[string]float64{"x": -1}}, "[0].fields.x"},
		{"bad label name", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"a-b": "v"}}, "[0].labels.a-b"},
		{"reserved label", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"__name__": "v"}}, "[0].labels.__name__"},
		{"instance label", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"instance": "v"}}, "[0].labels.instance"},
		{"job label", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"job": "v"}}, "[0].labels.job"},
		{"empty label value", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"f": ""}}, "[0].labels.f"},
		{"newline in label value", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"f": "a\nb"}}, "[0].labels.f"},
		{"invalid UTF-8", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"f": "\xff"}}, "[0].labels.f"},
		{"long label value", CustomMetric{Name: "a", Fields: map[string]float64{"x": 1}, Labels: map[string]string{"f": strings.Repeat("v", 257)}}, "[0].labels.f"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := metrics.NewSet()
			cm := newCustomMetrics(set, 10)
			_, err := cm.record([]CustomMetric{tc.m})
			var fe *fieldErr
			if !errors.As(err, &fe) || fe.field != tc.field {
				t.Fatalf("err = %v, want a field error on %s", err, tc.field)
			}
			if out := exposition(set); strings.Contains(out, customPrefix) {
				t.Errorf("an invalid call recorded something:\n%s", out)
			}
		})
	}
}

// TestCustomMetricsAllOrNothing: a call with one bad metric, a kind
// conflict or too many series records nothing, and keeps what exists.
func TestCustomMetricsAllOrNothing(t *testing.T) {
	set := metrics.NewSet()
	cm := newCustomMetrics(set, 3)
	if _, err := cm.record([]CustomMetric{{Name: "a", Fields: map[string]float64{"x": 1, "y": 2}}}); err != nil {
		t.Fatal(err)
	}
	before := exposition(set)

	_, err := cm.record([]CustomMetric{{Name: "b", Fields: map[string]float64{"x": 1}}, {Name: "bad-name", Fields: map[string]float64{"x": 1}}})
	if err == nil {
		t.Fatal("a call with a bad metric was accepted")
	}
	_, err = cm.record([]CustomMetric{{Name: "a", Type: "counter", Fields: map[string]float64{"x": 1}}})
	var fe *fieldErr
	if !errors.As(err, &fe) || fe.field != "type" {
		t.Fatalf("recording gauge a_x as a counter: %v", err)
	}
	_, err = cm.record([]CustomMetric{{Name: "c", Type: "counter", Fields: map[string]float64{"x": 1}}, {Name: "c", Fields: map[string]float64{"x": 1}}})
	if !errors.As(err, &fe) {
		t.Fatalf("one name as a counter and a gauge in one call: %v", err)
	}
	// 2 series exist, the bound is 3: two new ones are one too many.
	_, err = cm.record([]CustomMetric{{Name: "a", Fields: map[string]float64{"x": 5}}, {Name: "d", Fields: map[string]float64{"x": 1, "y": 1}}})
	if !errors.Is(err, errSeriesLimit) {
		t.Fatalf("over the bound: %v", err)
	}
	if after := exposition(set); after != before {
		t.Errorf("refused calls changed /metrics:\nbefore\n%s\nafter\n%s", before, after)
	}
	// Updating existing series never counts against the bound; one new series still fits.
	if _, err := cm.record([]CustomMetric{{Name: "a", Fields: map[string]float64{"x": 5, "y": 6}}, {Name: "d", Fields: map[string]float64{"x": 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cm.record([]CustomMetric{{Name: "a", Fields: map[string]float64{"x": 7}}}); err != nil {
		t.Fatalf("an update at the bound: %v", err)
	}
	if cm.size() != 3 {
		t.Errorf("size = %d, want 3", cm.size())
	}
	// A counter that would overflow is refused.
	big := newCustomMetrics(metrics.NewSet(), 3)
	if _, err := big.record([]CustomMetric{{Name: "n", Type: "counter", Fields: map[string]float64{"x": math.MaxFloat64}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := big.record([]CustomMetric{{Name: "n", Type: "counter", Fields: map[string]float64{"x": math.MaxFloat64}}}); !errors.As(err, &fe) {
		t.Fatalf("overflowing counter: %v", err)
	}
}

func TestCustomMetricsDecode(t *testing.T) {
	cases := []struct {
		body string
		n    int
		ok   bool
	}{
		{`{"name":"drift","fields":{"psi_score":0.15},"labels":{"feature":"feature_1"}}`, 1, true},
		{` [{"name":"a","fields":{"x":1}},{"name":"b","type":"counter","fields":{"x":1}}] `, 2, true},
		{``, 0, false},
		{`{"name":"a","fields":{"x":"1"}}`, 0, false},
		{`{"name":"a","fields":{"x":1e999}}`, 0, false},
		{`{"name":"a","fields":{"x":1},"unit":"s"}`, 0, false},
		{`{"name":"a","fields":{"x":1}} {}`, 0, false},
		{`[{"name":"a","fields":{"x":1}}`, 0, false},
	}
	for _, tc := range cases {
		ms, err := decodeCustomMetrics(strings.NewReader(tc.body))
		var fe *fieldErr
		switch {
		case tc.ok && (err != nil || len(ms) != tc.n):
			t.Errorf("%s: %d metrics, %v", tc.body, len(ms), err)
		case !tc.ok && !errors.As(err, &fe):
			t.Errorf("%s: err %v, want a 400", tc.body, err)
		}
	}
}
