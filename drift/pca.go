package drift

import (
	"encoding/json"
	"fmt"
	"math"
)

// Multivariate drift by PCA data reconstruction error, as NannyML does it:
// the reference rows are encoded (numeric features standardised, missing
// values imputed with the mean; categorical features one-hot encoded and
// standardised likewise), a PCA keeps the fewest principal components that
// explain PCAVariance (65%) of their variance, and a record's reconstruction
// error is the Euclidean distance between its encoding x and x̂ = VᵀVx, its
// projection back from the kept components V. A window's mean error is
// compared with a band learned from reference chunks (mean ± 3σ of the
// chunk means). A change in the joint structure of the inputs that leaves
// every marginal distribution as it was, such as a rotation of two
// correlated features, moves the error where no univariate test sees it.
//
// Differences from NannyML, on purpose: categorical features are one-hot
// encoded (NannyML frequency-encodes them, which maps two categories of the
// same frequency to the same number), over at most pcaMaxCategories
// categories of at least pcaMinShare (5%) of the values, the rest sharing an
// "other" slot, and every slot's scale is floored at that of a 5% category:
// a one-hot slot of share p standardises to √((1−p)/p) when it occurs, 9.9
// for p = 1%, and a few such records in a small window moved its mean by
// more than 3σ (measured on TestPCABandUndrifted's correlated data, 8,000
// undrifted windows of 50: 71 out of band with 1% categories encoded, 28
// with the 5% floor). Missing categories are imputed with the mean (all
// slots 0 after standardising) instead of the most frequent category; the
// fit uses at most PCASampleRows sampled rows; the reference errors are
// cross-fitted (see pca_fit.go); the band's spread is corrected for chunks
// drawn without replacement from the reference, follows the window's size
// (σ/√n), so any window size gets a band, and counts the noise of the
// reference's own mean.

// Defaults of the PCA options of ProfileOptions.
const (
	DefaultPCAVariance   = 0.65   // share of the variance the kept components explain
	DefaultPCASampleRows = 100000 // reference rows the PCA is fitted on at most
)

const (
	pcaMaxCategories = 20   // one-hot encoded categories per categorical feature, at most
	pcaMinShare      = 0.05 // least share of non-missing values of a one-hot encoded category; floors the one-hot scales
	pcaMaxDims       = 512  // encoded dimensions, at most
	pcaMinRows       = 100  // reference rows needed, at least (and 5 per dimension)
	pcaBlockRows     = 256  // rows per block of the covariance accumulation
)

// PCA is the principal-component model of a profile's reference rows, for
// multivariate drift. Dimensions are laid out feature after feature, in
// profile order.
type PCA struct {
	// Slots is, per profile feature, its number of encoded dimensions: 1
	// for a numeric feature, and for a categorical one a one-hot slot per
	// encoded category (its first Slots[i]−1 Categories) plus one "other"
	// slot for every other category; 0 for a feature without reference
	// values.
	Slots []int
	// Center and Scale standardise each dimension: (x − Center) / Scale.
	// A missing value is 0 after standardising (imputed with the mean).
	Center, Scale []float64
	// K is the number of kept components; Components holds them as K
	// orthonormal rows of Dims() values.
	K          int
	Components []float64
	// Explained is the share of the reference's variance the kept
	// components explain.
	Explained float64
	// FitRows is the number of reference rows the PCA was fitted on.
	FitRows int
	// RefError is the mean reconstruction error of those rows,
	// cross-fitted: each row's error by the PCA fitted on the other folds
	// of them (see pca_fit.go), as new undrifted rows would have.
	RefError float64
	// Bands holds, per Profile.BandSizes entry, the mean and standard
	// deviation of the mean reconstruction error over reference chunks of
	// that size (the SD corrected to a window drawn independently of the
	// reference; PCABand adds the reference's own noise); empty when the
	// profile has no bands.
	Bands []Band
}

// Dims returns the number of encoded dimensions.
func (c *PCA) Dims() int { return len(c.Center) }

// MultivariateResult is a window's multivariate drift: the mean PCA
// reconstruction error of its records against the reference's band.
type MultivariateResult struct {
	Error    float64 // mean reconstruction error of the window's records; NaN without records
	RefError float64 // mean reconstruction error of the reference rows
	// Lo and Hi are the band at the window's size (Profile.PCALimits): the
	// mean ∓ 3 SD of the mean error over reference chunks, interpolated
	// between chunk sizes; NaN when the profile has no bands.
	Lo, Hi     float64
	Drifted    bool // Error is outside [Lo, Hi]
	Components int  // kept principal components
	Dimensions int  // encoded dimensions
	Records    int  // records whose errors were averaged
}

