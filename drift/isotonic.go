package drift

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Calibrator maps a binary classifier's positive-class score to a
// calibrated probability: the isotonic regression of the labels on the
// scores of held-out data (pool-adjacent-violators), interpolated linearly
// between its thresholds and clipped to the end values outside them, as
// scikit-learn's IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
// predicts. Threshold is the score from which the model predicts the
// positive class (score >= Threshold).
type Calibrator struct {
	X, Y      []float64 // thresholds: X strictly ascending, Y non-decreasing in [0, 1]
	Threshold float64
	Rows      int // held-out rows it was fitted on
}

// DefaultDecisionThreshold is the score from which a binary model predicts
// the positive class when it carries no threshold of its own.
const DefaultDecisionThreshold = 0.5

// ErrNoCalibration is returned by FitIsotonic when the data cannot support
// a calibrator (no rows with a score, or a single class).
var ErrNoCalibration = errors.New("no calibration data")

// FitIsotonic fits the isotonic regression of labels (1 = positive, 0 =
// negative) on scores, skipping rows whose score or label is NaN. Tied
// scores are pooled first (their labels averaged), as scikit-learn does.
// It returns an error wrapping ErrNoCalibration without usable rows or
// with a single class.
func FitIsotonic(scores, labels []float64) (*Calibrator, error) {
	if len(scores) != len(labels) {
		return nil, fmt.Errorf("fit isotonic: %d scores, %d labels", len(scores), len(labels))
	}
	idx := make([]int, 0, len(scores))
	var pos int
	for i, s := range scores {
		if math.IsNaN(s) || math.IsNaN(labels[i]) || math.IsInf(s, 0) {
			continue
		}
		if labels[i] > 0.5 {
			pos++
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 || pos == 0 || pos == len(idx) {
		return nil, fmt.Errorf("fit isotonic: %d rows, %d positive: %w", len(idx), pos, ErrNoCalibration)
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	// Pool ties: one block per distinct score, weight = rows.
	xs := make([]float64, 0, len(idx))
	ys := make([]float64, 0, len(idx)) // block means
	ws := make([]float64, 0, len(idx))
	for i := 0; i < len(idx); {
		j, sum := i, 0.0
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			sum += labels[idx[j]]
			j++
		}
		xs = append(xs, scores[idx[i]])
		ys = append(ys, sum/float64(j-i))
		ws = append(ws, float64(j-i))
		i = j
	}
	fit := pava(ys, ws)
	// Keep the first and last point of every constant run: the interior
	// points lie on the flat segment and change no interpolated value.
	c := &Calibrator{Threshold: DefaultDecisionThreshold, Rows: len(idx)}
	for i := range xs {
		if i > 0 && i < len(xs)-1 && fit[i-1] == fit[i] && fit[i] == fit[i+1] {
			continue
		}
		c.X = append(c.X, xs[i])
		c.Y = append(c.Y, math.Min(1, math.Max(0, fit[i])))
	}
	return c, nil
}

// pava returns the non-decreasing sequence closest to y in weighted least
// squares (pool-adjacent-violators), one value per input.
func pava(y, w []float64) []float64 {
	type block struct {
		mean, weight float64
		n            int
	}
	st := make([]block, 0, len(y))
	for i := range y {
		b := block{y[i], w[i], 1}
		for len(st) > 0 && st[len(st)-1].mean >= b.mean {
			top := st[len(st)-1]
			st = st[:len(st)-1]
			tw := top.weight + b.weight
			b = block{(top.mean*top.weight + b.mean*b.weight) / tw, tw, top.n + b.n}
		}
		st = append(st, b)
	}
	out := make([]float64, 0, len(y))
	for _, b := range st {
		for range b.n {
			out = append(out, b.mean)
		}
	}
	return out
}

// Predict returns the calibrated probability of score s: linear between the
// thresholds, the end value beyond them, NaN for NaN.
func (c *Calibrator) Predict(s float64) float64 {
	n := len(c.X)
	switch {
	case math.IsNaN(s) || n == 0:
		return math.NaN()
	case s <= c.X[0]:
		return c.Y[0]
	case s >= c.X[n-1]:
		return c.Y[n-1]
	}
	i := sort.SearchFloat64s(c.X, s) // c.X[i-1] < s <= c.X[i]
	if c.X[i] == s {
		return c.Y[i]
	}
	x0, x1, y0, y1 := c.X[i-1], c.X[i], c.Y[i-1], c.Y[i]
	return y0 + (s-x0)*(y1-y0)/(x1-x0)
}

// validate checks the invariants a decoded calibrator must hold.
func (c *Calibrator) validate() error {
	if len(c.X) == 0 || len(c.X) != len(c.Y) {
		return fmt.Errorf("calibrator: %d thresholds, %d values", len(c.X), len(c.Y))
	}
	for i := range c.X {
		if math.IsNaN(c.X[i]) || math.IsNaN(c.Y[i]) || c.Y[i] < 0 || c.Y[i] > 1 {
			return fmt.Errorf("calibrator: bad point %d", i)
		}
		if i > 0 && (c.X[i] <= c.X[i-1] || c.Y[i] < c.Y[i-1]) {
			return fmt.Errorf("calibrator: point %d out of order", i)
		}
	}
	if math.IsNaN(c.Threshold) {
		return fmt.Errorf("calibrator: threshold is NaN")
	}
	return nil
}

// appendCalibration writes the calibrator: the decision threshold and the
// rows as float64s [threshold, rows], then X and Y.
func appendCalibration(b []byte, c *Calibrator) []byte {
	b = appendFloats(b, []float64{c.Threshold, float64(c.Rows)})
	b = appendFloats(b, c.X)
	return appendFloats(b, c.Y)
}

// calibration decodes what appendCalibration wrote.
func (d *decoder) calibration(p *Profile) {
	head := d.floats("calibration")
	x := d.floats("calibration thresholds")
	y := d.floats("calibration values")
	if d.err != nil {
		return
	}
	if len(head) != 2 || head[1] < 0 || head[1] > math.MaxInt32*1024 {
		d.fail("calibration: bad header")
		return
	}
	c := &Calibrator{X: x, Y: y, Threshold: head[0], Rows: int(head[1])}
	if err := c.validate(); err != nil {
		d.fail("%v", err)
		return
	}
	p.Calibration = c
}
