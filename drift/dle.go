package drift

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/VictoriaMetrics/metrics"
)

// LossReferenceRows bounds the validation rows whose predicted losses a
// profile keeps to draw the bands of DLE from.
const LossReferenceRows = 5000

// LossEstimator predicts a regression model's error on one record without
// its label (direct loss estimation, DLE, as NannyML does it): models of
// |y − ŷ| and (y − ŷ)² fitted on the validation set with the features and
// the prediction as inputs. The drift package does not know how; the
// server adapts the trained loss models.
type LossEstimator interface {
	// Losses returns the record's expected absolute and squared error:
	// num and cat hold the profile's features in order (NaN, "" missing)
	// and prediction is the model's output. A monitor calls it from its
	// checker goroutine only, one record at a time.
	Losses(num []float64, cat []string, prediction float64) (abs, sq float64)
}

// LossReference is what a profile keeps of a regression model's DLE: the
// validation error it was fitted on and the predicted losses of (up to
// LossReferenceRows evenly spaced) validation rows, from which a window's
// band is drawn.
type LossReference struct {
	Rows      int     // validation rows the loss models were fitted on
	MAE, RMSE float64 // realised on them
	Abs, Sq   []float64
}

// NewLossReference builds the reference from the validation rows'
// predicted absolute and squared errors (clipped at 0) and their realised
// absolute errors.
func NewLossReference(predAbs, predSq, realAbs []float64) (*LossReference, error) {
	if len(predAbs) != len(predSq) || len(predAbs) != len(realAbs) || len(realAbs) == 0 {
		return nil, fmt.Errorf("loss reference: %d, %d and %d values", len(predAbs), len(predSq), len(realAbs))
	}
	r := &LossReference{}
	var sa, ss float64
	for _, a := range realAbs {
		if isFiniteF(a) {
			sa += math.Abs(a)
			ss += a * a
			r.Rows++
		}
	}
	if r.Rows == 0 {
		return nil, fmt.Errorf("loss reference: no row with a finite error")
	}
	r.MAE, r.RMSE = sa/float64(r.Rows), math.Sqrt(ss/float64(r.Rows))
	var keep []int // rows with finite predicted losses
	for i := range predAbs {
		if isFiniteF(predAbs[i]) && isFiniteF(predSq[i]) {
			keep = append(keep, i)
		}
	}
	n := min(len(keep), LossReferenceRows)
	r.Abs, r.Sq = make([]float64, n), make([]float64, n)
	for j := range n {
		i := keep[j*len(keep)/n]
		r.Abs[j], r.Sq[j] = clipLoss(predAbs[i]), clipLoss(predSq[i])
	}
	return r, nil
}

