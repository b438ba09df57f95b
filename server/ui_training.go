package server

import (
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

// uiTraining shows the Training page: the form and the jobs table. With
// ?fragment=1 it answers only the jobs table, which web/static/app.js fetches
// every 2 seconds.
func (a *App) uiTraining(c echo.Context) error {
	v := a.trainingView(c)
	if c.QueryParam("fragment") == "1" {
		c.Response().Header().Set("Cache-Control", "no-store")
		return render(c.Request().Context(), c, http.StatusOK, web.TrainingFragment(v))
	}
	p := a.page(c, "training", "Training")
	return a.renderPage(c, p, web.TrainingBody(p, v))
}

// uiTrainSubmit handles POST /training: it queues the job through the same
// code path as POST /api/v1/train and redirects to the Training page. A
// refused request shows the page again with the reason and the values sent.
func (a *App) uiTrainSubmit(c echo.Context) error {
	_, err := a.submitTraining(c)
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
	p := a.page(c, "training", "Training")
	ctx := templ.WithChildren(c.Request().Context(), web.TrainingBody(p, v))
	return render(ctx, c, status, web.Layout(p))
}

// trainingView builds the page from the train flow's runs: live ones from
// the scheduler's memory, ended ones from the registry.
func (a *App) trainingView(c echo.Context) web.TrainingView {
	d := train.DefaultParams()
	v := web.TrainingView{
		CanTrain:     roleRank[currentUser(c).Role] >= roleRank[RoleOperator],
		Environments: a.store.Environments(),
		QueueMax:     a.trainQueueMax(),
		Form: web.TrainingForm{Algo: "gbdt", Model: a.cfg.ModelName, Rounds: d.Rounds, MaxLeaves: d.MaxLeaves,
			LearningRate: d.LearningRate, Register: true},
	}
	jobs, err := a.trainJobs(c.Request().Context())
	if err != nil {
		v.Error = "training runs: " + err.Error()
	}
	for _, j := range jobs {
		row := web.TrainingJobRow{RunID: j.RunID, Model: j.Model, State: j.State, Error: j.Error, Version: j.Version,
			DeployedTo: j.DeployedTo, MetricName: j.MetricName, Round: j.Round, Rounds: j.Rounds,
			TrainLoss: orNaN(j.TrainLoss), ValidLoss: orNaN(j.ValidLoss), ValidMetric: orNaN(j.ValidMetric),
			Elapsed: time.Duration(j.ElapsedSeconds * float64(time.Second))}
		v.Jobs = append(v.Jobs, row)
	}
	return v
}

// trainingFormFrom keeps the values of a refused submission in the form.
func trainingFormFrom(c echo.Context, f web.TrainingForm) web.TrainingForm {
	get := func(k string) string { return c.FormValue(k) }
	f.Data, f.Target, f.ID, f.Algo, f.Model, f.Deploy = get("data"), get("target"), get("id"), get("algo"), get("model"), get("deploy")
	if n, err := strconv.Atoi(get("rounds")); err == nil {
		f.Rounds = n
	}
	if n, err := strconv.Atoi(get("max_leaves")); err == nil {
		f.MaxLeaves = n
	}
	if x, err := strconv.ParseFloat(get("learning_rate"), 64); err == nil {
		f.LearningRate = x
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
