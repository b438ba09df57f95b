package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
	"driftd/web"
)

// scheduleRunsShown is how many runs a schedule's page lists.
const scheduleRunsShown = 50

// uiSchedules shows the Schedules page: the list and the create form. With
// ?fragment=1 it answers only the list, which web/static/app.js fetches
// every 2 seconds so next fire times and last runs stay current.
func (a *App) uiSchedules(c echo.Context) error {
	if err := a.needEngine(); err != nil {
		return err
	}
	p := a.page(c, "schedules", "Schedules")
	v, err := a.schedulesView(c)
	if err != nil {
		return err
	}
	if c.QueryParam("fragment") == "1" {
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.SchedulesList(p, v))
	}
	v.Message = c.QueryParam("msg")
	return a.renderPage(c, p, web.SchedulesBody(p, v))
}

// schedulesView lists the schedules and holds an empty create form.
func (a *App) schedulesView(c echo.Context) (web.SchedulesView, error) {
	ctx := c.Request().Context()
	v := web.SchedulesView{CanOperate: canOperate(c), Now: a.now(), Form: a.newScheduleForm()}
	list, err := a.engine.Schedules(ctx)
	if err != nil {
		return v, err
	}
	for _, s := range list {
		v.Schedules = append(v.Schedules, a.scheduleRow(ctx, s))
	}
	return v, nil
}

// uiScheduleCreate handles POST /schedules. A refused schedule shows the
// page again with the reason next to the field it names (400).
func (a *App) uiScheduleCreate(c echo.Context) error {
	if err := a.needEngine(); err != nil {
		return err
	}
	form := a.scheduleFormFrom(c, a.newScheduleForm())
	s := scheduler.Schedule{Name: form.Name, Flow: form.Flow, Timezone: form.Timezone, Enabled: form.Enabled,
		Catchup: form.Catchup, Overlap: form.Overlap, Queue: form.Queue, By: currentUser(c).Name}
	s.Cron, s.Every = splitWhen(form.When)
	var err error
	if s.Params, err = parseParamsJSON(form.Params); err == nil {
		s, err = a.engine.CreateSchedule(userContext(c), s)
	}
	if err == nil {
		msg := "Created schedule " + s.Name + "."
		if !s.NextRunAt.IsZero() {
			msg += " Next run at " + s.NextRunAt.UTC().Format("15:04:05Z") + "."
		}
		return c.Redirect(http.StatusSeeOther, "/schedules?msg="+url.QueryEscape(msg))
	}
	status, body := a.classify(err)
	if status >= 500 {
		return err
	}
	v, verr := a.schedulesView(c)
	if verr != nil {
		return verr
	}
	form.Errors = scheduleFieldErrors(err, body.Error)
	v.Form = form
	v.Error = "The schedule was not created: " + body.Error
	p := a.page(c, "schedules", "Schedules")
	return renderStatus(c, status, p, web.SchedulesBody(p, v))
}

// uiSchedule shows one schedule: its state, the edit form and its runs.
// With ?fragment=1 it answers only the live part (state and runs).
func (a *App) uiSchedule(c echo.Context) error {
	if err := a.needEngine(); err != nil {
		return err
	}
	v, err := a.scheduleView(c)
	if err != nil {
		return err
	}
	p := a.page(c, "schedules", "Schedule "+v.Schedule.Name)
	if c.QueryParam("fragment") == "1" {
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.ScheduleLive(p, v))
	}
	v.Message = c.QueryParam("msg")
	return a.renderPage(c, p, web.ScheduleBody(p, v))
}

// scheduleView reads the schedule of the request's :id with its runs.
func (a *App) scheduleView(c echo.Context) (web.ScheduleView, error) {
	ctx := c.Request().Context()
	s, err := a.getSchedule(ctx, c.Param("id"))
	if err != nil {
		return web.ScheduleView{}, err
	}
	v := web.ScheduleView{CanOperate: canOperate(c), Now: a.now(), Schedule: a.scheduleRow(ctx, s)}
	f := a.newScheduleForm()
	f.ID, f.Name, f.Flow, f.When, f.Timezone = s.ID, s.Name, s.Flow, v.Schedule.When, s.Timezone
	f.Enabled, f.Catchup, f.Overlap, f.Queue = s.Enabled, s.Catchup, s.Overlap, s.Queue
	f.Params = "{}"
	if len(s.Params) > 0 {
		if b, err := json.MarshalIndent(s.Params, "", "  "); err == nil {
			f.Params = string(b)
		}
	}
	v.Form = f
	runs, err := a.engine.List(ctx, scheduler.RunFilter{ScheduleID: s.ID, Limit: scheduleRunsShown})
	if err != nil {
		return v, err
	}
	for _, r := range runs {
		v.Runs = append(v.Runs, flowRunRow(r, v.Now))
	}
	return v, nil
}

