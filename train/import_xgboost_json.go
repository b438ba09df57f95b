package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// The JSON model of XGBoost (Booster.save_model("m.json"), XGBoost >= 1.0):
// only the fields the importer reads. Numbers of the model are float32 and
// parsed as such; XGBoost writes non-finite floats as the bare tokens NaN,
// Infinity and -Infinity, which xgbQuoteNonFinite turns into strings first.

type xgbFile struct {
	Learner *xgbLearner `json:"learner"`
	Version []int64     `json:"version"`
}

type xgbLearner struct {
	Attributes        map[string]xgbScalar `json:"attributes"`
	FeatureNames      []string             `json:"feature_names"`
	FeatureTypes      []string             `json:"feature_types"`
	GradientBooster   *xgbBooster          `json:"gradient_booster"`
	LearnerModelParam map[string]xgbScalar `json:"learner_model_param"`
	Objective         struct {
		Name string `json:"name"`
	} `json:"objective"`
}

// xgbBooster is gbtree ({"name":"gbtree","model":...}), dart
// ({"name":"dart","gbtree":{"model":...},"weight_drop":[...]}) or gblinear.
type xgbBooster struct {
	Name       string          `json:"name"`
	Model      json.RawMessage `json:"model"`
	GBTree     *xgbBooster     `json:"gbtree"`
	WeightDrop []xgbF32        `json:"weight_drop"`
}

type xgbGBTree struct {
	Param      map[string]xgbScalar `json:"gbtree_model_param"`
	Trees      []xgbTree            `json:"trees"`
	TreeInfo   []int64              `json:"tree_info"`
	WeightDrop []xgbF32             `json:"weight_drop"` // XGBoost >= 3 keeps DART weights here
}

type xgbTree struct {
	ID                 *int64               `json:"id"`
	Param              map[string]xgbScalar `json:"tree_param"`
	Left               []int64              `json:"left_children"`
	Right              []int64              `json:"right_children"`
	SplitIndices       []int64              `json:"split_indices"`
	SplitConditions    []xgbF32             `json:"split_conditions"`
	DefaultLeft        []xgbBool            `json:"default_left"`
	LossChanges        []xgbF32             `json:"loss_changes"`
	SplitType          []int64              `json:"split_type"`
	Categories         []int64              `json:"categories"`
	CategoriesNodes    []int64              `json:"categories_nodes"`
	CategoriesSegments []int64              `json:"categories_segments"`
	CategoriesSizes    []int64              `json:"categories_sizes"`
}

// xgbF32 is a float32 written as a JSON number or as "NaN", "Infinity",
// "-Infinity" (or a number in a string).
type xgbF32 float32

// UnmarshalJSON parses a number (rounded once, to float32) or a quoted one.
func (f *xgbF32) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = xgbF32(math.NaN())
			return nil
		case "Infinity", "+Infinity":
			*f = xgbF32(math.Inf(1))
			return nil
		case "-Infinity":
			*f = xgbF32(math.Inf(-1))
			return nil
		}
	}
	v, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return fmt.Errorf("not a number: %.40q", s)
	}
	*f = xgbF32(v)
	return nil
}

// xgbBool is a boolean written as true/false or 0/1.
type xgbBool bool

// UnmarshalJSON accepts true, false, 0 and 1.
func (v *xgbBool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", "1":
		*v = true
	case "false", "0":
		*v = false
	default:
		return fmt.Errorf("not a boolean: %.40q", b)
	}
	return nil
}

// xgbScalar is a parameter value: XGBoost writes them as strings ("5E-1"),
// older or foreign writers as numbers or booleans; the text is kept.
type xgbScalar string

// UnmarshalJSON keeps a string's content or a number's or boolean's text.
func (v *xgbScalar) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = xgbScalar(s)
		return nil
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return fmt.Errorf("a parameter is %.40q, not a string or number", b)
	}
	*v = xgbScalar(b)
	return nil
}

