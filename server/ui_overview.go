package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/scheduler"
	"driftd/server/flows"
	"driftd/web"
)

const (
	// overviewDecisions is how many retrain decisions the Overview lists.
	overviewDecisions = 5
	// overviewRuns and overviewEvents are how many flow runs and drift
	// events the Overview lists.
	overviewRuns   = 5
	overviewEvents = 5
	// overviewWorst is how many of the most drifted features it names.
	overviewWorst = 3
	// overviewLagTimeout bounds the Kafka call that reads the consumer lag.
	overviewLagTimeout = 2 * time.Second
)

// uiOverview shows what runs and whether it is healthy, then build info,
// the retrain loop and each component. With ?fragment=live it answers only
// the live part, which web/static/app.js fetches every 2 seconds. The flash
// message of an approval or a sample training arrives in ?msg=.
func (a *App) uiOverview(c echo.Context) error {
	if c.QueryParam("fragment") == "live" {
		live, err := a.overviewLive(c)
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.OverviewLiveBody(live))
	}
	return a.renderOverview(c, http.StatusOK, retrainForm{Message: c.QueryParam("msg")})
}

// renderOverview renders the Overview with the outcome of an approve form
// and a chosen status.
func (a *App) renderOverview(c echo.Context, status int, form retrainForm) error {
	o := web.Overview{
		Version: a.build.Version, GoVersion: a.build.GoVersion,
		Started: a.started, Uptime: a.now().Sub(a.started),
		DataDir: a.cfg.DataDir, Addr: a.Addr(),
		Ready: len(a.status.notReady()) == 0,
	}
	for _, s := range a.status.list() {
		o.Components = append(o.Components, web.Component{Name: s.Name, State: string(s.State), Detail: s.Detail, Required: s.Required, Since: s.Since})
	}
	var err error
	if o.Retrain, err = a.retrainView(c, overviewDecisions, "/", form); err != nil {
		return err
	}
	if o.Live, err = a.overviewLive(c); err != nil {
		return err
	}
	p := a.page(c, "overview", "Overview")
	o.Demo = p.Demo
	return renderStatus(c, status, p, web.OverviewBody(o))
}

// overviewLive builds the self-refreshing part of the Overview: models and
// their versions, the scored model's live figures, the last runs and drift
// events, the firing conditions and, until something is scored, the
// start-here path.
func (a *App) overviewLive(c echo.Context) (web.OverviewLive, error) {
	ctx := c.Request().Context()
	var v web.OverviewLive
	models, err := a.store.ListModels(ctx)
	if err != nil {
		return v, fmt.Errorf("overview: list models: %w", err)
	}
	sort.Slice(models, func(i, j int) bool { return models[i].Name < models[j].Name })
	trained := false
	for _, m := range models {
		me := web.ModelEnvs{Name: m.Name, Latest: m.LatestVersion, Scored: m.Name == a.cfg.ModelName}
		for _, env := range slices.Sorted(maps.Keys(m.Environments)) {
			me.Versions = append(me.Versions, web.KV{Key: env, Value: m.Environments[env]})
		}
		if me.Scored && m.VersionCount > 0 {
			trained = true
		}
		v.Models = append(v.Models, me)
	}
	v.Scored = a.overviewScored(ctx)
	var lastRun *scheduler.Run
	if a.engine == nil {
		v.RunsNote = "The run engine is not running."
	} else {
		runs, err := a.engine.List(ctx, scheduler.RunFilter{Limit: overviewRuns})
		if err != nil {
			return v, fmt.Errorf("overview: list flow runs: %w", err)
		}
		now := a.now()
		for _, r := range runs {
			v.Runs = append(v.Runs, flowRunRow(r, now))
		}
		if len(runs) > 0 {
			lastRun = &runs[0]
		}
		v.RunsNote = "No flow has run yet."
	}
	pts, err := a.store.DriftHistory(ctx, registry.DriftHistoryQuery{Model: a.cfg.ModelName, Since: a.now().Add(-driftHistoryWindow), MaxPoints: 1000, Verdicts: true})
	if err != nil {
		v.EventsError = "The drift history could not be read: " + err.Error()
	} else {
		v.Events = driftEvents(pts, overviewEvents)
	}
	v.Conditions = a.overviewConditions(v.Scored, lastRun)
	deployed := v.Scored.Version != ""
	streaming := v.Scored.Consumed > 0
	if !(trained && deployed && streaming) {
		csrf, _ := c.Get("csrf").(string)
		v.Start = &web.StartHere{Model: a.cfg.ModelName, Environment: a.cfg.ScoringEnvironment,
			Trained: trained, Deployed: deployed, Streaming: streaming,
			CanTrain: canOperate(c) && a.engine != nil, CSRF: csrf, SamplePath: a.samplePath()}
		if !trained && a.engine != nil {
			runs, err := a.engine.List(ctx, scheduler.RunFilter{Flow: flows.FlowTrain, Limit: 1})
			if err != nil {
				return v, fmt.Errorf("overview: list train runs: %w", err)
			}
			if len(runs) > 0 {
				v.Start.TrainRun, v.Start.TrainState, v.Start.TrainError = runs[0].ID, runs[0].State, firstLine(runs[0].Error)
			}
		}
	}
	return v, nil
}

