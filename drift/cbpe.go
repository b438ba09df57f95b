package drift

import (
	"fmt"
	"math"
	"slices"

	"github.com/VictoriaMetrics/metrics"
)

// Estimated is a classifier's performance on a window estimated without
// labels from its calibrated scores (confidence-based performance
// estimation, CBPE, as NannyML does it). For a binary model each record is
// positive with its calibrated probability p, so the expected confusion
// matrix at the decision threshold is E[TP] = Σ p·[ŷ=1], E[FP] = Σ
// (1−p)·[ŷ=1], E[FN] = Σ p·[ŷ=0], E[TN] = Σ (1−p)·[ŷ=0], and the metrics
// follow from it. For a multiclass model (Classes set) see
// mcScratch.estimate: the expected k×k confusion matrix, macro-averaged
// precision, recall, F1 and one-vs-rest AUC. Metrics that are not defined
// (a zero denominator) are NaN.
type Estimated struct {
	Records            int     // records with a score
	TP, FP, FN, TN     float64 // binary only
	Accuracy           float64
	Precision, Recall  float64 // multiclass: macro averages
	F1                 float64
	AUC                float64 // from the expected ROC curve (trapezoid); multiclass: macro one-vs-rest
	DecisionThreshold  float64 // binary only (NaN for multiclass)
	CalibrationRecords int     // held-out rows the calibrator was fitted on
	// Classes names the classes of a multiclass estimate (nil for binary);
	// Confusion is then its expected confusion matrix, row-major with
	// len(Classes) rows (true class) and columns (predicted class).
	Classes   []string
	Confusion []float64
	// Band is the range the estimates take on windows of this size drawn
	// from the reference scores; nil when the profile keeps too few
	// reference scores to draw from.
	Band *PerformanceBand
	// Drop is set when the estimated accuracy or AUC is below its band:
	// the model is expected to perform worse than on its reference.
	Drop bool
}

// cbpeScratch holds the buffer EstimatePerformance sorts, reused across
// checks by one goroutine.
type cbpeScratch struct {
	probs []float64
}

// EstimatePerformance estimates the performance of a window of raw
// positive-class scores (NaN scores are skipped) with calibrator c.
func EstimatePerformance(c *Calibrator, scores []float64) Estimated {
	var s cbpeScratch
	return s.estimate(c, scores)
}

func (s *cbpeScratch) estimate(c *Calibrator, scores []float64) Estimated {
	e := Estimated{DecisionThreshold: c.Threshold, CalibrationRecords: c.Rows}
	s.probs = s.probs[:0]
	for _, x := range scores {
		if math.IsNaN(x) {
			continue
		}
		p := c.Predict(x)
		if x >= c.Threshold {
			e.TP += p
			e.FP += 1 - p
		} else {
			e.FN += p
			e.TN += 1 - p
		}
		s.probs = append(s.probs, p)
	}
	e.Records = len(s.probs)
	e.Accuracy = ratioF(e.TP+e.TN, float64(e.Records))
	e.Precision = ratioF(e.TP, e.TP+e.FP)
	e.Recall = ratioF(e.TP, e.TP+e.FN)
	e.F1 = ratioF(2*e.TP, 2*e.TP+e.FP+e.FN)
	e.AUC = expectedAUC(s.probs)
	return e
}