func isFiniteF(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// clipLoss clips a predicted loss at 0 (a loss model may undershoot); NaN
// stays NaN.
func clipLoss(x float64) float64 {
	if x < 0 {
		return 0
	}
	return x
}

// EstimatedLoss is a regression model's error on a window estimated
// without labels (DLE): the mean of the records' predicted absolute errors
// and the square root of the mean of their predicted squared errors.
type EstimatedLoss struct {
	Records            int // records with a finite predicted loss
	MAE, RMSE          float64
	CalibrationRecords int // validation rows the loss models were fitted on
	// ReferenceMAE and ReferenceRMSE are the realised errors on those rows.
	ReferenceMAE, ReferenceRMSE float64
	// Band is the range the estimates take on windows of this size drawn
	// from the validation rows' predicted losses; nil when there are too
	// few to draw from.
	Band *LossBand
	// Drop is set when the estimated MAE or RMSE is above its band: the
	// model is expected to err more than on its reference.
	Drop bool
}

// LossBand is the DLE analogue of PerformanceBand.
type LossBand struct {
	Records, Replicates int
	MAE, RMSE           Range
}

// MarshalJSON encodes the estimate with snake_case keys and non-finite
// numbers as null.
func (e EstimatedLoss) MarshalJSON() ([]byte, error) {
	out := map[string]any{"records": e.Records, "mae": jsonNum(e.MAE), "rmse": jsonNum(e.RMSE),
		"calibration_records": e.CalibrationRecords, "reference_mae": jsonNum(e.ReferenceMAE),
		"reference_rmse": jsonNum(e.ReferenceRMSE), "drop": e.Drop, "band": nil}
	if b := e.Band; b != nil {
		out["band"] = map[string]any{"records": b.Records, "replicates": b.Replicates,
			"mae_lo": jsonNum(b.MAE.Lo), "mae_hi": jsonNum(b.MAE.Hi), "rmse_lo": jsonNum(b.RMSE.Lo), "rmse_hi": jsonNum(b.RMSE.Hi)}
	}
	return json.Marshal(out)
}

// lossBand draws the band of windows of n records from the reference's
// predicted losses (with replacement), seeded by n.
func lossBand(ref *LossReference, n int) (LossBand, bool) {
	m := len(ref.Abs)
	if m < 2 || n < 2 {
		return LossBand{}, false
	}
	rng := rand.New(rand.NewPCG(uint64(n), 0x646c65)) // "dle"
	mae := make([]float64, 0, bandReplicates)
	rmse := make([]float64, 0, bandReplicates)
	for range bandReplicates {
		var sa, ss float64
		for range n {
			j := rng.IntN(m)
			sa += ref.Abs[j]
			ss += ref.Sq[j]
		}
		mae = append(mae, sa/float64(n))
		rmse = append(rmse, math.Sqrt(ss/float64(n)))
	}
	return LossBand{Records: n, Replicates: bandReplicates, MAE: spreadLoss(mae), RMSE: spreadLoss(rmse)}, true
}

// spreadLoss is the mean ± 3σ band of xs, its low edge clipped at 0.
func spreadLoss(xs []float64) Range { return spreadClipped(xs, 0, math.Inf(1)) }

// EstimateLoss estimates a window's error from its records' predicted
// absolute and squared errors (NaN pairs skipped, negatives clipped at 0).
func EstimateLoss(ref *LossReference, abs, sq []float64) EstimatedLoss {
	e := EstimatedLoss{MAE: math.NaN(), RMSE: math.NaN()}
	if ref != nil {
		e.CalibrationRecords, e.ReferenceMAE, e.ReferenceRMSE = ref.Rows, ref.MAE, ref.RMSE
	}
	var sa, ss float64
	for i := range abs {
		if math.IsNaN(abs[i]) || math.IsNaN(sq[i]) {
			continue
		}
		sa += clipLoss(abs[i])
		ss += clipLoss(sq[i])
		e.Records++
	}
	if e.Records > 0 {
		e.MAE, e.RMSE = sa/float64(e.Records), math.Sqrt(ss/float64(e.Records))
	}
	return e
}

// dleStream is a monitor's DLE state, split like pcaStream: the observing
// side (Monitor.mu) copies each record's features and prediction into a
// ring; a check takes the records added since the previous one, and the
// checker goroutine predicts their losses with the LossEstimator and keeps
// the window's losses in rings of its own with their sums. Two small GBDTs
// per record stay off the scoring path (BenchmarkMonitorDLE).
type dleStream struct {
	// Observing side, under Monitor.mu.
	nf     int
	catIdx []int     // categorical profile features
	num    []float64 // ring: nf values per record (categoricals NaN)
	cat    []string  // ring: len(catIdx) categories per record
	pred   []float64 // ring: the prediction per record
	recordRing
	free chan *dleBatch

	// Check side.
	est           LossEstimator
	ref           *LossReference
	scratchNum    []float64
	scratchCat    []string
	abs, sq       []float64 // rings of the window's predicted losses (NaN: none)
	lpos, ln      int
	sumAbs, sumSq float64
	valid         int // finite entries among abs[:ln]
	bands         map[int]LossBand
	maeG, rmseG   *metrics.Gauge
	drop          *metrics.Gauge
}

// dleBatch carries records from the observing side to the checker.
type dleBatch struct {
	rebuild bool
	records int
	num     []float64
	cat     []string
	pred    []float64
}

// newDLEStream returns the DLE state of a monitor, nil without a loss
// estimator or a loss reference in the profile. Without DLE the estimated
// RMSE and MAE are still exported, as NaN ("not applicable"), so that the
// series exist whatever the deployed model and a version without loss
// models replacing one with them leaves no stale estimate.
func newDLEStream(p *Profile, o MonitorOptions) *dleStream {
	if o.Loss == nil || p.Loss == nil {
		if m := o.Metrics; m != nil {
			model := escapeLabel(o.Model)
			m.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_mae{model="%s"}`, model), nil).Set(math.NaN())
			m.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_rmse{model="%s"}`, model), nil).Set(math.NaN())
		}
		return nil
	}
	nf := len(p.Features)
	s := &dleStream{nf: nf, recordRing: recordRing{size: o.WindowSize, tumbling: o.Tumbling > 0}, free: make(chan *dleBatch, checkQueue+2),
		est: o.Loss, ref: p.Loss, scratchNum: make([]float64, nf), scratchCat: make([]string, nf),
		abs: make([]float64, o.WindowSize), sq: make([]float64, o.WindowSize), bands: map[int]LossBand{}}
	for i := range p.Features {
		if p.Features[i].Categorical {
			s.catIdx = append(s.catIdx, i)
		}
	}
	s.num = make([]float64, s.size*nf)
	s.cat = make([]string, s.size*len(s.catIdx))
	s.pred = make([]float64, s.size)
	if m := o.Metrics; m != nil {
		model := escapeLabel(o.Model)
		s.maeG = m.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_mae{model="%s"}`, model), nil)
		s.rmseG = m.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_rmse{model="%s"}`, model), nil)
		s.drop = m.GetOrCreateGauge(fmt.Sprintf(`driftd_model_estimated_performance_drop{model="%s"}`, model), nil)
	}
	return s
}