// uiScheduleUpdate handles POST /schedules/:id, the edit form. A refused
// change shows the page again with the reason next to its field (400).
func (a *App) uiScheduleUpdate(c echo.Context) error {
	if err := a.needEngine(); err != nil {
		return err
	}
	id := c.Param("id")
	cur, err := a.getSchedule(c.Request().Context(), id)
	if err != nil {
		return err
	}
	base := a.newScheduleForm()
	base.ID, base.Flow = id, cur.Flow
	form := a.scheduleFormFrom(c, base)
	form.Flow = cur.Flow
	cron, every := splitWhen(form.When)
	patch := scheduler.SchedulePatch{Name: &form.Name, Cron: &cron, Every: &every, Timezone: &form.Timezone,
		Enabled: &form.Enabled, Catchup: &form.Catchup, Overlap: &form.Overlap, Queue: &form.Queue}
	params, err := parseParamsJSON(form.Params)
	if err == nil {
		patch.Params = &params
		_, err = a.engine.UpdateSchedule(userContext(c), id, patch)
	}
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/schedules/"+url.PathEscape(id)+"?msg="+url.QueryEscape("Saved."))
	}
	status, body := a.classify(err)
	if status >= 500 {
		return err
	}
	v, verr := a.scheduleView(c)
	if verr != nil {
		return verr
	}
	form.Errors = scheduleFieldErrors(err, body.Error)
	v.Form = form
	v.Error = "The schedule was not saved: " + body.Error
	p := a.page(c, "schedules", "Schedule "+v.Schedule.Name)
	return renderStatus(c, status, p, web.ScheduleBody(p, v))
}

// uiSchedulePause stops a schedule from firing until it is resumed.
func (a *App) uiSchedulePause(c echo.Context) error { return a.setScheduleEnabled(c, false) }

// uiScheduleResume lets a paused schedule fire again.
func (a *App) uiScheduleResume(c echo.Context) error { return a.setScheduleEnabled(c, true) }

// setScheduleEnabled pauses or resumes the schedule of :id and goes back to
// the page the form was on.
func (a *App) setScheduleEnabled(c echo.Context, enabled bool) error {
	if err := a.needEngine(); err != nil {
		return err
	}
	s, err := a.engine.UpdateSchedule(userContext(c), c.Param("id"), scheduler.SchedulePatch{Enabled: &enabled})
	if err != nil {
		return scheduleNotFound(err, c.Param("id"))
	}
	msg := "Paused " + s.Name + "."
	if enabled {
		msg = "Resumed " + s.Name + "."
	}
	return c.Redirect(http.StatusSeeOther, backToSchedules(c, s.ID)+"?msg="+url.QueryEscape(msg))
}

