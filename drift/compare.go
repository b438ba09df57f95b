package drift

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// catBinner maps category strings to bins of a categorical feature. Current
// categories unknown to the reference get bins of their own (after "other")
// up to limit of them when the reference had no "other" mass; otherwise, or
// beyond the limit, they fall into "other".
type catBinner struct {
	f     *Feature
	dyn   map[string]int
	names []string // per unseen slot; "" when the slot is free
	free  []int    // free slots, reused before new ones
	limit int
}

func newCatBinner(f *Feature, limit int) *catBinner {
	if f.index == nil {
		f.buildIndex()
	}
	return &catBinner{f: f, dyn: make(map[string]int), limit: limit, free: make([]int, 0, limit)}
}

// release frees the slot of unseen-category bin b (its count fell to 0 as
// the ring moved on), so that another unseen category can take it.
func (c *catBinner) release(b int) {
	slot := b - c.f.otherBin() - 1
	if slot < 0 || slot >= len(c.names) || c.names[slot] == "" {
		return
	}
	delete(c.dyn, c.names[slot])
	c.names[slot] = ""
	c.free = append(c.free, slot)
}

// bins is the largest number of bins the binner can produce.
func (c *catBinner) bins() int { return c.f.Bins() + c.limit }

func (c *catBinner) bin(s string) int {
	if s == "" {
		return 0
	}
	if b, ok := c.f.index[s]; ok {
		return b
	}
	other := c.f.otherBin()
	if c.f.RefCounts[other] > 0 {
		return other
	}
	if b, ok := c.dyn[s]; ok {
		return b
	}
	s = strings.Clone(s)
	if n := len(c.free); n > 0 {
		slot := c.free[n-1]
		c.free = c.free[:n-1]
		c.names[slot] = s
		c.dyn[s] = other + 1 + slot
		return other + 1 + slot
	}
	if len(c.names) >= c.limit {
		return other
	}
	b := other + 1 + len(c.names)
	c.dyn[s] = b
	c.names = append(c.names, s)
	return b
}

// reset forgets the unseen categories.
func (c *catBinner) reset() {
	clear(c.dyn)
	c.names = c.names[:0]
	c.free = c.free[:0]
}

// CompareOptions configures Compare.
type CompareOptions struct {
	Test       string  // "auto" (default) or one of Tests
	Threshold  float64 // drift threshold of the test (0 = the test's default)
	DriftShare float64 // share of drifted features for dataset drift (default 0.5)
}

// Report is the batch drift result of a current data set against a reference.
type Report struct {
	RowsReference   int
	RowsCurrent     int
	Features        []FeatureResult
	DriftedFeatures int
	DriftShare      float64
	DatasetDrift    bool
}

// ErrNoCurrentRows is returned when the current data has no rows.
var ErrNoCurrentRows = errors.New("current data has no rows")

