package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"driftd/server/flows"
	"driftd/train"
	"driftd/web"
)

// uiTraining shows the Training page: the jobs, the loss curve of one job
// (?run=ID, else the running or newest one) and the form; ?data=PATH fills
// the form's data field and offers the file's columns as target and id,
// ?query=SQL does the same with a query when a database is configured.
// With ?fragment=1 it answers only the jobs table, which web/static/app.js
// fetches every 2 seconds.
func (a *App) uiTraining(c echo.Context) error {
	v := a.trainingView(c)
	if c.QueryParam("fragment") == "1" {
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.TrainingFragment(v))
	}
	if d := c.QueryParam("data"); d != "" && v.CanTrain {
		v.Form.Data = d
		a.fillColumns(c.Request().Context(), &v)
	}
	if q := c.QueryParam("query"); q != "" && v.CanTrain && v.Database != "" {
		v.Form.Source, v.Form.Query = "query", q
		a.fillColumns(c.Request().Context(), &v)
	}
	v.Curve = a.trainingCurve(c, v.Jobs, c.QueryParam("run"))
	p := a.page(c, "training", "Training")
	return a.renderPage(c, p, web.TrainingBody(p, v))
}

// uiTrainSubmit handles POST /training: it queues the job through the same
// code path as POST /api/v1/train and redirects to the Training page. A
// refused request shows the page again with the reason and the values sent.
func (a *App) uiTrainSubmit(c echo.Context) error {
	_, err := a.submitTrainingForm(c)
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/training")
	}
	status, body := a.classify(err)
	if status >= 500 {
		return err
	}
	v := a.trainingView(c)
	v.Error = body.Error
	v.Form = trainingFormFrom(c, v.Form)
	if v.Form.Data != "" || v.Form.Source == "query" && v.Form.Query != "" {
		a.fillColumns(c.Request().Context(), &v)
	}
	v.Curve = a.trainingCurve(c, v.Jobs, "")
	p := a.page(c, "training", "Training")
	ctx := templ.WithChildren(c.Request().Context(), web.TrainingBody(p, v))
	return render(ctx, c, status, web.Layout(p))
}

// fillColumns reads the columns of the form's data file (or of its query,
// when that is the source) for the target and id selects; a path or query
// the user got wrong is shown beside the field.
func (a *App) fillColumns(ctx context.Context, v *web.TrainingView) {
	var cols []string
	var err error
	if v.Form.Source == "query" {
		cols, err = a.queryColumns(ctx, v.Form.Query)
	} else {
		_, cols, err = a.dataColumns(v.Form.Data)
	}
	var ce *columnsError
	switch {
	case errors.As(err, &ce):
		v.ColumnsError = ce.msg
	case err != nil:
		v.ColumnsError = "data: " + err.Error()
	default:
		v.Columns = cols
	}
}

// trainingView builds the page from the train flow's runs: live ones from
// the scheduler's memory, ended ones from the registry.
func (a *App) trainingView(c echo.Context) web.TrainingView {
	d := train.DefaultParams()
	v := web.TrainingView{
		CanTrain:     roleRank[currentUser(c).Role] >= roleRank[RoleOperator],
		Database:     a.databaseName(),
		Environments: a.store.Environments(),
		QueueMax:     a.trainQueueMax(),
		Form: web.TrainingForm{Algo: "gbdt", Model: a.cfg.ModelName, Rounds: d.Rounds, MaxLeaves: d.MaxLeaves,
			MaxDepth: d.MaxDepth, EarlyStopping: d.EarlyStopping, LearningRate: d.LearningRate,
			LogisticC: d.LogisticC, LogisticMaxIter: d.LogisticMaxIter, Register: true},
	}
	jobs, err := a.trainJobs(c.Request().Context())
	if err != nil {
		v.Error = "training runs: " + err.Error()
	}
	for _, j := range jobs {
		v.Jobs = append(v.Jobs, a.trainingJobRow(c, j))
	}
	return v
}

// trainingJobRow turns a training job into a row; the algorithm is looked
// up only for a job that stopped early, whose progress words depend on it.
func (a *App) trainingJobRow(c echo.Context, j TrainJobStatus) web.TrainingJobRow {
	row := web.TrainingJobRow{RunID: j.RunID, Model: j.Model, State: j.State, Error: j.Error, Version: j.Version,
		DeployedTo: j.DeployedTo, MetricName: j.MetricName, Round: j.Round, Rounds: j.Rounds,
		TrainLoss: orNaN(j.TrainLoss), ValidLoss: orNaN(j.ValidLoss), ValidMetric: orNaN(j.ValidMetric),
		Elapsed: time.Duration(j.ElapsedSeconds * float64(time.Second))}
	if row.EarlyStop() && j.FlowRunID != "" {
		if r, err := a.engine.Get(c.Request().Context(), j.FlowRunID); err == nil {
			row.Algo, _ = r.Params["algo"].(string)
		}
	}
	return row
}

// trainingFormFrom keeps the values of a refused submission in the form.
func trainingFormFrom(c echo.Context, f web.TrainingForm) web.TrainingForm {
	get := func(k string) string { return c.FormValue(k) }
	f.Data, f.Target, f.ID, f.Algo, f.Model, f.Deploy = get("data"), get("target"), get("id"), get("algo"), get("model"), get("deploy")
	f.Source, f.Query = get("source"), get("query")
	for k, dst := range map[string]*int{"rounds": &f.Rounds, "max_leaves": &f.MaxLeaves, "max_depth": &f.MaxDepth,
		"early_stopping": &f.EarlyStopping, "logistic_max_iter": &f.LogisticMaxIter} {
		if n, err := strconv.Atoi(get(k)); err == nil {
			*dst = n
		}
	}
	for k, dst := range map[string]*float64{"learning_rate": &f.LearningRate, "logistic_c": &f.LogisticC} {
		if x, err := strconv.ParseFloat(get(k), 64); err == nil {
			*dst = x
		}
	}
	f.Register = get("register") != ""
	return f
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// trainQueueMax is how many training runs may wait behind the running one.
func (a *App) trainQueueMax() int {
	for _, q := range a.engine.Queues() {
		if q.Name == flows.QueueTraining {
			return q.MaxWaiting
		}
	}
	return 0
}
