package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Drift points are stored in a compact binary form (format 2): a day of
// checks is read on every Drift page and Overview, and decoding JSON was
// most of their time. Points written before it are JSON objects (format 1,
// first byte '{') and still read.
//
//	byte    2 (format)
//	string  version
//	uvarint window records
//	float64 max PSI
//	byte    flags: 1 dataset drift, 2 retrain, 4 alert, 8 prediction PSI, 16 performance
//	float64 prediction PSI (flag 8)
//	float64 drift share
//	uvarint drifted features
//	uvarint n, n strings: the drifted names, sorted
//	uvarint n, n × (string name, float64 PSI): the features, sorted by name
//	performance (flag 16): uint16 mask of the present figures (bit i = figure
//	  i of perfFigures), a float64 per present figure, byte drop, uvarint labels
//	multivariate (flag 32): float64 error, byte (1 lo, 2 hi, 4 drifted),
//	  float64 lo and hi when present
//
// A string is a uvarint length and its bytes; floats are little-endian.
const driftPointFormat = 2

const (
	flagDatasetDrift = 1 << iota
	flagRetrain
	flagAlert
	flagPredPSI
	flagPerf
	flagMultivariate
)

// perfFigures lists the optional figures of a PerformancePoint in their
// mask order.
func perfFigures(p *PerformancePoint) []**float64 {
	return []**float64{&p.EstimatedAccuracy, &p.EstimatedAUC, &p.AccuracyLo, &p.AccuracyHi, &p.AUCLo, &p.AUCHi, &p.Accuracy, &p.AUC,
		&p.EstimatedRMSE, &p.RMSELo, &p.RMSEHi, &p.RMSE, &p.EstimatedMAE, &p.MAE}
}

// appendDriftPoint encodes p (already checked) in format 2.
func appendDriftPoint(b []byte, p DriftPoint) []byte {
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	f64 := func(x float64) { b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x)) }
	b = append(b, driftPointFormat)
	str(p.Version)
	b = binary.AppendUvarint(b, uint64(max(p.WindowRecords, 0)))
	f64(finiteOr0(p.MaxPSI))
	var flags byte
	if p.DatasetDrift {
		flags |= flagDatasetDrift
	}
	if p.Retrain {
		flags |= flagRetrain
	}
	if p.Alert {
		flags |= flagAlert
	}
	pred := finitePtr(p.PredictionPSI)
	if pred != nil {
		flags |= flagPredPSI
	}
	if p.Performance != nil {
		flags |= flagPerf
	}
	if p.Multivariate != nil {
		flags |= flagMultivariate
	}
	b = append(b, flags)
	if pred != nil {
		f64(*pred)
	}
	f64(finiteOr0(p.DriftShare))
	b = binary.AppendUvarint(b, uint64(max(p.DriftedFeatures, 0)))
	drifted := slices.Sorted(slices.Values(p.Drifted))
	b = binary.AppendUvarint(b, uint64(len(drifted)))
	for _, d := range drifted {
		str(d)
	}
	names := make([]string, 0, len(p.Features))
	for k := range p.Features {
		names = append(names, k)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		str(k)
		f64(finiteOr0(p.Features[k]))
	}
	if pp := p.Performance; pp != nil {
		var mask uint16
		var vals []float64
		for i, f := range perfFigures(pp) {
			if v := finitePtr(*f); v != nil {
				mask |= 1 << i
				vals = append(vals, *v)
			}
		}
		b = binary.LittleEndian.AppendUint16(b, mask)
		for _, v := range vals {
			f64(v)
		}
		drop := byte(0)
		if pp.Drop {
			drop = 1
		}
		b = append(b, drop)
		b = binary.AppendUvarint(b, uint64(max(pp.Labels, 0)))
	}
	if m := p.Multivariate; m != nil {
		f64(finiteOr0(m.Error))
		lo, hi := finitePtr(m.Lo), finitePtr(m.Hi)
		var bits byte
		if lo != nil {
			bits |= 1
		}
		if hi != nil {
			bits |= 2
		}
		if m.Drifted {
			bits |= 4
		}
		b = append(b, bits)
		if lo != nil {
			f64(*lo)
		}
		if hi != nil {
			f64(*hi)
		}
	}
	return b
}

