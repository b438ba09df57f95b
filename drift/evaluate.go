package drift

import (
	"encoding/json"
	"fmt"
	"math"
)

// Test names accepted by CompareOptions.Test and MonitorOptions.Test.
const (
	TestAuto          = "auto"
	TestKS            = "ks"
	TestChiSquare     = "chisquare"
	TestZ             = "z"
	TestWasserstein   = "wasserstein"
	TestJensenShannon = "jensenshannon"
	TestHellinger     = "hellinger"
	TestKL            = "kl"
	TestPSI           = "psi"
)

// Tests returns the companion tests that can be chosen explicitly.
func Tests() []string {
	return []string{TestKS, TestChiSquare, TestZ, TestWasserstein, TestJensenShannon, TestHellinger, TestKL, TestPSI}
}

// PSI levels.
const (
	LevelStable   = "stable"
	LevelModerate = "moderate"
	LevelMajor    = "major"
)

// Level returns the PSI level: < 0.1 stable, [0.1, 0.25) moderate, ≥ 0.25 major.
func Level(psi float64) string {
	switch {
	case psi >= 0.25:
		return LevelMajor
	case psi >= 0.1:
		return LevelModerate
	default:
		return LevelStable
	}
}

// smallReference is Evidently's cut-off between the small- and the
// large-reference test choices.
const smallReference = 1000

// ChooseTest returns the companion test Evidently would pick for a feature
// with refValues non-missing reference values and unique distinct values
// (reference and current together).
func ChooseTest(categorical bool, refValues int64, unique int) string {
	if refValues <= smallReference {
		if !categorical && unique > 5 {
			return TestKS
		}
		if unique > 2 {
			return TestChiSquare
		}
		return TestZ
	}
	if !categorical && unique > 5 {
		return TestWasserstein
	}
	return TestJensenShannon
}

// ValidTest reports whether name is "auto" or one of Tests.
func ValidTest(name string) bool {
	if name == TestAuto || name == "" {
		return true
	}
	for _, t := range Tests() {
		if t == name {
			return true
		}
	}
	return false
}

// DefaultThreshold returns the drift threshold of a test (Evidently's
// defaults): a p-value below 0.05 for ks, chisquare and z; a statistic of at
// least 0.1 for wasserstein, jensenshannon, hellinger, kl and psi.
func DefaultThreshold(test string) float64 {
	switch test {
	case TestKS, TestChiSquare, TestZ:
		return 0.05
	default:
		return 0.1
	}
}

// IsPValueTest reports whether the test decides on a p-value.
func IsPValueTest(test string) bool {
	return test == TestKS || test == TestChiSquare || test == TestZ
}

// Threshold rules of a verdict (FeatureResult.Rule, MonitorOptions.Thresholds).
const (
	// RuleBand: drifted when the statistic is above the upper edge of its
	// band learned from reference chunks of the window's size.
	RuleBand = "band"
	// RuleFixed: the test's fixed threshold (p < 0.05, distance ≥ 0.1, or
	// TestThreshold), whatever the window's size.
	RuleFixed = "fixed"
)

// FeatureResult is the drift result of one feature (or of the prediction).
type FeatureResult struct {
	Name        string
	Categorical bool
	PSI         float64
	Level       string
	Test        string
	Statistic   float64 // KS D, chi-square, z, normed W1, or the distance
	PValue      float64 // NaN for distance tests
	Threshold   float64 // RuleFixed: the p-value or statistic threshold; RuleBand: the band's upper edge on the statistic
	Rule        string  // RuleBand or RuleFixed
	// BandLower and BandUpper are the band of the statistic (|z| for z) at
	// this window's size; NaN under RuleFixed.
	BandLower, BandUpper float64
	// PSIUpper is the upper edge of the PSI's band at this window's size
	// (NaN without bands): a retrain or alert threshold below it is raised
	// to it, so noise alone never triggers them.
	PSIUpper    float64
	Drifted     bool
	Rows        int     // current rows
	MissingRate float64 // current share of missing values
}