// uiScheduleDelete deletes a schedule; its runs stay.
func (a *App) uiScheduleDelete(c echo.Context) error {
	if err := a.needEngine(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	s, err := a.getSchedule(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if err := a.engine.DeleteSchedule(userContext(c), s.ID); err != nil {
		return scheduleNotFound(err, s.ID)
	}
	return c.Redirect(http.StatusSeeOther, "/schedules?msg="+url.QueryEscape("Deleted schedule "+s.Name+"."))
}

// uiScheduleRun starts a run of the schedule now and opens its page.
func (a *App) uiScheduleRun(c echo.Context) error {
	if err := a.needEngine(); err != nil {
		return err
	}
	ctx := context.WithoutCancel(userContext(c))
	r, err := a.engine.RunSchedule(ctx, c.Param("id"), currentUser(c).Name)
	if err != nil {
		return scheduleNotFound(err, c.Param("id"))
	}
	return c.Redirect(http.StatusSeeOther, "/flow-runs/"+url.PathEscape(r.ID))
}

// needEngine answers 503 when the run engine is not wired (a bare App in a test).
func (a *App) needEngine() error {
	if a.engine == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
	}
	return nil
}

// getSchedule reads a schedule, answering 404 for an unknown id.
func (a *App) getSchedule(ctx context.Context, id string) (scheduler.Schedule, error) {
	s, err := a.engine.GetSchedule(ctx, id)
	return s, scheduleNotFound(err, id)
}

// scheduleNotFound turns the engine's not-found error into a 404 that names
// the schedule; other errors pass through.
func scheduleNotFound(err error, id string) error {
	if errors.Is(err, scheduler.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no schedule %q", id))
	}
	return err
}

// backToSchedules is where a row button returns: the schedule's page when
// the form was posted from it, the list otherwise.
func backToSchedules(c echo.Context, id string) string {
	page := "/schedules/" + url.PathEscape(id)
	if ref, err := url.Parse(c.Request().Referer()); err == nil && ref.Path == page {
		return page
	}
	return "/schedules"
}

// canOperate reports whether the user may change things (operator or admin).
func canOperate(c echo.Context) bool {
	return roleRank[currentUser(c).Role] >= roleRank[RoleOperator]
}

// scheduleRow is one schedule as the list and its page show it.
func (a *App) scheduleRow(ctx context.Context, s scheduler.Schedule) web.ScheduleRow {
	row := web.ScheduleRow{ID: s.ID, Name: s.Name, Flow: s.Flow, When: s.Cron, Timezone: s.Timezone, Enabled: s.Enabled,
		Catchup: s.Catchup, Overlap: s.Overlap, Queue: s.Queue, NextRun: s.NextRunAt, LastFire: s.LastFiredAt,
		LastRunID: s.LastRunID}
	if s.Every != "" {
		row.When = s.Every
		if !strings.HasPrefix(row.When, "@every") {
			row.When = "@every " + row.When
		}
	}
	if s.LastRunID != "" {
		if r, err := a.engine.Get(ctx, s.LastRunID); err == nil {
			row.LastRunState = r.State
		}
	}
	return row
}

// newScheduleForm is the create form with its defaults: the drift-check
// flow when there is one, enabled, catch-up and overlap "skip".
func (a *App) newScheduleForm() web.ScheduleForm {
	f := web.ScheduleForm{Enabled: true, Catchup: scheduler.CatchupSkip, Overlap: scheduler.OverlapSkip, Params: "{}"}
	for _, fl := range a.engine.Flows() {
		h := web.FlowHelp{Name: fl.Name, Description: fl.Description}
		for _, p := range fl.Params {
			if !p.Hidden {
				h.Params = append(h.Params, web.ParamHelp{Name: p.Name, Type: p.Type, Default: paramText(p.Default), Help: p.Help, Required: p.Required})
			}
		}
		f.Flows = append(f.Flows, h)
		if f.Flow == "" || fl.Name == "drift-check" {
			f.Flow = fl.Name
		}
	}
	for _, q := range a.engine.Queues() {
		f.Queues = append(f.Queues, q.Name)
	}
	return f
}

// scheduleFormFrom reads the posted schedule form over f's lists.
func (a *App) scheduleFormFrom(c echo.Context, f web.ScheduleForm) web.ScheduleForm {
	get := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f.Name, f.When, f.Timezone, f.Params = get("name"), get("cron"), get("timezone"), get("params")
	f.Catchup, f.Overlap, f.Queue = get("catchup"), get("overlap"), get("queue")
	if fl := get("flow"); fl != "" {
		f.Flow = fl
	}
	f.Enabled = get("enabled") != ""
	return f
}

// splitWhen sorts the form's one timing field into the schedule's Cron or
// Every: an interval ("10m", "@every 10m") is Every, anything else Cron.
func splitWhen(when string) (cron, every string) {
	if strings.HasPrefix(when, "@every") {
		return "", when
	}
	if _, err := time.ParseDuration(when); err == nil {
		return "", when
	}
	return when, ""
}

// parseParamsJSON reads the params textarea: a JSON object, or nothing.
func parseParamsJSON(s string) (map[string]any, error) {
	params := map[string]any{}
	if strings.TrimSpace(s) == "" {
		return params, nil
	}
	if err := json.Unmarshal([]byte(s), &params); err != nil || params == nil {
		return nil, badRequest("params", "must be a JSON object such as {\"window\": \"1h\"}")
	}
	return params, nil
}

// scheduleFieldErrors places an error next to the form field it names:
// "every" is the one timing field ("cron"), "params.x" the params box.
// Anything else goes above the form (key "").
func scheduleFieldErrors(err error, msg string) map[string]string {
	field, text := "", msg
	var pe *scheduler.ParamError
	var fe *fieldErr
	switch {
	case errors.As(err, &pe):
		field, text = pe.Field, pe.Msg
		if strings.HasPrefix(field, "params.") {
			text = strings.TrimPrefix(field, "params.") + ": " + text
		}
	case errors.As(err, &fe):
		field, text = fe.field, fe.msg
	case errors.Is(err, scheduler.ErrUnknownFlow):
		field = "flow"
	}
	switch {
	case field == "every":
		field = "cron"
	case strings.HasPrefix(field, "params"):
		field = "params"
	}
	switch field {
	case "name", "flow", "cron", "timezone", "params", "catchup", "overlap", "queue":
		return map[string]string{field: text}
	}
	return map[string]string{"": msg}
}
