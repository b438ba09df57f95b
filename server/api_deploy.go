package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// deployRequest is the body of deploy, rollback, undeploy and alias calls.
type deployRequest struct {
	Version     string `json:"version"`
	Environment string `json:"environment"`
	Reason      string `json:"reason"`
}

// apiDeploy answers POST /api/v1/models/{name}/deploy {"version","environment","reason"}
// with the model (environments updated); a version driftd cannot score is a 400 with
// "field": "version" saying why.
func (a *App) apiDeploy(c echo.Context) error {
	var req deployRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	if req.Version == "" {
		return badRequest("version", "required")
	}
	if req.Environment == "" {
		return badRequest("environment", "required")
	}
	if err := a.store.Deploy(userContext(c), c.Param("name"), req.Version, req.Environment, req.Reason); err != nil {
		return err
	}
	return a.apiModelGet(c)
}

// apiRollback answers POST /api/v1/models/{name}/rollback {"environment","reason"}.
func (a *App) apiRollback(c echo.Context) error {
	var req deployRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	if req.Environment == "" {
		return badRequest("environment", "required")
	}
	if err := a.store.Rollback(userContext(c), c.Param("name"), req.Environment, req.Reason); err != nil {
		return err
	}
	return a.apiModelGet(c)
}

// apiUndeploy answers POST /api/v1/models/{name}/undeploy {"environment","reason"}.
func (a *App) apiUndeploy(c echo.Context) error {
	var req deployRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	if req.Environment == "" {
		return badRequest("environment", "required")
	}
	if err := a.store.Undeploy(userContext(c), c.Param("name"), req.Environment, req.Reason); err != nil {
		return err
	}
	return a.apiModelGet(c)
}

// apiAliasSet answers PUT /api/v1/models/{name}/aliases/{alias} {"version","reason"}.
func (a *App) apiAliasSet(c echo.Context) error {
	var req deployRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	if req.Version == "" {
		return badRequest("version", "required")
	}
	if err := a.store.SetAlias(userContext(c), c.Param("name"), c.Param("alias"), req.Version, req.Reason); err != nil {
		return err
	}
	return a.apiModelGet(c)
}

// apiAliasDelete answers DELETE /api/v1/models/{name}/aliases/{alias}[?reason=].
func (a *App) apiAliasDelete(c echo.Context) error {
	if err := a.store.DeleteAlias(userContext(c), c.Param("name"), c.Param("alias"), c.QueryParam("reason")); err != nil {
		return err
	}
	return a.apiModelGet(c)
}

// apiDeployments answers GET /api/v1/models/{name}/deployments and GET
// /api/v1/deployments (?model=&environment=&alias=&limit=&before=) with
// {"deployments": [...]}, newest first.
func (a *App) apiDeployments(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	var before uint64
	if s := c.QueryParam("before"); s != "" {
		if before, err = strconv.ParseUint(s, 10, 64); err != nil {
			return badRequest("before", "not an event id: %q", s)
		}
	}
	q := registry.HistoryQuery{Model: c.Param("name"), Environment: c.QueryParam("environment"),
		Alias: c.QueryParam("alias"), Limit: limit, Before: before}
	if q.Model == "" {
		q.Model = c.QueryParam("model")
	}
	events, err := a.store.History(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"deployments": events})
}

// apiDeployedAt answers GET /api/v1/models/{name}/deployed-at?environment=E&time=RFC3339
// with {"model","environment","time","version"} (404 when nothing was deployed then).
func (a *App) apiDeployedAt(c echo.Context) error {
	env := c.QueryParam("environment")
	if env == "" {
		return badRequest("environment", "required")
	}
	t := a.now()
	if s := c.QueryParam("time"); s != "" {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return badRequest("time", "not an RFC 3339 time: %q", s)
		}
	}
	v, err := a.store.DeployedAt(c.Request().Context(), c.Param("name"), env, t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"model": c.Param("name"), "environment": env, "time": t.UTC(), "version": v})
}
