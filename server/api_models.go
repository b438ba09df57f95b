package server

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// modelRequest is the body of POST /api/v1/models and PATCH /api/v1/models/{name}.
type modelRequest struct {
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Tags        map[string]string `json:"tags"`
}

// bindBody decodes a JSON request body into v, naming the problem on failure.
func bindBody(c echo.Context, v any) error {
	if err := (&echo.DefaultBinder{}).BindBody(c, v); err != nil {
		return badRequest("", "body is not valid JSON for this call: %v", err)
	}
	return nil
}

// queryInt parses an optional integer query parameter.
func queryInt(c echo.Context, name string) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badRequest(name, "not a non-negative integer: %q", s)
	}
	return n, nil
}

// apiModelList answers GET /api/v1/models with {"models": [...]}.
func (a *App) apiModelList(c echo.Context) error {
	models, err := a.store.ListModels(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"models": models})
}

// apiModelCreate answers POST /api/v1/models with the new model (201).
func (a *App) apiModelCreate(c echo.Context) error {
	var req modelRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	opts := registry.ModelOptions{Tags: req.Tags}
	if req.Description != nil {
		opts.Description = *req.Description
	}
	m, err := a.store.CreateModel(userContext(c), req.Name, opts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, m)
}

// apiModelGet answers GET /api/v1/models/{name} with the model and its environments.
func (a *App) apiModelGet(c echo.Context) error {
	m, err := a.store.GetModel(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

// apiModelUpdate answers PATCH /api/v1/models/{name}: description and/or tags.
func (a *App) apiModelUpdate(c echo.Context) error {
	var req modelRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	m, err := a.store.UpdateModel(userContext(c), c.Param("name"), registry.ModelUpdate{Description: req.Description, Tags: req.Tags})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}
