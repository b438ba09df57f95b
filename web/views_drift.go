package web

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// DriftFeatureRow is one feature's result in the latest drift check.
type DriftFeatureRow struct {
	Name, Type        string
	PSI               float64
	Level             string
	Test              string
	Statistic, PValue float64
	Drifted           bool
	MissingRate       float64
	// Threshold is the test's threshold (a p-value or a distance).
	Threshold float64
	// Why says which test made the call and, when the verdict and the PSI
	// level disagree, why.
	Why string
	// Disagrees is set when the test's verdict and the PSI level disagree.
	Disagrees bool
	// Importance is the feature's share of the model's importance and
	// Contribution its PSI × that share (drift that matters); 0 when the
	// model reports no importance.
	Importance, Contribution float64
}

// FeatureDetail is the Drift page's close look at one feature: its
// reference and current distributions and its PSI over time.
type FeatureDetail struct {
	Row DriftFeatureRow
	// Dist is nil when the current window is not known (DistNote says why).
	Dist     *GroupedBars
	DistNote string
	// History is nil when no check of the feature is kept yet.
	History *TimeChart
}

// DriftEventRow is a drift check whose verdict differed from the one before.
type DriftEventRow struct {
	Time            time.Time
	Version         string
	Verdict, Class  string
	MaxPSI          float64
	Drifted         string
	DriftedFeatures int
}

// DriftView is the view model of the Drift page.
type DriftView struct {
	// Notice explains, in plain words, why there is nothing (or not everything) to show.
	Notice string
	// Checked is set once at least one drift check has run.
	Checked                     bool
	Model, Version, Environment string
	Time                        time.Time
	WindowRecords               int
	// Processes is how many scoring processes' counts the check merged (0:
	// this process's own check) and Window the merged window's name
	// ("sliding" or a tumbling window's start).
	Processes                    int
	Window                       string
	Features                     []DriftFeatureRow
	PredictionPSI, DriftShare    float64
	MaxPSI                       float64
	DriftedFeatures              int
	DatasetDrift, Retrain, Alert bool
	RetrainThreshold             float64
	AlertThreshold               float64
	// Live performance from joined labels; NaN where not applicable.
	HasMonitor    bool
	Labels        int64
	LabelWindow   int
	Accuracy, AUC float64
	RMSE          float64
	// Estimated is the window's performance estimated without labels (CBPE)
	// from the calibrated scores; nil when the version has no calibrator.
	Estimated *EstimatedView
	// EstimatedLoss is a regression model's error on the window estimated
	// without labels (DLE); nil when the version has no loss models.
	EstimatedLoss *EstimatedLossView
	// MAE is the realised mean absolute error from joined labels (NaN
	// where not applicable).
	MAE float64
	// Multivariate is the window's PCA reconstruction error against its
	// band; nil when the version's profile has no PCA.
	Multivariate *MultivariateView
	// Feeds says what fed this version's monitor since it was loaded: the
	// Kafka scorer (records of FeaturesTopic) and HTTP scoring (rows of
	// /predict and /invocations; ServingDrift is false when
	// DRIFTD_SERVING_DRIFT keeps them out).
	Feeds DriftFeeds
	// Loop is the retrain loop's section of the page.
	Loop RetrainView
	// Rank orders the features: "impact" (PSI × importance share, the
	// default when the model reports importance) or "psi".
	Rank string
	// WeightBasis is what the importance measures ("gain", "|coefficient|");
	// "" when the model reports none. WeightedPSI is the features' PSIs
	// averaged with their importance shares as weights.
	WeightBasis string
	WeightedPSI float64
	// Bars are the features' PSIs in Rank order, coloured by level.
	Bars *HBarChart
	// Selected is the feature looked at closely (the largest PSI unless ?feature= names one).
	Selected *FeatureDetail
	// Events are the recent verdict changes, newest first; HistorySince is
	// where the kept history the charts and events come from starts.
	Events       []DriftEventRow
	HistorySince time.Time
	HistoryError string
	// LiveURL is where the live part refreshes from.
	LiveURL string
}

// DriftFeeds counts the records each source fed to the drift monitor.
type DriftFeeds struct {
	Stream, HTTP  uint64
	Since         time.Time
	FeaturesTopic string
	ServingDrift  bool
}

