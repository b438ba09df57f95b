package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/web"
)

// uiTrainingChart answers GET /training/jobs/:id/chart, where id is the
// job's experiment run: the HTML fragment of its loss curve and progress,
// which the Training page fetches every 2 seconds while the job runs (the
// fragment of an ended job carries data-final, which stops the polling).
// An unknown run is a 404.
func (a *App) uiTrainingChart(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	jobs, err := a.trainJobs(ctx)
	if err != nil {
		return fmt.Errorf("training jobs: %w", err)
	}
	var row *web.TrainingJobRow
	for _, j := range jobs {
		if j.RunID == id {
			r := a.trainingJobRow(c, j)
			row = &r
			break
		}
	}
	if row == nil { // an older run, no longer among the recent jobs
		r, err := a.store.GetRun(ctx, id)
		if err != nil {
			return fmt.Errorf("training run %s: %w", id, err)
		}
		row = &web.TrainingJobRow{RunID: r.ID, State: r.Status}
	}
	curve, err := a.lossCurve(ctx, *row)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(ctx, c, http.StatusOK, web.TrainingCurveFragment(curve))
}

// trainingCurve is the curve the Training page shows: the job of run want,
// else the first job (running, else queued, else the newest ended); nil
// without jobs. A curve that cannot be read is left out.
func (a *App) trainingCurve(c echo.Context, jobs []web.TrainingJobRow, want string) *web.TrainingCurve {
	if len(jobs) == 0 {
		return nil
	}
	row := jobs[0]
	for _, j := range jobs {
		if want != "" && j.RunID == want {
			row = j
			break
		}
	}
	curve, err := a.lossCurve(c.Request().Context(), row)
	if err != nil {
		a.logger.Warn("training loss curve", "run_id", row.RunID, "err", err)
		return nil
	}
	return &curve
}

// lossCurve reads the train and validation loss a job's run has logged so
// far and draws them overlaid. A run with no rounds yet (or not yet
// created, while the job waits) has no chart.
func (a *App) lossCurve(ctx context.Context, row web.TrainingJobRow) (web.TrainingCurve, error) {
	curve := web.TrainingCurve{Job: row}
	chart := web.StepChart{Label: "train and validation loss by round"}
	for _, s := range []struct{ key, name, class string }{{"train_loss", "train", "alt"}, {"valid_loss", "validation", ""}} {
		if row.RunID == "" {
			break
		}
		pts, err := a.store.MetricHistory(ctx, row.RunID, s.key)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return curve, fmt.Errorf("loss curve of run %s: %w", row.RunID, err)
		}
		if len(pts) > 0 {
			chart.Lines = append(chart.Lines, stepLine(s.name, s.class, pts))
		}
	}
	if len(chart.Lines) > 0 {
		curve.Chart = &chart
	}
	return curve, nil
}
