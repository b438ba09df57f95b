package server

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// runRequest is the body of POST /api/v1/runs: an experiment by id, or by name
// (created when missing).
type runRequest struct {
	ExperimentID string            `json:"experiment_id"`
	Experiment   string            `json:"experiment"`
	Name         string            `json:"name"`
	Tags         map[string]string `json:"tags"`
}

// runLogRequest is the body of the params, metrics, tags, logs and finish calls.
type runLogRequest struct {
	Params  map[string]string `json:"params"`
	Tags    map[string]string `json:"tags"`
	Metrics []metricPoint     `json:"metrics"`
	Lines   []string          `json:"lines"`
	Status  string            `json:"status"`
}

// metricPoint is one metric value in a request; time is optional (default now).
type metricPoint struct {
	Key   string    `json:"key"`
	Value *float64  `json:"value"`
	Step  int64     `json:"step"`
	Time  time.Time `json:"time"`
}

// apiRunCreate answers POST /api/v1/runs with the new run (201).
func (a *App) apiRunCreate(c echo.Context) error {
	var req runRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	ctx := userContext(c)
	if req.ExperimentID == "" {
		if req.Experiment == "" {
			return badRequest("experiment_id", "give experiment_id or experiment (a name)")
		}
		e, err := a.store.EnsureExperiment(ctx, req.Experiment)
		if err != nil {
			return err
		}
		req.ExperimentID = e.ID
	}
	r, err := a.store.CreateRun(ctx, req.ExperimentID, registry.RunOptions{Name: req.Name, Tags: req.Tags})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

// apiRunGet answers GET /api/v1/runs/{id}.
func (a *App) apiRunGet(c echo.Context) error {
	r, err := a.store.GetRun(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// apiRunLog answers POST /api/v1/runs/{id}/log: any of {"params":{},"tags":{},
// "metrics":[{"key","value","step","time"}],"lines":[]} in one call; answers the run.
// Params are write-once (409 on a different value).
func (a *App) apiRunLog(c echo.Context) error {
	var req runLogRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	ctx, id := userContext(c), c.Param("id")
	if len(req.Params) > 0 {
		if err := a.store.LogParams(ctx, id, req.Params); err != nil {
			return err
		}
	}
	for _, k := range sortedTagKeys(req.Tags) {
		if err := a.store.SetRunTag(ctx, id, k, req.Tags[k]); err != nil {
			return err
		}
	}
	if len(req.Metrics) > 0 {
		pts := make([]registry.MetricPoint, len(req.Metrics))
		for i, m := range req.Metrics {
			if m.Value == nil {
				return badRequest("metrics", "point %d (%q) has no value", i, m.Key)
			}
			pts[i] = registry.MetricPoint{Key: m.Key, Value: *m.Value, Step: m.Step, Time: m.Time}
		}
		if err := a.store.LogMetrics(ctx, id, pts); err != nil {
			return err
		}
	}
	if len(req.Lines) > 0 {
		if err := a.store.AppendLog(ctx, id, req.Lines...); err != nil {
			return err
		}
	}
	return a.apiRunGet(c)
}

func sortedTagKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// apiRunFinish answers POST /api/v1/runs/{id}/finish {"status": finished|failed|killed}.
func (a *App) apiRunFinish(c echo.Context) error {
	var req runLogRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	if req.Status == "" {
		req.Status = registry.RunFinished
	}
	r, err := a.store.FinishRun(userContext(c), c.Param("id"), req.Status)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// apiRunMetricHistory answers GET /api/v1/runs/{id}/metric-history?key=K with
// {"key", "history": [{"value","step","time"}]}.
func (a *App) apiRunMetricHistory(c echo.Context) error {
	key := c.QueryParam("key")
	if key == "" {
		return badRequest("key", "required")
	}
	pts, err := a.store.MetricHistory(c.Request().Context(), c.Param("id"), key)
	if err != nil {
		return err
	}
	for i := range pts {
		pts[i].Key = ""
	}
	return c.JSON(http.StatusOK, map[string]any{"key": key, "history": pts})
}

// apiRunLogs answers GET /api/v1/runs/{id}/logs[?tail=N] with {"lines": [...]}.
func (a *App) apiRunLogs(c echo.Context) error {
	tail, err := queryInt(c, "tail")
	if err != nil {
		return err
	}
	lines, err := a.store.RunLogs(c.Request().Context(), c.Param("id"), tail)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"lines": lines})
}

// apiRunArtifactPut answers PUT /api/v1/runs/{id}/artifacts/{name...} (raw body).
func (a *App) apiRunArtifactPut(c echo.Context) error {
	body, err := a.readUpload(c, "artifact")
	if err != nil {
		return err
	}
	if err := a.store.PutRunArtifact(userContext(c), c.Param("id"), c.Param("*"), body); err != nil {
		return err
	}
	return a.apiRunGet(c)
}

// apiRunArtifactGet answers GET /api/v1/runs/{id}/artifacts/{name...}.
func (a *App) apiRunArtifactGet(c echo.Context) error {
	b, err := a.store.RunArtifact(c.Request().Context(), c.Param("id"), c.Param("*"))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEOctetStream, b)
}

// apiRunSearch answers GET /api/v1/runs?experiment_id=&status=&filter=&order_by=&limit=
// with {"runs": [...]}; a bad filter is a 400 naming the column.
func (a *App) apiRunSearch(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	runs, err := a.store.SearchRuns(c.Request().Context(), registry.RunQuery{
		ExperimentID: c.QueryParam("experiment_id"), Status: c.QueryParam("status"),
		Filter: c.QueryParam("filter"), OrderBy: c.QueryParam("order_by"), Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": runs})
}

// apiRunCompare answers GET /api/v1/runs/compare?ids=1,2,3 with params and last metrics
// side by side.
func (a *App) apiRunCompare(c echo.Context) error {
	var ids []string
	for _, id := range strings.Split(c.QueryParam("ids"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	cmp, err := a.store.CompareRuns(c.Request().Context(), ids)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cmp)
}
