package drift

import (
	"fmt"
	"math"
	"slices"
)

// Mergeable window statistics behind CBPE, PCA and DLE. A contributor
// monitor keeps the raw scores and records its estimators need, as an
// ordinary monitor does, but hands over only sums that add across
// processes: the merged sums give the estimate a single monitor would
// compute from the concatenated records, exactly (up to the order of
// floating-point additions) where the estimator is a mean or follows from
// the expected confusion matrix, and within a documented bound for the
// expected ROC AUC, which needs the records' order and is taken from a
// histogram of calibrated probabilities (histAUC).

// Histogram bins of the calibrated probabilities behind the merged
// expected ROC AUC: equal-width bins on [0, 1]. A binary model has one
// histogram (of the positive class); a multiclass model one per class,
// coarser, since it sends k of them.
const (
	BinaryAUCBins     = 1024
	MulticlassAUCBins = 256
)

// MaxStatsClasses bounds the classes of a multiclass model whose CBPE
// statistics a contributor sends: the confusion matrix grows as the
// square of the classes and the histograms with them, and a window's
// counts must fit in one message (a few hundred kB at this bound). Above
// it the statistics carry no Perf part and the merged event no Estimated.
const MaxStatsClasses = 100

// WindowStats are the mergeable statistics of a window's estimators; a
// part is nil when the monitor does not estimate it (no calibrator, PCA or
// loss models), and the whole is nil when no part applies.
type WindowStats struct {
	Loss *LossStats // DLE
	PCA  *PCAStats  // multivariate drift
	Perf *PerfStats // CBPE
}

// LossStats are the sums behind a window's DLE estimate.
type LossStats struct {
	Records int64   // records with a finite predicted loss
	Abs, Sq float64 // sums of their predicted absolute and squared errors (clipped at 0)
}

// PCAStats are the sums behind a window's multivariate drift result.
type PCAStats struct {
	Records int64
	Error   float64 // sum of the records' reconstruction errors
}

// PerfStats are the sums behind a window's CBPE estimate.
type PerfStats struct {
	Records int64 // records with a score (binary) or probabilities (multiclass)
	// Classes is a multiclass model's number of classes; 0 for binary.
	Classes int
	// Confusion is the expected confusion matrix: binary TP, FP, FN, TN;
	// multiclass Classes×Classes, row-major, rows the true class and
	// columns the predicted class.
	Confusion []float64
	// Predicted counts the records predicted as each class (multiclass;
	// nil for binary).
	Predicted []int64
	// Bins is the number of equal-width bins on [0, 1] of each histogram
	// of calibrated probabilities: one histogram for a binary model (the
	// positive class), one per class for a multiclass model. Count and Sum
	// hold, histogram after histogram, each bin's record count and sum of
	// the probabilities in it.
	Bins  int
	Count []int64
	Sum   []float64
}

// histograms returns how many histograms s holds.
func (s *PerfStats) histograms() int { return max(1, s.Classes) }

// shape returns why s is not a well-formed PerfStats, nil when it is.
func (s *PerfStats) shape() error {
	k := s.Classes
	switch {
	case k == 1 || k < 0:
		return fmt.Errorf("%d classes", k)
	case k == 0 && (len(s.Confusion) != 4 || s.Predicted != nil):
		return fmt.Errorf("binary: %d confusion cells and %d predicted counts, want 4 and none", len(s.Confusion), len(s.Predicted))
	case k > 0 && (len(s.Confusion) != k*k || len(s.Predicted) != k):
		return fmt.Errorf("%d classes: %d confusion cells and %d predicted counts", k, len(s.Confusion), len(s.Predicted))
	case s.Bins < 1 || len(s.Count) != s.Bins*s.histograms() || len(s.Sum) != len(s.Count):
		return fmt.Errorf("%d histogram counts and %d sums of %d bins for %d histograms", len(s.Count), len(s.Sum), s.Bins, s.histograms())
	}
	return nil
}

// Validate returns why s cannot be merged or evaluated (a record count
// negative or above math.MaxInt32, a sum that is not finite and
// non-negative, a performance part of an inconsistent shape), nil when it
// can. A nil s is valid.
func (s *WindowStats) Validate() error {
	if s == nil {
		return nil
	}
	var n []int64
	var sums []float64
	if l := s.Loss; l != nil {
		n, sums = append(n, l.Records), append(sums, l.Abs, l.Sq)
	}
	if p := s.PCA; p != nil {
		n, sums = append(n, p.Records), append(sums, p.Error)
	}
	if p := s.Perf; p != nil {
		if err := p.shape(); err != nil {
			return fmt.Errorf("performance statistics: %w", err)
		}
		n, sums = append(n, p.Records), append(append(sums, p.Confusion...), p.Sum...)
		n = append(append(n, p.Predicted...), p.Count...)
	}
	for _, v := range n {
		if v < 0 || v > math.MaxInt32 {
			return fmt.Errorf("window statistics: record count %d", v)
		}
	}
	for _, v := range sums {
		if !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("window statistics: sum %v", v)
		}
	}
	return nil
}

