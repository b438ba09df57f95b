package drift

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// MulticlassReferenceRows bounds the validation probability vectors a
// profile keeps to draw the bands of multiclass CBPE from.
const MulticlassReferenceRows = 2000

// MulticlassCalibration is what CBPE needs of a multiclass classifier: for
// each class the isotonic calibration of its predicted probability against
// "the record is of this class" (one-vs-rest) on the validation set, and a
// bounded sample of validation probability vectors for the bands. A
// record's calibrated probabilities are the calibrated one-vs-rest values
// normalised to sum 1 (as NannyML does).
type MulticlassCalibration struct {
	Classes     []string      // class names in the model's order
	Calibrators []*Calibrator // one per class (Threshold unused)
	Rows        int           // validation rows the calibrators were fitted on
	// Reference holds the raw probability vectors of up to
	// MulticlassReferenceRows validation rows, len(Classes) per row.
	Reference []float64
}

// FitMulticlass calibrates a multiclass model's probabilities on held-out
// rows: proba holds len(classes) probabilities per row (row-major) and
// labels the class index of each row (NaN: unlabelled, skipped). It
// returns an error wrapping ErrNoCalibration when some class has no row or
// every row (one-vs-rest needs both).
func FitMulticlass(classes []string, proba, labels []float64) (*MulticlassCalibration, error) {
	k := len(classes)
	if k < 2 || len(proba) != k*len(labels) {
		return nil, fmt.Errorf("fit multiclass: %d classes, %d probabilities for %d rows", k, len(proba), len(labels))
	}
	rows := make([]int, 0, len(labels))
	for i, y := range labels {
		if math.IsNaN(y) || y < 0 || int(y) >= k || y != math.Trunc(y) {
			continue
		}
		rows = append(rows, i)
	}
	mc := &MulticlassCalibration{Classes: append([]string(nil), classes...), Rows: len(rows)}
	score := make([]float64, len(rows))
	hit := make([]float64, len(rows))
	for c := 0; c < k; c++ {
		for j, i := range rows {
			score[j] = proba[i*k+c]
			hit[j] = b2f(int(labels[i]) == c)
		}
		cal, err := FitIsotonic(score, hit)
		if err != nil {
			return nil, fmt.Errorf("fit multiclass: class %q: %w", classes[c], err)
		}
		cal.Threshold = DefaultDecisionThreshold
		mc.Calibrators = append(mc.Calibrators, cal)
	}
	// The reference sample: evenly spaced rows, so it keeps the order-free
	// mix of the validation set.
	n := min(len(rows), MulticlassReferenceRows)
	mc.Reference = make([]float64, 0, n*k)
	for j := 0; j < n; j++ {
		i := rows[j*len(rows)/n]
		mc.Reference = append(mc.Reference, proba[i*k:i*k+k]...)
	}
	return mc, nil
}

// Calibrate writes the calibrated probabilities of one record's raw
// probabilities p into dst (both len(Classes)): each class's calibrated
// one-vs-rest probability, normalised to sum 1. When every calibrated
// value is 0 it falls back to p normalised. It reports false for a record
// with a NaN probability.
func (mc *MulticlassCalibration) Calibrate(p, dst []float64) bool {
	var sum, raw float64
	for c, cal := range mc.Calibrators {
		if math.IsNaN(p[c]) {
			return false
		}
		dst[c] = cal.Predict(p[c])
		sum += dst[c]
		raw += p[c]
	}
	switch {
	case sum > 0:
		for c := range dst {
			dst[c] /= sum
		}
	case raw > 0:
		for c := range dst {
			dst[c] = p[c] / raw
		}
	default:
		return false
	}
	return true
}

// argmax is the class a record is predicted as: the first largest raw
// probability, as the model adapter picks it.
func argmax(p []float64) int {
	best := 0
	for c := range p {
		if p[c] > p[best] {
			best = c
		}
	}
	return best
}

// mcScratch holds the buffers estimateMulticlass reuses across checks.
type mcScratch struct {
	cal     []float64   // one record's calibrated probabilities
	perCls  [][]float64 // per class: the window's calibrated probabilities (for the AUC)
	conf    []float64   // k×k expected confusion matrix
	predTot []float64   // per class: records predicted as it
	trueTot []float64   // per class: expected records of it
}

// EstimateMulticlass estimates a multiclass classifier's performance on a
// window of raw probability vectors (len(mc.Classes) per record; a record
// with a NaN probability is skipped).
func EstimateMulticlass(mc *MulticlassCalibration, proba []float64) Estimated {
	var s mcScratch
	return s.estimate(mc, proba)
}

