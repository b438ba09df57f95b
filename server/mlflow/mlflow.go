// Package mlflow serves MLflow's REST API 2.0 on driftd's registry: the
// tracking API (experiments, runs, params, metrics, tags, inputs), the model
// registry API and the artifact proxy, under /api/2.0/mlflow/,
// /api/2.0/mlflow-artifacts/ and the same under /ajax-api/2.0/. An MLflow client
// logs into driftd by pointing MLFLOW_TRACKING_URI at it: its runs are
// driftd's runs (the Experiments page shows them), driftd's own training runs
// read back through MLflow, and MLflow's registered models are driftd's models.
//
// Requests and answers follow MLflow's documented shapes: int64 fields accept
// numbers or strings, times are milliseconds since the epoch, errors are
// {"error_code", "message"} with MLflow's HTTP statuses, and searches page with
// opaque next_page_token values.
package mlflow

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// DefaultMaxArtifactBytes bounds one artifact uploaded through the artifact
// proxy when Deps.MaxArtifactBytes is 0: artifacts live in the registry file,
// written in one transaction.
const DefaultMaxArtifactBytes = 64 << 20

// Deps is what the MLflow API needs from the server.
type Deps struct {
	// Store is the registry. The API uses some forty of its methods, so it
	// takes the concrete store rather than an interface listing them all.
	Store *registry.Store
	// Auth authenticates every request, reads and writes alike (MLflow clients
	// send Authorization: Bearer $MLFLOW_TRACKING_TOKEN, or Basic with
	// MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD). Its errors
	// (echo.HTTPError 401 or 403) are answered in MLflow's shape. Nil: none.
	Auth echo.MiddlewareFunc
	// Writer runs after Auth on the routes that change data (MLflow's searches
	// are POSTs that only read, so the method does not tell); it answers 403
	// for a user who may only read. Nil: none.
	Writer echo.MiddlewareFunc
	// User names the authenticated user of a request, for the audit history
	// and as the creator of runs without user_id. Nil: nobody.
	User func(c echo.Context) string
	// Logger receives the errors answered with 5xx. Nil: discard.
	Logger *slog.Logger
	// MaxArtifactBytes bounds one uploaded artifact (0: DefaultMaxArtifactBytes).
	MaxArtifactBytes int64
}

// api holds the handlers' dependencies.
type api struct {
	store       *registry.Store
	user        func(c echo.Context) string
	log         *slog.Logger
	maxArtifact int64
}

// route is one endpoint: write routes pass Deps.Writer.
type route struct {
	method, path string
	h            echo.HandlerFunc
	write        bool
}

