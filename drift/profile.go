package drift

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Defaults of ProfileOptions.
const (
	DefaultBins          = 10
	DefaultMaxCategories = 100
	DefaultSummarySize   = 1000
)

// Column is one feature's reference (or current) data, built from a
// train.Dataset column by the caller.
type Column struct {
	Name        string
	Categorical bool
	Values      []float64 // numeric; NaN = missing
	Codes       []int32   // categorical; -1 = missing
	Levels      []string  // categorical levels (index = code)
}

// ProfileOptions configures BuildProfile; zero values take the defaults.
type ProfileOptions struct {
	Bins          int    // number of numeric bins (default 10)
	Binning       string // "quantile" (default) or "uniform"
	MaxCategories int    // tracked categories per categorical feature (default 100); the rest is "other"
	SummarySize   int    // values kept in the numeric quantile summary (default 1000)
	BandChunks    int    // reference chunks per chunk size for the alert bands (default 100; < 0: no bands)
	// PCAVariance is the share of the reference's variance the principal
	// components kept for multivariate drift explain (default 0.65; < 0:
	// no PCA).
	PCAVariance float64
	// PCASampleRows is how many reference rows the PCA is fitted on at
	// most (default 100,000; sampled with a fixed seed).
	PCASampleRows int
}

func (o ProfileOptions) withDefaults() (ProfileOptions, error) {
	if o.Bins == 0 {
		o.Bins = DefaultBins
	}
	if o.Bins < 2 || o.Bins > 1000 {
		return o, fmt.Errorf("bins %d: must be between 2 and 1000", o.Bins)
	}
	if o.Binning == "" {
		o.Binning = BinningQuantile
	}
	if o.Binning != BinningQuantile && o.Binning != BinningUniform {
		return o, fmt.Errorf("binning %q: must be quantile or uniform", o.Binning)
	}
	if o.MaxCategories == 0 {
		o.MaxCategories = DefaultMaxCategories
	}
	if o.MaxCategories < 1 || o.MaxCategories > 10000 {
		return o, fmt.Errorf("max categories %d: must be between 1 and 10000", o.MaxCategories)
	}
	if o.SummarySize == 0 {
		o.SummarySize = DefaultSummarySize
	}
	if o.BandChunks == 0 {
		o.BandChunks = DefaultBandChunks
	}
	if o.SummarySize < 2 || o.SummarySize > 1<<20 {
		return o, fmt.Errorf("summary size %d: must be between 2 and 1048576", o.SummarySize)
	}
	if o.PCAVariance == 0 {
		o.PCAVariance = DefaultPCAVariance
	}
	if o.PCAVariance > 1 || math.IsNaN(o.PCAVariance) {
		return o, fmt.Errorf("pca variance %v: must be at most 1 (< 0: no PCA)", o.PCAVariance)
	}
	if o.PCASampleRows == 0 {
		o.PCASampleRows = DefaultPCASampleRows
	}
	if o.PCASampleRows < 2 {
		return o, fmt.Errorf("pca sample rows %d: must be at least 2", o.PCASampleRows)
	}
	return o, nil
}

// Feature is the reference profile of one feature (or of the prediction).
//
// Bin layout: bin 0 is "missing"; numeric bins 1…len(Edges)+1 are the
// right-closed intervals between −∞, the Edges and +∞; categorical bins
// 1…len(Categories) are the tracked categories and bin len(Categories)+1 is
// "other". RefCounts holds the reference count of every bin.
type Feature struct {
	Name        string
	Categorical bool
	Edges       []float64 // numeric inner edges, ascending, no duplicates
	Categories  []string  // tracked categories, most frequent first
	RefCounts   []int64   // reference count per bin (layout above)
	Count       int64     // reference rows
	Missing     int64     // reference rows with a missing value
	Mean, Std   float64   // numeric, non-missing values (population std); NaN when none
	Min, Max    float64   // numeric, non-missing values; NaN when none
	Unique      int       // distinct non-missing reference values (capped at 1,000,000)
	// Summary is a sorted quantile summary of the non-missing numeric
	// values: all of them when there are at most SummarySize, else the
	// quantiles (i+0.5)/SummarySize. KSError and W1Error are the exact KS
	// statistic and Wasserstein-1 distance between the reference and its
	// summary: bounds on the error of streaming KS and W1 (triangle
	// inequality). Both are 0 when the summary is exact.
	Summary          []float64
	KSError, W1Error float64
	// Bands are the alert bands learned from reference chunks, per test
	// name ("psi" for the PSI), one per Profile.BandSizes entry; nil in
	// profiles built without bands (or decoded from format version 1).
	Bands map[string][]Band
	index map[string]int // category → bin
}

