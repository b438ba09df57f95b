package server

import (
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/drift"
)

// driftJSON is the body of GET /api/v1/drift. Values that do not apply are
// null, never NaN.
type driftJSON struct {
	Model         string     `json:"model"`
	Version       string     `json:"version"`
	Environment   string     `json:"environment"`
	Checked       bool       `json:"checked"`
	Time          *time.Time `json:"time"`
	WindowRecords int        `json:"window_records"`
	// Processes is how many scoring processes' counts a cluster's primary
	// merged into this check, and Window which window ("sliding" or a
	// tumbling window's start); absent for a process's own check.
	Processes       int                   `json:"processes,omitempty"`
	Window          string                `json:"window,omitempty"`
	PredictionPSI   *float64              `json:"prediction_psi"`
	MaxPSI          *float64              `json:"max_psi"`
	DriftShare      *float64              `json:"drift_share"`
	DriftedFeatures int                   `json:"drifted_features"`
	DatasetDrift    bool                  `json:"dataset_drift"`
	Retrain         bool                  `json:"retrain"`
	Alert           bool                  `json:"alert"`
	Features        []drift.FeatureResult `json:"features"`
	Performance     performanceJSON       `json:"performance"`
	// Status is "ok", or "warming up: n of m records" before the first
	// check (the window is still too small to tell drift from noise).
	Status string `json:"status"`
	// ReadyRecords is m, the window size of the first check.
	ReadyRecords int `json:"ready_records"`
	// Thresholds is the rule of the verdicts: "band" (learned from
	// reference chunks of the window's size) or "fixed".
	Thresholds string `json:"thresholds"`
	// Estimated is the performance of the last checked window estimated
	// without labels (CBPE); null when the model has no score calibrator.
	Estimated *estimatedJSON `json:"estimated"`
	// EstimatedLoss is a regression model's error on the last checked
	// window estimated without labels (DLE); null without loss models.
	EstimatedLoss *drift.EstimatedLoss `json:"estimated_loss"`
}

// estimatedJSON is a window's performance estimated from calibrated scores.
type estimatedJSON struct {
	Records            int      `json:"records"`
	Accuracy           *float64 `json:"accuracy"`
	Precision          *float64 `json:"precision"`
	Recall             *float64 `json:"recall"`
	F1                 *float64 `json:"f1"`
	AUC                *float64 `json:"auc"`
	TP                 float64  `json:"tp"`
	FP                 float64  `json:"fp"`
	FN                 float64  `json:"fn"`
	TN                 float64  `json:"tn"`
	DecisionThreshold  *float64 `json:"decision_threshold"` // null for multiclass
	CalibrationRecords int      `json:"calibration_records"`
	// Classes and Confusion are a multiclass model's classes and expected
	// confusion matrix (rows: true class, columns: predicted class); then
	// precision, recall, F1 and AUC are macro averages and tp…tn are 0.
	Classes   []string    `json:"classes,omitempty"`
	Confusion [][]float64 `json:"confusion,omitempty"`
}

type performanceJSON struct {
	Labels   int64    `json:"labels"`
	Window   int      `json:"window"`
	Accuracy *float64 `json:"accuracy"`
	AUC      *float64 `json:"auc"`
	RMSE     *float64 `json:"rmse"`
	MAE      *float64 `json:"mae"`
}

// finite returns nil for NaN and infinities, so JSON gets null.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// apiDrift returns the latest drift check of the deployed model.
func (a *App) apiDrift(c echo.Context) error {
	v, ok := a.pipeline.Drift()
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no deployed model with a drift profile: deploy a version of "+a.cfg.ModelName+" to "+a.cfg.ScoringEnvironment)
	}
	return c.JSON(http.StatusOK, toDriftJSON(v))
}

// toDriftJSON converts a drift view to its JSON form (API and drift-events topic).
func toDriftJSON(v DriftView) driftJSON {
	ev := v.Event
	out := driftJSON{
		Model: v.Model, Version: v.Version, Environment: v.Environment,
		Checked: !ev.Time.IsZero(), WindowRecords: ev.WindowRecords, Processes: ev.Processes, Window: ev.Window, DriftedFeatures: ev.DriftedFeatures,
		DatasetDrift: ev.DatasetDrift, Retrain: ev.Retrain, Alert: ev.Alert, Features: ev.Features,
		Status: ev.Status, ReadyRecords: ev.ReadyRecords, Thresholds: ev.Thresholds,
		Performance: performanceJSON{Labels: v.Performance.Labels, Window: v.Performance.Window,
			Accuracy: finite(v.Performance.Accuracy), AUC: finite(v.Performance.AUC), RMSE: finite(v.Performance.RMSE),
			MAE: finite(v.Performance.MAE)},
	}
	if out.Checked {
		t := ev.Time
		out.Time = &t
		out.PredictionPSI, out.MaxPSI, out.DriftShare = finite(ev.PredictionPSI), finite(ev.MaxPSI), finite(ev.DriftShare)
		if e := ev.Estimated; e != nil {
			out.Estimated = &estimatedJSON{Records: e.Records, Accuracy: finite(e.Accuracy), Precision: finite(e.Precision),
				Recall: finite(e.Recall), F1: finite(e.F1), AUC: finite(e.AUC), TP: e.TP, FP: e.FP, FN: e.FN, TN: e.TN,
				DecisionThreshold: finite(e.DecisionThreshold), CalibrationRecords: e.CalibrationRecords, Classes: e.Classes}
			if k := len(e.Classes); k > 0 && len(e.Confusion) == k*k {
				for r := range k {
					out.Estimated.Confusion = append(out.Estimated.Confusion, e.Confusion[r*k:r*k+k])
				}
			}
		}
		out.EstimatedLoss = ev.EstimatedLoss
	}
	if out.Features == nil {
		out.Features = []drift.FeatureResult{}
	}
	return out
}
