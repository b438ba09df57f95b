package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
	"driftd/server/flows"
)

// flowJSON is one flow of GET /api/v1/flows.
type flowJSON struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Queue       string            `json:"queue"`
	Params      []scheduler.Param `json:"params"`
}

// apiFlowList answers GET /api/v1/flows with every flow and its parameter
// schema (hidden parameters left out).
func (a *App) apiFlowList(c echo.Context) error {
	out := []flowJSON{}
	for _, f := range a.engine.Flows() {
		fj := flowJSON{Name: f.Name, Description: f.Description, Queue: f.Queue, Params: []scheduler.Param{}}
		if fj.Queue == "" {
			fj.Queue = "default"
		}
		for _, p := range f.Params {
			if !p.Hidden {
				if d, ok := p.Default.(interface{ String() string }); ok && p.Type == scheduler.TypeDuration {
					p.Default = d.String()
				}
				fj.Params = append(fj.Params, p)
			}
		}
		out = append(out, fj)
	}
	return c.JSON(http.StatusOK, map[string]any{"flows": out})
}

// flowRunRequest is the body of POST /api/v1/flows/{flow}/runs.
type flowRunRequest struct {
	Params map[string]any `json:"params"`
	Queue  string         `json:"queue"`
}

// apiFlowRunCreate answers POST /api/v1/flows/{flow}/runs: 202 with the run;
// 400 naming a bad parameter, 404 for an unknown flow, 429 when the queue is full.
func (a *App) apiFlowRunCreate(c echo.Context) error {
	var req flowRunRequest
	if err := decodeJSONBody(c, &req); err != nil {
		return err
	}
	run, err := a.engine.Submit(c.Request().Context(), c.Param("flow"), req.Params, scheduler.SubmitOptions{
		Queue:   req.Queue,
		Trigger: scheduler.Trigger{Kind: scheduler.TriggerManual, By: currentUser(c).Name},
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, run)
}

// apiFlowRunList answers GET /api/v1/flow-runs?flow=&state=&schedule=&limit=.
func (a *App) apiFlowRunList(c echo.Context) error {
	f := scheduler.RunFilter{Flow: c.QueryParam("flow"), State: c.QueryParam("state"), ScheduleID: c.QueryParam("schedule")}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("limit", "%q: must be an integer in [1, 1000]", s)
		}
		f.Limit = n
	}
	if f.State != "" && !validRunState(f.State) {
		return badRequest("state", "%q: must be one of scheduled, pending, running, completed, failed, cancelled, crashed", f.State)
	}
	runs, err := a.engine.List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []scheduler.Run{}
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": runs})
}

func validRunState(s string) bool {
	switch s {
	case scheduler.StateScheduled, scheduler.StatePending, scheduler.StateRunning:
		return true
	}
	return scheduler.Terminal(s)
}

// apiFlowRunGet answers GET /api/v1/flow-runs/{id}.
func (a *App) apiFlowRunGet(c echo.Context) error {
	run, err := a.engine.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, run)
}

// apiFlowRunLogs answers GET /api/v1/flow-runs/{id}/logs?tail=N with {"lines": [...]}.
func (a *App) apiFlowRunLogs(c echo.Context) error {
	tail := 0
	if s := c.QueryParam("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return badRequest("tail", "%q: must be a non-negative integer", s)
		}
		tail = n
	}
	if _, err := a.engine.Get(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	lines, err := a.engine.Logs(c.Request().Context(), c.Param("id"), tail)
	if err != nil {
		return err
	}
	if lines == nil {
		lines = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"lines": lines})
}

// apiFlowRunCancel answers POST /api/v1/flow-runs/{id}/cancel; 409 when the
// run has already ended.
func (a *App) apiFlowRunCancel(c echo.Context) error {
	run, err := a.engine.Cancel(c.Request().Context(), c.Param("id"), currentUser(c).Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, run)
}

// approveRequest is the body of POST /api/v1/models/{name}/approve.
type approveRequest struct {
	Version     string `json:"version"`
	Environment string `json:"environment"`
	Reason      string `json:"reason"`
}

// apiApprove answers POST /api/v1/models/{name}/approve: an operator
// promotes the challenger a retrain left waiting (DRIFTD_PROMOTION=manual).
func (a *App) apiApprove(c echo.Context) error {
	var req approveRequest
	if err := decodeJSONBody(c, &req); err != nil {
		return err
	}
	if req.Version == "" {
		return badRequest("version", "required: the challenger version to promote")
	}
	if req.Environment == "" {
		req.Environment = a.cfg.ScoringEnvironment
	}
	if req.Reason == "" {
		req.Reason = "challenger approved by " + currentUser(c).Name
	}
	ctx := userContext(c)
	if err := flows.Approve(ctx, a.store, c.Param("name"), req.Version, req.Environment, req.Reason); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"model": c.Param("name"), "version": req.Version, "environment": req.Environment, "reason": req.Reason})
}

// apiRetrainDecisions answers GET /api/v1/retrain/decisions?limit=N: the
// retrain loop's recent triggers, skips and outcomes, newest first.
func (a *App) apiRetrainDecisions(c echo.Context) error {
	limit := 50
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > retrainDecisionsMax {
			return badRequest("limit", "%q: must be an integer in [1, %d]", s, retrainDecisionsMax)
		}
		limit = n
	}
	ds := a.retrain.decisions(limit)
	if ds == nil {
		ds = []RetrainDecision{}
	}
	return c.JSON(http.StatusOK, map[string]any{"mode": a.cfg.Retrain, "promotion": a.cfg.Promotion, "decisions": ds})
}

// decodeJSONBody decodes a JSON body strictly; an empty body leaves v as is.
func decodeJSONBody(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("", "body is not valid JSON for this call: %v", err)
	}
	return nil
}