// Bins returns the number of bins of the feature (missing bin included).
func (f *Feature) Bins() int { return len(f.RefCounts) }

// NonMissing returns the number of reference rows with a value.
func (f *Feature) NonMissing() int64 { return f.Count - f.Missing }

func (f *Feature) buildIndex() {
	f.index = make(map[string]int, len(f.Categories))
	for i, c := range f.Categories {
		f.index[c] = i + 1
	}
}

// otherBin is the "other" bin of a categorical feature.
func (f *Feature) otherBin() int { return len(f.Categories) + 1 }

// Profile is the reference profile of a model's features and prediction.
type Profile struct {
	Bins          int
	Binning       string
	MaxCategories int
	SummarySize   int
	Rows          int
	Features      []Feature
	Prediction    *Feature // nil when built without predictions
	// BandSizes are the reference chunk sizes of the features' Bands,
	// ascending; empty when the profile has no bands.
	BandSizes []int
	// Calibration maps a binary model's scores (the prediction) to
	// calibrated probabilities for performance estimation without labels
	// (CBPE); nil when the model has none (not binary, no held-out data,
	// or a profile written before calibration existed).
	Calibration *Calibrator
	// PCA is the principal-component model of the reference rows for
	// multivariate drift (reconstruction error); nil when the reference
	// is not fit for one (PCASkipped says why) or the profile was written
	// before PCA existed (format versions 1 to 3).
	PCA *PCA
	// Multiclass calibrates a multiclass model's class probabilities for
	// CBPE (one-vs-rest isotonic per class); nil for other models and
	// profiles written before it existed (format versions 1 to 4).
	Multiclass *MulticlassCalibration
	// Loss is a regression model's DLE reference: the validation rows'
	// predicted losses for the bands of estimated MAE and RMSE (the loss
	// models themselves are stored with the model); nil otherwise.
	Loss *LossReference
	// PCASkipped says why BuildProfile left PCA nil ("" otherwise); it is
	// not encoded.
	PCASkipped string
}

// HasBands reports whether the profile carries alert bands learned from
// reference chunks.
func (p *Profile) HasBands() bool { return len(p.BandSizes) > 0 }

// FeatureNames returns the names of the profiled features in order.
func (p *Profile) FeatureNames() []string {
	out := make([]string, len(p.Features))
	for i := range p.Features {
		out[i] = p.Features[i].Name
	}
	return out
}

// ErrNoRows is returned when the reference data has no rows.
var ErrNoRows = errors.New("reference data has no rows")

// BuildProfile builds the reference profile of the columns (all of the same
// length) and of the model's prediction scores (nil for none).
func BuildProfile(cols []Column, predictions []float64, opts ProfileOptions) (*Profile, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("build profile: %w", err)
	}
	if len(cols) == 0 {
		return nil, errors.New("build profile: no columns")
	}
	rows := columnLen(cols[0])
	if rows == 0 {
		return nil, fmt.Errorf("build profile: %w", ErrNoRows)
	}
	p := &Profile{Bins: o.Bins, Binning: o.Binning, MaxCategories: o.MaxCategories, SummarySize: o.SummarySize, Rows: rows}
	seen := make(map[string]bool, len(cols))
	for i := range cols {
		c := &cols[i]
		if seen[c.Name] {
			return nil, fmt.Errorf("build profile: column %q appears twice", c.Name)
		}
		seen[c.Name] = true
		if n := columnLen(*c); n != rows {
			return nil, fmt.Errorf("build profile: column %q has %d rows, want %d", c.Name, n, rows)
		}
		f, err := buildFeature(c, o)
		if err != nil {
			return nil, fmt.Errorf("build profile: column %q: %w", c.Name, err)
		}
		p.Features = append(p.Features, f)
	}
	if len(predictions) > 0 {
		f, err := buildFeature(&Column{Name: "prediction", Values: predictions}, o)
		if err != nil {
			return nil, fmt.Errorf("build profile: prediction: %w", err)
		}
		p.Prediction = &f
	}
	if o.BandChunks > 0 {
		buildBands(p, cols, o.BandChunks)
	}
	if o.PCAVariance > 0 {
		p.PCA, p.PCASkipped = fitPCA(p, cols, o)
	} else {
		p.PCASkipped = "disabled"
	}
	return p, nil
}

