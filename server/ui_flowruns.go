package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
	"driftd/web"
)

// flowRunLogTail is how many log lines a run's page shows.
const flowRunLogTail = 300

// uiFlowRun shows one flow run; ?level= and ?q= filter its log. With
// ?fragment=1 it answers only the parts that change while the run goes,
// which web/static/app.js polls until the run has ended.
func (a *App) uiFlowRun(c echo.Context) error {
	f, err := parseLogFilter(c)
	if err != nil {
		return err
	}
	v, err := a.flowRunView(c)
	if err != nil {
		return err
	}
	pv := web.FlowRunPage{Run: v, CanRetry: canOperate(c) && scheduler.Terminal(v.State) && v.State != scheduler.StateCompleted}
	if pv.Logs, err = a.flowRunLogs(c, v.ID, f); err != nil && !errors.Is(err, scheduler.ErrNotFound) {
		return err
	}
	p := a.page(c, "pipeline", "Flow run "+v.ID)
	if c.QueryParam("fragment") == "1" {
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.FlowRunLive(p, pv))
	}
	pv.Run.Message = c.QueryParam("msg")
	return a.renderPage(c, p, web.FlowRunBody(p, pv))
}

// flowRunView reads the run of the request's :id.
func (a *App) flowRunView(c echo.Context) (web.FlowRunView, error) {
	if a.engine == nil {
		return web.FlowRunView{}, echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	r, err := a.engine.Get(ctx, id)
	if err != nil {
		if errors.Is(err, scheduler.ErrNotFound) {
			return web.FlowRunView{}, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no flow run %q", id))
		}
		return web.FlowRunView{}, err
	}
	now := a.now()
	v := web.FlowRunView{ID: r.ID, Flow: r.Flow, Queue: r.Queue, State: r.State, Trigger: triggerText(r.Trigger),
		TriggerReason: r.Trigger.Reason, ScheduleID: r.ScheduleID, Attempts: r.Attempts, MaxAttempts: r.MaxAttempts,
		Timeout: r.Timeout, Created: r.CreatedAt, Started: r.StartedAt, Ended: r.EndedAt, Duration: r.Duration(now),
		Error: r.Error, Now: now,
		CanCancel: !scheduler.Terminal(r.State) && canOperate(c)}
	if v.ScheduleID == "" {
		v.ScheduleID = r.Trigger.ScheduleID
	}
	if v.ScheduleID != "" {
		if s, err := a.engine.GetSchedule(ctx, v.ScheduleID); err == nil {
			v.ScheduleName = s.Name
		} else {
			v.ScheduleName = "deleted schedule"
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Params)) {
		v.Params = append(v.Params, web.KV{Key: k, Value: jsonText(r.Params[k])})
	}
	for _, h := range r.History {
		v.History = append(v.History, web.TransitionRow{State: h.State, At: h.At, Note: h.Note})
	}
	v.Result = prettyJSON(r.Result)
	v.Figures = resultFigures(r.Result)
	v.ExperimentRunID = experimentRunOf(r.Result, r.Progress, r.Params)
	v.Progress = prettyJSON(r.Progress)
	v.ProgressFigures = scalarFigures(r.Progress)
	return v, nil
}

// uiFlowRunCancel cancels a run that has not ended and shows its page again.
func (a *App) uiFlowRunCancel(c echo.Context) error {
	if a.engine == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
	}
	id := c.Param("id")
	_, err := a.engine.Cancel(c.Request().Context(), id, currentUser(c).Name)
	msg := "Cancelled."
	switch {
	case errors.Is(err, scheduler.ErrTerminal):
		msg = "The run had already ended."
	case errors.Is(err, scheduler.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no flow run %q", id))
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/flow-runs/"+url.PathEscape(id)+"?msg="+url.QueryEscape(msg))
}

// jsonText shows a stored value: strings as they are, others as JSON.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// prettyJSON indents a JSON document ("" for none).
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// scalarFigures lists the top-level numbers, strings and bools of a JSON
// object in key order (nil for anything else).
func scalarFigures(raw json.RawMessage) []web.KV {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []web.KV
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch x := m[k].(type) {
		case string, bool:
			out = append(out, web.KV{Key: k, Value: fmt.Sprint(x)})
		case float64:
			out = append(out, web.KV{Key: k, Value: ftoa4(x)})
		}
	}
	return out
}

// resultFigures picks the key figures of a train or retrain result: the
// version, the decision with its reason, and champion against challenger on
// the gate's metric. Other results have none; the page shows their JSON.
func resultFigures(raw json.RawMessage) []web.KV {
	var r struct {
		Model      string             `json:"model"`
		Version    string             `json:"version"`
		DeployedTo string             `json:"deployed_to"`
		Decision   string             `json:"decision"`
		Reason     string             `json:"reason"`
		Metric     string             `json:"metric"`
		Margin     *float64           `json:"margin"`
		Metrics    map[string]float64 `json:"metrics"`
		Champion   *struct {
			Version string  `json:"version"`
			Value   float64 `json:"value"`
		} `json:"champion"`
		Challenger *struct {
			Version string  `json:"version"`
			Value   float64 `json:"value"`
		} `json:"challenger"`
		TriggerMaxPSI float64 `json:"trigger_max_psi"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil {
		return nil
	}
	var out []web.KV
	add := func(k, v string) {
		if v != "" {
			out = append(out, web.KV{Key: k, Value: v})
		}
	}
	if r.Decision != "" {
		add("decision", r.Decision)
		add("reason", r.Reason)
		metric := r.Metric
		if metric == "" {
			metric = "metric"
		}
		if r.Champion != nil {
			add("champion", fmt.Sprintf("%s %s %s", r.Champion.Version, metric, ftoa4(r.Champion.Value)))
		}
		if r.Challenger != nil {
			add("challenger", fmt.Sprintf("%s %s %s", r.Challenger.Version, metric, ftoa4(r.Challenger.Value)))
		}
		if r.Margin != nil {
			add("margin", ftoa4(*r.Margin))
		}
		if r.TriggerMaxPSI > 0 {
			add("triggered by max PSI", ftoa4(r.TriggerMaxPSI))
		}
		return out
	}
	if r.Version == "" && len(r.Metrics) == 0 {
		return nil
	}
	add("model", r.Model)
	add("version", r.Version)
	add("deployed to", r.DeployedTo)
	for _, kv := range pickMetrics(r.Metrics, 4) {
		add(kv.Key, kv.Value)
	}
	return out
}

// experimentRunOf finds the experiment run a train or retrain run records
// into: in its result, its live progress, or its (hidden) run_id param.
func experimentRunOf(result, progress json.RawMessage, params map[string]any) string {
	for _, raw := range []json.RawMessage{result, progress} {
		var r struct {
			RunID           string `json:"run_id"`
			ExperimentRunID string `json:"experiment_run_id"`
		}
		if len(raw) > 0 && json.Unmarshal(raw, &r) == nil {
			if r.ExperimentRunID != "" {
				return r.ExperimentRunID
			}
			if r.RunID != "" {
				return r.RunID
			}
		}
	}
	if id, ok := params["run_id"].(string); ok {
		return id
	}
	return ""
}
