package train

import (
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// target reads one target cell.
func (cr *csvReader) target(raw []byte, line int, c *srcCol) error {
	f := trimSpace(raw)
	if isMissing(f) {
		return cr.sc.errorf(line, "target column %q: missing value", c.name)
	}
	if cr.tgtNum {
		v, err := parseNumber(f)
		if err != nil {
			return cr.cellError(line, c, f, err)
		}
		if !cr.opts.Regression {
			if _, ok := cr.tgtVals[v]; !ok {
				if len(cr.tgtVals) >= maxClasses {
					return cr.sc.errorf(line, "target column %q: more than %d distinct values; use the regression objective", c.name, maxClasses)
				}
				s := string(f)
				cr.tgtVals[v] = s
				cr.tgtLines[s] = line
			}
		}
		cr.ds.Target = append(cr.ds.Target, v)
		return nil
	}
	code, ok := cr.tgtCodes[string(f)]
	if !ok {
		if !utf8.Valid(f) {
			return cr.sc.errorf(line, "target column %q: value is not valid UTF-8", c.name)
		}
		if len(cr.tgtCodes) >= maxClasses {
			return cr.sc.errorf(line, "target column %q: more than %d distinct labels", c.name, maxClasses)
		}
		code = int32(len(cr.tgtCodes))
		s := string(f)
		cr.tgtCodes[s] = code
		cr.tgtLevels = append(cr.tgtLevels, s)
		cr.tgtLines[s] = line
	}
	cr.ds.Target = append(cr.ds.Target, float64(code))
	return nil
}

// finishTarget maps raw target values to class indexes in sorted order (or
// the fixed TargetLevels) and checks the class count.
func (cr *csvReader) finishTarget() error {
	if cr.opts.Target == "" || cr.opts.Regression {
		return nil
	}
	name := cr.opts.Target
	// labels: distinct raw labels; key maps a raw target value to its label.
	var labels []string
	numVal := map[string]float64{}
	if cr.tgtNum {
		for v, s := range cr.tgtVals {
			labels = append(labels, s)
			numVal[s] = v
		}
		sort.Slice(labels, func(i, j int) bool { return numVal[labels[i]] < numVal[labels[j]] })
	} else {
		labels = append(labels, cr.tgtLevels...)
		sort.Strings(labels)
	}
	index := map[string]int{}
	if fixed := cr.opts.TargetLevels; fixed != nil {
		for _, l := range labels {
			k := -1
			for j, fl := range fixed {
				if fl == l {
					k = j
					break
				}
				if cr.tgtNum {
					if fv, err := strconv.ParseFloat(fl, 64); err == nil && fv == numVal[l] {
						k = j
						break
					}
				}
			}
			if k < 0 {
				return fmt.Errorf("%s:%d: target column %q: label %q is not one of the classes %q", cr.opts.Name, cr.tgtLines[l], name, l, fixed)
			}
			index[l] = k
		}
		cr.ds.TargetLevels = append([]string(nil), fixed...)
	} else {
		if len(labels) < 2 {
			only := ""
			if len(labels) == 1 {
				only = labels[0]
			}
			return fmt.Errorf("%s: target column %q has only one class (%q); classification needs at least two", cr.opts.Name, name, only)
		}
		for i, l := range labels {
			index[l] = i
		}
		cr.ds.TargetLevels = labels
	}
	if cr.tgtNum {
		m := make(map[float64]float64, len(numVal))
		for l, v := range numVal {
			m[v] = float64(index[l])
		}
		for i, v := range cr.ds.Target {
			cr.ds.Target[i] = m[v]
		}
		return nil
	}
	m := make([]float64, len(cr.tgtLevels))
	for code, l := range cr.tgtLevels {
		m[code] = float64(index[l])
	}
	for i, v := range cr.ds.Target {
		cr.ds.Target[i] = m[int(v)]
	}
	return nil
}
