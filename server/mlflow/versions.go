package mlflow

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// versionRequest is the body of the model-version calls.
type versionRequest struct {
	Name                    string     `json:"name"`
	Version                 string     `json:"version"`
	Source                  string     `json:"source"`
	RunID                   string     `json:"run_id"`
	RunLink                 string     `json:"run_link"`
	Description             optString  `json:"description"`
	Tags                    []keyValue `json:"tags"`
	Key                     string     `json:"key"`
	Value                   string     `json:"value"`
	Stage                   string     `json:"stage"`
	ArchiveExistingVersions optBool    `json:"archive_existing_versions"`
}

// bindVersion decodes a versionRequest naming a model and (unless create) a version.
func bindVersion(c echo.Context, create bool) (versionRequest, error) {
	var req versionRequest
	if err := bind(c, &req); err != nil {
		return req, err
	}
	if req.Name == "" {
		return req, missing("name")
	}
	if !create && req.Version == "" {
		return req, missing("version")
	}
	return req, nil
}

// versionAnswer wraps a version as {"model_version"}.
func (a *api) versionAnswer(ctx context.Context, name, version string) (any, error) {
	v, err := a.store.MLflowVersionOf(ctx, name, version)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": versionOf(&v)}, nil
}

// versionCreate answers model-versions/create {name, source, run_id, tags,
// run_link, description} with {"model_version"} (status READY). A source
// driftd can score (see model_source.go) registers a scorable version in
// driftd's registry; any other registers an external version, kept with its
// source and tags and marked not scorable (status_message says why). The
// version is linked to run_id, else to the source's run. The registered
// model must exist.
func (a *api) versionCreate(c echo.Context) (any, error) {
	req, err := bindVersion(c, true)
	if err != nil {
		return nil, err
	}
	if req.Source == "" {
		return nil, missing("source")
	}
	ref, err := parseSource(req.Source)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	if _, err := a.store.GetModel(ctx, req.Name); err != nil {
		return nil, err
	}
	src, err := a.resolveSource(ctx, ref)
	if err != nil {
		return nil, err
	}
	opts := src.opts
	if src.reason != "" {
		opts = registry.RegisterOptions{External: &registry.External{Source: req.Source, Reason: clipTo(src.reason, maxReason)}}
	}
	opts.Description = req.Description.V
	opts.RunID = req.RunID
	if opts.RunID == "" {
		opts.RunID = src.runID
	}
	opts.Tags = map[string]string{}
	for _, t := range req.Tags {
		opts.Tags[t.Key] = t.Value
	}
	v, err := a.store.RegisterMLflow(ctx, src.artifact, req.Name, opts, registry.MLflowSource{Source: req.Source, RunLink: req.RunLink})
	if err != nil {
		return nil, err
	}
	if v.External != nil {
		a.log.Info("registered a version driftd cannot score", "model", v.Name, "version", v.Version.Version, "source", req.Source, "reason", v.External.Reason)
	}
	return map[string]any{"model_version": versionOf(&v)}, nil
}

// versionGet answers model-versions/get ?name=&version= with {"model_version"}.
// version is MLflow's number; driftd's semver ("1.2.0") is accepted too.
func (a *api) versionGet(c echo.Context) (any, error) {
	req, err := bindVersion(c, false)
	if err != nil {
		return nil, err
	}
	return a.versionAnswer(a.ctx(c), req.Name, req.Version)
}

// versionSearch answers model-versions/search ?filter=&max_results=&order_by=
// &page_token= with {"model_versions", "next_page_token"}; by name, then newest
// version first, by default.
func (a *api) versionSearch(c echo.Context) (any, error) {
	offset, n, f, order, err := searchArgs(c, versionsPaging, versionsSchema)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	models, err := a.store.ListModels(ctx)
	if err != nil {
		return nil, err
	}
	out := []modelVersionJSON{}
	for _, m := range models {
		vs, err := a.store.MLflowVersions(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		for i := range vs {
			if v := versionOf(&vs[i]); f.match(versionField(v)) {
				out = append(out, v)
			}
		}
	}
	order = append(order, OrderKey{Ident: Ident{Kind: kindAttribute, Key: "name"}},
		OrderKey{Ident: Ident{Kind: kindAttribute, Key: "version_number"}, Desc: true})
	orderBy(out, order, versionField, func(x, y modelVersionJSON) int { return strings.Compare(x.Version, y.Version) })
	pg, next := slicePage(out, offset, n)
	return searchAnswer("model_versions", pg, next), nil
}

// versionUpdate answers model-versions/update {name, version, description}
// with {"model_version"}.
func (a *api) versionUpdate(c echo.Context) (any, error) {
	req, err := bindVersion(c, false)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	v, err := a.store.MLflowVersionOf(ctx, req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	if req.Description.Set {
		u := registry.VersionMetaUpdate{Description: &req.Description.V}
		if _, err := a.store.UpdateVersionMeta(ctx, req.Name, v.Version.Version, u); err != nil {
			return nil, err
		}
	}
	return a.versionAnswer(ctx, req.Name, req.Version)
}

// versionDelete answers model-versions/delete {name, version} with {}
// (recorded in the audit history); INVALID_PARAMETER_VALUE while the version is
// deployed or aliased.
func (a *api) versionDelete(c echo.Context) (any, error) {
	req, err := bindVersion(c, false)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	v, err := a.store.MLflowVersionOf(ctx, req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	if err := a.store.DeleteVersion(ctx, req.Name, v.Version.Version, "deleted through MLflow"); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// versionDownloadURI answers model-versions/get-download-uri {name, version}
// with {"artifact_uri"}: the source's run artifacts for a version MLflow
// registered from a run, the source itself for an external version (an s3://
// URI, ...), else the version's model file in the artifact proxy.
func (a *api) versionDownloadURI(c echo.Context) (any, error) {
	req, err := bindVersion(c, false)
	if err != nil {
		return nil, err
	}
	ctx := a.ctx(c)
	v, err := a.store.MLflowVersionOf(ctx, req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	uri := versionSource(&v)
	if v.External == nil {
		uri = registryURI(&v.Version)
	}
	if ref, err := parseSource(v.Source); err == nil && v.Source != "" && ref.runID != "" {
		if r, err := a.store.GetRun(ctx, ref.runID); err == nil {
			uri = sourceURI(&r, ref)
		}
	}
	return map[string]string{"artifact_uri": uri}, nil
}

// versionSetTag answers model-versions/set-tag {name, version, key, value} with {}.
func (a *api) versionSetTag(c echo.Context) (any, error) {
	return a.versionTag(c, false)
}

// versionDeleteTag answers model-versions/delete-tag {name, version, key} with {}.
func (a *api) versionDeleteTag(c echo.Context) (any, error) {
	return a.versionTag(c, true)
}

func (a *api) versionTag(c echo.Context, remove bool) (any, error) {
	req, err := bindVersion(c, false)
	if err != nil {
		return nil, err
	}
	if req.Key == "" {
		return nil, missing("key")
	}
	ctx := a.ctx(c)
	v, err := a.store.MLflowVersionOf(ctx, req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	u := registry.VersionMetaUpdate{SetTags: map[string]string{req.Key: req.Value}}
	if remove {
		u = registry.VersionMetaUpdate{DeleteTags: []string{req.Key}}
	}
	if _, err := a.store.UpdateVersionMeta(ctx, req.Name, v.Version.Version, u); err != nil {
		return nil, err
	}
	return empty{}, nil
}