// add copies one record (num and cat hold every profile feature) into the
// ring; it does not allocate.
func (s *dleStream) add(num []float64, cat []string, prediction float64) {
	slot, ok := s.take()
	if !ok {
		return
	}
	copy(s.num[slot*s.nf:slot*s.nf+s.nf], num[:s.nf])
	kc := len(s.catIdx)
	dc := s.cat[slot*kc : slot*kc+kc]
	for k, i := range s.catIdx {
		dc[k] = cat[i]
	}
	s.pred[slot] = prediction
}

// reset empties the window (a tumbling period closed).
func (s *dleStream) reset() {
	s.recordRing.reset()
	clear(s.cat)
}

// takeBatch moves the records added since the previous batch (all held
// records after a reset or an overflow) into a batch for the checker.
func (s *dleStream) takeBatch() *dleBatch {
	var b *dleBatch
	select {
	case b = <-s.free:
	default:
		b = new(dleBatch)
	}
	b.num, b.cat, b.pred = b.num[:0], b.cat[:0], b.pred[:0]
	nf, kc := s.nf, len(s.catIdx)
	b.records, b.rebuild = s.batch(func(lo, hi int) {
		b.num = append(b.num, s.num[lo*nf:hi*nf]...)
		b.cat = append(b.cat, s.cat[lo*kc:hi*kc]...)
		b.pred = append(b.pred, s.pred[lo:hi]...)
	})
	return b
}

// apply predicts the batch's losses and adds them to the window's rings;
// check side.
func (s *dleStream) apply(b *dleBatch) {
	if b.rebuild {
		s.lpos, s.ln, s.sumAbs, s.sumSq, s.valid = 0, 0, 0, 0, 0
	}
	nf, kc := s.nf, len(s.catIdx)
	for r := 0; r < b.records; r++ {
		copy(s.scratchNum, b.num[r*nf:r*nf+nf])
		for k, i := range s.catIdx {
			s.scratchCat[i] = b.cat[r*kc+k]
		}
		a, q := s.est.Losses(s.scratchNum, s.scratchCat, b.pred[r])
		a, q = clipLoss(a), clipLoss(q)
		if math.IsInf(a, 0) || math.IsInf(q, 0) {
			a, q = math.NaN(), math.NaN()
		}
		if s.ln == len(s.abs) {
			if old := s.abs[s.lpos]; !math.IsNaN(old) {
				s.sumAbs -= old
				s.sumSq -= s.sq[s.lpos]
				s.valid--
			}
		} else {
			s.ln++
		}
		s.abs[s.lpos], s.sq[s.lpos] = a, q
		if !math.IsNaN(a) && !math.IsNaN(q) {
			s.sumAbs += a
			s.sumSq += q
			s.valid++
		} else {
			s.abs[s.lpos], s.sq[s.lpos] = math.NaN(), math.NaN()
		}
		if s.lpos++; s.lpos == len(s.abs) {
			s.lpos = 0
			s.resum() // shed the running sums' rounding once per turn
		}
	}
	clear(s.scratchCat)
}

