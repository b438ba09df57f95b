package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxExactInt is the largest integer a JSON number decoded as float64 holds
// exactly.
const maxExactInt = 1 << 53

// Stored returns p in the JSON-friendly form a Run keeps (Run.Params): durations
// as Go duration strings ("1m0s"), integers beyond ±2^53 as decimal strings (a
// float64 would round them), other values as they are. Engine.Params reads
// this form back to the same values.
func (p Params) Stored() map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		switch x := v.(type) {
		case time.Duration:
			out[k] = x.String()
		case int64:
			if x > maxExactInt || x < -maxExactInt {
				out[k] = strconv.FormatInt(x, 10)
			} else {
				out[k] = x
			}
		default:
			out[k] = v
		}
	}
	return out
}

// Params validates raw parameter values of flow against its schema and returns
// them typed, with defaults filled in, after the flow's own Validate. Raw values
// may come from JSON (float64, json.Number, string, bool), from forms (strings)
// or from a stored run (Run.Params). It returns an error wrapping ErrUnknownFlow,
// a *ParamError naming "params.<name>", or the error of Flow.Validate.
func (e *Engine) Params(flow string, raw map[string]any) (Params, error) {
	f, ok := e.flow(flow)
	if !ok {
		return nil, fmt.Errorf("params: %w %q", ErrUnknownFlow, flow)
	}
	return validateParams(context.Background(), f, raw)
}

// validateParams converts raw, fills defaults, checks required params and calls
// f.Validate.
func validateParams(ctx context.Context, f Flow, raw map[string]any) (Params, error) {
	p, err := convertParams(f, raw)
	if err != nil {
		return nil, err
	}
	for _, sp := range f.Params {
		if _, ok := p[sp.Name]; ok {
			continue
		}
		switch {
		case sp.Default != nil:
			p[sp.Name] = sp.Default
		case sp.Required:
			return nil, Errorf("params."+sp.Name, "required")
		}
	}
	if f.Validate != nil {
		if err := f.Validate(ctx, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// convertParams converts the values given in raw to their schema types, leaving
// out empty ones (nil or ""): a blank form field means "not set".
func convertParams(f Flow, raw map[string]any) (Params, error) {
	byName := make(map[string]Param, len(f.Params))
	for _, sp := range f.Params {
		byName[sp.Name] = sp
	}
	p := Params{}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		v := raw[name]
		sp, ok := byName[name]
		if !ok {
			return nil, Errorf("params."+name, "unknown parameter of flow %s (known: %s)", f.Name, strings.Join(visibleParams(f), ", "))
		}
		if v == nil || v == "" {
			continue
		}
		typed, err := convertValue(sp, v)
		if err != nil {
			return nil, Errorf("params."+name, "%s", err)
		}
		p[name] = typed
	}
	return p, nil
}

// visibleParams names the params of f that forms show.
func visibleParams(f Flow) []string {
	var names []string
	for _, p := range f.Params {
		if !p.Hidden {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// convertValue converts one raw value to the Go type of p.Type.
func convertValue(p Param, v any) (any, error) {
	switch p.Type {
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("must be a string")
		}
		if !utf8.ValidString(s) {
			return nil, errors.New("must be UTF-8 text")
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
			return nil, fmt.Errorf("must be one of %s", strings.Join(p.Enum, ", "))
		}
		return s, nil
	case TypeInt:
		if n, ok := toInt(v); ok {
			return n, nil
		}
		return nil, errors.New("must be an integer")
	case TypeFloat:
		f, ok := toFloat(v)
		if !ok {
			return nil, errors.New("must be a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("must be a finite number")
		}
		return f, nil
	case TypeBool:
		if b, ok := toBool(v); ok {
			return b, nil
		}
		return nil, errors.New("must be true or false")
	case TypeDuration:
		if d, ok := toDuration(v); ok {
			return d, nil
		}
		return nil, errors.New(`must be a duration such as "90s", "10m" or "1h30m", or a number of seconds`)
	}
	return nil, fmt.Errorf("has unknown type %q", p.Type)
}

// toInt accepts Go integers, integral floats and numeric strings.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		return floatToInt(x)
	case json.Number:
		return parseInt(string(x))
	case string:
		return parseInt(x)
	}
	return 0, false
}

func parseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return floatToInt(f)
}

// floatToInt converts an integral float inside the int64 range.
func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// toFloat accepts Go numbers and numeric strings.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// toBool accepts bools and the strings forms send for them.
func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "1", "yes", "on":
			return true, true
		case "false", "f", "0", "no", "off":
			return false, true
		}
	}
	return false, false
}