// MarshalJSON encodes the result with snake_case keys and non-finite
// numbers as null.
func (r MultivariateResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"error": jsonNum(r.Error), "ref_error": jsonNum(r.RefError), "lo": jsonNum(r.Lo), "hi": jsonNum(r.Hi),
		"drifted": r.Drifted, "components": r.Components, "dimensions": r.Dimensions, "records": r.Records,
	})
}

// PCABand returns the band of the mean reconstruction error of a window of
// n records: the chunks' band interpolated log–log between the profile's
// chunk sizes and, beyond them, with a constant mean and an SD scaled as
// n^−½; the SD then grows by √(1 + n/FitRows), since the window's mean is
// compared with the reference's, itself the mean of FitRows noisy errors
// (variance σ²/n + σ²/N, as the features' bands correct for). ok is false
// without a PCA or bands.
func (p *Profile) PCABand(n int) (Band, bool) {
	c := p.PCA
	if c == nil || len(c.Bands) == 0 || len(c.Bands) != len(p.BandSizes) || n <= 0 || c.FitRows < 1 {
		return Band{}, false
	}
	b := interpBand(p.BandSizes, c.Bands, n, 0, -0.5)
	b.SD *= math.Sqrt(1 + float64(n)/float64(c.FitRows))
	return b, true
}

// PCALimits returns the lower and upper edges of PCABand(n), mean ∓ 3 SD
// (the lower one floored at 0).
func (p *Profile) PCALimits(n int) (lo, hi float64, ok bool) {
	b, ok := p.PCABand(n)
	if !ok {
		return math.NaN(), math.NaN(), false
	}
	return math.Max(0, b.Mean-BandSigmas*b.SD), b.Mean + BandSigmas*b.SD, true
}

// pcaNumeric is one numeric input of an encoder.
type pcaNumeric struct {
	feature, dim   int
	center, invSca float64
}

// pcaCategorical is one categorical input of an encoder: one[s] is the
// standardised value of slot s when it is the record's, zero[s] when not.
type pcaCategorical struct {
	feature, dim, slots int
	index               map[string]int // encoded category → slot (others: slots−1)
	zero, one           []float64
}

// slot returns the slot of category v (the last one, "other", for a
// category not encoded).
func (c *pcaCategorical) slot(v string) int {
	if s, ok := c.index[v]; ok {
		return s
	}
	return c.slots - 1
}

// pcaEncoder encodes records and computes their reconstruction errors
// with its own scratch: one per goroutine.
type pcaEncoder struct {
	pca     *PCA
	num     []pcaNumeric
	cat     []pcaCategorical
	x, z, r []float64
}

// newPCAEncoder returns an encoder of the profile's PCA (which must be
// consistent with its features, as BuildProfile and DecodeProfile make it).
func newPCAEncoder(p *Profile, c *PCA) *pcaEncoder {
	e := &pcaEncoder{pca: c, x: make([]float64, c.Dims()), z: make([]float64, c.K), r: make([]float64, c.Dims())}
	dim := 0
	for i, n := range c.Slots {
		if n == 0 {
			continue
		}
		f := &p.Features[i]
		if !f.Categorical {
			e.num = append(e.num, pcaNumeric{feature: i, dim: dim, center: c.Center[dim], invSca: 1 / c.Scale[dim]})
			dim++
			continue
		}
		pc := pcaCategorical{feature: i, dim: dim, slots: n, index: make(map[string]int, n-1),
			zero: make([]float64, n), one: make([]float64, n)}
		for s, name := range f.Categories[:n-1] {
			pc.index[name] = s
		}
		for s := range n {
			pc.zero[s] = -c.Center[dim+s] / c.Scale[dim+s]
			pc.one[s] = (1 - c.Center[dim+s]) / c.Scale[dim+s]
		}
		e.cat = append(e.cat, pc)
		dim += n
	}
	return e
}

// encodeNumeric sets the dimension of numeric input k to value v
// (non-finite values are missing: the mean).
func (e *pcaEncoder) encodeNumeric(k int, v float64) {
	in := &e.num[k]
	if math.IsNaN(v) || math.IsInf(v, 0) {
		e.x[in.dim] = 0
		return
	}
	e.x[in.dim] = (v - in.center) * in.invSca
}

