package mlflow

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
)

// attrSpec describes an attribute a search can filter or order on.
type attrSpec struct {
	name    string // canonical name
	numeric bool   // compared as a number (timestamps, version numbers)
}

// schema is what one search (runs, experiments, registered models, model
// versions) admits in its filter and order_by.
type schema struct {
	what  string              // "runs", ... for messages
	attrs map[string]attrSpec // attribute spellings (lowercase) -> spec
	keyed map[string]bool     // entity kinds with free keys (metrics, params, tags)
}

// The schemas of MLflow's searches. Attribute spellings follow MLflow's
// (created and Created are start_time, timestamp is creation_timestamp).
var (
	runsSchema = schema{what: "runs", keyed: map[string]bool{kindMetric: true, kindParam: true, kindTag: true},
		attrs: map[string]attrSpec{
			"run_id": {name: "run_id"}, "run_name": {name: "run_name"}, "status": {name: "status"},
			"user_id": {name: "user_id"}, "artifact_uri": {name: "artifact_uri"}, "experiment_id": {name: "experiment_id"},
			"lifecycle_stage": {name: "lifecycle_stage"},
			"start_time":      {name: "start_time", numeric: true}, "created": {name: "start_time", numeric: true},
			"end_time": {name: "end_time", numeric: true},
		}}
	experimentsSchema = schema{what: "experiments", keyed: map[string]bool{kindTag: true},
		attrs: map[string]attrSpec{
			"name": {name: "name"}, "experiment_id": {name: "experiment_id"}, "lifecycle_stage": {name: "lifecycle_stage"},
			"creation_time":    {name: "creation_time", numeric: true},
			"last_update_time": {name: "last_update_time", numeric: true},
		}}
	modelsSchema = schema{what: "registered models", keyed: map[string]bool{kindTag: true},
		attrs: map[string]attrSpec{
			"name":               {name: "name"},
			"creation_timestamp": {name: "creation_timestamp", numeric: true}, "timestamp": {name: "creation_timestamp", numeric: true},
			"last_updated_timestamp": {name: "last_updated_timestamp", numeric: true},
		}}
	versionsSchema = schema{what: "model versions", keyed: map[string]bool{kindTag: true},
		attrs: map[string]attrSpec{
			"name": {name: "name"}, "run_id": {name: "run_id"}, "source_path": {name: "source_path"},
			"current_stage":  {name: "current_stage"},
			"version_number": {name: "version_number", numeric: true}, "version": {name: "version_number", numeric: true},
			"creation_timestamp":     {name: "creation_timestamp", numeric: true},
			"last_updated_timestamp": {name: "last_updated_timestamp", numeric: true},
		}}
)

// Operator sets.
var (
	numericOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}
	textOps    = map[string]bool{"=": true, "!=": true, "LIKE": true, "ILIKE": true, "IN": true, "NOT IN": true,
		"IS NULL": true, "IS NOT NULL": true}
)

// resolve checks an identifier against the schema and returns it with the
// canonical attribute name, and whether its values are numbers.
func (s schema) resolve(id Ident) (Ident, bool, error) {
	if id.Kind == kindAttribute {
		a, ok := s.attrs[strings.ToLower(id.Key)]
		if !ok {
			names := make([]string, 0, len(s.attrs))
			for k, a := range s.attrs {
				if k == a.name {
					names = append(names, k)
				}
			}
			sort.Strings(names)
			return id, false, parseErr(id.Pos, "unknown attribute %q for %s (known: %s)", id.Key, s.what, strings.Join(names, ", "))
		}
		id.Key = a.name
		return id, a.numeric, nil
	}
	if !s.keyed[id.Kind] {
		return id, false, parseErr(id.Pos, "%s cannot be searched by %s", s.what, id.Kind)
	}
	return id, id.Kind == kindMetric, nil
}

