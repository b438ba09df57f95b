package web

import "time"

// DriftFeatureRow is one feature's result in the latest drift check.
type DriftFeatureRow struct {
	Name, Type        string
	PSI               float64
	Level             string
	Test              string
	Statistic, PValue float64
	Drifted           bool
	MissingRate       float64
}

// DriftView is the view model of the Drift page.
type DriftView struct {
	// Notice explains, in plain words, why there is nothing (or not everything) to show.
	Notice string
	// Checked is set once at least one drift check has run.
	Checked                      bool
	Model, Version, Environment  string
	Time                         time.Time
	WindowRecords                int
	Features                     []DriftFeatureRow
	PredictionPSI, DriftShare    float64
	MaxPSI                       float64
	DriftedFeatures              int
	DatasetDrift, Retrain, Alert bool
	RetrainThreshold             float64
	AlertThreshold               float64
	// Live performance from joined labels; NaN where not applicable.
	HasMonitor     bool
	Labels         int64
	LabelWindow    int
	Accuracy, AUC  float64
	RMSE           float64
	ScorerConsumed uint64
}
