package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
	"driftd/web"
)

// recentRuns is how many flow runs the Pipeline page lists.
const recentRuns = 15

// uiPipeline shows the Pipeline page. With ?fragment=1 it answers only the
// live slots (scorer, producer, queues, recent runs), which
// web/static/app.js fetches every 2 seconds.
func (a *App) uiPipeline(c echo.Context) error {
	p := a.page(c, "pipeline", "Pipeline")
	v, err := a.pipelineView(c)
	if err != nil {
		return err
	}
	if c.QueryParam("fragment") == "1" {
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.PipelineFragment(p, v))
	}
	v.Message = c.QueryParam("msg")
	return a.renderPage(c, p, web.PipelineBody(p, v))
}

// pipelineView gathers the page's state; the forms hold their defaults.
func (a *App) pipelineView(c echo.Context) (web.PipelineView, error) {
	v := web.PipelineView{
		CanOperate:         canOperate(c),
		ScoringModel:       a.cfg.ModelName,
		ScoringEnvironment: a.cfg.ScoringEnvironment,
		ProducerForm:       web.ProducerForm{Rate: "20", Rows: "1000"},
		Now:                a.now(),
	}
	if a.pipeline != nil {
		st := a.pipeline.ScorerStatus()
		v.Scorer = web.ScorerView{State: st.State, Reason: st.Reason, Model: st.Model, Version: st.Version,
			Consumed: st.Consumed, Produced: st.Produced, DeadLettered: st.DeadLettered}
		if why := a.pipeline.Paused(); why != "" {
			v.ScorerPaused, v.Scorer.State, v.Scorer.Reason = true, "paused", why
		}
	}
	if a.synth != nil {
		s := a.synth.Status()
		v.Producer = web.ProducerView{Running: s.Running, Model: s.Model, Version: s.Version, Topic: s.Topic,
			Sent: uint64(s.Sent), Acked: uint64(s.Acked), Failed: uint64(s.Failed), Rate: s.Rate, Rows: s.Spec.Rows,
			Drift: s.Spec.Drift, StartedAt: s.StartedAt, EndedAt: s.EndedAt, LastError: s.LastError}
		if !s.StartedAt.IsZero() {
			v.ProducerForm = web.ProducerForm{Rate: ftoa(s.Spec.Rate), Rows: strconv.Itoa(s.Spec.Rows), Drift: s.Spec.Drift}
		}
	}
	if a.engine == nil {
		return v, nil
	}
	for _, q := range a.engine.Queues() {
		v.Queues = append(v.Queues, web.QueueRow{Name: q.Name, Limit: q.Limit, Running: q.Running, Waiting: q.Waiting, MaxWaiting: q.MaxWaiting})
	}
	runs, err := a.engine.List(c.Request().Context(), scheduler.RunFilter{Limit: recentRuns})
	if err != nil {
		return v, err
	}
	for _, r := range runs {
		v.Runs = append(v.Runs, flowRunRow(r, v.Now))
	}
	for _, f := range a.engine.Flows() {
		v.Flows = append(v.Flows, flowForm(f))
	}
	return v, nil
}

// flowForm builds the form of a flow from its schema, holding the defaults.
func flowForm(f scheduler.Flow) web.FlowForm {
	ff := web.FlowForm{Name: f.Name, Description: f.Description, Queue: f.Queue}
	if ff.Queue == "" {
		ff.Queue = "default"
	}
	for _, p := range f.Params {
		if p.Hidden {
			continue
		}
		fld := web.ParamField{Name: p.Name, Type: p.Type, Required: p.Required, Help: p.Help, Enum: p.Enum,
			Value: paramText(p.Default)}
		if b, ok := p.Default.(bool); ok {
			fld.Checked, fld.Value = b, ""
		}
		ff.Fields = append(ff.Fields, fld)
	}
	return ff
}

// paramText shows a parameter value (a default or a stored value) as a
// form field holds it.
func paramText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Duration:
		return x.String()
	case float64:
		return ftoa(x)
	case float32:
		return ftoa(float64(x))
	}
	return fmt.Sprint(v)
}

// flowRunRow is one run as the runs tables show it.
func flowRunRow(r scheduler.Run, now time.Time) web.FlowRunRow {
	return web.FlowRunRow{ID: r.ID, Flow: r.Flow, State: r.State, Trigger: triggerText(r.Trigger),
		TriggerReason: r.Trigger.Reason, Created: r.CreatedAt, Started: r.StartedAt, Duration: r.Duration(now),
		Attempts: r.Attempts, Error: firstLine(r.Error)}
}

// triggerText says who or what started a run: "manual by admin",
// "schedule hourly-drift", "drift".
func triggerText(t scheduler.Trigger) string {
	if t.By == "" {
		return t.Kind
	}
	if t.Kind == scheduler.TriggerManual {
		return t.Kind + " by " + t.By
	}
	return t.Kind + " " + t.By
}

// firstLine shortens an error for a table: its first line, at most 160 characters.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:157] + "…"
	}
	return s
}