// Compare computes, exactly on the full data, each reference column's PSI
// and companion test against the current column of the same name (numeric
// and categorical kinds must match; categories are matched by string).
func Compare(ref, cur []Column, popts ProfileOptions, copts CompareOptions) (*Report, error) {
	o, err := popts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if err := checkTest(copts.Test); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if len(ref) == 0 {
		return nil, errors.New("compare: no features")
	}
	rows := columnLen(ref[0])
	if rows == 0 {
		return nil, fmt.Errorf("compare: %w", ErrNoRows)
	}
	byName := make(map[string]int, len(cur))
	for i, c := range cur {
		byName[c.Name] = i
	}
	curRows := -1
	pairs := make([][2]*Column, len(ref))
	for i := range ref {
		j, ok := byName[ref[i].Name]
		if !ok {
			return nil, fmt.Errorf("compare: feature %q is missing from the current data", ref[i].Name)
		}
		c := &cur[j]
		if c.Categorical != ref[i].Categorical {
			return nil, fmt.Errorf("compare: feature %q is %s in the reference but %s in the current data",
				ref[i].Name, kindName(ref[i].Categorical), kindName(c.Categorical))
		}
		if n := columnLen(ref[i]); n != rows {
			return nil, fmt.Errorf("compare: reference column %q has %d rows, want %d", ref[i].Name, n, rows)
		}
		if curRows < 0 {
			curRows = columnLen(*c)
		} else if n := columnLen(*c); n != curRows {
			return nil, fmt.Errorf("compare: current column %q has %d rows, want %d", c.Name, n, curRows)
		}
		pairs[i] = [2]*Column{&ref[i], c}
	}
	if curRows == 0 {
		return nil, fmt.Errorf("compare: %w", ErrNoCurrentRows)
	}
	rep := &Report{RowsReference: rows, RowsCurrent: curRows, Features: make([]FeatureResult, len(ref))}
	errs := make([]error, len(ref))
	var wg sync.WaitGroup
	next := make(chan int, len(pairs))
	for i := range pairs {
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(pairs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s compareScratch
			for i := range next {
				rep.Features[i], errs[i] = s.compareColumn(pairs[i][0], pairs[i][1], o, copts)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	rep.DriftShare, rep.DriftedFeatures, rep.DatasetDrift = datasetVerdict(rep.Features, copts.DriftShare)
	return rep, nil
}

func kindName(categorical bool) string {
	if categorical {
		return "categorical"
	}
	return "numeric"
}

// compareScratch holds one worker's buffers, reused across features.
type compareScratch struct {
	radix    radixScratch
	ref, cur []float64
	sel      radixSelect // compareBinned's quantiles
	bins     binTable    // compareBinned's bin lookup
}

func (s *compareScratch) compareColumn(ref, cur *Column, o ProfileOptions, copts CompareOptions) (FeatureResult, error) {
	if !ref.Categorical && binnedOnly(copts.Test) {
		if r, ok := s.compareBinned(ref, cur, o, copts); ok {
			return r, nil
		}
	}
	if !ref.Categorical {
		var rm, cm int
		s.ref, rm = s.radix.sortedValues(ref.Values, s.ref)
		s.cur, cm = s.radix.sortedValues(cur.Values, s.cur)
		rs, cs := s.ref, s.cur
		f := numericFeature(ref.Name, rs, rm, o, false)
		curCounts := make([]int64, f.Bins())
		curCounts[0] = int64(cm)
		binCountsSorted(cs, f.Edges, curCounts)
		return evaluate(evalInput{f: &f, ref: f.RefCounts, cur: curCounts, refValues: rs, refN: int64(len(rs)),
			curValues: cs, unique: countUniqueSorted(rs, cs, 6), test: copts.Test, threshold: copts.Threshold}), nil
	}
	f, err := buildCategorical(ref, o)
	if err != nil {
		return FeatureResult{}, fmt.Errorf("reference column %q: %w", ref.Name, err)
	}
	cb := newCatBinner(&f, o.MaxCategories)
	levelBin := make([]int, len(cur.Levels))
	for i, l := range cur.Levels {
		levelBin[i] = cb.bin(l)
	}
	curCounts := make([]int64, cb.bins())
	for row, code := range cur.Codes {
		switch {
		case code < 0:
			curCounts[0]++
		case int(code) >= len(levelBin):
			return FeatureResult{}, fmt.Errorf("current column %q: row %d: code %d out of range", cur.Name, row, code)
		default:
			curCounts[levelBin[code]]++
		}
	}
	refCounts := make([]int64, len(curCounts))
	copy(refCounts, f.RefCounts)
	unique := 0
	for i := 1; i < len(curCounts); i++ {
		if refCounts[i]+curCounts[i] > 0 {
			unique++
		}
	}
	return evaluate(evalInput{f: &f, ref: refCounts, cur: curCounts, refN: f.NonMissing(),
		unique: unique, test: copts.Test, threshold: copts.Threshold}), nil
}
