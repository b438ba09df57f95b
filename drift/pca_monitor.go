package drift

import (
	"fmt"
	"math"

	"github.com/VictoriaMetrics/metrics"
)

// pcaStream is a monitor's multivariate drift state. It is split like the
// window's sorted values: the observing side (Monitor.mu) only copies each
// record's PCA inputs into a ring, a few dozen stores; a check takes the
// records added since the previous one (takeBatch), and the checker
// goroutine encodes them, computes their reconstruction errors and keeps
// the window's errors in a ring of its own with their sum (apply). The
// error costs 2·K·Dims multiply-adds per record, so it stays off the
// scoring path (BenchmarkMonitorPCA measures both sides).
//
// The rings hold the last size records of a sliding window or, in tumbling
// mode, the first size records of the period, as the window keeps raw
// values; the checker sees every record once, in order, so its ring
// mirrors the window's.
type pcaStream struct {
	// Observing side, under Monitor.mu.
	numIdx []int     // profile features of the numeric inputs
	catIdx []int     // profile features of the categorical inputs
	num    []float64 // ring: len(numIdx) values per record
	cat    []string  // ring: len(catIdx) categories per record
	recordRing
	free chan *pcaBatch

	// Check side, touched only by the evaluation of checks.
	p        *Profile
	enc      *pcaEncoder
	errs     []float64 // ring of the window's errors
	epos, en int
	sum      float64 // of errs[:en]
	errGauge *metrics.Gauge
	drift    *metrics.Gauge
}

// pcaBatch carries the PCA inputs of records from the observing side to
// the checker: len(numIdx) values and len(catIdx) categories per record,
// oldest first; rebuild says they are the whole window (the checker drops
// what it had).
type pcaBatch struct {
	rebuild bool
	records int
	num     []float64
	cat     []string
}

// newPCAStream returns the multivariate drift state of a monitor, nil when
// the profile has no PCA.
func newPCAStream(p *Profile, o MonitorOptions) *pcaStream {
	if p.PCA == nil {
		return nil
	}
	enc := newPCAEncoder(p, p.PCA)
	s := &pcaStream{recordRing: recordRing{size: o.WindowSize, tumbling: o.Tumbling > 0}, p: p, enc: enc,
		errs: make([]float64, o.WindowSize), free: make(chan *pcaBatch, checkQueue+2)}
	for _, in := range enc.num {
		s.numIdx = append(s.numIdx, in.feature)
	}
	for _, in := range enc.cat {
		s.catIdx = append(s.catIdx, in.feature)
	}
	s.num = make([]float64, s.size*len(s.numIdx))
	s.cat = make([]string, s.size*len(s.catIdx))
	if m := o.Metrics; m != nil {
		model := escapeLabel(o.Model)
		s.errGauge = m.GetOrCreateGauge(fmt.Sprintf(`driftd_multivariate_drift_error{model="%s"}`, model), nil)
		s.drift = m.GetOrCreateGauge(fmt.Sprintf(`driftd_multivariate_drift{model="%s"}`, model), nil)
	}
	return s
}

// add copies one record's PCA inputs (num and cat hold every profile
// feature) into the ring; it does not allocate.
func (s *pcaStream) add(num []float64, cat []string) {
	slot, ok := s.take()
	if !ok {
		return
	}
	kn, kc := len(s.numIdx), len(s.catIdx)
	dst := s.num[slot*kn : slot*kn+kn]
	for k, i := range s.numIdx {
		dst[k] = num[i]
	}
	dc := s.cat[slot*kc : slot*kc+kc]
	for k, i := range s.catIdx {
		dc[k] = cat[i]
	}
}

// reset empties the window (a tumbling period closed).
func (s *pcaStream) reset() {
	s.recordRing.reset()
	clear(s.cat) // release the category strings
}

// takeBatch moves the records added since the previous batch (all held
// records when the window was reset or more records passed than it holds)
// into a batch for the checker; it copies len(inputs) values per record.
func (s *pcaStream) takeBatch() *pcaBatch {
	var b *pcaBatch
	select {
	case b = <-s.free:
	default:
		b = new(pcaBatch)
	}
	kn, kc := len(s.numIdx), len(s.catIdx)
	b.num, b.cat = b.num[:0], b.cat[:0]
	b.records, b.rebuild = s.batch(func(lo, hi int) {
		b.num = append(b.num, s.num[lo*kn:hi*kn]...)
		b.cat = append(b.cat, s.cat[lo*kc:hi*kc]...)
	})
	return b
}

// apply computes the errors of the batch's records and adds them to the
// window's ring; check side.
func (s *pcaStream) apply(b *pcaBatch) {
	if b.rebuild {
		s.epos, s.en, s.sum = 0, 0, 0
	}
	kn, kc := len(s.numIdx), len(s.catIdx)
	for r := 0; r < b.records; r++ {
		s.enc.encodeCompact(b.num[r*kn:r*kn+kn], b.cat[r*kc:r*kc+kc])
		e := s.enc.reconstructionError()
		if s.en == len(s.errs) {
			s.sum -= s.errs[s.epos]
		} else {
			s.en++
		}
		s.errs[s.epos] = e
		s.sum += e
		if s.epos++; s.epos == len(s.errs) {
			s.epos = 0
			// Recompute the sum once per turn of the ring, so rounding
			// errors of the running sum never accumulate.
			s.sum = 0
			for _, v := range s.errs[:s.en] {
				s.sum += v
			}
		}
	}
}

// evaluate applies the check's batch and returns the window's result,
// exporting the gauges; check side. The batch is recycled.
func (s *pcaStream) evaluate(b *pcaBatch) *MultivariateResult {
	s.absorb(b)
	return s.result(s.en, s.sum)
}

// absorb applies a check's batch (nil: none) and recycles it; check side.
func (s *pcaStream) absorb(b *pcaBatch) {
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
func (s *pcaStream) stats() *PCAStats { // The running sum may round a hair below 0 as errors leave the ring.
	return &PCAStats{Records: int64(s.en), Error: math.Max(0, s.sum)}
}

// result is the multivariate result of n records whose errors sum to sum
// (this window's, or merged from several processes'), its band looked up
// at n; it exports the gauges. Check side.
func (s *pcaStream) result(n int, sum float64) *MultivariateResult {
	c := s.p.PCA
	res := &MultivariateResult{Error: math.NaN(), RefError: c.RefError, Lo: math.NaN(), Hi: math.NaN(),
		Components: c.K, Dimensions: c.Dims(), Records: n}
	if n > 0 {
		res.Error = math.Max(0, sum/float64(n))
		if lo, hi, ok := s.p.PCALimits(n); ok {
			res.Lo, res.Hi = lo, hi
			res.Drifted = res.Error < lo || res.Error > hi
		}
		if s.errGauge != nil {
			s.errGauge.Set(res.Error)
		}
	}
	if s.drift != nil {
		s.drift.Set(b2f(res.Drifted))
	}
	return res
}
