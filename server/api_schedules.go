package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
)

// scheduleRequest is the body of POST /api/v1/schedules.
type scheduleRequest struct {
	Name     string         `json:"name"`
	Flow     string         `json:"flow"`
	Cron     string         `json:"cron"`
	Every    string         `json:"every"`
	Params   map[string]any `json:"params"`
	Timezone string         `json:"timezone"`
	Enabled  *bool          `json:"enabled"`
	Catchup  string         `json:"catchup"`
	Overlap  string         `json:"overlap"`
	Queue    string         `json:"queue"`
}

// apiScheduleCreate answers POST /api/v1/schedules: 201 with the schedule,
// its "id" and "next_run_at"; 400 naming a bad field (a bad cron expression,
// an unknown flow or parameter).
func (a *App) apiScheduleCreate(c echo.Context) error {
	var req scheduleRequest
	if err := decodeJSONBody(c, &req); err != nil {
		return err
	}
	enabled := true
	if req.Enabled != nil {
		enabled = *req.Enabled
	}
	s, err := a.engine.CreateSchedule(c.Request().Context(), scheduler.Schedule{
		Name: req.Name, Flow: req.Flow, Cron: req.Cron, Every: req.Every, Params: req.Params,
		Timezone: req.Timezone, Enabled: enabled, Catchup: req.Catchup, Overlap: req.Overlap,
		Queue: req.Queue, By: currentUser(c).Name,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s)
}

// apiScheduleList answers GET /api/v1/schedules with {"schedules": [...]}.
func (a *App) apiScheduleList(c echo.Context) error {
	ss, err := a.engine.Schedules(c.Request().Context())
	if err != nil {
		return err
	}
	if ss == nil {
		ss = []scheduler.Schedule{}
	}
	return c.JSON(http.StatusOK, map[string]any{"schedules": ss})
}

// apiScheduleGet answers GET /api/v1/schedules/{id}.
func (a *App) apiScheduleGet(c echo.Context) error {
	s, err := a.engine.GetSchedule(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s)
}

// apiScheduleUpdate answers PATCH /api/v1/schedules/{id}: only the fields
// present change (pause with {"enabled": false}).
func (a *App) apiScheduleUpdate(c echo.Context) error {
	var p scheduler.SchedulePatch
	if err := decodeJSONBody(c, &p); err != nil {
		return err
	}
	s, err := a.engine.UpdateSchedule(c.Request().Context(), c.Param("id"), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s)
}

// apiScheduleDelete answers DELETE /api/v1/schedules/{id} with 204.
func (a *App) apiScheduleDelete(c echo.Context) error {
	if err := a.engine.DeleteSchedule(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiScheduleRun answers POST /api/v1/schedules/{id}/run: run it now, 202
// with the run.
func (a *App) apiScheduleRun(c echo.Context) error {
	run, err := a.engine.RunSchedule(c.Request().Context(), c.Param("id"), currentUser(c).Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, run)
}