func ratioF(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// expectedAUC returns the area under the expected ROC curve of calibrated
// probabilities (NannyML's estimate): records taken by decreasing score add
// p to the expected true positives and 1−p to the expected false
// positives; the curve joins the normalised cumulative sums and its area is
// taken by trapezoids. Ordering by p orders by score, since the calibrator
// is monotone; records tied in p add equal steps, a straight segment
// whatever their order. It sorts probs in place; NaN when the window's
// expected positives or negatives are zero.
func expectedAUC(probs []float64) float64 {
	slices.Sort(probs)
	var tpTot, fpTot float64
	for _, p := range probs {
		tpTot += p
		fpTot += 1 - p
	}
	if tpTot <= 0 || fpTot <= 0 {
		return math.NaN()
	}
	var area, tp, fp float64
	for i := len(probs) - 1; i >= 0; i-- {
		p := probs[i]
		// The step adds (1−p) to fp and p to tp: its trapezoid is
		// (1−p)·(tp + p/2), in unnormalised units.
		area += (1 - p) * (tp + p/2)
		tp += p
		fp += 1 - p
	}
	return area / (tpTot * fpTot)
}

// cbpeState keeps the raw scores of the monitor's window for CBPE: a ring
// of the last size records' scores, or, in tumbling mode (size 0), of the
// first cap records since the last reset. A record takes one value (a
// binary model's score) or, for a multiclass model, its probability
// vector (width values; NaNs when the record came without one).
// Monitor.mu guards it; the scratch belongs to the checker goroutine.
type cbpeState struct {
	cal      *Calibrator            // binary
	mc       *MulticlassCalibration // multiclass
	width    int                    // values per record
	ring     []float64
	pos, n   int // next record slot, records held
	tumbling bool
	cap      int // records
	scratch  cbpeScratch
	mcs      mcScratch
	auc, acc *metrics.Gauge
	drop     *metrics.Gauge
	// ref are the reference scores bands are drawn from (binary); bands
	// caches them by bandSize (checker goroutine only).
	ref   []float64
	bands map[int]PerformanceBand
}

// newCBPE returns the CBPE state of a monitor, nil when the profile has no
// calibrator (and no prediction, for a binary one).
func newCBPE(p *Profile, o MonitorOptions) *cbpeState {
	c := &cbpeState{cap: o.WindowSize, tumbling: o.Tumbling > 0, bands: map[int]PerformanceBand{}, width: 1}
	switch {
	case p.Multiclass != nil:
		c.mc, c.width = p.Multiclass, len(p.Multiclass.Classes)
	case p.Calibration != nil && p.Prediction != nil:
		c.cal, c.ref = p.Calibration, p.Prediction.Summary
	default:
		return nil
	}
	if !c.tumbling {
		c.ring = make([]float64, o.WindowSize*c.width)
	}
	if s := o.Metrics; s != nil {
		model := escapeLabel(o.Model)
		c.auc = s.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_auc{model="%s"}`, model), nil)
		c.acc = s.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_accuracy{model="%s"}`, model), nil)
		c.drop = s.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_performance_drop{model="%s"}`, model), nil)
	}
	return c
}

// add records one record: its score (binary) or its probability vector
// (multiclass; nil or short: NaNs, a record CBPE skips). It does not
// allocate in sliding mode.
func (c *cbpeState) add(score float64, proba []float64) {
	var dst []float64
	if c.tumbling {
		if len(c.ring) >= c.cap*c.width {
			return
		}
		at := len(c.ring)
		for range c.width {
			c.ring = append(c.ring, 0)
		}
		dst = c.ring[at:]
	} else {
		dst = c.ring[c.pos*c.width : (c.pos+1)*c.width]
		if c.pos++; c.pos == c.cap {
			c.pos = 0
		}
		if c.n < c.cap {
			c.n++
		}
	}
	switch {
	case c.mc == nil:
		dst[0] = score
	case len(proba) == c.width:
		copy(dst, proba)
	default:
		for i := range dst {
			dst[i] = math.NaN()
		}
	}
}

// reset empties a tumbling window.
func (c *cbpeState) reset() { c.ring = c.ring[:0] }

// scores returns a copy of the window's values (record order irrelevant).
func (c *cbpeState) scores() []float64 {
	if c.tumbling {
		return slices.Clone(c.ring)
	}
	return slices.Clone(c.ring[:c.n*c.width])
}

// evaluate estimates the window's performance and exports the gauges; only
// the checker goroutine calls it.
func (c *cbpeState) evaluate(scores []float64) *Estimated {
	var e Estimated
	if c.mc != nil {
		e = c.mcs.estimate(c.mc, scores)
	} else {
		e = c.scratch.estimate(c.cal, scores)
	}
	return c.finish(e)
}

// finish looks the estimate's band up at its size (a window's, or merged
// from several processes'), sets Drop and exports the gauges; only the
// checker goroutine calls it.
func (c *cbpeState) finish(e Estimated) *Estimated {
	if size := bandSize(e.Records); size >= 2 {
		b, ok := c.bands[size]
		if !ok {
			if c.mc != nil {
				// Drawn with a scratch of its own: e.Confusion is the
				// window's and must not be reused.
				var s mcScratch
				b, ok = multiclassBand(c.mc, size, &s)
			} else {
				b, ok = performanceBand(c.cal, c.ref, size, &c.scratch)
			}
			if ok {
				c.bands[size] = b
			}
		}
		if ok {
			e.Band = &b
			e.Drop = e.Accuracy < b.Accuracy.Lo || e.AUC < b.AUC.Lo
		}
	}
	if c.drop != nil {
		c.drop.Set(b2f(e.Drop))
	}
	if c.auc != nil && !math.IsNaN(e.AUC) {
		c.auc.Set(e.AUC)
	}
	if c.acc != nil && !math.IsNaN(e.Accuracy) {
		c.acc.Set(e.Accuracy)
	}
	return &e
}
