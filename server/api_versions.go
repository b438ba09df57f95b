package server

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/server/flows"
	"driftd/train"
)

// statusRequest is the body of archive and unarchive calls.
type statusRequest struct {
	Reason string `json:"reason"`
}

// apiVersionList answers GET /api/v1/models/{name}/versions with {"versions": [...]}.
func (a *App) apiVersionList(c echo.Context) error {
	vs, err := a.store.ListVersions(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"versions": vs})
}

// apiVersionGet answers GET /api/v1/models/{name}/versions/{version}; "scorable" is
// false, and "external" holds the source and the reason, for a version driftd cannot
// score.
func (a *App) apiVersionGet(c echo.Context) error {
	v, err := a.store.GetVersion(c.Request().Context(), c.Param("name"), c.Param("version"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// apiVersionArtifact answers GET .../versions/{version}/artifact with the model file;
// a version driftd cannot score (registered through MLflow from another source) has
// none: a 400 naming the version, its source and why.
func (a *App) apiVersionArtifact(c echo.Context) error {
	b, err := a.store.Artifact(c.Request().Context(), c.Param("name"), c.Param("version"))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition,
		fmt.Sprintf("attachment; filename=%q", c.Param("name")+"-"+c.Param("version")+".model"))
	return c.Blob(http.StatusOK, echo.MIMEOctetStream, b)
}

// apiVersionRegister answers POST /api/v1/models/{name}/versions. The body is the file
// written by `driftd train --out` (application/octet-stream); with ?run_id=R and an empty
// body the run's artifact named by ?artifact= (default "model") is registered instead.
// Optional ?version= and ?description=. Answers 201 with the version.
func (a *App) apiVersionRegister(c echo.Context) error {
	if c.QueryParam("format") != "" { // an XGBoost or LightGBM model file: see apiVersionImport
		return a.apiVersionImport(c)
	}
	ctx := userContext(c)
	body, err := a.readUpload(c, "artifact")
	if err != nil {
		return err
	}
	runID := c.QueryParam("run_id")
	if len(body) == 0 && runID != "" {
		name := c.QueryParam("artifact")
		if name == "" {
			name = "model"
		}
		if body, err = a.store.RunArtifact(ctx, runID, name); err != nil {
			return err
		}
	}
	if len(body) == 0 {
		return badRequest("artifact", "empty body: send the model file written by `driftd train --out` as application/octet-stream")
	}
	opts, err := registerOptions(body)
	if err != nil {
		return err
	}
	opts.Version, opts.Description, opts.RunID = c.QueryParam("version"), c.QueryParam("description"), runID
	v, err := a.store.Register(ctx, body, c.Param("name"), opts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

// registerOptions decodes an artifact and extracts the metadata the registry stores,
// rejecting corrupt or truncated files before anything is written.
func registerOptions(artifact []byte) (registry.RegisterOptions, error) {
	m, err := train.Decode(artifact)
	if err != nil {
		return registry.RegisterOptions{}, badRequest("artifact", "not a driftd model file: %v", err)
	}
	opts, err := flows.RegisterOptions(m)
	if err != nil {
		return registry.RegisterOptions{}, badRequest("artifact", "%v", err)
	}
	return opts, nil
}

// apiVersionArchive answers POST .../versions/{version}/archive (409 while deployed).
func (a *App) apiVersionArchive(c echo.Context) error {
	return a.setVersionStatus(c, true)
}

// apiVersionUnarchive answers POST .../versions/{version}/unarchive.
func (a *App) apiVersionUnarchive(c echo.Context) error {
	return a.setVersionStatus(c, false)
}

func (a *App) setVersionStatus(c echo.Context, archive bool) error {
	var req statusRequest
	if c.Request().ContentLength != 0 {
		if err := bindBody(c, &req); err != nil {
			return err
		}
	}
	ctx, name, version := userContext(c), c.Param("name"), c.Param("version")
	var err error
	if archive {
		err = a.store.Archive(ctx, name, version, req.Reason)
	} else {
		err = a.store.Unarchive(ctx, name, version, req.Reason)
	}
	if err != nil {
		return err
	}
	v, err := a.store.GetVersion(ctx, name, version)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// apiVersionDelete answers DELETE .../versions/{version}[?reason=] with 204 (409 while
// deployed or aliased).
func (a *App) apiVersionDelete(c echo.Context) error {
	if err := a.store.DeleteVersion(userContext(c), c.Param("name"), c.Param("version"), c.QueryParam("reason")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