// Clone returns a deep copy of c (nil for nil).
func (c *Counts) Clone() *Counts {
	if c == nil {
		return nil
	}
	out := &Counts{Records: c.Records, Bins: slices.Clone(c.Bins), Unseen: slices.Clone(c.Unseen), Stats: c.Stats.Clone()}
	for i := range out.Bins {
		out.Bins[i] = slices.Clone(out.Bins[i])
	}
	for i := range out.Unseen {
		out.Unseen[i] = slices.Clone(out.Unseen[i])
	}
	return out
}

// Clone returns a deep copy of s (nil for nil).
func (s *WindowStats) Clone() *WindowStats {
	if s == nil {
		return nil
	}
	out := &WindowStats{}
	if s.Loss != nil {
		l := *s.Loss
		out.Loss = &l
	}
	if s.PCA != nil {
		p := *s.PCA
		out.PCA = &p
	}
	if s.Perf != nil {
		p := *s.Perf
		p.Confusion, p.Predicted = slices.Clone(p.Confusion), slices.Clone(p.Predicted)
		p.Count, p.Sum = slices.Clone(p.Count), slices.Clone(p.Sum)
		out.Perf = &p
	}
	return out
}

// mergeStats returns the sum of two windows' statistics. A part missing
// from either side is missing from the sum: an estimate over some of the
// processes' records only would pass for the whole window's. Parts of
// different shapes (another number of classes or bins) are an error.
func mergeStats(a, b *WindowStats) (*WindowStats, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	out := &WindowStats{}
	if a.Loss != nil && b.Loss != nil {
		out.Loss = &LossStats{Records: a.Loss.Records + b.Loss.Records, Abs: a.Loss.Abs + b.Loss.Abs, Sq: a.Loss.Sq + b.Loss.Sq}
	}
	if a.PCA != nil && b.PCA != nil {
		out.PCA = &PCAStats{Records: a.PCA.Records + b.PCA.Records, Error: a.PCA.Error + b.PCA.Error}
	}
	if a.Perf != nil && b.Perf != nil {
		x, y := a.Perf, b.Perf
		for _, s := range []*PerfStats{x, y} {
			if err := s.shape(); err != nil {
				return nil, fmt.Errorf("performance statistics: %w", err)
			}
		}
		if x.Classes != y.Classes || x.Bins != y.Bins {
			return nil, fmt.Errorf("performance statistics of %d classes and %d bins, want %d and %d", y.Classes, y.Bins, x.Classes, x.Bins)
		}
		p := &PerfStats{Records: x.Records + y.Records, Classes: x.Classes, Bins: x.Bins,
			Confusion: addF(x.Confusion, y.Confusion), Count: addI(x.Count, y.Count), Sum: addF(x.Sum, y.Sum)}
		if x.Predicted != nil {
			p.Predicted = addI(x.Predicted, y.Predicted)
		}
		out.Perf = p
	}
	if out.Loss == nil && out.PCA == nil && out.Perf == nil {
		return nil, nil
	}
	return out, nil
}

func addF(a, b []float64) []float64 {
	out := slices.Clone(a)
	for i := range out {
		out[i] += b[i]
	}
	return out
}

func addI(a, b []int64) []int64 {
	out := slices.Clone(a)
	for i := range out {
		out[i] += b[i]
	}
	return out
}

// histBin returns the bin of probability p among n equal-width bins on
// [0, 1] (p outside it clamped).
func histBin(p float64, n int) int {
	b := int(p * float64(n))
	return min(max(b, 0), n-1)
}

// histAUC is expectedAUC from a histogram of the calibrated probabilities:
// count[b] records whose probabilities sum to sum[b] in bin b. Taking the
// bins by decreasing probability, a bin adds f = count − sum expected false
// positives and sum expected true positives; its trapezoid is f·(tp before
// it) + f·sum/2, which is expectedAUC's exactly when the bin's
// probabilities are tied (an isotonic calibrator's steps) and otherwise
// its average over the orders of the bin's records. Per bin the error is
// then at most n(n−1)·w/4 of the unnormalised area for n records in a bin
// of width w: each pair of the bin is counted (p_i − p_j)/2 off. For a
// window spread over B bins that is about 1/(4B) of the normalised area
// times how crowded the fullest bins are: BinaryAUCBins keeps it under
// 0.001 for any realistic window (TestHistAUCError).
func histAUC(count []int64, sum []float64) float64 {
	var tpTot, fpTot float64
	for b := range count {
		tpTot += sum[b]
		fpTot += float64(count[b]) - sum[b]
	}
	if tpTot <= 0 || fpTot <= 0 {
		return math.NaN()
	}
	var area, tp float64
	for b := len(count) - 1; b >= 0; b-- {
		if count[b] == 0 {
			continue
		}
		s := sum[b]
		f := float64(count[b]) - s
		area += f * (tp + s/2)
		tp += s
	}
	return area / (tpTot * fpTot)
}