// RetrainView is the retrain loop as the Drift page and the Overview show
// it: its settings, a challenger waiting for approval, the recent decisions,
// and the outcome of the last approve form.
type RetrainView struct {
	// Model and Environment are the scored model and where it is scored.
	Model, Environment string
	// Mode is DRIFTD_RETRAIN (auto or off); Promotion is DRIFTD_PROMOTION
	// (auto or manual); On is DRIFTD_RETRAIN_ON (psi, estimated or either).
	Mode, Promotion, On string
	Threshold           float64
	Cooldown            time.Duration
	MinLabels           int
	// Decisions are the recent decisions, newest first.
	Decisions []RetrainRow
	// Pending is the challenger waiting for approval; nil when none waits.
	Pending *PendingApproval
	// CanApprove is set for operators and admins.
	CanApprove bool
	// CSRF is the token the approve form carries.
	CSRF string
	// Back is the page the approve form returns to: "/" or "/drift".
	Back string
	// Message and Error are the outcome of the last approve form; Reason
	// refills its reason field after an error.
	Message, Error, Reason string
	// Changed, set on the live table only, says the challenger waiting for
	// approval is no longer the one the page showed when it loaded.
	Changed string
}

// RetrainRow is one decision of the retrain loop.
type RetrainRow struct {
	At              time.Time
	Outcome, Reason string
	// MaxPSI and Features are the drift that triggered it (zero and "" on the outcome of a run).
	MaxPSI   float64
	Features string
	// RunID is the retrain flow run; Version the challenger it trained.
	RunID, Version string
	// Metric names Champion and Challenger, the held-out scores; NaN when not known.
	Metric                         string
	ChampionScore, ChallengerScore float64
}

// PendingApproval is a challenger a retrain left waiting for an operator's
// approval (DRIFTD_PROMOTION=manual).
type PendingApproval struct {
	Version string
	Created time.Time
	// Champion is the version deployed in the scoring environment now ("" when none).
	Champion string
	// Metrics are the challenger's recorded metrics (held-out and validation).
	Metrics []KV
	// Decided is when the retrain decided (zero when its decision is no
	// longer among the recent ones); Metric, the scores, Reason and RunID come from it.
	Decided                        time.Time
	Metric                         string
	ChampionScore, ChallengerScore float64
	Reason, RunID                  string
}

// DemoBanner is what every page shows while demo mode runs.
type DemoBanner struct {
	// Phase is the demo's phase: starting, training, streaming, stopped, ...
	Phase string
	// Shifted is set after a shift until a new version is deployed.
	Shifted bool
	Concept int
	Shifts  int
	// NextShiftIn is the time left until the next shift (NextShiftAt zero when none is planned).
	NextShiftAt   time.Time
	NextShiftIn   time.Duration
	Sent, Labels  int64
	Deployed      string
	LastPromotion string
	Error         string
}

// State says in a few words what the demo is doing now.
func (d DemoBanner) State() string {
	switch {
	case d.Shifted:
		return "shifted to concept " + itoa(d.Concept) + ", waiting for the retrain"
	case d.Phase == "streaming" && !d.NextShiftAt.IsZero() && d.NextShiftIn > 0:
		return "streaming concept " + itoa(d.Concept) + ", next shift in " + fmtShortDuration(d.NextShiftIn)
	case d.Phase == "streaming" && !d.NextShiftAt.IsZero():
		return "streaming concept " + itoa(d.Concept) + ", shifting now"
	case d.Phase == "streaming":
		return "streaming concept " + itoa(d.Concept)
	case d.Phase == "training":
		return "training the first model on synthetic data"
	case d.Error != "":
		return d.Phase + ": " + d.Error
	}
	return d.Phase
}

// fmtShortDuration formats a duration to whole seconds without trailing
// zero units: 1m20s, 10m, 1h.
func fmtShortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// outcomeLabel is how a retrain outcome reads in the UI.
func outcomeLabel(outcome string) string {
	switch outcome {
	case "pending_approval":
		return "pending approval"
	case "skipped_cooldown":
		return "skipped: cooldown"
	case "skipped_labels":
		return "skipped: labels"
	case "skipped_running":
		return "skipped: running"
	}
	return outcome
}

// outcomeClass picks the badge colour of a retrain outcome.
func outcomeClass(outcome string) string {
	switch outcome {
	case "promoted":
		return "ok"
	case "rejected", "failed":
		return "bad"
	case "pending_approval":
		return "warn"
	case "triggered":
		return "info"
	}
	return "skipped" // the badge's own grey
}