// jsonNum returns v, or nil when v is NaN or infinite.
func jsonNum(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// MarshalJSON encodes the result with non-finite numbers as null.
func (r FeatureResult) MarshalJSON() ([]byte, error) {
	typ := "numeric"
	if r.Categorical {
		typ = "categorical"
	}
	return json.Marshal(map[string]any{
		"name": r.Name, "type": typ, "psi": jsonNum(r.PSI), "level": r.Level,
		"test": r.Test, "statistic": jsonNum(r.Statistic), "p_value": jsonNum(r.PValue),
		"threshold": jsonNum(r.Threshold), "drifted": r.Drifted, "rows": r.Rows,
		"missing_rate": jsonNum(r.MissingRate), "rule": r.Rule,
		"band_lower": jsonNum(r.BandLower), "band_upper": jsonNum(r.BandUpper), "psi_upper": jsonNum(r.PSIUpper),
	})
}

// evalInput is what a test needs: the bin counts of both sides (same
// layout) and, for ks and wasserstein, the sorted non-missing values.
type evalInput struct {
	f           *Feature
	ref, cur    []int64
	refValues   []float64 // sorted; the profile summary in streaming mode
	refN        int64     // non-missing reference values (for p-values)
	curValues   []float64 // sorted
	unique      int       // distinct values, both sides (auto choice)
	test        string
	threshold   float64
	needsValues bool
	bands       *Profile // the profile whose bands set the thresholds; nil: fixed thresholds
}

func zTarget(ref, cur []int64) int {
	best := -1
	for i := 1; i < len(ref); i++ {
		if best < 0 || ref[i] > ref[best] {
			best = i
		}
	}
	if best >= 0 && ref[best] > 0 {
		return best
	}
	for i := 1; i < len(cur); i++ {
		if best < 0 || cur[i] > cur[best] {
			best = i
		}
	}
	if best < 0 {
		return 0
	}
	return best
}

// evaluate computes PSI and the companion test of one feature.
func evaluate(in evalInput) FeatureResult {
	f := in.f
	r := FeatureResult{Name: f.Name, Categorical: f.Categorical, PValue: math.NaN(), Rule: RuleFixed,
		BandLower: math.NaN(), BandUpper: math.NaN(), PSIUpper: math.NaN()}
	r.PSI = PSI(in.ref, in.cur)
	r.Level = Level(r.PSI)
	curTotal := total(in.cur)
	r.Rows = int(curTotal)
	if curTotal > 0 {
		r.MissingRate = float64(in.cur[0]) / curTotal
	}
	test := in.test
	if test == "" || test == TestAuto {
		test = ChooseTest(f.Categorical, in.refN, in.unique)
		if (test == TestKS || test == TestWasserstein) && (in.refN == 0 || len(in.curValues) == 0) {
			test = ChooseTest(true, in.refN, 0)
		}
	}
	if f.Categorical && (test == TestKS || test == TestWasserstein) {
		test = ChooseTest(true, in.refN, in.unique)
	}
	r.Test = test
	r.Threshold = in.threshold
	if r.Threshold == 0 {
		r.Threshold = DefaultThreshold(test)
	}
	switch test {
	case TestKS:
		switch {
		case in.refN == 0 && len(in.curValues) == 0:
			r.Statistic, r.PValue = 0, 1
		case in.refN == 0 || len(in.curValues) == 0:
			r.Statistic, r.PValue = 1, 0
		default:
			r.Statistic = KSStatistic(in.refValues, in.curValues)
			r.PValue = KSPValue(r.Statistic, int(in.refN), len(in.curValues))
		}
	case TestWasserstein:
		switch {
		case in.refN == 0 && len(in.curValues) == 0:
			r.Statistic = 0
		case in.refN == 0 || len(in.curValues) == 0:
			r.Statistic = math.Inf(1)
		default:
			r.Statistic = NormedWasserstein(in.refValues, in.curValues, f.Std)
		}
	case TestChiSquare:
		r.Statistic, r.PValue = ChiSquare(in.ref, in.cur)
	case TestZ:
		r.Statistic, r.PValue = ZTest(in.ref, in.cur, zTarget(in.ref, in.cur))
	case TestJensenShannon:
		r.Statistic = JensenShannon(in.ref, in.cur)
	case TestHellinger:
		r.Statistic = Hellinger(in.ref, in.cur)
	case TestKL:
		r.Statistic = KL(in.ref, in.cur)
	case TestPSI:
		r.Statistic = r.PSI
	}
	if in.bands != nil {
		if _, hi, ok := in.bands.Limits(f, TestPSI, int(curTotal)); ok {
			r.PSIUpper = hi
		}
		n := int(curTotal)
		if test == TestKS || test == TestWasserstein {
			n = len(in.curValues)
		}
		if lo, hi, ok := in.bands.Limits(f, test, n); ok && in.threshold == 0 {
			r.Rule, r.BandLower, r.BandUpper, r.Threshold = RuleBand, lo, hi, hi
			stat := r.Statistic
			if test == TestZ {
				stat = math.Abs(stat)
			}
			r.Drifted = stat > r.Threshold // NaN never drifts, +Inf always
			return r
		}
	}
	if IsPValueTest(test) {
		r.Drifted = r.PValue < r.Threshold
	} else {
		r.Drifted = r.Statistic >= r.Threshold // NaN never drifts, +Inf always
	}
	return r
}

// datasetVerdict returns the share of drifted features and whether it
// reaches the dataset drift share (default 0.5).
func datasetVerdict(results []FeatureResult, share float64) (float64, int, bool) {
	if share <= 0 {
		share = 0.5
	}
	n := 0
	for _, r := range results {
		if r.Drifted {
			n++
		}
	}
	if len(results) == 0 {
		return 0, 0, false
	}
	s := float64(n) / float64(len(results))
	return s, n, s >= share
}

func checkTest(name string) error {
	if !ValidTest(name) {
		return fmt.Errorf("test %q: must be auto, ks, chisquare, z, wasserstein, jensenshannon, hellinger, kl or psi", name)
	}
	return nil
}

// MarshalJSON encodes the event with snake_case keys and non-finite
// numbers (PredictionPSI without a profiled prediction) as null.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"model": e.Model, "version": e.Version, "time": e.Time, "window_records": e.WindowRecords,
		"features": e.Features, "prediction_psi": jsonNum(e.PredictionPSI), "drift_share": jsonNum(e.DriftShare),
		"drifted_features": e.DriftedFeatures, "dataset_drift": e.DatasetDrift, "max_psi": jsonNum(e.MaxPSI),
		"retrain": e.Retrain, "alert": e.Alert, "status": e.Status, "ready_records": e.ReadyRecords,
		"thresholds": e.Thresholds, "multivariate": e.Multivariate, "estimated_loss": e.EstimatedLoss,
		"processes": e.Processes, "window": e.Window,
	})
}

// MarshalJSON encodes the performance with non-finite numbers as null.
func (p Performance) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"labels": p.Labels, "window": p.Window, "accuracy": jsonNum(p.Accuracy),
		"auc": jsonNum(p.AUC), "rmse": jsonNum(p.RMSE), "mae": jsonNum(p.MAE),
	})
}
