package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/server/flows"
	"driftd/train"
	"driftd/web"
)

const (
	// importanceBars bounds the features of the importance chart.
	importanceBars = 20
	// compareMin and compareMax bound how many runs the comparison shows.
	compareMin, compareMax = 2, 5
)

// lineClasses colour the runs of an overlay in order.
var lineClasses = []string{"", "alt", "c2", "c3", "c4"}

// uiRun shows one run: the facts and the version it produced, the
// parameters of its algorithm (the ones that matter first), single-point
// metrics as numbers, metrics over rounds as charts with train and
// validation overlaid, feature importance, artifacts and the log tail.
func (a *App) uiRun(c echo.Context) error {
	ctx := c.Request().Context()
	r, err := a.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	v := web.RunView{ID: r.ID, Name: r.Name, Title: runTitle(r), Status: r.Status, ExperimentID: r.ExperimentID, Start: r.Start,
		Duration: a.runDuration(r), CreatedBy: r.CreatedBy, Tags: sortedKV(r.Tags), Algo: r.Params["algo"],
		Metrics: lastMetrics(r), LogLines: r.LogLines, LogDropped: r.LogDropped}
	v.Params, v.HiddenParams = orderedParams(r.Params)
	if r.End != nil {
		v.End = *r.End
	}
	if e, err := a.store.GetExperiment(ctx, r.ExperimentID); err == nil {
		v.Experiment = e.Name
	}
	for _, mv := range r.Versions {
		model, version, _ := strings.Cut(mv, "@")
		v.Versions = append(v.Versions, web.Link{Label: mv, URL: "/models/" + url.PathEscape(model) + "#version-" + version})
	}
	for _, k := range sortedKeys(r.Artifacts) {
		v.Artifacts = append(v.Artifacts, web.ArtifactLink{Name: k, Size: r.Artifacts[k], URL: artifactURL(r.ID, k)})
	}
	hist, err := a.metricHistories(ctx, r)
	if err != nil {
		return err
	}
	v.StepCharts, v.Numbers = runCharts(hist)
	v.Importance, v.ImportanceKind = a.runImportance(ctx, r)
	if v.Logs, err = a.store.RunLogs(ctx, r.ID, logTail); err != nil {
		return err
	}
	return a.renderPage(c, a.page(c, "experiments", "Run "+v.Title), web.RunBody(v))
}

// artifactURL is where the UI downloads a run's artifact.
func artifactURL(runID, name string) string {
	return "/runs/" + url.PathEscape(runID) + "/artifacts/" + url.PathEscape(name)
}