// resum recomputes the sums from the rings.
func (s *dleStream) resum() {
	s.sumAbs, s.sumSq, s.valid = 0, 0, 0
	for i := range s.ln {
		if !math.IsNaN(s.abs[i]) {
			s.sumAbs += s.abs[i]
			s.sumSq += s.sq[i]
			s.valid++
		}
	}
}

// evaluate applies the check's batch and returns the window's estimate,
// exporting the gauges; check side. The batch is recycled.
func (s *dleStream) evaluate(b *dleBatch) *EstimatedLoss {
	s.absorb(b)
	return s.result(s.valid, s.sumAbs, s.sumSq)
}

// absorb applies a check's batch (nil: none) and recycles it; check side.
func (s *dleStream) absorb(b *dleBatch) {
	if b != nil {
		s.apply(b)
		clear(b.cat)
		select {
		case s.free <- b:
		default:
		}
	}
}

// stats returns the window's mergeable statistics; check side, after
// absorb.
func (s *dleStream) stats() *LossStats {
	// The running sums may round a hair below 0 as losses leave the ring.
	return &LossStats{Records: int64(s.valid), Abs: math.Max(0, s.sumAbs), Sq: math.Max(0, s.sumSq)}
}

// result is the estimate of n records whose predicted losses sum to
// sumAbs and sumSq (this window's, or merged from several processes'),
// its band looked up at n; it exports the gauges. Check side.
func (s *dleStream) result(n int, sumAbs, sumSq float64) *EstimatedLoss {
	e := EstimatedLoss{Records: n, MAE: math.NaN(), RMSE: math.NaN(), CalibrationRecords: s.ref.Rows,
		ReferenceMAE: s.ref.MAE, ReferenceRMSE: s.ref.RMSE}
	if n > 0 {
		e.MAE = math.Max(0, sumAbs/float64(n))
		e.RMSE = math.Sqrt(math.Max(0, sumSq/float64(n)))
	}
	if size := bandSize(e.Records); size >= 2 {
		band, ok := s.bands[size]
		if !ok {
			if band, ok = lossBand(s.ref, size); ok {
				s.bands[size] = band
			}
		}
		if ok {
			e.Band = &band
			e.Drop = e.MAE > band.MAE.Hi || e.RMSE > band.RMSE.Hi
		}
	}
	if s.drop != nil {
		s.drop.Set(b2f(e.Drop))
	}
	if s.maeG != nil && !math.IsNaN(e.MAE) {
		s.maeG.Set(e.MAE)
		s.rmseG.Set(e.RMSE)
	}
	return &e
}

// appendLoss writes the loss reference (format version 5): the rows, the
// realised MAE and RMSE, and the predicted losses.
func appendLoss(b []byte, r *LossReference) []byte {
	b = binary.AppendUvarint(b, uint64(r.Rows))
	b = appendFloats(b, []float64{r.MAE, r.RMSE})
	b = appendFloats(b, r.Abs)
	return appendFloats(b, r.Sq)
}

// loss decodes what appendLoss wrote, refusing anything that would not
// encode back byte for byte.
func (d *decoder) loss(p *Profile) {
	start := d.off
	r := &LossReference{Rows: int(d.uvarint("loss rows", math.MaxInt32))}
	head := d.floats("loss errors")
	r.Abs = d.floats("loss abs")
	r.Sq = d.floats("loss sq")
	if d.err != nil {
		return
	}
	switch {
	case len(head) != 2 || !(head[0] >= 0) || !(head[1] >= 0):
		d.fail("loss: bad realised errors")
		return
	case len(r.Abs) != len(r.Sq) || len(r.Abs) > LossReferenceRows:
		d.fail("loss: %d absolute and %d squared errors", len(r.Abs), len(r.Sq))
		return
	}
	r.MAE, r.RMSE = head[0], head[1]
	for i := range r.Abs {
		if !(r.Abs[i] >= 0) || !(r.Sq[i] >= 0) || math.IsInf(r.Abs[i], 0) || math.IsInf(r.Sq[i], 0) {
			d.fail("loss: bad predicted loss %d", i)
			return
		}
	}
	if !bytes.Equal(appendLoss(nil, r), d.b[start:d.off]) {
		d.fail("loss reference not in canonical form")
		return
	}
	p.Loss = r
}