// check validates a parsed filter against the schema: known attributes,
// operators and value types fitting them. It canonicalises attribute names.
func (s schema) check(f Filter) (Filter, error) {
	out := Filter{Conds: make([]Comparison, len(f.Conds))}
	for i, c := range f.Conds {
		id, numeric, err := s.resolve(c.Ident)
		if err != nil {
			return Filter{}, err
		}
		c.Ident = id
		switch {
		case numeric && !numericOps[c.Op]:
			return Filter{}, parseErr(c.Pos, "%s is a number: compare it with =, !=, <, <=, > or >=, not %s", c.Ident, c.Op)
		case numeric && !c.IsNum:
			return Filter{}, parseErr(c.ValAt, "%s is a number: expected a number, found '%s'", c.Ident, c.Str)
		case !numeric && !textOps[c.Op]:
			return Filter{}, parseErr(c.Pos, "%s is text: compare it with =, !=, LIKE, ILIKE, IN or IS NULL, not %s", c.Ident, c.Op)
		case !numeric && c.IsNum:
			return Filter{}, parseErr(c.ValAt, "%s is text: quote the value ('%s')", c.Ident, c.Str)
		case c.Kind == kindAttribute && (c.Op == "IS NULL" || c.Op == "IS NOT NULL"):
			return Filter{}, parseErr(c.Pos, "%s always has a value: IS NULL applies to params and tags", c.Ident)
		}
		out.Conds[i] = c
	}
	return out, nil
}

// checkOrder validates order_by keys against the schema (metrics, params,
// tags and attributes the schema knows), canonicalising attribute names.
func (s schema) checkOrder(keys []OrderKey) ([]OrderKey, error) {
	out := make([]OrderKey, len(keys))
	for i, k := range keys {
		id, _, err := s.resolve(k.Ident)
		if err != nil {
			return nil, fmt.Errorf("order_by clause %d: %w", i, err)
		}
		k.Ident = id
		out[i] = k
	}
	return out, nil
}

// value is one field of a searched entity: text or a number, or absent.
type value struct {
	text string
	num  float64
	ok   bool
}

func textValue(s string) value { return value{text: s, ok: true} }
func numValue(n float64) value { return value{num: n, ok: true} }
func maybeText(s string, ok bool) value {
	if !ok {
		return value{}
	}
	return textValue(s)
}

// fielder gives the value of an identifier (kind and canonical key) of an entity.
type fielder func(id Ident) value

// match reports whether all comparisons of f hold for the entity.
func (f Filter) match(get fielder) bool {
	for i := range f.Conds {
		if !f.Conds[i].match(get(f.Conds[i].Ident)) {
			return false
		}
	}
	return true
}

// match applies one comparison to a value; an absent value matches only IS NULL.
func (c *Comparison) match(v value) bool {
	switch c.Op {
	case "IS NULL":
		return !v.ok
	case "IS NOT NULL":
		return v.ok
	}
	if !v.ok {
		return false
	}
	if c.IsNum {
		switch c.Op {
		case "=":
			return v.num == c.Num
		case "!=":
			return v.num != c.Num
		case "<":
			return v.num < c.Num
		case "<=":
			return v.num <= c.Num
		case ">":
			return v.num > c.Num
		case ">=":
			return v.num >= c.Num
		}
		return false
	}
	switch c.Op {
	case "=":
		return v.text == c.Str
	case "!=":
		return v.text != c.Str
	case "LIKE", "ILIKE":
		return c.re.MatchString(v.text)
	case "IN", "NOT IN":
		in := false
		for _, s := range c.List {
			in = in || v.text == s
		}
		return in == (c.Op == "IN")
	}
	return false
}

// orderBy sorts items stably by the order keys and then by tie, putting
// absent values last whatever the direction (as MLflow's SQL store does).
func orderBy[T any](items []T, keys []OrderKey, get func(T) fielder, tie func(a, b T) int) {
	sort.SliceStable(items, func(i, j int) bool {
		ga, gb := get(items[i]), get(items[j])
		for _, k := range keys {
			a, b := ga(k.Ident), gb(k.Ident)
			if a.ok != b.ok {
				return a.ok
			}
			if !a.ok {
				continue
			}
			c := cmp.Compare(a.num, b.num)
			if c == 0 {
				c = strings.Compare(a.text, b.text)
			}
			if c != 0 {
				return (c < 0) != k.Desc
			}
		}
		return tie(items[i], items[j]) < 0
	})
}