// uiRunArtifact downloads one artifact of a run.
func (a *App) uiRunArtifact(c echo.Context) error {
	name, err := url.PathUnescape(c.Param("name"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "bad artifact name")
	}
	b, err := a.store.RunArtifact(c.Request().Context(), c.Param("id"), name)
	if err != nil {
		return err
	}
	ctype := "application/octet-stream"
	if strings.HasSuffix(name, ".json") {
		ctype = "application/json"
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", safeFileName(c.Param("id")+"-"+name)))
	return c.Blob(http.StatusOK, ctype, b)
}

// metricHistories reads every metric's history of r, by key.
func (a *App) metricHistories(ctx context.Context, r registry.Run) (map[string][]registry.MetricPoint, error) {
	out := map[string][]registry.MetricPoint{}
	for k := range r.Metrics {
		pts, err := a.store.MetricHistory(ctx, r.ID, k)
		if err != nil {
			return nil, fmt.Errorf("metric %s of run %s: %w", k, r.ID, err)
		}
		out[k] = pts
	}
	return out, nil
}

// runCharts splits a run's metrics: those logged at more than one step
// become charts, a train_X and valid_X pair overlaid on one; metrics with a
// single point are numbers.
func runCharts(hist map[string][]registry.MetricPoint) ([]web.NamedChart, []web.KV) {
	var charts []web.NamedChart
	var numbers []web.KV
	done := map[string]bool{}
	for _, k := range sortedKeys(hist) {
		if done[k] {
			continue
		}
		pts := hist[k]
		if len(pts) <= 1 {
			if len(pts) == 1 {
				numbers = append(numbers, web.KV{Key: k, Value: ftoa4(pts[0].Value)})
			}
			continue
		}
		base, pair := strings.TrimPrefix(k, "train_"), ""
		if base != k && len(hist["valid_"+base]) > 1 {
			pair = "valid_" + base
		} else if b := strings.TrimPrefix(k, "valid_"); b != k && len(hist["train_"+b]) > 1 {
			base, pair = b, "train_"+b
		}
		if pair == "" {
			charts = append(charts, web.NamedChart{Key: k, Chart: web.StepChart{Label: k + " by round", Lines: []web.StepLine{stepLine(k, "", pts)}}})
			continue
		}
		done[pair] = true
		charts = append(charts, web.NamedChart{Key: base, Chart: web.StepChart{Label: "train and validation " + base + " by round",
			Lines: []web.StepLine{stepLine("train", "alt", hist["train_"+base]), stepLine("validation", "", hist["valid_"+base])}}})
	}
	// Losses first: they are what a reader looks for.
	sort.SliceStable(charts, func(i, j int) bool { return charts[i].Key == "loss" && charts[j].Key != "loss" })
	return charts, numbers
}

// stepLine turns a metric history into a chart line.
func stepLine(name, class string, pts []registry.MetricPoint) web.StepLine {
	l := web.StepLine{Name: name, Class: class, Steps: make([]int64, len(pts)), Values: make([]float64, len(pts))}
	for i, p := range pts {
		l.Steps[i], l.Values[i] = p.Step, p.Value
	}
	return l
}

// runImportance reads a run's feature importance: the feature_importance.json
// artifact the train flow stores (split gain for trees, absolute
// standardised coefficients for logistic), or, for runs without it, the
// gain computed from the trees of the run's model artifact. It returns nil
// when neither is there.
func (a *App) runImportance(ctx context.Context, r registry.Run) (*web.HBarChart, string) {
	var imp map[string]map[string]float64
	if _, ok := r.Artifacts["feature_importance.json"]; ok {
		if b, err := a.store.RunArtifact(ctx, r.ID, "feature_importance.json"); err == nil {
			_ = json.Unmarshal(b, &imp)
		}
	}
	if imp == nil {
		if _, ok := r.Artifacts["model"]; ok {
			if b, err := a.store.RunArtifact(ctx, r.ID, "model"); err == nil {
				if m, err := train.Decode(b); err == nil {
					imp = flows.Importance(m)
				}
			}
		}
	}
	return importanceChart(imp)
}

// uiRunCompare shows 2 to 5 runs side by side (?id=..&id=..): parameters
// with the differences marked, final metrics, and each metric logged over
// rounds with the runs overlaid.
func (a *App) uiRunCompare(c echo.Context) error {
	ctx := c.Request().Context()
	ids := c.QueryParams()["id"]
	var v web.CompareView
	p := a.page(c, "experiments", "Compare runs")
	if len(ids) < compareMin || len(ids) > compareMax {
		v.Error = fmt.Sprintf("Choose %d to %d runs to compare (%d chosen): tick them in an experiment's run list.", compareMin, compareMax, len(ids))
		return renderStatus(c, http.StatusBadRequest, p, web.CompareBody(v))
	}
	var runs []registry.Run
	for _, id := range ids {
		r, err := a.store.GetRun(ctx, id)
		if err != nil {
			return err
		}
		runs = append(runs, r)
		v.Runs = append(v.Runs, a.runRow(r))
	}
	// Parameters in the first run's reading order, then the others'.
	var keys []string
	seen := map[string]bool{}
	for _, r := range runs {
		params, _ := orderedParams(r.Params)
		for _, kv := range params {
			if !seen[kv.Key] {
				seen[kv.Key] = true
				keys = append(keys, kv.Key)
			}
		}
	}
	for _, k := range keys {
		row := web.CompareRow{Key: k}
		for _, r := range runs {
			row.Values = append(row.Values, r.Params[k])
		}
		row.Differs = differs(row.Values)
		v.Params = append(v.Params, row)
	}
	metrics := map[string]bool{}
	for _, r := range runs {
		for k := range r.Metrics {
			metrics[k] = true
		}
	}
	hists := make([]map[string][]registry.MetricPoint, len(runs))
	for i, r := range runs {
		h, err := a.metricHistories(ctx, r)
		if err != nil {
			return err
		}
		hists[i] = h
	}
	for _, k := range sortedKeys(metrics) {
		row := web.CompareRow{Key: k}
		curve := web.StepChart{Label: k + " by round, per run"}
		multi := false
		for i, r := range runs {
			cell := ""
			if mp, ok := r.Metrics[k]; ok {
				cell = ftoa4(mp.Value)
			}
			row.Values = append(row.Values, cell)
			if pts := hists[i][k]; len(pts) > 0 {
				multi = multi || len(pts) > 1
				curve.Lines = append(curve.Lines, stepLine(v.Runs[i].Title, lineClasses[i%len(lineClasses)], pts))
			}
		}
		row.Differs = differs(row.Values)
		v.Metrics = append(v.Metrics, row)
		if multi {
			v.Charts = append(v.Charts, web.NamedChart{Key: k, Chart: curve})
		}
	}
	sort.SliceStable(v.Charts, func(i, j int) bool {
		return strings.HasSuffix(v.Charts[i].Key, "loss") && !strings.HasSuffix(v.Charts[j].Key, "loss")
	})
	return a.renderPage(c, p, web.CompareBody(v))
}

// differs reports whether the values are not all equal.
func differs(vals []string) bool {
	for _, s := range vals[1:] {
		if s != vals[0] {
			return true
		}
	}
	return false
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
