package web

import (
	"net/url"
	"strconv"
	"time"
)

// Component is the live status of one server component, as the Overview shows it.
type Component struct {
	Name     string
	State    string
	Detail   string
	Required bool
	Since    time.Time
}

// Overview is the view model of the Overview page.
type Overview struct {
	Version    string
	GoVersion  string
	Started    time.Time
	Uptime     time.Duration
	DataDir    string
	Addr       string
	Components []Component
	Ready      bool
	// Retrain is the retrain loop's card: its last decisions and a challenger waiting for approval.
	Retrain RetrainView
	// Demo is the demo's status while demo mode runs; nil otherwise.
	Demo *DemoBanner
	// Live is the part of the page that refreshes itself.
	Live OverviewLive
}

// OverviewLive is what the Overview refreshes every 2 seconds: the start-here
// path, firing conditions, each model's versions, the scored model's
// throughput, lag, drift and accuracy, the last flow runs and drift events.
type OverviewLive struct {
	// Start is the start-here path; nil once every step is done.
	Start *StartHere
	// Conditions are the firing conditions, worst first; none means all clear.
	Conditions []Condition
	// Models are the registered models with the version in each environment.
	Models []ModelEnvs
	// Scored is the model the scorer scores, with its live figures.
	Scored ScoredModel
	// Runs are the last flow runs, newest first; RunsNote says why there are none.
	Runs     []FlowRunRow
	RunsNote string
	// Events are the last drift verdict changes, newest first.
	Events []DriftEventRow
	// EventsError is why the drift history could not be read.
	EventsError string
}

// StartHere is the first-start path of an install with nothing scored yet.
type StartHere struct {
	// Model and Environment are the scored model and its environment.
	Model, Environment string
	// Trained says a version of the scored model is registered.
	Trained bool
	// TrainRun and TrainState are the last train run, when there is one
	// (it may be running or have failed).
	TrainRun, TrainState, TrainError string
	// Deployed says a version is deployed to the scoring environment.
	Deployed bool
	// Streaming says the scorer has consumed records since the server started.
	Streaming bool
	// CanTrain shows the one-click sample training button (operators).
	CanTrain bool
	// CSRF is the form token of the button.
	CSRF string
	// SamplePath is where the sample CSV is written.
	SamplePath string
}

// Condition is one firing condition on the Overview.
type Condition struct {
	// Severity is "bad" or "warn" (the badge colours).
	Severity string
	// Key names the condition for tests: drift-alert, scorer, lag-rising, flow-failed.
	Key  string
	Text string
	// Link is where to look; "" for none.
	Link string
}

// ModelEnvs is one registered model and the version deployed in each environment.
type ModelEnvs struct {
	Name   string
	Latest string
	// Versions is the environment → version pairs, sorted by environment.
	Versions []KV
	// Scored marks the model the scorer scores.
	Scored bool
}

// ScoredModel is the live state of the scored model in its environment.
type ScoredModel struct {
	Model, Version, Environment string
	// Notice says why there are no live figures (no pipeline, nothing deployed).
	Notice string
	// ScorerState and ScorerReason are the scorer's state.
	ScorerState, ScorerReason string
	// Consumed is the scorer's input counter since the server started.
	Consumed uint64
	// Rate is records/s between the last two samples; RateKnown is false
	// until there are two ("measuring").
	Rate      float64
	RateKnown bool
	// RateSpan is the time between the two samples of Rate.
	RateSpan time.Duration
	// Lag is the scorer group's lag on the features topic; LagNote says why
	// it is not known. LagTrend is rising, falling, steady or "" (one sample).
	Lag      int64
	LagKnown bool
	LagNote  string
	LagTrend string
	// Checked says a drift check has run; Verdict and VerdictClass are its
	// verdict and badge colour, DriftStatus the monitor's warm-up status.
	Checked               bool
	Verdict, VerdictClass string
	DriftStatus           string
	MaxPSI                float64
	CheckedAt             time.Time
	// Worst are the features with the largest PSI, at most three.
	Worst []WorstFeature
	// Accuracy is the realised accuracy on joined labels (NaN before any);
	// Labels is how many labels were joined.
	Accuracy float64
	Labels   int64
	// Estimated is the accuracy estimated without labels (CBPE); nil when
	// the model has no calibrator.
	Estimated *float64
	// Monitored says the drift monitor runs for the deployed version.
	Monitored bool
}

// WorstFeature is one of the most drifted features of the scored model.
type WorstFeature struct {
	Name  string
	PSI   float64
	Level string
}

// fmtRecRate formats a records/s rate.
func fmtRecRate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'f', 1, 64)
}

// doneLabel says whether a start-here step is done.
func doneLabel(done bool) string {
	if done {
		return "done"
	}
	return "to do"
}

// stepClass marks a done start-here step.
func stepClass(done bool) string {
	if done {
		return "step done"
	}
	return "step"
}

// stepBadge picks the badge colour of a start-here step.
func stepBadge(done bool) string {
	if done {
		return "ok"
	}
	return ""
}

// severityLabel names a condition's severity.
func severityLabel(sev string) string {
	if sev == "bad" {
		return "critical"
	}
	return "warning"
}

// lagClass colours a lag trend: rising is a warning.
func lagClass(trend string) string {
	if trend == "rising" {
		return "warn-text"
	}
	return ""
}

// urlQuery escapes a query parameter value.
func urlQuery(s string) string { return url.QueryEscape(s) }
