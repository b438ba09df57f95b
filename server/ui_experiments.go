package server

import (
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/web"
)

const (
	// runListLimit bounds the runs listed for one experiment.
	runListLimit = 500
	// runParamsShown is how many parameters the run list shows per run.
	runParamsShown = 6
	// logTail is how many log lines a run page shows.
	logTail = 200
)

// uiExperiments lists the experiments with their run counts.
func (a *App) uiExperiments(c echo.Context) error {
	ctx := c.Request().Context()
	exps, err := a.store.ListExperiments(ctx)
	if err != nil {
		return err
	}
	var v web.ExperimentsView
	for _, e := range exps {
		runs, err := a.store.SearchRuns(ctx, registry.RunQuery{ExperimentID: e.ID, Limit: 10000})
		if err != nil {
			return err
		}
		v.Experiments = append(v.Experiments, web.ExperimentRow{ID: e.ID, Name: e.Name, Description: e.Description, Created: e.Created, Runs: len(runs)})
	}
	return a.renderPage(c, a.page(c, "experiments", "Experiments"), web.ExperimentsBody(v))
}

// uiExperiment shows one experiment's runs, newest first.
func (a *App) uiExperiment(c echo.Context) error {
	ctx := c.Request().Context()
	e, err := a.store.GetExperiment(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	runs, err := a.store.SearchRuns(ctx, registry.RunQuery{ExperimentID: e.ID, Limit: runListLimit})
	if err != nil {
		return err
	}
	v := web.ExperimentView{Experiment: web.ExperimentRow{ID: e.ID, Name: e.Name, Description: e.Description, Created: e.Created, Runs: len(runs)},
		Tags: sortedKV(e.Tags)}
	for _, r := range runs {
		row := web.RunRow{ID: r.ID, Name: r.Name, Status: r.Status, Start: r.Start, Duration: a.runDuration(r)}
		params := sortedKV(r.Params)
		if len(params) > runParamsShown {
			row.MoreParams = len(params) - runParamsShown
			params = params[:runParamsShown]
		}
		row.Params = params
		row.Metrics = lastMetrics(r)
		v.Runs = append(v.Runs, row)
	}
	return a.renderPage(c, a.page(c, "experiments", "Experiment "+e.Name), web.ExperimentBody(v))
}

// uiRun shows one run: params, tags, metric charts and the log tail.
func (a *App) uiRun(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := a.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	v := web.RunView{ID: r.ID, Name: r.Name, Status: r.Status, ExperimentID: r.ExperimentID, Start: r.Start,
		Duration: a.runDuration(r), CreatedBy: r.CreatedBy, Params: sortedKV(r.Params), Tags: sortedKV(r.Tags),
		Metrics: lastMetrics(r), Versions: r.Versions, LogLines: r.LogLines, LogDropped: r.LogDropped}
	if r.End != nil {
		v.End = *r.End
	}
	if e, err := a.store.GetExperiment(ctx, r.ExperimentID); err == nil {
		v.Experiment = e.Name
	}
	names := make([]string, 0, len(r.Artifacts))
	for k := range r.Artifacts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v.Artifacts = append(v.Artifacts, web.KV{Key: k, Value: itoa64(r.Artifacts[k]) + " bytes"})
	}
	for _, kv := range v.Metrics {
		pts, err := a.store.MetricHistory(ctx, r.ID, kv.Key)
		if err != nil {
			return err
		}
		steps, values := make([]int64, len(pts)), make([]float64, len(pts))
		for i, p := range pts {
			steps[i], values[i] = p.Step, p.Value
		}
		v.Charts = append(v.Charts, web.NewChart(kv.Key, steps, values, 320, 90))
	}
	if v.Logs, err = a.store.RunLogs(ctx, r.ID, logTail); err != nil {
		return err
	}
	title := "Run " + r.ID
	if r.Name != "" {
		title = "Run " + r.Name
	}
	return a.renderPage(c, a.page(c, "experiments", title), web.RunBody(v))
}

// runDuration is how long a run took, or has been running.
func (a *App) runDuration(r registry.Run) time.Duration {
	if r.End != nil {
		return r.End.Sub(r.Start)
	}
	if r.Status == registry.RunRunning {
		return a.now().Sub(r.Start)
	}
	return 0
}

// lastMetrics is the latest value of each metric of a run, sorted by key.
func lastMetrics(r registry.Run) []web.KV {
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]web.KV, 0, len(keys))
	for _, k := range keys {
		out = append(out, web.KV{Key: k, Value: ftoa4(r.Metrics[k].Value)})
	}
	return out
}
