package server

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
)

// Bounds of one custom metric.
const (
	customPrefix      = "driftd_custom_"
	maxCustomNameLen  = 64   // of a name and of a field
	maxCustomFields   = 32   // per metric
	maxCustomLabels   = 16   // per metric
	maxCustomLabelLen = 256  // bytes of a label value
	maxCustomBatch    = 1000 // metrics in one call
	customGauge       = "gauge"
	customCounter     = "counter"
	customDefaultKind = customGauge
)

// customIdent is what a name, field or label name may be: a Prometheus
// identifier without colons (which are for recording rules).
var customIdent = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// errSeriesLimit is returned when a call would create more series than the
// bound; nothing of that call is recorded.
var errSeriesLimit = errors.New("custom metrics series limit reached")

// CustomMetric is one recording of POST /api/v1/metrics: each field becomes
// the series driftd_custom_<name>_<field>{labels}. A gauge is set to the
// value; a counter is increased by it.
type CustomMetric struct {
	Name   string             `json:"name"`
	Type   string             `json:"type,omitempty"` // "gauge" (default) or "counter"
	Fields map[string]float64 `json:"fields"`
	Labels map[string]string  `json:"labels,omitempty"`
}

// customMetrics records custom gauges and counters on a metrics set, at most
// max series, each name keeping the kind it was first recorded as. It is safe
// for concurrent use.
type customMetrics struct {
	set *metrics.Set
	max int

	mu     sync.Mutex
	series map[string]string // exported series → kind
	kinds  map[string]string // metric name (without labels) → kind
}

func newCustomMetrics(set *metrics.Set, max int) *customMetrics {
	return &customMetrics{set: set, max: max, series: map[string]string{}, kinds: map[string]string{}}
}

// customWrite is one value to record on one series.
type customWrite struct {
	series, name, kind string
	value              float64 // the gauge's value or the counter's increment
}

// record validates every metric, then records all of them or none. It
// returns how many values it recorded. Errors are *fieldErr (a bad metric,
// field named "[i].name" and so on) or wrap errSeriesLimit.
func (c *customMetrics) record(ms []CustomMetric) (int, error) {
	if len(ms) == 0 {
		return 0, badRequest("", "no metrics: send {\"name\":..., \"fields\":{...}} or a list of them")
	}
	if len(ms) > maxCustomBatch {
		return 0, badRequest("", "%d metrics in one call; at most %d", len(ms), maxCustomBatch)
	}
	var writes []customWrite
	for i, m := range ms {
		w, err := customWrites(m, fmt.Sprintf("[%d].", i))
		if err != nil {
			return 0, err
		}
		writes = append(writes, w...)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	kinds := map[string]string{}     // this call's names
	added := map[string]bool{}       // this call's new series
	counters := map[string]float64{} // this call's increments by series
	for _, w := range writes {
		kind, ok := c.kinds[w.name]
		if !ok {
			kind, ok = kinds[w.name]
		}
		if ok && kind != w.kind {
			return 0, badRequest("type", "%s is a %s; it cannot be recorded as a %s", w.name, kind, w.kind)
		}
		kinds[w.name] = w.kind
		if _, ok := c.series[w.series]; !ok {
			added[w.series] = true
		}
		if w.kind == customCounter {
			counters[w.series] += w.value
		}
	}
	if len(c.series)+len(added) > c.max {
		return 0, fmt.Errorf("%w: %d series exist, this call adds %d, at most %d may exist (nothing of this call was recorded)",
			errSeriesLimit, len(c.series), len(added), c.max)
	}
	for series, inc := range counters {
		cur := 0.0
		if _, ok := c.series[series]; ok {
			cur = c.set.GetOrCreateFloatCounter(series).Get()
		}
		if math.IsInf(cur+inc, 0) {
			return 0, badRequest("fields", "%s would overflow", series)
		}
	}
	for _, w := range writes {
		switch w.kind {
		case customCounter:
			c.set.GetOrCreateFloatCounter(w.series).Add(w.value)
		default:
			c.set.GetOrCreateGauge(w.series, nil).Set(w.value)
		}
		c.series[w.series] = w.kind
		c.kinds[w.name] = w.kind
	}
	return len(writes), nil
}

// customWrites validates one metric and returns its values as writes; the
// fields of errors are prefixed with at ("[0].").
func customWrites(m CustomMetric, at string) ([]customWrite, error) {
	kind := m.Type
	if kind == "" {
		kind = customDefaultKind
	}
	if kind != customGauge && kind != customCounter {
		return nil, badRequest(at+"type", "%q: must be %s or %s", m.Type, customGauge, customCounter)
	}
	if err := checkCustomIdent(m.Name); err != nil {
		return nil, badRequest(at+"name", "%v", err)
	}
	if len(m.Fields) == 0 {
		return nil, badRequest(at+"fields", "no fields: give at least one, e.g. {\"psi_score\": 0.15}")
	}
	if len(m.Fields) > maxCustomFields {
		return nil, badRequest(at+"fields", "%d fields; at most %d", len(m.Fields), maxCustomFields)
	}
	labels, err := customLabels(m.Labels, at)
	if err != nil {
		return nil, err
	}
	fields := make([]string, 0, len(m.Fields))
	for f := range m.Fields {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	out := make([]customWrite, 0, len(fields))
	for _, f := range fields {
		v := m.Fields[f]
		if err := checkCustomIdent(f); err != nil {
			return nil, badRequest(at+"fields."+f, "%v", err)
		}
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return nil, badRequest(at+"fields."+f, "%v is not a finite number", v)
		case kind == customCounter && v < 0:
			return nil, badRequest(at+"fields."+f, "a counter only increases: %v is negative", v)
		}
		name := customPrefix + m.Name + "_" + f
		series := name + labels
		if err := metrics.ValidateMetric(series); err != nil { // what the checks above should already ensure
			return nil, badRequest(at+"name", "%v", err)
		}
		out = append(out, customWrite{series: series, name: name, kind: kind, value: v})
	}
	return out, nil
}

// checkCustomIdent checks a name or a field.
func checkCustomIdent(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > maxCustomNameLen:
		return fmt.Errorf("%.20q... is longer than %d characters", s, maxCustomNameLen)
	case !customIdent.MatchString(s):
		return fmt.Errorf("%q: use letters, digits and '_', not starting with a digit", s)
	}
	return nil
}

// customLabels validates labels and returns them in the exposition's form,
// sorted by name ("" when there are none): `{a="x",b="y"}`.
func customLabels(labels map[string]string, at string) (string, error) {
	if len(labels) == 0 {
		return "", nil
	}
	if len(labels) > maxCustomLabels {
		return "", badRequest(at+"labels", "%d labels; at most %d", len(labels), maxCustomLabels)
	}
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		v := labels[k]
		field := at + "labels." + k
		switch {
		case !customIdent.MatchString(k) || len(k) > maxCustomNameLen:
			return "", badRequest(field, "%q is not a label name: use letters, digits and '_' (at most %d), not starting with a digit", k, maxCustomNameLen)
		case strings.HasPrefix(k, "__"):
			return "", badRequest(field, "names starting with __ are reserved by Prometheus")
		case k == "job" || k == "instance":
			return "", badRequest(field, "reserved: Prometheus sets it on every scraped series")
		case v == "":
			return "", badRequest(field, "empty value (Prometheus treats it as no label)")
		case len(v) > maxCustomLabelLen:
			return "", badRequest(field, "value longer than %d bytes", maxCustomLabelLen)
		case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
			return "", badRequest(field, "value must be UTF-8 text without control characters")
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
}

// size returns how many series exist.
func (c *customMetrics) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.series)
}
