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
	Model           string                `json:"model"`
	Version         string                `json:"version"`
	Environment     string                `json:"environment"`
	Checked         bool                  `json:"checked"`
	Time            *time.Time            `json:"time"`
	WindowRecords   int                   `json:"window_records"`
	PredictionPSI   *float64              `json:"prediction_psi"`
	MaxPSI          *float64              `json:"max_psi"`
	DriftShare      *float64              `json:"drift_share"`
	DriftedFeatures int                   `json:"drifted_features"`
	DatasetDrift    bool                  `json:"dataset_drift"`
	Retrain         bool                  `json:"retrain"`
	Alert           bool                  `json:"alert"`
	Features        []drift.FeatureResult `json:"features"`
	Performance     performanceJSON       `json:"performance"`
}

type performanceJSON struct {
	Labels   int64    `json:"labels"`
	Window   int      `json:"window"`
	Accuracy *float64 `json:"accuracy"`
	AUC      *float64 `json:"auc"`
	RMSE     *float64 `json:"rmse"`
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
		Checked: !ev.Time.IsZero(), WindowRecords: ev.WindowRecords, DriftedFeatures: ev.DriftedFeatures,
		DatasetDrift: ev.DatasetDrift, Retrain: ev.Retrain, Alert: ev.Alert, Features: ev.Features,
		Performance: performanceJSON{Labels: v.Performance.Labels, Window: v.Performance.Window,
			Accuracy: finite(v.Performance.Accuracy), AUC: finite(v.Performance.AUC), RMSE: finite(v.Performance.RMSE)},
	}
	if out.Checked {
		t := ev.Time
		out.Time = &t
		out.PredictionPSI, out.MaxPSI, out.DriftShare = finite(ev.PredictionPSI), finite(ev.MaxPSI), finite(ev.DriftShare)
	}
	if out.Features == nil {
		out.Features = []drift.FeatureResult{}
	}
	return out
}
