package mlflow

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// modelRequest is the body of the registered-model calls.
type modelRequest struct {
	Name        string     `json:"name"`
	NewName     string     `json:"new_name"`
	Description optString  `json:"description"`
	Tags        []keyValue `json:"tags"`
	Key         string     `json:"key"`
	Value       string     `json:"value"`
	Alias       string     `json:"alias"`
	Version     string     `json:"version"`
	Stages      strList    `json:"stages"`
}

// bindModel decodes a modelRequest that must name a model.
func bindModel(c echo.Context) (modelRequest, error) {
	var req modelRequest
	if err := bind(c, &req); err != nil {
		return req, err
	}
	if req.Name == "" {
		return req, missing("name")
	}
	return req, nil
}

// modelAnswer loads a model with its numbered versions.
func (a *api) modelAnswer(ctx context.Context, name string) (registeredModelJSON, error) {
	m, err := a.store.GetModel(ctx, name)
	if err != nil {
		return registeredModelJSON{}, err
	}
	vs, err := a.store.MLflowVersions(ctx, name)
	if err != nil {
		return registeredModelJSON{}, err
	}
	return modelOf(&m, vs), nil
}

// registeredModel wraps a model answer as {"registered_model"}.
func (a *api) registeredModel(ctx context.Context, name string) (any, error) {
	m, err := a.modelAnswer(ctx, name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": m}, nil
}

// modelCreate answers registered-models/create {name, tags, description} with
// {"registered_model"}; RESOURCE_ALREADY_EXISTS when the name is taken.
func (a *api) modelCreate(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	opts := registry.ModelOptions{Description: req.Description.V, Tags: map[string]string{}}
	for _, t := range req.Tags {
		opts.Tags[t.Key] = t.Value
	}
	ctx := a.ctx(c)
	if _, err := a.store.CreateModel(ctx, req.Name, opts); err != nil {
		return nil, alreadyExists(err)
	}
	return a.registeredModel(ctx, req.Name)
}

// modelGet answers registered-models/get ?name= with {"registered_model"}.
func (a *api) modelGet(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	return a.registeredModel(a.ctx(c), req.Name)
}

// searchArgs reads a registry search's filter, order and paging (the
// fields registered-models/search and model-versions/search share).
func searchArgs(c echo.Context, l pageLimits, s schema) (offset, n int, f Filter, order []OrderKey, err error) {
	var req struct {
		Filter     string  `json:"filter"`
		MaxResults optInt  `json:"max_results"`
		OrderBy    strList `json:"order_by"`
		PageToken  string  `json:"page_token"`
	}
	if err = bind(c, &req); err != nil {
		return
	}
	if offset, n, err = page(req.MaxResults, req.PageToken, l); err != nil {
		return
	}
	f, order, err = parseSearch(s, req.Filter, req.OrderBy)
	return
}

// modelSearch answers registered-models/search ?filter=&max_results=&order_by=
// &page_token= with {"registered_models", "next_page_token"}, by name by default.
func (a *api) modelSearch(c echo.Context) (any, error) {
	offset, n, f, order, err := searchArgs(c, modelsPaging, modelsSchema)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	models, err := a.store.ListModels(ctx)
	if err != nil {
		return nil, err
	}
	out := []registeredModelJSON{}
	for i := range models {
		vs, err := a.store.MLflowVersions(ctx, models[i].Name)
		if err != nil {
			return nil, err
		}
		if m := modelOf(&models[i], vs); f.match(modelField(m)) {
			out = append(out, m)
		}
	}
	orderBy(out, order, modelField, func(x, y registeredModelJSON) int { return strings.Compare(x.Name, y.Name) })
	pg, next := slicePage(out, offset, n)
	return searchAnswer("registered_models", pg, next), nil
}

// modelRename answers registered-models/rename {name, new_name} with
// {"registered_model"}: RESOURCE_ALREADY_EXISTS when new_name is taken,
// INVALID_PARAMETER_VALUE while a version is deployed (the scorer and flows
// name deployed models).
func (a *api) modelRename(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	if req.NewName == "" {
		return nil, missing("new_name")
	}
	ctx := a.ctx(c)
	if req.NewName != req.Name {
		if _, err := a.store.GetModel(ctx, req.NewName); err == nil {
			return nil, &Error{Code: codeAlreadyExists, Message: "Registered model " + req.NewName + " already exists."}
		}
	}
	if _, err := a.store.RenameModel(ctx, req.Name, req.NewName, "renamed through MLflow"); err != nil {
		return nil, err
	}
	return a.registeredModel(ctx, req.NewName)
}

// modelUpdate answers registered-models/update {name, description} with
// {"registered_model"}.
func (a *api) modelUpdate(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	if req.Description.Set {
		if _, err := a.store.UpdateModel(ctx, req.Name, registry.ModelUpdate{Description: &req.Description.V}); err != nil {
			return nil, err
		}
	}
	return a.registeredModel(ctx, req.Name)
}

// modelDelete answers registered-models/delete {name} with {}: the model, its
// versions and aliases go, recorded in the audit history; INVALID_PARAMETER_VALUE
// while a version is deployed.
func (a *api) modelDelete(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	if err := a.store.DeleteModel(a.ctx(c), req.Name, "deleted through MLflow"); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// modelLatestVersions answers registered-models/get-latest-versions {name,
// stages} with {"model_versions"}: the newest version of each stage asked (all
// stages when none).
func (a *api) modelLatestVersions(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	stages := make([]string, 0, len(req.Stages))
	for _, s := range req.Stages {
		st := canonicalStage(s)
		if st == "" {
			return nil, invalid("Invalid Model Version stage: %s. Value must be one of None, Staging, Production, Archived.", s)
		}
		stages = append(stages, st)
	}
	vs, err := a.store.MLflowVersions(a.ctx(c), req.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_versions": latestPerStage(vs, stages)}, nil
}

// modelSetTag answers registered-models/set-tag {name, key, value} with {}.
func (a *api) modelSetTag(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	if _, err := a.store.SetModelTag(a.ctx(c), req.Name, req.Key, req.Value); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// modelDeleteTag answers registered-models/delete-tag {name, key} with {}.
func (a *api) modelDeleteTag(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	if _, err := a.store.DeleteModelTag(a.ctx(c), req.Name, req.Key); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// reservedAlias matches the alias names MLflow keeps for itself ("latest", "v3").
var reservedAlias = regexp.MustCompile(`(?i)^(latest|v\d+)$`)

// aliasSet answers POST registered-models/alias {name, alias, version} with {}:
// driftd's alias of the model now points at the version (recorded in the
// audit history).
func (a *api) aliasSet(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	switch {
	case req.Alias == "":
		return nil, missing("alias")
	case req.Version == "":
		return nil, missing("version")
	case reservedAlias.MatchString(req.Alias):
		return nil, invalid("Invalid alias %q: 'latest' and 'v<number>' are reserved by MLflow.", req.Alias)
	}
	ctx := a.ctx(c)
	v, err := a.store.MLflowVersionOf(ctx, req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	if err := a.store.SetAlias(ctx, req.Name, req.Alias, v.Version.Version, "set through MLflow"); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// aliasDelete answers DELETE registered-models/alias {name, alias} with {}.
func (a *api) aliasDelete(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	if req.Alias == "" {
		return nil, missing("alias")
	}
	if err := a.store.DeleteAlias(a.ctx(c), req.Name, req.Alias, "deleted through MLflow"); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// aliasGet answers GET registered-models/alias (and model-versions/get-by-alias)
// ?name=&alias= with {"model_version"}.
func (a *api) aliasGet(c echo.Context) (any, error) {
	req, err := bindModel(c)
	if err != nil {
		return nil, err
	}
	if req.Alias == "" {
		return nil, missing("alias")
	}
	ctx := a.ctx(c)
	v, err := a.store.AliasVersion(ctx, req.Name, req.Alias)
	if err != nil {
		return nil, err
	}
	mv, err := a.store.MLflowVersionOf(ctx, req.Name, v.Version)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, notFound("Registered model %s has no version for alias %s.", req.Name, req.Alias)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": versionOf(&mv)}, nil
}