// encodeCategorical sets the dimensions of categorical input k to slot s
// (−1: missing, all slots at the mean).
func (e *pcaEncoder) encodeCategorical(k, s int) {
	in := &e.cat[k]
	x := e.x[in.dim : in.dim+in.slots]
	if s < 0 {
		clear(x)
		return
	}
	copy(x, in.zero)
	x[s] = in.one[s]
}

// encodeCompact encodes a record given as the values of the numeric inputs
// and the categories ("" missing) of the categorical inputs, in input order.
func (e *pcaEncoder) encodeCompact(num []float64, cat []string) {
	for k, v := range num {
		e.encodeNumeric(k, v)
	}
	for k, v := range cat {
		s := -1
		if v != "" {
			s = e.cat[k].slot(v)
		}
		e.encodeCategorical(k, s)
	}
}

// reconstructionError returns ‖x − VᵀVx‖ of the encoded record in e.x:
// 2·K·Dims multiply-adds, no allocation.
func (e *pcaEncoder) reconstructionError() float64 {
	c := e.pca
	d := len(e.x)
	x, z, r := e.x, e.z, e.r
	for j := range z {
		z[j] = dot(c.Components[j*d:j*d+d], x)
	}
	copy(r, x)
	for j, zj := range z {
		axpy(r, c.Components[j*d:j*d+d], -zj)
	}
	return math.Sqrt(dot(r, r))
}

// dot returns Σ a[i]·b[i] (len(b) ≥ len(a)), four partial sums at a time.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy adds alpha·x to y (len(x) ≥ len(y)).
func axpy(y, x []float64, alpha float64) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Reconstructor computes records' PCA reconstruction errors against a
// profile. It reuses its scratch: one per goroutine.
type Reconstructor struct {
	enc *pcaEncoder
	num []float64
	cat []string
}

// NewReconstructor returns a Reconstructor of the profile's PCA; it fails
// when the profile has none (saying why when BuildProfile skipped it).
func NewReconstructor(p *Profile) (*Reconstructor, error) {
	if p.PCA == nil {
		why := ""
		if p.PCASkipped != "" {
			why = ": " + p.PCASkipped
		}
		return nil, fmt.Errorf("new reconstructor: the profile has no PCA%s", why)
	}
	e := newPCAEncoder(p, p.PCA)
	return &Reconstructor{enc: e, num: make([]float64, len(e.num)), cat: make([]string, len(e.cat))}, nil
}

// Error returns the reconstruction error of one record given as Observe
// takes it: num[i] the value of numeric feature i (NaN missing), cat[i] the
// category of categorical feature i ("" missing); entries beyond the end of
// a short slice are missing.
func (r *Reconstructor) Error(num []float64, cat []string) float64 {
	for k, in := range r.enc.num {
		r.num[k] = math.NaN()
		if in.feature < len(num) {
			r.num[k] = num[in.feature]
		}
	}
	for k, in := range r.enc.cat {
		r.cat[k] = ""
		if in.feature < len(cat) {
			r.cat[k] = cat[in.feature]
		}
	}
	r.enc.encodeCompact(r.num, r.cat)
	return r.enc.reconstructionError()
}

// pcaLayout returns the encoding of the profile's features: slots,
// centres and scales per dimension (see PCA).
func pcaLayout(p *Profile) (slots []int, center, scale []float64) {
	slots = make([]int, len(p.Features))
	for i := range p.Features {
		f := &p.Features[i]
		nm := f.NonMissing()
		if nm <= 0 {
			continue
		}
		if !f.Categorical {
			if math.IsNaN(f.Mean) || math.IsInf(f.Mean, 0) {
				continue
			}
			slots[i] = 1
			center = append(center, f.Mean)
			scale = append(scale, positiveScale(f.Std))
			continue
		}
		rest := nm
		m := 0
		for m < len(f.Categories) && m < pcaMaxCategories && float64(f.RefCounts[m+1]) >= pcaMinShare*float64(nm) {
			rest -= f.RefCounts[m+1]
			m++
		}
		slots[i] = m + 1
		for s := 0; s <= m; s++ {
			n := rest
			if s < m {
				n = f.RefCounts[s+1]
			}
			share := float64(n) / float64(nm)
			center = append(center, share)
			scale = append(scale, math.Sqrt(math.Max(share, pcaMinShare)*(1-math.Min(share, 1-pcaMinShare))))
		}
	}
	return slots, center, scale
}

// positiveScale returns s, or 1 when s is not a positive finite number
// (a dimension without variance keeps its units).
func positiveScale(s float64) float64 {
	if s > 1e-12 && !math.IsInf(s, 0) {
		return s
	}
	return 1
}