// scoresText shows a champion → challenger comparison, "—" when unknown.
func scoresText(metric string, champion, challenger float64) string {
	if math.IsNaN(champion) && math.IsNaN(challenger) {
		return "—"
	}
	return metric + " " + fmtNum(champion) + " → " + fmtNum(challenger)
}

// driftText shows the drift that triggered a decision, "—" when none.
func driftText(maxPSI float64, features string) string {
	if maxPSI == 0 && features == "" {
		return "—"
	}
	s := "max PSI " + fmtFixed(maxPSI, 3)
	if features != "" {
		s += " (" + strings.ReplaceAll(features, ",", ", ") + ")"
	}
	return s
}

// retrainLiveURL is where the Drift page's decisions table refreshes from;
// it names the challenger the page showed, so the table can say when that changed.
func retrainLiveURL(v RetrainView) string {
	shown := ""
	if v.Pending != nil {
		shown = v.Pending.Version
	}
	return "/drift?fragment=retrain&shown=" + url.QueryEscape(shown)
}

// countOf says how many of something there are: "1 shift", "3 shifts".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// queryEscape escapes a query parameter value.
func queryEscape(s string) string { return url.QueryEscape(s) }

// EstimatedView is a window's performance estimated without labels: each
// record counts as positive with its calibrated probability (CBPE).
type EstimatedView struct {
	// Classes are a multiclass model's classes (nil for binary): then
	// precision, recall, F1 and AUC are macro averages over them.
	Classes                     []string
	Records                     int
	Accuracy, Precision, Recall float64
	F1, AUC                     float64
	CalibrationRecords          int
	// Band is the range of the estimates without a shift at this window
	// size; nil when the profile has too few reference scores.
	Band *EstimatedBand
	// Drop is set when an estimate is below its band.
	Drop bool
	// Chart is estimated and realised accuracy over time with the band;
	// nil without kept history.
	Chart *TimeChart
}

// EstimatedLossView is a window's error estimated without labels: the
// mean of the loss models' predicted absolute and squared errors (DLE).
type EstimatedLossView struct {
	Records            int
	MAE, RMSE          float64
	CalibrationRecords int
	// ReferenceMAE and ReferenceRMSE are realised on the validation rows.
	ReferenceMAE, ReferenceRMSE float64
	// Band is the range of the estimates without a shift at this window
	// size; nil when there were too few validation rows.
	Band *EstimatedLossBand
	// Drop is set when an estimate is above its band.
	Drop bool
	// Chart is estimated and realised RMSE over the recent checks with the
	// band; nil before two checks.
	Chart *TimeChart
}

// EstimatedLossBand is drift.LossBand for the page.
type EstimatedLossBand struct {
	Records, Replicates int
	MAELo, MAEHi        float64
	RMSELo, RMSEHi      float64
}

// EstimatedBand is drift.PerformanceBand for the page.
type EstimatedBand struct {
	Records, Replicates    int
	AccuracyLo, AccuracyHi float64
	AUCLo, AUCHi           float64
	AccuracyMean, AUCMean  float64
}

// FeedsText says in one sentence what fed the drift monitor, for notices.
func FeedsText(f DriftFeeds) string {
	http := fmt.Sprintf("%d rows from HTTP scoring", f.HTTP)
	if !f.ServingDrift {
		http = "HTTP scoring not observed (DRIFTD_SERVING_DRIFT=false)"
	}
	return fmt.Sprintf("Fed to the monitor since %s: %d records from Kafka topic %s, %s.",
		fmtTime(f.Since), f.Stream, f.FeaturesTopic, http)
}

// DriftURL is the Drift page looking at feature, keeping v's ranking when
// it is not the default.
func DriftURL(v *DriftView, feature string) string {
	u := "/drift?feature=" + url.QueryEscape(feature)
	if v.Rank == "psi" && v.WeightBasis != "" {
		u += "&rank=psi"
	}
	return u
}

// MultivariateView is the Drift page's multivariate drift: the window's
// mean PCA reconstruction error, the reference's, and the band the error
// keeps without drift at this window size (NaN edges when unknown).
type MultivariateView struct {
	Error, RefError, Lo, Hi float64
	Drifted                 bool
	Components, Dimensions  int
	Records                 int
	// Chart is the error over the kept checks with its band; nil without
	// kept history.
	Chart *TimeChart
}

// HasBand reports whether the error's band is known.
func (m *MultivariateView) HasBand() bool { return !math.IsNaN(m.Lo) && !math.IsNaN(m.Hi) }

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
