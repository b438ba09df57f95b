package train

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

// rawColumn is one column read from a columnar source (Parquet, a query):
// numbers (ints, floats and bools as 0/1; NaN = missing) or strings
// (valid[i] false = missing).
type rawColumn struct {
	name  string
	isStr bool
	num   []float64
	str   []string
	valid []bool
}

// missing reports whether row i of c is missing.
func (c *rawColumn) missing(i int) bool {
	if c.isStr {
		return !c.valid[i] || c.str[i] == ""
	}
	return math.IsNaN(c.num[i])
}

// text returns row i of c as text: numbers in the shortest form that
// reads back the same, integers without an exponent (1000000, as a CSV
// file would hold it, not 1e+06).
func (c *rawColumn) text(i int) string {
	if c.isStr {
		return c.str[i]
	}
	if x := c.num[i]; x == math.Trunc(x) && math.Abs(x) < 1e21 {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return strconv.FormatFloat(c.num[i], 'g', -1, 64)
}

// rowError names the source, the place of a row and the column.
type rowError func(row int, column, format string, args ...any) error

// buildDataset turns columns into a Dataset with CSV's rules: the options'
// target, id, excluded, categorical and numeric columns; string columns are
// categorical (levels in order of first appearance), numeric ones numeric;
// a classification target's classes sorted (numerically for numbers) or
// fixed by TargetLevels. Errors name the row's place and the column.
func buildDataset(source string, cols []rawColumn, rows int, opts CSVOptions, rowErr rowError) (*Dataset, error) {
	ds := &Dataset{Rows: rows}
	known := map[string]bool{}
	for _, c := range cols {
		if known[c.name] {
			return nil, fmt.Errorf("%s: column %q appears twice", source, c.name)
		}
		known[c.name] = true
	}
	for _, n := range append(append(append([]string{opts.Target, opts.ID}, opts.Categorical...), opts.Numeric...), opts.Exclude...) {
		if n != "" && !known[n] {
			return nil, fmt.Errorf("%s: no column %q", source, n)
		}
	}
	for ci := range cols {
		c := &cols[ci]
		switch {
		case slices.Contains(opts.Exclude, c.name):
		case c.name == opts.Target:
			if err := buildTarget(ds, source, c, opts, rowErr); err != nil {
				return nil, err
			}
		case c.name == opts.ID:
			ds.IDs = make([]string, rows)
			for i := range rows {
				if !c.missing(i) {
					ds.IDs[i] = c.text(i)
				}
			}
		case slices.Contains(opts.Numeric, c.name) || !c.isStr && !slices.Contains(opts.Categorical, c.name):
			vals := c.num
			if c.isStr {
				vals = make([]float64, rows)
				for i := range rows {
					if c.missing(i) {
						vals[i] = math.NaN()
						continue
					}
					v, err := strconv.ParseFloat(c.str[i], 64)
					if err != nil || math.IsInf(v, 0) {
						return nil, rowErr(i, c.name, "value %q is not a number", c.str[i])
					}
					vals[i] = v
				}
			}
			ds.Names, ds.Kinds = append(ds.Names, c.name), append(ds.Kinds, Numeric)
			ds.Num, ds.Codes, ds.Levels = append(ds.Num, vals), append(ds.Codes, nil), append(ds.Levels, nil)
		default:
			codes := make([]int32, rows)
			index := map[string]int32{}
			var levels []string
			for i := range rows {
				if c.missing(i) {
					codes[i] = -1
					continue
				}
				s := c.text(i)
				code, ok := index[s]
				if !ok {
					code = int32(len(levels))
					index[s] = code
					levels = append(levels, s)
				}
				codes[i] = code
			}
			ds.Names, ds.Kinds = append(ds.Names, c.name), append(ds.Kinds, Categorical)
			ds.Num, ds.Codes, ds.Levels = append(ds.Num, nil), append(ds.Codes, codes), append(ds.Levels, levels)
		}
	}
	if len(ds.Names) == 0 {
		return nil, fmt.Errorf("%s: no feature columns", source)
	}
	return ds, nil
}

// buildTarget reads the target column c into ds.
func buildTarget(ds *Dataset, source string, c *rawColumn, opts CSVOptions, rowErr rowError) error {
	ds.Target = make([]float64, ds.Rows)
	for i := range ds.Rows {
		if c.missing(i) {
			return rowErr(i, c.name, "target column %q: missing value", c.name)
		}
	}
	if opts.Regression {
		if !c.isStr {
			copy(ds.Target, c.num)
			return nil
		}
		for i := range ds.Rows {
			v, err := strconv.ParseFloat(c.str[i], 64)
			if err != nil {
				return rowErr(i, c.name, "target value %q is not a number", c.str[i])
			}
			ds.Target[i] = v
		}
		return nil
	}
	// The distinct labels in order of first appearance (keyed by the
	// number's bits for a numeric column: formatting every row's number
	// as text cost more than the rest of a Parquet read), and each row's.
	var labels []string
	var values []float64
	rowLabel := make([]int32, ds.Rows)
	tooMany := func(i int) error {
		return rowErr(i, c.name, "target column %q: more than %d distinct labels; use the regression objective", c.name, maxClasses)
	}
	if c.isStr {
		seen := map[string]int32{}
		for i, s := range c.str[:ds.Rows] {
			k, ok := seen[s]
			if !ok {
				if len(labels) >= maxClasses {
					return tooMany(i)
				}
				k = int32(len(labels))
				seen[s], labels = k, append(labels, s)
			}
			rowLabel[i] = k
		}
	} else {
		seen := map[uint64]int32{}
		for i, x := range c.num[:ds.Rows] {
			k, ok := seen[math.Float64bits(x)]
			if !ok {
				if len(labels) >= maxClasses {
					return tooMany(i)
				}
				k = int32(len(labels))
				seen[math.Float64bits(x)], labels, values = k, append(labels, c.text(i)), append(values, x)
			}
			rowLabel[i] = k
		}
	}
	// order lists the labels' indexes in class order.
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	if c.isStr {
		sort.Slice(order, func(a, b int) bool { return labels[order[a]] < labels[order[b]] })
	} else {
		sort.Slice(order, func(a, b int) bool { return values[order[a]] < values[order[b]] })
	}
	class := make([]int, len(labels))
	if fixed := opts.TargetLevels; fixed != nil {
		for _, li := range order {
			l := labels[li]
			k := slices.Index(fixed, l)
			if k < 0 && !c.isStr {
				k = slices.IndexFunc(fixed, func(f string) bool { v, err := strconv.ParseFloat(f, 64); return err == nil && v == values[li] })
			}
			if k < 0 {
				return fmt.Errorf("%s: target column %q: label %q is not one of the classes %q", source, c.name, l, fixed)
			}
			class[li] = k
		}
		ds.TargetLevels = slices.Clone(fixed)
	} else {
		sorted := make([]string, len(order))
		for i, li := range order {
			sorted[i], class[li] = labels[li], i
		}
		if len(sorted) < 2 {
			return fmt.Errorf("%s: target column %q has only one class %q; classification needs at least two", source, c.name, sorted)
		}
		ds.TargetLevels = sorted
	}
	for i, k := range rowLabel {
		ds.Target[i] = float64(class[k])
	}
	return nil
}
