package mlflow

import (
	"errors"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// runSearch answers runs/search {experiment_ids, filter, run_view_type,
// max_results, order_by, page_token} with {"runs", "next_page_token"}. The
// filter is MLflow's grammar (see ParseFilter); runs are ordered by order_by,
// then newest first, then by id. No experiment_ids finds nothing, as in MLflow.
func (a *api) runSearch(c echo.Context) (any, error) {
	var req struct {
		ExperimentIDs strList  `json:"experiment_ids"`
		Filter        string   `json:"filter"`
		RunViewType   viewType `json:"run_view_type"`
		MaxResults    optInt   `json:"max_results"`
		OrderBy       strList  `json:"order_by"`
		PageToken     string   `json:"page_token"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	offset, n, err := page(req.MaxResults, req.PageToken, runsPaging)
	if err != nil {
		return nil, err
	}
	f, order, err := parseSearch(runsSchema, req.Filter, req.OrderBy)
	if err != nil {
		return nil, err
	}
	if len(req.ExperimentIDs) == 0 {
		return searchAnswer("runs", []runJSON{}, ""), nil
	}
	ctx := a.ctx(c)
	ids := make([]string, len(req.ExperimentIDs))
	for i, id := range req.ExperimentIDs {
		if ids[i], err = a.experimentID(ctx, id); err != nil {
			return nil, err
		}
	}
	runs, err := a.store.ListRuns(ctx, ids)
	if err != nil {
		return nil, err
	}
	life, err := a.store.Lifecycle(ctx)
	if err != nil {
		return nil, err
	}
	type found struct {
		run     *registry.Run
		deleted bool
	}
	var hits []found
	for i := range runs {
		r := &runs[i]
		deleted := life.RunDeleted(r)
		if req.RunViewType.shows(deleted) && f.match(runField(r, deleted)) {
			hits = append(hits, found{run: r, deleted: deleted})
		}
	}
	order = append(order, OrderKey{Ident: Ident{Kind: kindAttribute, Key: "start_time"}, Desc: true})
	orderBy(hits, order, func(x found) fielder { return runField(x.run, x.deleted) },
		func(x, y found) int { return compareIDs(x.run.ID, y.run.ID) })
	pg, next := slicePage(hits, offset, n)
	out := make([]runJSON, len(pg))
	for i, h := range pg {
		inputs, err := a.store.RunInputs(ctx, h.run.ID)
		if err != nil {
			return nil, err
		}
		out[i] = runOf(h.run, h.deleted, inputs)
	}
	return searchAnswer("runs", out, next), nil
}

// metricHistory answers metrics/get-history ?run_id=&metric_key=[&max_results=
// &page_token=] with {"metrics", "next_page_token"}: every logged value in step
// order, the whole history unless max_results pages it. A metric the run never
// logged has an empty history, as in MLflow.
func (a *api) metricHistory(c echo.Context) (any, error) {
	var req struct {
		runRef
		MetricKey  string `json:"metric_key"`
		MaxResults optInt `json:"max_results"`
		PageToken  string `json:"page_token"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if req.MetricKey == "" {
		return nil, missing("metric_key")
	}
	offset, n, err := page(req.MaxResults, req.PageToken, historyPaging)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	if _, err := a.store.GetRun(ctx, id); err != nil {
		return nil, err
	}
	pts, err := a.store.MetricHistory(ctx, id, req.MetricKey)
	if errors.Is(err, registry.ErrNotFound) {
		pts, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]metricJSON, len(pts))
	for i, p := range pts {
		out[i] = metricJSON{Key: req.MetricKey, Value: p.Value, Timestamp: millis(p.Time), Step: p.Step}
	}
	pg, next := slicePage(out, offset, n)
	return searchAnswer("metrics", pg, next), nil
}