// uiFlowSubmit handles POST /pipeline/flows/:flow/runs: it starts a run of
// the flow with the form's parameters (trigger manual, by the user) and
// redirects to the run's page. A refused run shows the page again with the
// reason next to the field it names: 400 for a bad field, 429 for a full
// queue.
func (a *App) uiFlowSubmit(c echo.Context) error {
	if a.engine == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
	}
	name := c.Param("flow")
	flow, ok := a.engine.Flow(name)
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no flow %q", name))
	}
	raw := map[string]any{}
	for _, p := range flow.Params {
		if p.Hidden {
			continue
		}
		val := strings.TrimSpace(c.FormValue("param." + p.Name))
		if p.Type == scheduler.TypeBool {
			raw[p.Name] = strconv.FormatBool(val != "")
		} else if val != "" {
			raw[p.Name] = val
		}
	}
	user := currentUser(c).Name
	// The run outlives the request; only the submission is the request's.
	ctx := context.WithoutCancel(userContext(c))
	run, err := a.engine.Submit(ctx, name, raw, scheduler.SubmitOptions{Trigger: scheduler.Trigger{Kind: scheduler.TriggerManual, By: user}})
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/flow-runs/"+url.PathEscape(run.ID))
	}
	status, body := a.classify(err)
	if errors.Is(err, scheduler.ErrQueueFull) {
		status = http.StatusTooManyRequests
	}
	if status >= 500 {
		return err
	}
	v, verr := a.pipelineView(c)
	if verr != nil {
		return verr
	}
	for i := range v.Flows {
		f := &v.Flows[i]
		if f.Name != name {
			continue
		}
		f.Open = true
		field := ""
		var pe *scheduler.ParamError
		if errors.As(err, &pe) {
			field = strings.TrimPrefix(pe.Field, "params.")
		}
		placed := false
		for j := range f.Fields {
			fld := &f.Fields[j]
			fld.Value = c.FormValue("param." + fld.Name)
			fld.Checked = fld.Value != ""
			if fld.Type == scheduler.TypeBool {
				fld.Value = ""
			}
			if pe != nil && fld.Name == field {
				fld.Error, placed = pe.Msg, true
			}
		}
		if !placed {
			f.Error = body.Error
			if status == http.StatusTooManyRequests {
				f.Error = "The " + f.Queue + " queue is full; try again when a run has finished. (" + body.Error + ")"
			}
		}
	}
	v.Error = "The run was not started: " + body.Error
	p := a.page(c, "pipeline", "Pipeline")
	return renderStatus(c, status, p, web.PipelineBody(p, v))
}

// uiScorerPause pauses scoring: records wait in Kafka until resumed.
func (a *App) uiScorerPause(c echo.Context) error {
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" {
		reason = "paused by " + currentUser(c).Name
	} else {
		reason += " (" + currentUser(c).Name + ")"
	}
	a.pipeline.Pause(reason)
	return c.Redirect(http.StatusSeeOther, "/pipeline?msg="+url.QueryEscape("Scoring paused: records wait in Kafka."))
}

// uiScorerResume resumes scoring with the deployed version.
func (a *App) uiScorerResume(c echo.Context) error {
	a.pipeline.Resume()
	return c.Redirect(http.StatusSeeOther, "/pipeline?msg="+url.QueryEscape("Scoring resumed."))
}

// uiProducerStart starts the synthetic producer with the form's rate, row
// count and drift spec; a refused start shows the form again with the
// reason next to its field (400) or above it (409).
func (a *App) uiProducerStart(c echo.Context) error {
	form := web.ProducerForm{Rate: strings.TrimSpace(c.FormValue("rate")), Rows: strings.TrimSpace(c.FormValue("rows")),
		Drift: strings.TrimSpace(c.FormValue("drift"))}
	spec := SynthSpec{Drift: form.Drift}
	var err error
	if spec.Rate, err = strconv.ParseFloat(form.Rate, 64); err != nil {
		err = badRequest("rate", "must be a number of records per second")
	} else if form.Rows != "" {
		if spec.Rows, err = strconv.Atoi(form.Rows); err != nil {
			err = badRequest("rows", "must be a whole number")
		}
	}
	if err == nil {
		if a.synth == nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "the synthetic producer is not running")
		}
		err = a.synth.Start(userContext(c), spec)
	}
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/pipeline?msg="+url.QueryEscape("Producing synthetic records."))
	}
	status, body := a.classify(err)
	if status >= 500 {
		return err
	}
	v, verr := a.pipelineView(c)
	if verr != nil {
		return verr
	}
	form.Error = body.Error
	var fe *fieldErr
	if errors.As(err, &fe) {
		form.Field, form.Error = fe.field, fe.msg
	}
	v.ProducerForm = form
	v.Error = "The producer did not start: " + body.Error
	p := a.page(c, "pipeline", "Pipeline")
	return renderStatus(c, status, p, web.PipelineBody(p, v))
}

// uiProducerStop stops the synthetic producer.
func (a *App) uiProducerStop(c echo.Context) error {
	if a.synth == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the synthetic producer is not running")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 10*time.Second)
	defer cancel()
	if err := a.synth.Stop(ctx); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/pipeline?msg="+url.QueryEscape("Synthetic producer stopped."))
}
