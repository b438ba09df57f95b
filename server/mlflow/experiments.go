package mlflow

import (
	"context"
	"strconv"

	"github.com/labstack/echo/v4"
)

// defaultExperiment is the experiment MLflow clients address as "0" when none
// is set; driftd keeps it under this name (created on first use).
const (
	defaultExperimentID   = "0"
	defaultExperimentName = "Default"
)

// experimentID resolves an MLflow experiment id: "0" is the Default
// experiment, anything else driftd's own id.
func (a *api) experimentID(ctx context.Context, id string) (string, error) {
	if id != defaultExperimentID {
		return id, nil
	}
	e, err := a.store.EnsureExperiment(ctx, defaultExperimentName)
	if err != nil {
		return "", err
	}
	return e.ID, nil
}

// experimentByID loads an experiment ("0" being Default) with its MLflow state.
func (a *api) experimentByID(ctx context.Context, id string) (experimentJSON, error) {
	if id == "" {
		return experimentJSON{}, missing("experiment_id")
	}
	id, err := a.experimentID(ctx, id)
	if err != nil {
		return experimentJSON{}, err
	}
	e, err := a.store.GetExperiment(ctx, id)
	if err != nil {
		return experimentJSON{}, err
	}
	st, err := a.store.ExperimentState(ctx, e.ID)
	if err != nil {
		return experimentJSON{}, err
	}
	return experimentOf(e, st), nil
}

