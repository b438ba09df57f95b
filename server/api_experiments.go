package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// experimentRequest is the body of POST /api/v1/experiments.
type experimentRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags"`
}

// apiExperimentList answers GET /api/v1/experiments with {"experiments": [...]}.
func (a *App) apiExperimentList(c echo.Context) error {
	exps, err := a.store.ListExperiments(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"experiments": exps})
}

// apiExperimentCreate answers POST /api/v1/experiments with the new experiment (201).
func (a *App) apiExperimentCreate(c echo.Context) error {
	var req experimentRequest
	if err := bindBody(c, &req); err != nil {
		return err
	}
	e, err := a.store.CreateExperiment(userContext(c), req.Name, req.Description, req.Tags)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, e)
}

// apiExperimentGet answers GET /api/v1/experiments/{id}.
func (a *App) apiExperimentGet(c echo.Context) error {
	e, err := a.store.GetExperiment(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, e)
}
