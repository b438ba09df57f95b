package server

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"

	"github.com/labstack/echo/v4"

	"driftd/drift"
	"driftd/registry"
	"driftd/web"
)

// driftDecisions is how many retrain decisions the Drift page lists.
const driftDecisions = 20

// uiDrift shows the latest drift check of the deployed model, its live
// performance and the retrain loop's decisions. With ?fragment=1 it answers
// only the live drift part, with ?fragment=retrain only the decisions table;
// web/static/app.js fetches both every 2 seconds. The flash message of an
// approval arrives in ?msg=.
func (a *App) uiDrift(c echo.Context) error {
	switch c.QueryParam("fragment") {
	case "1":
		v, err := a.driftView(c)
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.DriftFragment(v))
	case "retrain":
		rv, err := a.retrainView(c, driftDecisions, "/drift", retrainForm{})
		if err != nil {
			return err
		}
		shown, now := c.QueryParam("shown"), ""
		if rv.Pending != nil {
			now = rv.Pending.Version
		}
		switch {
		case now == shown:
		case now == "":
			rv.Changed = "Challenger " + shown + " no longer waits for approval."
		default:
			rv.Changed = "Challenger " + now + " now waits for approval."
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.RetrainDecisions(rv))
	}
	return a.renderDrift(c, http.StatusOK, retrainForm{Message: c.QueryParam("msg")})
}

// renderDrift renders the Drift page with the outcome of an approve form
// and a chosen status.
func (a *App) renderDrift(c echo.Context, status int, form retrainForm) error {
	v, err := a.driftView(c)
	if err != nil {
		return err
	}
	if v.Loop, err = a.retrainView(c, driftDecisions, "/drift", form); err != nil {
		return err
	}
	return renderStatus(c, status, a.page(c, "drift", "Drift"), web.DriftBody(v))
}

