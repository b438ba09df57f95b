package server

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
	"driftd/server/demo"
	"driftd/server/flows"
)

// Shape of the one-click sample training: the demo's first concept, small
// enough to train in seconds.
const (
	sampleRows   = 3000
	sampleRounds = 40
	sampleSeed   = 1
)

// uiSampleTraining answers the Overview's "Train from sample data": it
// writes the demo's synthetic CSV (concept 0) into the data directory and
// queues a train run of the scored model on it, then goes back to the
// Overview, where the start-here path follows the run. Operators only.
func (a *App) uiSampleTraining(c echo.Context) error {
	if a.engine == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
	}
	p := a.samplePath()
	if err := demo.WriteSampleFile(p, sampleRows, sampleSeed); err != nil {
		return fmt.Errorf("sample data: %w", err)
	}
	params := map[string]any{"data": p, "target": "label", "id": "id", "model": a.cfg.ModelName,
		"experiment": "sample", "rounds": int64(sampleRounds)}
	run, err := a.engine.Submit(c.Request().Context(), flows.FlowTrain, params, scheduler.SubmitOptions{
		Trigger: scheduler.Trigger{Kind: scheduler.TriggerManual, By: currentUser(c).Name, Reason: "train from sample data (Overview)"}})
	if err != nil {
		return trainSubmitError(err)
	}
	msg := fmt.Sprintf("Training %s on %d sample rows: run %s.", a.cfg.ModelName, sampleRows, run.ID)
	return c.Redirect(http.StatusSeeOther, "/?msg="+url.QueryEscape(msg))
}
