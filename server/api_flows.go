package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

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

// apiFlowRunLogs answers GET /api/v1/flow-runs/{id}/logs?tail=N&level=&q=
// with {"lines": [...]}: the last N kept lines (all without tail) of
// level and above (debug, info, warn, error), containing q (any case).
func (a *App) apiFlowRunLogs(c echo.Context) error {
	tail := 0
	if s := c.QueryParam("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return badRequest("tail", "%q: must be a non-negative integer", s)
		}
		tail = n
	}
	f, err := parseLogFilter(c)
	if err != nil {
		return err
	}
	if _, err := a.engine.Get(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	read := tail
	if f.active() {
		read = 0 // the tail is of the lines that pass
	}
	lines, err := a.engine.Logs(c.Request().Context(), c.Param("id"), read)
	if err != nil {
		return err
	}
	out := []string{}
	kept, _ := f.apply(lines)
	if tail > 0 && len(kept) > tail {
		kept = kept[len(kept)-tail:]
	}
	for _, i := range kept {
		out = append(out, lines[i])
	}
	return c.JSON(http.StatusOK, map[string]any{"lines": out})
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

// bulkMax bounds the runs one bulk cancel or retry names.
const bulkMax = 100

// bulkRequest is the body of POST /api/v1/flow-runs/cancel and /retry.
type bulkRequest struct {
	IDs []string `json:"ids"`
}

// bulkResult is what a bulk cancel or retry did to one run.
type bulkResult struct {
	ID string `json:"id"`
	OK bool   `json:"ok"`
	// Status is what the single call would have answered: 200, 404 for an
	// unknown run, 409 for one in the wrong state, 429 for a full queue.
	Status int `json:"status"`
	// State is the run's state after the call: "cancelled", or "running"
	// while a running run winds down after its cancel was requested.
	State string `json:"state,omitempty"`
	// NewRunID is the run a retry started.
	NewRunID string `json:"new_run_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

// bulkIDs checks the run ids of a bulk action: 1 to bulkMax of them, each
// once (repeats are dropped, the first place kept).
func bulkIDs(ids []string) ([]string, error) {
	var out []string
	for i, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			return nil, badRequest(fmt.Sprintf("ids[%d]", i), "empty run id")
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 || len(out) > bulkMax {
		return nil, badRequest("ids", "%d runs: name 1 to %d", len(out), bulkMax)
	}
	return out, nil
}

// apiFlowRunsBulk answers POST /api/v1/flow-runs/cancel and .../retry with
// {"ids": [...]}: 200 with one result per run (each says whether it worked
// and, if not, why), or 400 for a malformed body.
func (a *App) apiFlowRunsBulk(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req bulkRequest
		if err := decodeJSONBody(c, &req); err != nil {
			return err
		}
		ids, err := bulkIDs(req.IDs)
		if err != nil {
			return err
		}
		res := a.bulkFlowRuns(c.Request().Context(), action, ids, currentUser(c).Name)
		ok := 0
		for _, r := range res {
			if r.OK {
				ok++
			}
		}
		return c.JSON(http.StatusOK, map[string]any{"action": action, "results": res, "succeeded": ok, "failed": len(res) - ok})
	}
}

// bulkFlowRuns cancels or retries ("cancel", "retry") each run in turn on
// behalf of user by; one run's failure does not stop the others.
func (a *App) bulkFlowRuns(ctx context.Context, action string, ids []string, by string) []bulkResult {
	out := make([]bulkResult, 0, len(ids))
	for _, id := range ids {
		var r scheduler.Run
		var err error
		res := bulkResult{ID: id}
		if action == "retry" {
			r, err = a.retryFlowRun(ctx, id, by)
			res.NewRunID = r.ID
		} else {
			r, err = a.engine.Cancel(ctx, id, by)
		}
		res.State = r.State
		if err != nil {
			status, body := a.classify(err)
			res.Status, res.Error = status, body.Error
			if action == "retry" {
				res.State, res.NewRunID = "", ""
			}
			if status >= 500 {
				a.logger.Error("bulk "+action+" of a flow run failed", "run", id, "err", err)
			}
		} else {
			res.OK, res.Status = true, http.StatusOK
		}
		out = append(out, res)
	}
	return out
}

// retryFlowRun starts a new run of a failed, cancelled or crashed run's
// flow with its parameters, on its queue, with its retries and timeout,
// triggered manually by by. Hidden parameters (the experiment run a train
// recorded into, an upload's display name) belong to the old run and are
// left for the new run's flow to set again. It returns the new run; errors
// wrap scheduler.ErrNotFound or ErrUnknownFlow, Submit's errors, or are a
// 409 for a run that completed or has not ended.
func (a *App) retryFlowRun(ctx context.Context, id, by string) (scheduler.Run, error) {
	old, err := a.engine.Get(ctx, id)
	if err != nil {
		return scheduler.Run{}, err
	}
	switch {
	case !scheduler.Terminal(old.State):
		return old, echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("run %s is %s: only a run that has ended can be retried", id, old.State))
	case old.State == scheduler.StateCompleted:
		return old, echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("run %s completed: only failed, cancelled or crashed runs are retried", id))
	}
	hidden := map[string]bool{}
	known := false
	for _, f := range a.engine.Flows() {
		if f.Name == old.Flow {
			known = true
			for _, p := range f.Params {
				hidden[p.Name] = p.Hidden
			}
		}
	}
	if !known {
		return scheduler.Run{}, fmt.Errorf("retry run %s: flow %q: %w", id, old.Flow, scheduler.ErrUnknownFlow)
	}
	params := map[string]any{}
	for k, v := range old.Params {
		if !hidden[k] {
			params[k] = v
		}
	}
	retries, timeout := max(old.MaxAttempts-1, 0), old.Timeout
	return a.engine.Submit(ctx, old.Flow, params, scheduler.SubmitOptions{
		Queue:   old.Queue,
		Trigger: scheduler.Trigger{Kind: scheduler.TriggerManual, By: by, Reason: "retry of run " + id},
		Retries: &retries,
		Timeout: &timeout,
	})
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
