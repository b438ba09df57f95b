package server

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/web"
)

// keyMetrics are the metrics the version table prefers, in order; each is
// looked up as is and with the valid_ and test_ prefixes training uses.
var keyMetrics = []string{"auc", "accuracy", "macro_f1", "f1", "rmse", "mae", "r2", "logloss", "loss"}

// pickMetrics chooses up to n key metrics of a version, falling back to the
// first metrics by name when none of the preferred ones is there.
func pickMetrics(m map[string]float64, n int) []web.KV {
	var out []web.KV
	for _, k := range keyMetrics {
		for _, name := range []string{"valid_" + k, k, "test_" + k} {
			if x, ok := m[name]; ok && len(out) < n {
				out = append(out, web.KV{Key: name, Value: ftoa4(x)})
				break
			}
		}
	}
	if len(out) == 0 {
		out = sortedKV(m)
		if len(out) > n {
			out = out[:n]
		}
	}
	return out
}

// uiModels lists the registered models with their deployments.
func (a *App) uiModels(c echo.Context) error {
	ctx := c.Request().Context()
	models, err := a.store.ListModels(ctx)
	if err != nil {
		return err
	}
	var v web.ModelsView
	for _, m := range models {
		row := web.ModelRow{Name: m.Name, Description: m.Description, Versions: m.VersionCount, Latest: m.LatestVersion, Updated: m.Updated}
		for _, env := range a.store.Environments() {
			if ver, ok := m.Environments[env]; ok && ver != "" {
				row.Environments = append(row.Environments, web.KV{Key: env, Value: ver})
			}
		}
		row.Aliases = sortedKV(m.Aliases)
		v.Models = append(v.Models, row)
	}
	return a.renderPage(c, a.page(c, "models", "Models"), web.ModelsBody(v))
}

// uiModel shows one model: versions, deploy and rollback forms, history.
// The flash message of a redirect after a form arrives in ?msg=.
func (a *App) uiModel(c echo.Context) error {
	return a.renderModel(c, http.StatusOK, c.QueryParam("msg"), "")
}

// renderModel renders a model's page with a message or error.
func (a *App) renderModel(c echo.Context, status int, msg, errMsg string) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	m, err := a.store.GetModel(ctx, name)
	if err != nil {
		return err
	}
	versions, err := a.store.ListVersions(ctx, name)
	if err != nil {
		return err
	}
	history, err := a.store.History(ctx, registry.HistoryQuery{Model: name, Limit: 200})
	if err != nil {
		return err
	}
	v := web.ModelView{Name: m.Name, Description: m.Description, Message: msg, Error: errMsg,
		CanDeploy: roleRank[currentUser(c).Role] >= roleRank[RoleOperator]}
	// An environment with any history may have a previous version; when it
	// has none the rollback answers 409 and the page says so.
	touched := map[string]bool{}
	for _, h := range history {
		touched[h.Environment] = true
	}
	for _, env := range a.store.Environments() {
		v.Environments = append(v.Environments, web.EnvRow{Name: env, Version: m.Environments[env], CanRollback: touched[env] || m.Environments[env] != ""})
	}
	for i := len(versions) - 1; i >= 0; i-- {
		ver := versions[i]
		row := web.VersionRow{Version: ver.Version, Algo: ver.Algo, Created: ver.Created, CreatedBy: ver.CreatedBy,
			Status: ver.Status, Environments: ver.Environments, Aliases: ver.Aliases, RunID: ver.RunID,
			Description: ver.Description, ArtifactSize: ver.ArtifactSize, HasProfile: ver.ProfileSize > 0,
			Features: len(ver.Schema), Rows: ver.Fingerprint.Rows}
		row.Metrics = pickMetrics(ver.Metrics, 4)
		v.Versions = append(v.Versions, row)
		if ver.Status == registry.StatusReady {
			v.Deployable = append(v.Deployable, ver.Version)
		}
	}
	for _, h := range history {
		v.History = append(v.History, web.HistoryRow{Time: h.Time, User: h.User, Action: h.Action,
			Environment: h.Environment, Alias: h.Alias, From: h.From, To: h.To, Reason: h.Reason})
	}
	p := a.page(c, "models", "Model "+m.Name)
	return renderStatus(c, status, p, web.ModelBody(p, v))
}

// uiDeploy deploys a version to an environment from the model page form.
func (a *App) uiDeploy(c echo.Context) error {
	name, env, ver := c.Param("name"), c.FormValue("environment"), c.FormValue("version")
	err := a.store.Deploy(userContext(c), name, ver, env, strings.TrimSpace(c.FormValue("reason")))
	return a.afterModelForm(c, err, "Deployed "+ver+" to "+env+".")
}

// uiRollback returns an environment to its previous version.
func (a *App) uiRollback(c echo.Context) error {
	name, env := c.Param("name"), c.FormValue("environment")
	err := a.store.Rollback(userContext(c), name, env, strings.TrimSpace(c.FormValue("reason")))
	return a.afterModelForm(c, err, "Rolled "+env+" back.")
}

// afterModelForm redirects back to the model page with a message, or shows
// the page again with the error and its status (400, 404 or 409).
func (a *App) afterModelForm(c echo.Context, err error, okMsg string) error {
	if err != nil {
		status, body := a.classify(err)
		if status >= 500 || (status == http.StatusNotFound && errors.Is(err, registry.ErrNotFound) && !a.modelExists(c)) {
			return err
		}
		return a.renderModel(c, status, "", body.Error)
	}
	return c.Redirect(http.StatusSeeOther, "/models/"+url.PathEscape(c.Param("name"))+"?msg="+url.QueryEscape(okMsg))
}

// modelExists reports whether the model of the request's :name exists.
func (a *App) modelExists(c echo.Context) bool {
	_, err := a.store.GetModel(c.Request().Context(), c.Param("name"))
	return err == nil
}

// sortedKV turns a map into key-sorted pairs.
func sortedKV[V any](m map[string]V) []web.KV {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]web.KV, 0, len(keys))
	for _, k := range keys {
		out = append(out, web.KV{Key: k, Value: anyString(m[k])})
	}
	return out
}

// renderStatus renders body inside the layout with a chosen status, e.g. a
// form page shown again with a 409 error.
func renderStatus(c echo.Context, status int, p web.Page, body templ.Component) error {
	ctx := templ.WithChildren(c.Request().Context(), body)
	return render(ctx, c, status, web.Layout(p))
}

// anyString formats a map value for display.
func anyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return ftoa4(x)
	default:
		return fmt.Sprint(x)
	}
}

// ftoa4 formats a metric with four significant digits ("—" when not finite).
func ftoa4(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}