// errShortPoint is a stored point that ends early.
var errShortPoint = errors.New("truncated")

// pointReader reads a format-2 point.
type pointReader struct {
	b   []byte
	err error
}

func (r *pointReader) uv() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortPoint
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length of items at least size bytes each.
func (r *pointReader) count(size int) int {
	n := r.uv()
	if r.err == nil && n > uint64(len(r.b)/size) {
		r.err = fmt.Errorf("%d items in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *pointReader) raw(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = errShortPoint
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *pointReader) str() string { return string(r.raw(r.count(1))) }

func (r *pointReader) f64() float64 {
	p := r.raw(8)
	if p == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(p))
}

// decodePointV2 reads a format-2 point into p (Time and Points set by the
// caller), keeping only feature when set and no feature with verdicts.
func decodePointV2(v []byte, p *DriftPoint, feature string, verdicts bool) error {
	r := &pointReader{b: v[1:]}
	p.Version = r.str()
	p.WindowRecords = int(r.uv())
	p.MaxPSI = r.f64()
	flags := r.raw(1)
	if r.err != nil {
		return r.err
	}
	p.DatasetDrift, p.Retrain, p.Alert = flags[0]&flagDatasetDrift != 0, flags[0]&flagRetrain != 0, flags[0]&flagAlert != 0
	if flags[0]&flagPredPSI != 0 {
		x := r.f64()
		p.PredictionPSI = &x
	}
	p.DriftShare = r.f64()
	p.DriftedFeatures = int(r.uv())
	if n := r.count(1); n > 0 {
		p.Drifted = make([]string, 0, n)
		for range n {
			d := r.str()
			if feature == "" || d == feature {
				p.Drifted = append(p.Drifted, d)
			}
		}
		if len(p.Drifted) == 0 {
			p.Drifted = nil
		}
	}
	nf := r.count(9)
	switch {
	case verdicts:
		p.Features = map[string]float64{}
	case feature != "":
		p.Features = make(map[string]float64, 1)
	default:
		p.Features = make(map[string]float64, nf)
	}
	for range nf {
		n := r.count(1)
		name := r.raw(n)
		x := r.f64()
		if r.err != nil {
			return r.err
		}
		if !verdicts && (feature == "" || string(name) == feature) {
			p.Features[string(name)] = x
		}
	}
	if flags[0]&flagPerf != 0 {
		m := r.raw(2)
		if r.err != nil {
			return r.err
		}
		mask := binary.LittleEndian.Uint16(m)
		if mask>>14 != 0 {
			return fmt.Errorf("performance mask %#x names unknown figures", mask)
		}
		pp := &PerformancePoint{}
		for i, f := range perfFigures(pp) {
			if mask&(1<<i) != 0 {
				x := r.f64()
				*f = &x
			}
		}
		drop := r.raw(1)
		pp.Labels = int64(r.uv())
		if r.err != nil {
			return r.err
		}
		pp.Drop = drop[0] != 0
		p.Performance = pp
	}
	if flags[0]&flagMultivariate != 0 {
		m := &MultivariatePoint{Error: r.f64()}
		bits := r.raw(1)
		if r.err != nil {
			return r.err
		}
		if bits[0]&^7 != 0 {
			return fmt.Errorf("multivariate flags %#x unknown", bits[0])
		}
		if bits[0]&1 != 0 {
			x := r.f64()
			m.Lo = &x
		}
		if bits[0]&2 != 0 {
			x := r.f64()
			m.Hi = &x
		}
		m.Drifted = bits[0]&4 != 0
		p.Multivariate = m
	}
	if flags[0]&^(2*flagMultivariate-1) != 0 {
		return fmt.Errorf("flags %#x name unknown parts", flags[0])
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d bytes after the point", len(r.b))
	}
	return nil
}