// driftView builds the Drift page from the pipeline's monitor, saying plainly
// why nothing is shown when nothing is deployed or no check has run yet.
func (a *App) driftView(c echo.Context) (web.DriftView, error) {
	v := web.DriftView{Model: a.cfg.ModelName, Environment: a.cfg.ScoringEnvironment,
		RetrainThreshold: a.cfg.RetrainThreshold, AlertThreshold: a.cfg.AlertThreshold,
		Accuracy: math.NaN(), AUC: math.NaN(), RMSE: math.NaN(), MAE: math.NaN()}
	if a.pipeline == nil {
		v.Notice = "The scoring pipeline is not running, so there is no live drift to show."
		return v, nil
	}
	dv, ok := a.pipeline.Drift()
	if !ok {
		ver, err := a.store.Deployed(c.Request().Context(), a.cfg.ModelName, a.cfg.ScoringEnvironment)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			v.Notice = fmt.Sprintf("No version of model %q is deployed to %s, so nothing is scored and there is no drift to show. "+
				"Deploy one on the Models page (or POST /api/v1/models/%s/deploy); the model is set with DRIFTD_MODEL, the environment with DRIFTD_SCORING_ENVIRONMENT.",
				a.cfg.ModelName, a.cfg.ScoringEnvironment, a.cfg.ModelName)
		case err != nil:
			return v, err
		default:
			v.Version = ver.Version
			v.Notice = fmt.Sprintf("Version %s of %q is deployed to %s but drift monitoring is off for it: the version has no drift reference profile "+
				"(train it with driftd train, which attaches one) or its model could not be loaded (see the scorer on the Overview page).",
				ver.Version, a.cfg.ModelName, a.cfg.ScoringEnvironment)
		}
		return v, nil
	}
	v.Model, v.Version, v.Environment = dv.Model, dv.Version, dv.Environment
	v.HasMonitor = true
	v.Feeds = web.DriftFeeds{Stream: dv.FedByStream, HTTP: dv.FedByHTTP, Since: dv.Since,
		FeaturesTopic: a.pipeline.Topics().Features, ServingDrift: a.cfg.ServingDrift}
	perf := dv.Performance
	v.Labels, v.LabelWindow, v.Accuracy, v.AUC, v.RMSE, v.MAE = perf.Labels, perf.Window, perf.Accuracy, perf.AUC, perf.RMSE, perf.MAE
	ev := dv.Event
	if ev.Time.IsZero() {
		st := a.pipeline.ScorerStatus()
		first := max(a.cfg.DriftMinWindow, ev.ReadyRecords)
		why := "DRIFTD_DRIFT_MIN_WINDOW"
		if ev.ReadyRecords > a.cfg.DriftMinWindow {
			why = "the smallest window whose noise, measured on reference chunks of that size, stays below the drift thresholds"
		}
		v.Notice = fmt.Sprintf("No drift check has run yet for %s %s (%s): the first check runs once the window holds %d records (%s), "+
			"then every %d records (DRIFT_CHECK_INTERVAL). Records consumed by the scorer so far: %d. %s",
			dv.Model, dv.Version, cmp.Or(ev.Status, "waiting"), first, why, a.cfg.DriftCheckInterval, st.Consumed, web.FeedsText(v.Feeds))
		return v, nil
	}
	v.Checked = true
	if e := ev.Estimated; e != nil {
		v.Estimated = &web.EstimatedView{Records: e.Records, Accuracy: e.Accuracy, Precision: e.Precision, Recall: e.Recall,
			F1: e.F1, AUC: e.AUC, CalibrationRecords: e.CalibrationRecords, Drop: e.Drop, Classes: e.Classes}
		if b := e.Band; b != nil {
			v.Estimated.Band = &web.EstimatedBand{Records: b.Records, Replicates: b.Replicates,
				AccuracyLo: b.Accuracy.Lo, AccuracyHi: b.Accuracy.Hi, AccuracyMean: b.Accuracy.Mean,
				AUCLo: b.AUC.Lo, AUCHi: b.AUC.Hi, AUCMean: b.AUC.Mean}
		}
	}
	if l := ev.EstimatedLoss; l != nil {
		v.EstimatedLoss = &web.EstimatedLossView{Records: l.Records, MAE: l.MAE, RMSE: l.RMSE, CalibrationRecords: l.CalibrationRecords,
			ReferenceMAE: l.ReferenceMAE, ReferenceRMSE: l.ReferenceRMSE, Drop: l.Drop}
		if b := l.Band; b != nil {
			v.EstimatedLoss.Band = &web.EstimatedLossBand{Records: b.Records, Replicates: b.Replicates,
				MAELo: b.MAE.Lo, MAEHi: b.MAE.Hi, RMSELo: b.RMSE.Lo, RMSEHi: b.RMSE.Hi}
		}
	}
	if mv := ev.Multivariate; mv != nil {
		v.Multivariate = &web.MultivariateView{Error: mv.Error, RefError: mv.RefError, Lo: mv.Lo, Hi: mv.Hi, Drifted: mv.Drifted,
			Components: mv.Components, Dimensions: mv.Dimensions, Records: mv.Records}
	}
	v.Time, v.WindowRecords, v.Processes, v.Window = ev.Time, ev.WindowRecords, ev.Processes, ev.Window
	v.PredictionPSI, v.DriftShare, v.MaxPSI, v.DriftedFeatures = ev.PredictionPSI, ev.DriftShare, ev.MaxPSI, ev.DriftedFeatures
	v.DatasetDrift, v.Retrain, v.Alert = ev.DatasetDrift, ev.Retrain, ev.Alert
	// Rank by drift that matters (PSI × importance share) when the model
	// reports importance, else (or with ?rank=psi) by PSI; by name among
	// equals; on a copy: the event is shared.
	w := dv.Weights
	v.Rank = "psi"
	if w != nil {
		v.WeightBasis, v.WeightedPSI = dv.WeightBasis, weightedPSI(ev.Features, w)
		if c.QueryParam("rank") != "psi" {
			v.Rank = "impact"
		}
	}
	key := func(f drift.FeatureResult) float64 {
		if v.Rank == "impact" {
			return w[f.Name] * f.PSI
		}
		return f.PSI
	}
	ev.Features = slices.Clone(ev.Features)
	sort.SliceStable(ev.Features, func(i, j int) bool {
		fi, fj := ev.Features[i], ev.Features[j]
		if ki, kj := key(fi), key(fj); ki != kj {
			return ki > kj
		}
		if fi.PSI != fj.PSI {
			return fi.PSI > fj.PSI
		}
		return fi.Name < fj.Name
	})
	for _, f := range ev.Features {
		typ := "numeric"
		if f.Categorical {
			typ = "categorical"
		}
		why, disagrees := verdictWhy(f)
		v.Features = append(v.Features, web.DriftFeatureRow{Name: f.Name, Type: typ, PSI: f.PSI, Level: f.Level, Test: f.Test,
			Statistic: f.Statistic, PValue: f.PValue, Drifted: f.Drifted, MissingRate: f.MissingRate, Threshold: f.Threshold,
			Why: why, Disagrees: disagrees, Importance: w[f.Name], Contribution: w[f.Name] * f.PSI})
	}
	a.driftCharts(c.Request().Context(), &v, ev, c.QueryParam("feature"))
	return v, nil
}