// toDuration accepts durations, Go duration strings and numbers of seconds
// (as numbers or strings).
func toDuration(v any) (time.Duration, bool) {
	switch x := v.(type) {
	case time.Duration:
		return x, true
	case string:
		s := strings.TrimSpace(x)
		if d, err := time.ParseDuration(s); err == nil {
			return d, true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return secondsToDuration(f)
		}
		return 0, false
	}
	if f, ok := toFloat(v); ok {
		return secondsToDuration(f)
	}
	return 0, false
}

func secondsToDuration(f float64) (time.Duration, bool) {
	ns := f * float64(time.Second)
	if math.IsNaN(ns) || ns < math.MinInt64 || ns >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(ns), true
}

// checkSchema validates a flow's parameter schema and returns a copy whose
// defaults hold their Go types (int64, float64, time.Duration).
func checkSchema(ps []Param) ([]Param, error) {
	out := make([]Param, len(ps))
	seen := map[string]bool{}
	for i, p := range ps {
		if err := validName(p.Name); err != nil {
			return nil, fmt.Errorf("param %d: %w", i, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("param %s: defined twice", p.Name)
		}
		seen[p.Name] = true
		switch p.Type {
		case TypeString, TypeInt, TypeFloat, TypeBool, TypeDuration:
		default:
			return nil, fmt.Errorf("param %s: unknown type %q (known: string, int, float, bool, duration)", p.Name, p.Type)
		}
		if len(p.Enum) > 0 && p.Type != TypeString {
			return nil, fmt.Errorf("param %s: enum on a %s param (only strings have one)", p.Name, p.Type)
		}
		p.Enum = slices.Clone(p.Enum)
		if p.Default != nil {
			d, ok := defaultValue(p.Type, p.Default)
			if !ok {
				return nil, fmt.Errorf("param %s: default %v (%T) is not a %s", p.Name, p.Default, p.Default, p.Type)
			}
			if s, isStr := d.(string); isStr && len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
				return nil, fmt.Errorf("param %s: default %q is not one of %s", p.Name, s, strings.Join(p.Enum, ", "))
			}
			p.Default = d
		}
		out[i] = p
	}
	return out, nil
}

// defaultValue normalises a schema default to the Go type of typ; an untyped
// integer constant is accepted for int and float params.
func defaultValue(typ string, v any) (any, bool) {
	switch typ {
	case TypeString:
		s, ok := v.(string)
		return s, ok
	case TypeInt:
		switch x := v.(type) {
		case int64:
			return x, true
		case int:
			return int64(x), true
		}
	case TypeFloat:
		switch x := v.(type) {
		case float64:
			return x, !math.IsNaN(x) && !math.IsInf(x, 0)
		case int:
			return float64(x), true
		}
	case TypeBool:
		b, ok := v.(bool)
		return b, ok
	case TypeDuration:
		d, ok := v.(time.Duration)
		return d, ok
	}
	return nil, false
}

// validName checks a flow, queue or param name: 1-128 letters, digits, '-', '_'
// or '.', so it is safe in metric labels, URLs and form field names.
func validName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > 128 {
		return fmt.Errorf("name %.20q... longer than 128 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("name %q: invalid character %q (allowed: letters, digits, '-', '_', '.')", s, rune(c))
		}
	}
	return nil
}