// Register mounts the MLflow API on e: /api/2.0/mlflow/... and
// /api/2.0/mlflow-artifacts/..., and the same under /ajax-api/2.0 (the prefix
// MLflow's web UI calls). Every route, and any other path under these
// prefixes, passes d.Auth; other paths answer ENDPOINT_NOT_FOUND.
func Register(e *echo.Echo, d Deps) {
	a := &api{store: d.Store, user: d.User, log: d.Logger, maxArtifact: d.MaxArtifactBytes}
	if a.user == nil {
		a.user = func(echo.Context) string { return "" }
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxArtifact <= 0 {
		a.maxArtifact = DefaultMaxArtifactBytes
	}
	mw := []echo.MiddlewareFunc{a.errorsMiddleware}
	if d.Auth != nil {
		mw = append(mw, d.Auth)
	}
	var writer []echo.MiddlewareFunc
	if d.Writer != nil {
		writer = append(writer, d.Writer)
	}
	for _, prefix := range []string{"/api/2.0", "/ajax-api/2.0"} {
		for group, routes := range map[string][]route{"/mlflow": a.trackingRoutes(), "/mlflow-artifacts": a.artifactRoutes()} {
			g := e.Group(prefix+group, mw...)
			for _, r := range routes {
				var m []echo.MiddlewareFunc
				if r.write {
					m = writer
				}
				g.Add(r.method, r.path, r.h, m...)
			}
		}
	}
}

// trackingRoutes lists every route under /mlflow: tracking, then the registry.
func (a *api) trackingRoutes() []route {
	get, post, patch, del := http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	return []route{
		{post, "/experiments/create", a.json(a.experimentCreate), true},
		{get, "/experiments/get", a.json(a.experimentGet), false},
		{get, "/experiments/get-by-name", a.json(a.experimentGetByName), false},
		{post, "/experiments/search", a.json(a.experimentSearch), false},
		{get, "/experiments/search", a.json(a.experimentSearch), false},
		{get, "/experiments/list", a.json(a.experimentSearch), false}, // MLflow 1.x's list, answered as search
		{post, "/experiments/update", a.json(a.experimentUpdate), true},
		{post, "/experiments/delete", a.json(a.experimentDelete), true},
		{post, "/experiments/restore", a.json(a.experimentRestore), true},
		{post, "/experiments/set-experiment-tag", a.json(a.experimentSetTag), true},
		{post, "/experiments/delete-experiment-tag", a.json(a.experimentDeleteTag), true},

		{post, "/runs/create", a.json(a.runCreate), true},
		{get, "/runs/get", a.json(a.runGet), false},
		{post, "/runs/update", a.json(a.runUpdate), true},
		{post, "/runs/delete", a.json(a.runDelete), true},
		{post, "/runs/restore", a.json(a.runRestore), true},
		{post, "/runs/search", a.json(a.runSearch), false},
		{post, "/runs/log-metric", a.json(a.runLogMetric), true},
		{post, "/runs/log-parameter", a.json(a.runLogParam), true},
		{post, "/runs/log-batch", a.json(a.runLogBatch), true},
		{post, "/runs/set-tag", a.json(a.runSetTag), true},
		{post, "/runs/delete-tag", a.json(a.runDeleteTag), true},
		{post, "/runs/log-inputs", a.json(a.runLogInputs), true},
		{post, "/runs/log-model", a.json(a.runLogModel), true},
		{get, "/metrics/get-history", a.json(a.metricHistory), false},
		{get, "/artifacts/list", a.json(a.artifactsList), false},

		{post, "/registered-models/create", a.json(a.modelCreate), true},
		{get, "/registered-models/get", a.json(a.modelGet), false},
		{get, "/registered-models/search", a.json(a.modelSearch), false},
		{post, "/registered-models/rename", a.json(a.modelRename), true},
		{patch, "/registered-models/update", a.json(a.modelUpdate), true},
		{del, "/registered-models/delete", a.json(a.modelDelete), true},
		{post, "/registered-models/get-latest-versions", a.json(a.modelLatestVersions), false},
		{get, "/registered-models/get-latest-versions", a.json(a.modelLatestVersions), false},
		{post, "/registered-models/set-tag", a.json(a.modelSetTag), true},
		{del, "/registered-models/delete-tag", a.json(a.modelDeleteTag), true},
		{post, "/registered-models/alias", a.json(a.aliasSet), true},
		{del, "/registered-models/alias", a.json(a.aliasDelete), true},
		{get, "/registered-models/alias", a.json(a.aliasGet), false},
		{get, "/model-versions/get-by-alias", a.json(a.aliasGet), false},

		{post, "/model-versions/create", a.json(a.versionCreate), true},
		{get, "/model-versions/get", a.json(a.versionGet), false},
		{get, "/model-versions/search", a.json(a.versionSearch), false},
		{patch, "/model-versions/update", a.json(a.versionUpdate), true},
		{del, "/model-versions/delete", a.json(a.versionDelete), true},
		{post, "/model-versions/transition-stage", a.json(a.versionTransition), true},
		{get, "/model-versions/get-download-uri", a.json(a.versionDownloadURI), false},
		{post, "/model-versions/set-tag", a.json(a.versionSetTag), true},
		{del, "/model-versions/delete-tag", a.json(a.versionDeleteTag), true},
	}
}

// artifactRoutes lists the artifact proxy's routes under /mlflow-artifacts.
func (a *api) artifactRoutes() []route {
	return []route{
		{http.MethodGet, "/artifacts", a.proxyList, false},        // ?path=<experiment>/<run>/artifacts/<dir>
		{http.MethodGet, "/artifacts/*", a.proxyDownload, false},  // <experiment>/<run>/artifacts/<path>
		{http.MethodHead, "/artifacts/*", a.proxyDownload, false}, // the size without the bytes
		{http.MethodPut, "/artifacts/*", a.proxyUpload, true},     // body: the file
	}
}

// json adapts a handler that returns the answer to echo: 200 with the JSON.
func (a *api) json(h func(c echo.Context) (any, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		out, err := h(c)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

// ctx is the request's context carrying the user for the audit history.
func (a *api) ctx(c echo.Context) context.Context {
	return registry.WithUser(c.Request().Context(), a.user(c))
}

// empty is the answer of calls that return nothing.
type empty struct{}
