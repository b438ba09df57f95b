package mlflow

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// runRef names a run: MLflow clients send run_id and its deprecated twin run_uuid.
type runRef struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

// id returns run_id, else run_uuid; INVALID_PARAMETER_VALUE when both are missing.
func (r runRef) id() (string, error) {
	switch {
	case r.RunID != "":
		return r.RunID, nil
	case r.RunUUID != "":
		return r.RunUUID, nil
	}
	return "", missing("run_id")
}

// runAnswer loads run id and converts it with its lifecycle and inputs.
func (a *api) runAnswer(ctx context.Context, id string) (runJSON, error) {
	r, err := a.store.GetRun(ctx, id)
	if err != nil {
		return runJSON{}, err
	}
	deleted, err := a.store.RunDeleted(ctx, id)
	if err != nil {
		return runJSON{}, err
	}
	inputs, err := a.store.RunInputs(ctx, id)
	if err != nil {
		return runJSON{}, err
	}
	return runOf(&r, deleted, inputs), nil
}

// runCreate answers runs/create {experiment_id, user_id, start_time, tags,
// run_name} with {"run"}. A missing experiment_id is the Default experiment
// ("0"); user_id falls back to the mlflow.user tag, then to the signed-in user.
func (a *api) runCreate(c echo.Context) (any, error) {
	var req struct {
		ExperimentID string     `json:"experiment_id"`
		UserID       string     `json:"user_id"`
		StartTime    optInt     `json:"start_time"`
		Tags         []keyValue `json:"tags"`
		RunName      string     `json:"run_name"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	if req.ExperimentID == "" {
		req.ExperimentID = defaultExperimentID
	}
	eid, err := a.experimentID(ctx, req.ExperimentID)
	if err != nil {
		return nil, err
	}
	o := registry.RunStart{Name: req.RunName, Tags: map[string]string{}, User: req.UserID}
	for _, t := range req.Tags {
		o.Tags[t.Key] = t.Value
	}
	if o.User == "" || o.User == "unknown" {
		o.User = o.Tags["mlflow.user"]
	}
	if req.StartTime.Set {
		o.Start = fromMillis(req.StartTime.V)
	}
	r, err := a.store.CreateRunAt(ctx, eid, o)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": runOf(&r, false, nil)}, nil
}

// runGet answers runs/get ?run_id= with {"run"}: info, latest metrics, params,
// tags and inputs.
func (a *api) runGet(c echo.Context) (any, error) {
	var req runRef
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	r, err := a.runAnswer(a.ctx(c), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": r}, nil
}

// runUpdate answers runs/update {run_id, status, end_time, run_name} with
// {"run_info"}: RUNNING, SCHEDULED (taken as running), FINISHED, FAILED and
// KILLED map onto driftd's run statuses.
func (a *api) runUpdate(c echo.Context) (any, error) {
	var req struct {
		runRef
		Status  string    `json:"status"`
		EndTime optInt    `json:"end_time"`
		RunName optString `json:"run_name"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	var u registry.RunInfoUpdate
	if req.Status != "" {
		s, ok := fromMLflowStatus[strings.ToUpper(req.Status)]
		if !ok {
			return nil, invalid("Invalid value %q for parameter 'status': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.", req.Status)
		}
		u.Status = &s
	}
	if req.EndTime.Set {
		end := fromMillis(req.EndTime.V)
		u.End = &end
	}
	if req.RunName.Set && req.RunName.V != "" {
		u.Name = &req.RunName.V
	}
	ctx := a.ctx(c)
	r, err := a.store.UpdateRunInfo(ctx, id, u)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": runInfoOf(&r, false)}, nil
}

// runDelete answers runs/delete {run_id} with {}: the run reads as deleted.
func (a *api) runDelete(c echo.Context) (any, error) {
	var req runRef
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := a.store.DeleteRun(a.ctx(c), id); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// runRestore answers runs/restore {run_id} with {}.
func (a *api) runRestore(c echo.Context) (any, error) {
	var req runRef
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := a.store.RestoreRun(a.ctx(c), id); err != nil {
		return nil, err
	}
	return empty{}, nil
}