// perfStats accumulates the window's CBPE statistics from its raw scores
// (binary) or probability vectors (multiclass), as the estimators read
// them; checker side.
func (c *cbpeState) perfStats(scores []float64) *PerfStats {
	if c.mc != nil && len(c.mc.Classes) > MaxStatsClasses {
		return nil
	}
	if c.mc != nil {
		return multiclassStats(c.mc, scores, &c.mcs)
	}
	s := &PerfStats{Confusion: make([]float64, 4), Bins: BinaryAUCBins,
		Count: make([]int64, BinaryAUCBins), Sum: make([]float64, BinaryAUCBins)}
	cal := c.cal
	for _, x := range scores {
		if math.IsNaN(x) {
			continue
		}
		p := cal.Predict(x)
		if x >= cal.Threshold {
			s.Confusion[0] += p
			s.Confusion[1] += 1 - p
		} else {
			s.Confusion[2] += p
			s.Confusion[3] += 1 - p
		}
		b := histBin(p, s.Bins)
		s.Count[b]++
		s.Sum[b] += p
		s.Records++
	}
	return s
}

// multiclassStats is perfStats of a multiclass model.
func multiclassStats(mc *MulticlassCalibration, proba []float64, scratch *mcScratch) *PerfStats {
	k := len(mc.Classes)
	s := &PerfStats{Classes: k, Confusion: make([]float64, k*k), Predicted: make([]int64, k), Bins: MulticlassAUCBins,
		Count: make([]int64, k*MulticlassAUCBins), Sum: make([]float64, k*MulticlassAUCBins)}
	if len(scratch.cal) != k {
		scratch.cal = make([]float64, k)
	}
	cal := scratch.cal[:k]
	for r := 0; r+k <= len(proba); r += k {
		p := proba[r : r+k]
		if !mc.Calibrate(p, cal) {
			continue
		}
		s.Records++
		pred := argmax(p)
		s.Predicted[pred]++
		for j, v := range cal {
			s.Confusion[j*k+pred] += v
			b := j*s.Bins + histBin(v, s.Bins)
			s.Count[b]++
			s.Sum[b] += v
		}
	}
	return s
}

// estimateFromStats is the CBPE estimate of merged statistics: what
// cbpeScratch.estimate (binary) or mcScratch.estimate (multiclass) gives
// on the records, the AUC taken from the histograms (histAUC).
func (c *cbpeState) estimateFromStats(s *PerfStats) (Estimated, error) {
	if err := s.shape(); err != nil {
		return Estimated{}, fmt.Errorf("performance statistics: %w", err)
	}
	if c.mc == nil {
		if s.Classes != 0 {
			return Estimated{}, fmt.Errorf("performance statistics of %d classes for a binary model", s.Classes)
		}
		e := Estimated{DecisionThreshold: c.cal.Threshold, CalibrationRecords: c.cal.Rows, Records: int(s.Records)}
		e.TP, e.FP, e.FN, e.TN = s.Confusion[0], s.Confusion[1], s.Confusion[2], s.Confusion[3]
		e.Accuracy = ratioF(e.TP+e.TN, float64(e.Records))
		e.Precision = ratioF(e.TP, e.TP+e.FP)
		e.Recall = ratioF(e.TP, e.TP+e.FN)
		e.F1 = ratioF(2*e.TP, 2*e.TP+e.FP+e.FN)
		e.AUC = histAUC(s.Count, s.Sum)
		return e, nil
	}
	k := len(c.mc.Classes)
	if s.Classes != k {
		return Estimated{}, fmt.Errorf("performance statistics of %d classes, want %d", s.Classes, k)
	}
	e := Estimated{DecisionThreshold: math.NaN(), CalibrationRecords: c.mc.Rows, Classes: c.mc.Classes,
		Records: int(s.Records), Confusion: slices.Clone(s.Confusion)}
	var hits float64
	trueTot := make([]float64, k)
	for j := range k {
		hits += s.Confusion[j*k+j]
		for pred := range k {
			trueTot[j] += s.Confusion[j*k+pred]
		}
	}
	e.Accuracy = ratioF(hits, float64(e.Records))
	var prec, rec, f1, auc meanAcc
	for j := range k {
		tp := s.Confusion[j*k+j]
		pred := float64(s.Predicted[j])
		prec.add(ratioF(tp, pred))
		rec.add(ratioF(tp, trueTot[j]))
		f1.add(ratioF(2*tp, pred+trueTot[j]))
		auc.add(histAUC(s.Count[j*s.Bins:(j+1)*s.Bins], s.Sum[j*s.Bins:(j+1)*s.Bins]))
	}
	e.Precision, e.Recall, e.F1, e.AUC = prec.mean(), rec.mean(), f1.mean(), auc.mean()
	return e, nil
}