// overviewScored reads the scored model's live figures: its deployed
// version, the scorer's state, records/s between two samples, the consumer
// lag and its trend, the drift verdict with the worst features, and the
// realised and estimated accuracy.
func (a *App) overviewScored(ctx context.Context) web.ScoredModel {
	m := web.ScoredModel{Model: a.cfg.ModelName, Environment: a.cfg.ScoringEnvironment, Accuracy: math.NaN()}
	ver, err := a.store.Deployed(ctx, a.cfg.ModelName, a.cfg.ScoringEnvironment)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		m.Notice = fmt.Sprintf("No version of %s is deployed to %s, so nothing is scored.", a.cfg.ModelName, a.cfg.ScoringEnvironment)
	case err != nil:
		m.Notice = "The deployed version could not be read: " + err.Error()
	default:
		m.Version = ver.Version
	}
	if a.pipeline == nil {
		m.Notice = "The scoring pipeline is not running."
		return m
	}
	st := a.pipeline.ScorerStatus()
	m.ScorerState, m.ScorerReason, m.Consumed = st.State, st.Reason, st.Consumed
	cur := overviewSample{at: a.now(), consumed: st.Consumed}
	m.Lag, m.LagKnown, m.LagNote = a.scorerLag(ctx)
	cur.lag, cur.lagKnown = m.Lag, m.LagKnown
	f := a.overviewSamplerOf().observe(cur)
	m.Rate, m.RateKnown, m.RateSpan, m.LagTrend = f.rate, f.rateKnown, f.span, f.lagTrend

	dv, ok := a.pipeline.Drift()
	if !ok {
		return m
	}
	m.Monitored = true
	if dv.Version != "" {
		m.Version = dv.Version
	}
	perf := dv.Performance
	m.Labels = perf.Labels
	if perf.Labels > 0 {
		m.Accuracy = perf.Accuracy
	}
	ev := dv.Event
	m.DriftStatus = ev.Status
	if e := ev.Estimated; e != nil {
		acc := e.Accuracy
		m.Estimated = &acc
	}
	if ev.Time.IsZero() {
		return m
	}
	m.Checked, m.MaxPSI, m.CheckedAt = true, ev.MaxPSI, ev.Time
	m.Verdict, m.VerdictClass = driftVerdict(ev.Alert, ev.DatasetDrift, ev.Retrain, ev.DriftedFeatures)
	feats := slices.Clone(ev.Features)
	sort.SliceStable(feats, func(i, j int) bool {
		if feats[i].PSI != feats[j].PSI {
			return feats[i].PSI > feats[j].PSI
		}
		return feats[i].Name < feats[j].Name
	})
	for _, f := range feats[:min(len(feats), overviewWorst)] {
		m.Worst = append(m.Worst, web.WorstFeature{Name: f.Name, PSI: f.PSI, Level: f.Level})
	}
	return m
}