// xgbQuoteNonFinite returns data with XGBoost's bare NaN, Infinity and
// -Infinity tokens (outside strings) quoted, and the offsets in the result
// where a quote pair was inserted (for mapping error offsets back).
func xgbQuoteNonFinite(data []byte) ([]byte, []int) {
	if !bytes.Contains(data, []byte("NaN")) && !bytes.Contains(data, []byte("Infinity")) {
		return data, nil
	}
	out := make([]byte, 0, len(data)+64)
	var at []int
	inStr := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inStr {
			out = append(out, c)
			switch c {
			case '\\':
				if i+1 < len(data) {
					i++
					out = append(out, data[i])
				}
			case '"':
				inStr = false
			}
			continue
		}
		tok := ""
		switch {
		case c == '"':
			inStr = true
		case bytes.HasPrefix(data[i:], []byte("NaN")):
			tok = "NaN"
		case bytes.HasPrefix(data[i:], []byte("Infinity")):
			tok = "Infinity"
		case bytes.HasPrefix(data[i:], []byte("-Infinity")):
			tok = "-Infinity"
		case bytes.HasPrefix(data[i:], []byte("+Infinity")):
			tok = "+Infinity"
		}
		if tok == "" {
			out = append(out, c)
			continue
		}
		at = append(at, len(out))
		out = append(out, '"')
		out = append(out, tok...)
		out = append(out, '"')
		i += len(tok) - 1
	}
	return out, at
}

// xgbDecode parses the JSON (or UBJSON, recognised by its first bytes) model.
func xgbDecode(data []byte) (*xgbFile, string, error) {
	format := "json"
	var text []byte
	var quoted []int
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); isUBJSON(trimmed) {
		format = "ubjson"
		var err error
		if text, err = ubjToJSON(trimmed); err != nil {
			return nil, format, err
		}
	} else {
		text, quoted = xgbQuoteNonFinite(data)
	}
	var f xgbFile
	if err := json.Unmarshal(text, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && format == "json" {
			off := se.Offset - 2*int64(sort.SearchInts(quoted, int(se.Offset)))
			return nil, format, fmt.Errorf("invalid JSON near byte %d: %w", off, err)
		}
		return nil, format, xgbFieldError("", err)
	}
	if f.Learner == nil {
		return nil, format, errors.New(`no "learner" object: not an XGBoost model (save it with Booster.save_model("model.json"))`)
	}
	return &f, format, nil
}

// xgbFieldError names the JSON field of a type error (prefix: the path of
// the object that was decoded).
func xgbFieldError(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := strings.TrimSuffix(prefix+te.Field, ".")
		if field == "" {
			return fmt.Errorf("the document is a JSON %s, not an XGBoost model object", te.Value)
		}
		return fmt.Errorf("field %s: %s where the model has %s", field, te.Value, xgbJSONKind(te.Type))
	}
	if prefix != "" {
		return fmt.Errorf("field %s: %w", strings.TrimSuffix(prefix, "."), err)
	}
	return err
}

// xgbJSONKind names the JSON value a Go type is decoded from.
func xgbJSONKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	}
	return "a string"
}

// xgbParamInt reads an integer parameter ("" = absent gives def).
func xgbParamInt(p map[string]xgbScalar, key string, def int64) (int64, error) {
	s, ok := p[key]
	if !ok || s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(s), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, fmt.Errorf("%s %.40q is not an integer", key, string(s))
		}
		v = int64(f)
	}
	return v, nil
}

// xgbBaseScores parses learner_model_param.base_score: "5E-1", or
// "[5E-1]" / "[a,b,c]" (one value per output) as newer versions write it.
func xgbBaseScores(s string) ([]float32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []float32{0.5}, nil // XGBoost's default
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	var out []float32
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("base_score %.40q is not a finite number", s)
		}
		out = append(out, float32(v))
	}
	return out, nil
}
