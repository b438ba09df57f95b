// Package drift computes reference profiles, population stability index
// (PSI) and companion statistical tests, streaming windows and rolling
// model performance. It is a pure library: no network, no storage, no
// package-level state.
//
// # Conventions
//
// PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over bins, where eᵢ and aᵢ are the
// reference and current shares of bin i (count / all rows, missing
// included). A share of exactly 0 (an empty bin) becomes 0.0001; non-empty
// shares are used as they are and nothing is renormalised.
//
// Numeric bins, binning "quantile" (default): inner edges at the reference
// quantiles 1/B … (B−1)/B of the non-missing values, computed with linear
// interpolation between order statistics exactly as numpy.quantile's
// default method; outer edges −∞ and +∞ so no current value is ever
// dropped; intervals are closed on the right ((e₋, e₊]: a value equal to an
// edge belongs to the bin below it); duplicate edges are dropped, so a
// feature with few distinct values gets fewer bins. B = 10 by default.
// Binning "uniform": B−1 equal-width inner edges over the reference's
// [min, max] (numpy.linspace), outer edges infinite. Missing values (NaN)
// are a bin of their own (bin 0) on both sides.
//
// Categorical bins: each reference category is a bin, ranked by reference
// frequency (ties by name) and capped at MaxCategories (default 100); the
// remaining reference categories share a bin "other". Categories seen only
// in the current data are bins of their own (reference share 0 → 0.0001),
// up to MaxCategories of them; beyond that, or when the reference itself
// had an "other" bin (a current category may then be a rare reference one),
// they fall into "other". Missing ("" or code −1) is a bin.
//
// Levels: PSI < 0.1 stable, 0.1 ≤ PSI < 0.25 moderate, PSI ≥ 0.25 major.
// The monitor's retrain threshold (default 0.15: Event.Retrain when the
// largest feature PSI exceeds it) and alert threshold (default 0.25:
// Event.Alert) are separate settings.
//
// # Companion tests
//
// Chosen per feature like Evidently (on non-missing values; "values" means
// distinct non-missing values of reference and current together): with at
// most 1,000 reference values, "ks" for numeric features with more than 5
// values, "chisquare" for features with more than 2 values, "z" otherwise;
// with more reference values, "wasserstein" for numeric features with more
// than 5 values and "jensenshannon" otherwise. A monitor chooses once, from
// the reference alone. Each can be forced:
//
//   - ks: two-sample Kolmogorov–Smirnov; statistic D; p-value as
//     scipy.stats.ks_2samp(method="auto"): exact when both samples have at
//     most 10,000 values, else kstwo.sf(D, round(n·m/(n+m))). Drift when
//     p < 0.05.
//   - chisquare: test of homogeneity of the 2×k table of reference and
//     current bin counts (scipy.stats.chi2_contingency, correction=False;
//     bins empty on both sides dropped). Unlike Evidently (whose goodness of
//     fit passes observed and expected swapped and breaks on unseen
//     categories) it is symmetric and finite. Drift when p < 0.05.
//   - z: two-proportion z-test with pooled variance on the share of the
//     reference's most frequent non-missing bin (all rows counted). Drift
//     when p < 0.05.
//   - wasserstein: Wasserstein-1 distance divided by the reference's
//     population standard deviation, floored at 0.001. Drift when ≥ 0.1.
//   - jensenshannon: Jensen–Shannon distance (square root of the
//     divergence, natural log; scipy.spatial.distance.jensenshannon) of the
//     bin shares. Drift when ≥ 0.1.
//   - hellinger: √(1 − Σ√(pᵢqᵢ)) of the bin shares. Drift when ≥ 0.1.
//   - kl: KL(reference ‖ current) of the bin shares with empty bins floored
//     at 0.0001 and renormalised (scipy.stats.entropy). Drift when ≥ 0.1.
//   - psi: the PSI itself. Drift when ≥ 0.1.
//
// Bin-based tests (chisquare, z, jensenshannon, hellinger, kl, psi) use the
// PSI bins, the missing bin included, so a change of missing rate is drift;
// ks and wasserstein use the non-missing values. When one side has no
// values, auto never picks ks/wasserstein; forced, ks gives D = 1, p = 0
// and wasserstein +Inf (null in JSON), both drifted; with no values on
// either side D = 0, p = 1. An all-missing column on both sides has PSI 0
// and is not drifted.
//
// The data set drifts when the share of drifted features reaches
// DriftShare (default 0.5).
//
// # Streaming approximation
//
// The batch Compare uses the full data exactly. A Profile keeps, per
// numeric feature, a summary of at most SummarySize (default 1000) sorted
// values: all non-missing values when there are that few (streaming KS and
// Wasserstein are then exact), else the reference quantiles at
// (i+0.5)/SummarySize. Feature.KSError and Feature.W1Error are the KS
// statistic and W1 distance between the reference and its summary, computed
// at build time: by the triangle inequality the streaming D and W1 differ
// from the exact ones by at most these amounts (W1Error divided by the
// normalising standard deviation for the normed statistic). KS p-values use
// the true reference count.
//
// # Windows
//
// A Window keeps the last WindowSize records as a ring of bin indices
// (uint16 per feature) plus per-bin counts: Add is O(features) and does not
// allocate. Numeric features whose test is ks or wasserstein also keep
// their raw values in a ring, and a sorted copy brought up to date at each
// check by merging (the values added since the previous check sorted in,
// the evicted ones removed): O(window) per feature instead of a sort.
// Counts snapshots merge across processes.
// With Tumbling > 0 a Monitor instead counts every record of a time period
// and checks when the period closes (on Observe or Tick), keeping raw
// values for the first WindowSize records only. Periods start on multiples
// of their length (now.Truncate(Tumbling)), so that processes name the
// same interval alike.
//
// # Merged across processes
//
// A contributor Monitor (MonitorOptions.Contribute) evaluates nothing: at
// each check it hands its window's counts (WindowCounts, named "sliding"
// or by the tumbling period's start) to Contribute on its checker
// goroutine. Whoever merges the processes' counts of one window
// (Counts.Merge) evaluates them with Monitor.CheckMerged: the binned tests
// of Profile.CheckCounts under the monitor's thresholds, verdicts, metrics
// and subscribers. CBPE, PCA and DLE travel as sums that add across
// processes (Counts.Stats, WindowStats), from which CheckMerged estimates
// the merged window: exactly where the estimate is a mean or follows from
// the expected confusion matrix, the AUC from histograms of calibrated
// probabilities.
package drift