// driftVerdict names a drift check's verdict and its badge colour, as the
// drift events do.
func driftVerdict(alert, dataset, retrain bool, drifted int) (string, string) {
	switch {
	case alert:
		return "alert", "bad"
	case dataset:
		return "dataset drift", "bad"
	case retrain:
		return "retrain suggested", "warn"
	case drifted > 0:
		return "some features drifted", "warn"
	}
	return "no drift", "ok"
}

// scorerLag reads the scorer's consumer group lag on the features topic;
// note says why it is not known.
func (a *App) scorerLag(ctx context.Context) (lag int64, known bool, note string) {
	ctx, cancel := context.WithTimeout(ctx, overviewLagTimeout)
	defer cancel()
	groups, err := a.pipeline.Admin().Groups(ctx)
	if err != nil {
		return 0, false, "unknown: " + err.Error()
	}
	topic := a.pipeline.Topics().Features
	for _, g := range groups {
		if g.Group != a.cfg.KafkaGroupID {
			continue
		}
		for _, l := range g.Lag {
			if l.Topic == topic {
				lag += l.Lag
				known = true
			}
		}
	}
	if !known {
		return 0, false, "no committed offsets yet"
	}
	return lag, true, ""
}

// overviewConditions lists what fires: drift over the alert threshold, a
// scorer that is down or paused while a version is deployed, rising lag, a failed last flow run.
func (a *App) overviewConditions(m web.ScoredModel, lastRun *scheduler.Run) []web.Condition {
	var out []web.Condition
	if m.Checked && m.Verdict == "alert" {
		worst := ""
		if len(m.Worst) > 0 {
			worst = " (" + m.Worst[0].Name + ")"
		}
		out = append(out, web.Condition{Severity: "bad", Key: "drift-alert",
			Text: fmt.Sprintf("Drift over the alert threshold: largest PSI %.3f%s, alert at %s", m.MaxPSI, worst, ftoa(a.cfg.AlertThreshold)),
			Link: "/drift"})
	}
	switch {
	case a.pipeline == nil:
		out = append(out, web.Condition{Severity: "bad", Key: "scorer", Text: "The scoring pipeline is not running.", Link: "/pipeline"})
	case m.Version != "" && (m.ScorerState == "stopped" || m.ScorerState == ""):
		out = append(out, web.Condition{Severity: "bad", Key: "scorer", Text: "The scorer is down: " + cmpOr(m.ScorerReason, m.ScorerState, "no state"), Link: "/pipeline"})
	case m.Version != "" && m.ScorerState == "paused":
		out = append(out, web.Condition{Severity: "warn", Key: "scorer", Text: "The scorer is paused: " + cmpOr(m.ScorerReason, "no reason given"), Link: "/pipeline"})
	}
	if m.LagTrend == "rising" {
		out = append(out, web.Condition{Severity: "warn", Key: "lag-rising",
			Text: fmt.Sprintf("Consumer lag is rising: %d records behind", m.Lag), Link: "/kafka"})
	}
	if lastRun != nil && lastRun.State == scheduler.StateFailed {
		out = append(out, web.Condition{Severity: "bad", Key: "flow-failed",
			Text: fmt.Sprintf("The last flow run failed: %s %s: %s", lastRun.Flow, lastRun.ID, firstLine(lastRun.Error)),
			Link: "/flow-runs/" + lastRun.ID})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Severity == "bad" && out[j].Severity != "bad" })
	return out
}

// cmpOr returns the first non-empty string.
func cmpOr(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// samplePath is where the one-click sample training writes its CSV.
func (a *App) samplePath() string { return filepath.Join(a.cfg.DataDir, "samples", "sample-train.csv") }