func columnLen(c Column) int {
	if c.Categorical {
		return len(c.Codes)
	}
	return len(c.Values)
}

func buildFeature(c *Column, o ProfileOptions) (Feature, error) {
	if c.Categorical {
		return buildCategorical(c, o)
	}
	sorted, missing := sortedValues(c.Values)
	return numericFeature(c.Name, sorted, missing, o, true), nil
}

// numericFeature profiles sorted non-missing values plus a missing count;
// the quantile summary is built only when withSummary is set.
func numericFeature(name string, sorted []float64, missing int, o ProfileOptions, withSummary bool) Feature {
	f := Feature{Name: name, Count: int64(len(sorted) + missing), Missing: int64(missing),
		Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if len(sorted) > 0 {
		f.Min, f.Max = sorted[0], sorted[len(sorted)-1]
		f.Mean, f.Std = meanStd(sorted)
		f.Unique = countUniqueSorted(sorted, nil, 1000000)
		if f.Unique > 1000000 {
			f.Unique = 1000000
		}
		if o.Binning == BinningUniform {
			f.Edges = UniformEdges(f.Min, f.Max, o.Bins)
		} else {
			f.Edges = QuantileEdges(sorted, o.Bins)
		}
	}
	f.RefCounts = make([]int64, len(f.Edges)+2)
	f.RefCounts[0] = int64(missing)
	if len(sorted) > 0 {
		binCountsSorted(sorted, f.Edges, f.RefCounts)
	}
	if !withSummary {
		return f
	}
	f.Summary = makeSummary(sorted, o.SummarySize)
	if len(f.Summary) != len(sorted) {
		f.KSError = KSStatistic(sorted, f.Summary)
		f.W1Error = Wasserstein(sorted, f.Summary)
	}
	return f
}

func makeSummary(sorted []float64, size int) []float64 {
	if len(sorted) <= size {
		return slices.Clone(sorted)
	}
	s := make([]float64, size)
	for i := range s {
		s[i] = Quantile(sorted, (float64(i)+0.5)/float64(size))
	}
	return s
}

func buildCategorical(c *Column, o ProfileOptions) (Feature, error) {
	counts := make([]int64, len(c.Levels))
	var missing int64
	for row, code := range c.Codes {
		switch {
		case code < 0:
			missing++
		case int(code) >= len(c.Levels):
			return Feature{}, fmt.Errorf("row %d: code %d out of range (%d levels)", row, code, len(c.Levels))
		default:
			counts[code]++
		}
	}
	// Merge levels with the same string (defensive) and rank by frequency.
	byName := make(map[string]int64, len(c.Levels))
	for i, l := range c.Levels {
		byName[l] += counts[i]
	}
	type lc struct {
		level string
		n     int64
	}
	ranked := make([]lc, 0, len(byName))
	for l, n := range byName {
		if n > 0 {
			ranked = append(ranked, lc{l, n})
		}
	}
	slices.SortFunc(ranked, func(a, b lc) int {
		if a.n != b.n {
			return cmp.Compare(b.n, a.n)
		}
		return cmp.Compare(a.level, b.level)
	})
	f := Feature{Name: c.Name, Categorical: true, Count: int64(len(c.Codes)), Missing: missing,
		Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN(), Unique: len(ranked)}
	keep := min(len(ranked), o.MaxCategories)
	f.Categories = make([]string, keep)
	f.RefCounts = make([]int64, keep+2)
	f.RefCounts[0] = missing
	for i, r := range ranked {
		if i < keep {
			f.Categories[i] = r.level
			f.RefCounts[i+1] = r.n
		} else {
			f.RefCounts[keep+1] += r.n
		}
	}
	f.buildIndex()
	return f, nil
}