// experimentCreate answers experiments/create {name, artifact_location, tags}
// with {"experiment_id"}. artifact_location is accepted and ignored: artifacts
// are kept by driftd and served by its artifact proxy.
func (a *api) experimentCreate(c echo.Context) (any, error) {
	var req struct {
		Name             string     `json:"name"`
		ArtifactLocation string     `json:"artifact_location"`
		Tags             []keyValue `json:"tags"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, missing("name")
	}
	tags := map[string]string{}
	for _, t := range req.Tags {
		tags[t.Key] = t.Value
	}
	e, err := a.store.CreateExperiment(a.ctx(c), req.Name, "", tags)
	if err != nil {
		return nil, alreadyExists(err)
	}
	return map[string]string{"experiment_id": e.ID}, nil
}

// experimentGet answers experiments/get ?experiment_id= with {"experiment"}.
func (a *api) experimentGet(c echo.Context) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	e, err := a.experimentByID(a.ctx(c), req.ExperimentID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": e}, nil
}

// experimentGetByName answers experiments/get-by-name ?experiment_name= with
// {"experiment"}; RESOURCE_DOES_NOT_EXIST when there is none.
func (a *api) experimentGetByName(c echo.Context) (any, error) {
	var req struct {
		Name string `json:"experiment_name"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, missing("experiment_name")
	}
	ctx := a.ctx(c)
	e, err := a.store.ExperimentByName(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	x, err := a.experimentByID(ctx, e.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": x}, nil
}

// experimentSearch answers experiments/search (and the legacy
// experiments/list) {filter, order_by, max_results, page_token, view_type} with
// {"experiments", "next_page_token"}. The default order is newest first; ties
// go by id, highest first (as MLflow documents).
func (a *api) experimentSearch(c echo.Context) (any, error) {
	var req struct {
		Filter     string   `json:"filter"`
		OrderBy    strList  `json:"order_by"`
		MaxResults optInt   `json:"max_results"`
		PageToken  string   `json:"page_token"`
		ViewType   viewType `json:"view_type"`
	}
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	offset, n, err := page(req.MaxResults, req.PageToken, experimentsPaging)
	if err != nil {
		return nil, err
	}
	f, order, err := parseSearch(experimentsSchema, req.Filter, req.OrderBy)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	exps, err := a.store.ListExperiments(ctx)
	if err != nil {
		return nil, err
	}
	life, err := a.store.Lifecycle(ctx)
	if err != nil {
		return nil, err
	}
	out := []experimentJSON{}
	for _, e := range exps {
		st := life.Experiments[e.ID]
		x := experimentOf(e, st)
		if req.ViewType.shows(st.Deleted) && f.match(experimentField(x)) {
			out = append(out, x)
		}
	}
	if len(order) == 0 {
		order = []OrderKey{{Ident: Ident{Kind: kindAttribute, Key: "creation_time"}, Desc: true}}
	}
	orderBy(out, order, experimentField, func(a, b experimentJSON) int { return compareIDs(b.ExperimentID, a.ExperimentID) })
	pg, next := slicePage(out, offset, n)
	return searchAnswer("experiments", pg, next), nil
}

// compareIDs orders decimal ids numerically.
func compareIDs(a, b string) int {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// searchAnswer is a search's answer: the items under key, and
// next_page_token when there is a next page.
func searchAnswer(key string, items any, next string) map[string]any {
	out := map[string]any{key: items}
	if next != "" {
		out["next_page_token"] = next
	}
	return out
}

// parseSearch parses and checks a filter and order_by clauses against a schema;
// errors are INVALID_PARAMETER_VALUE naming the offset.
func parseSearch(s schema, filter string, orderBy []string) (Filter, []OrderKey, error) {
	f, err := ParseFilter(filter)
	if err == nil {
		f, err = s.check(f)
	}
	if err != nil {
		return Filter{}, nil, invalid("Invalid filter %q: %v", filter, err)
	}
	keys, err := ParseOrderBy(orderBy)
	if err == nil {
		keys, err = s.checkOrder(keys)
	}
	if err != nil {
		return Filter{}, nil, invalid("Invalid order_by: %v", err)
	}
	return f, keys, nil
}

// experimentIDRequest is the body of the calls naming one experiment.
type experimentIDRequest struct {
	ExperimentID string `json:"experiment_id"`
	NewName      string `json:"new_name"`
	Key          string `json:"key"`
	Value        string `json:"value"`
}

// bindExperiment decodes an experimentIDRequest and resolves its id.
func (a *api) bindExperiment(c echo.Context) (experimentIDRequest, error) {
	var req experimentIDRequest
	if err := bind(c, &req); err != nil {
		return req, err
	}
	if req.ExperimentID == "" {
		return req, missing("experiment_id")
	}
	id, err := a.experimentID(a.ctx(c), req.ExperimentID)
	req.ExperimentID = id
	return req, err
}

// experimentUpdate answers experiments/update {experiment_id, new_name} (a
// rename; RESOURCE_ALREADY_EXISTS when the name is taken) with {}.
func (a *api) experimentUpdate(c echo.Context) (any, error) {
	req, err := a.bindExperiment(c)
	if err != nil {
		return nil, err
	}
	if req.NewName == "" {
		return nil, missing("new_name")
	}
	if err := a.store.RenameExperiment(a.ctx(c), req.ExperimentID, req.NewName); err != nil {
		return nil, alreadyExists(err)
	}
	return empty{}, nil
}

// experimentDelete answers experiments/delete {experiment_id} with {}: the
// experiment and its runs read as deleted until restored.
func (a *api) experimentDelete(c echo.Context) (any, error) {
	req, err := a.bindExperiment(c)
	if err != nil {
		return nil, err
	}
	if err := a.store.DeleteExperiment(a.ctx(c), req.ExperimentID); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// experimentRestore answers experiments/restore {experiment_id} with {}.
func (a *api) experimentRestore(c echo.Context) (any, error) {
	req, err := a.bindExperiment(c)
	if err != nil {
		return nil, err
	}
	if err := a.store.RestoreExperiment(a.ctx(c), req.ExperimentID); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// experimentSetTag answers experiments/set-experiment-tag {experiment_id, key, value} with {}.
func (a *api) experimentSetTag(c echo.Context) (any, error) {
	req, err := a.bindExperiment(c)
	if err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	if err := a.store.SetExperimentTag(a.ctx(c), req.ExperimentID, req.Key, req.Value); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// experimentDeleteTag answers experiments/delete-experiment-tag {experiment_id, key} with {}.
func (a *api) experimentDeleteTag(c echo.Context) (any, error) {
	req, err := a.bindExperiment(c)
	if err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	if err := a.store.DeleteExperimentTag(a.ctx(c), req.ExperimentID, req.Key); err != nil {
		return nil, err
	}
	return empty{}, nil
}