// estimate is CBPE for multiclass models. With c the record's calibrated
// probabilities and ŷ its predicted class, the expected confusion matrix
// adds c[j] to cell (true j, predicted ŷ). The expected accuracy is the
// mean of c[ŷ]; per class j, TP = cell (j, j), TP+FP = records predicted
// j, TP+FN = Σ c[j], giving precision, recall and F1, macro-averaged over
// the classes where they are defined; the AUC is the macro average of the
// one-vs-rest expected ROC AUCs of c[j] (expectedAUC).
func (s *mcScratch) estimate(mc *MulticlassCalibration, proba []float64) Estimated {
	k := len(mc.Classes)
	e := Estimated{DecisionThreshold: math.NaN(), CalibrationRecords: mc.Rows, Classes: mc.Classes}
	if len(s.cal) != k {
		s.cal = make([]float64, k)
		s.perCls = make([][]float64, k)
		s.predTot = make([]float64, k)
		s.trueTot = make([]float64, k)
	}
	s.conf = make([]float64, k*k) // returned in the estimate: a fresh one
	clear(s.predTot)
	clear(s.trueTot)
	for c := range s.perCls {
		s.perCls[c] = s.perCls[c][:0]
	}
	var hits float64
	for r := 0; r+k <= len(proba); r += k {
		p := proba[r : r+k]
		if !mc.Calibrate(p, s.cal) {
			continue
		}
		e.Records++
		pred := argmax(p)
		s.predTot[pred]++
		hits += s.cal[pred]
		for j, v := range s.cal {
			s.conf[j*k+pred] += v
			s.trueTot[j] += v
			s.perCls[j] = append(s.perCls[j], v)
		}
	}
	e.Confusion = s.conf
	e.Accuracy = ratioF(hits, float64(e.Records))
	var prec, rec, f1, auc meanAcc
	for j := 0; j < k; j++ {
		tp := s.conf[j*k+j]
		prec.add(ratioF(tp, s.predTot[j]))
		rec.add(ratioF(tp, s.trueTot[j]))
		f1.add(ratioF(2*tp, s.predTot[j]+s.trueTot[j]))
		auc.add(expectedAUC(s.perCls[j]))
	}
	e.Precision, e.Recall, e.F1, e.AUC = prec.mean(), rec.mean(), f1.mean(), auc.mean()
	return e
}

// meanAcc averages the non-NaN values added; NaN when there are none.
type meanAcc struct {
	sum float64
	n   int
}

func (a *meanAcc) add(x float64) {
	if !math.IsNaN(x) {
		a.sum += x
		a.n++
	}
}

func (a *meanAcc) mean() float64 {
	if a.n == 0 {
		return math.NaN()
	}
	return a.sum / float64(a.n)
}

// multiclassBand draws the band of windows of n records from the reference
// probability vectors, as performanceBand does for binary scores.
func multiclassBand(mc *MulticlassCalibration, n int, s *mcScratch) (PerformanceBand, bool) {
	k := len(mc.Classes)
	refRows := len(mc.Reference) / k
	if refRows < 2 || n < 2 {
		return PerformanceBand{}, false
	}
	rng := rand.New(rand.NewPCG(uint64(n), 0x6472696674)) // "drift"
	sample := make([]float64, n*k)
	acc := make([]float64, 0, bandReplicates)
	auc := make([]float64, 0, bandReplicates)
	for r := 0; r < bandReplicates; r++ {
		for i := 0; i < n; i++ {
			j := rng.IntN(refRows)
			copy(sample[i*k:i*k+k], mc.Reference[j*k:j*k+k])
		}
		e := s.estimate(mc, sample)
		if !math.IsNaN(e.Accuracy) {
			acc = append(acc, e.Accuracy)
		}
		if !math.IsNaN(e.AUC) {
			auc = append(auc, e.AUC)
		}
	}
	return PerformanceBand{Records: n, Replicates: bandReplicates, Accuracy: spread(acc), AUC: spread(auc)}, true
}

// appendMulticlass writes the multiclass calibration (format version 5):
// the class names, the rows, each class's calibrator and the reference
// vectors.
func appendMulticlass(b []byte, mc *MulticlassCalibration) []byte {
	b = binary.AppendUvarint(b, uint64(len(mc.Classes)))
	for _, c := range mc.Classes {
		b = appendString(b, c)
	}
	b = binary.AppendUvarint(b, uint64(mc.Rows))
	for _, c := range mc.Calibrators {
		b = appendCalibration(b, c)
	}
	return appendFloats(b, mc.Reference)
}

// multiclass decodes what appendMulticlass wrote, refusing anything that
// would not encode back byte for byte.
func (d *decoder) multiclass(p *Profile) {
	start := d.off
	k := d.uvarint("classes", 1<<16)
	if d.err == nil && k < 2 {
		d.fail("multiclass: %d classes", k)
	}
	mc := &MulticlassCalibration{}
	seen := map[string]bool{}
	for i := uint64(0); i < k && d.err == nil; i++ {
		c := d.str("class")
		if seen[c] {
			d.fail("multiclass: class %q twice", c)
		}
		seen[c] = true
		mc.Classes = append(mc.Classes, c)
	}
	mc.Rows = int(d.uvarint("multiclass rows", math.MaxInt32))
	for i := uint64(0); i < k && d.err == nil; i++ {
		var tmp Profile
		d.calibration(&tmp)
		mc.Calibrators = append(mc.Calibrators, tmp.Calibration)
	}
	mc.Reference = d.floats("multiclass reference")
	if d.err != nil {
		return
	}
	if len(mc.Reference)%int(k) != 0 || len(mc.Reference)/int(k) > MulticlassReferenceRows {
		d.fail("multiclass: %d reference values for %d classes", len(mc.Reference), k)
		return
	}
	for _, v := range mc.Reference {
		if !(v >= 0 && v <= 1) {
			d.fail("multiclass: reference probability %v", v)
			return
		}
	}
	if !bytes.Equal(appendMulticlass(nil, mc), d.b[start:d.off]) {
		d.fail("multiclass calibration not in canonical form")
		return
	}
	p.Multiclass = mc
}
