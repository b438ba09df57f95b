package stream

import (
	"fmt"
	"strconv"
	"strings"
)

// DriftOp is the change applied to one feature: numeric values become
// value*Scale + Shift; categorical value From becomes To (swap).
type DriftOp struct {
	Feature  string
	Shift    float64
	Scale    float64 // 1 = unchanged
	From, To string  // categorical swap, "" = none
}

// DriftSpec is a parsed --drift specification, one op per feature.
type DriftSpec []DriftOp

// ParseDriftSpec parses "feature:shift=1.5,other:scale=2,city:swap=a>b".
// Several settings of one feature repeat the feature: "x:shift=1,x:scale=2".
func ParseDriftSpec(s string) (DriftSpec, error) {
	var spec DriftSpec
	index := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for n, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		feat, setting, ok := strings.Cut(part, ":")
		feat = strings.TrimSpace(feat)
		if !ok || feat == "" {
			return nil, fmt.Errorf("drift spec item %d %q: want feature:key=value", n+1, part)
		}
		key, val, ok := strings.Cut(setting, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || val == "" {
			return nil, fmt.Errorf("drift spec item %d %q: want %s:shift=X, scale=X or swap=a>b", n+1, part, feat)
		}
		i, seen := index[feat]
		if !seen {
			i = len(spec)
			index[feat] = i
			spec = append(spec, DriftOp{Feature: feat, Scale: 1})
		}
		op := &spec[i]
		switch key {
		case "shift", "scale":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f != f || f > 1e300 || f < -1e300 {
				return nil, fmt.Errorf("drift spec item %d %q: %s must be a finite number", n+1, part, key)
			}
			if key == "shift" {
				op.Shift = f
			} else {
				op.Scale = f
			}
		case "swap":
			from, to, ok := strings.Cut(val, ">")
			if !ok || from == "" || to == "" {
				return nil, fmt.Errorf("drift spec item %d %q: swap wants from>to", n+1, part)
			}
			op.From, op.To = from, to
		default:
			return nil, fmt.Errorf("drift spec item %d %q: unknown setting %q (want shift, scale or swap)", n+1, part, key)
		}
	}
	return spec, nil
}

// Lookup returns the op for feature.
func (d DriftSpec) Lookup(feature string) (DriftOp, bool) {
	for _, op := range d {
		if op.Feature == feature {
			return op, true
		}
	}
	return DriftOp{}, false
}

// Apply drifts a numeric value.
func (o DriftOp) Apply(v float64) float64 { return v*o.Scale + o.Shift }

// ApplyCat drifts a categorical value.
func (o DriftOp) ApplyCat(v string) string {
	if o.From != "" && v == o.From {
		return o.To
	}
	return v
}
