package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/server/flows"
	"driftd/train"
	"driftd/web"
)

// keyMetrics are the metrics the version table prefers, in order; each is
// looked up as is, with the valid_ and test_ prefixes training uses and the
// reference_ prefix of imports.
var keyMetrics = []string{"auc", "accuracy", "macro_f1", "f1", "rmse", "mae", "r2", "logloss", "loss"}

// pickMetrics chooses up to n key metrics of a version, falling back to the
// first metrics by name when none of the preferred ones is there.
func pickMetrics(m map[string]float64, n int) []web.KV {
	var out []web.KV
	for _, k := range keyMetrics {
		for _, name := range []string{"valid_" + k, k, "test_" + k, flows.MetricsOnReference + "_" + k} {
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
		row := web.ModelRow{Name: m.Name, Description: m.Description, Versions: m.VersionCount, Latest: m.LatestVersion, Updated: m.Updated,
			Unscorable: m.UnscorableCount}
		if m.LatestExternal != nil {
			row.LatestNotScorable = m.LatestExternal.Reason
		}
		for _, env := range a.store.Environments() {
			if ver, ok := m.Environments[env]; ok && ver != "" {
				row.Environments = append(row.Environments, web.KV{Key: env, Value: ver})
			}
		}
		row.Aliases = sortedKV(m.Aliases)
		v.Models = append(v.Models, row)
	}
	p := a.page(c, "models", "Models")
	return a.renderPage(c, p, web.ModelsBody(p, v))
}

// uiModel shows one model: versions, deploy and rollback forms, history.
// The outcome of a form arrives in ?msg= or ?err=; ?confirm=deploy (with
// version, environment, reason) or ?confirm=rollback (with environment)
// shows the change to confirm.
func (a *App) uiModel(c echo.Context) error {
	return a.renderModel(c, http.StatusOK, c.QueryParam("msg"), c.QueryParam("err"))
}

// needsReason reports whether a change of env must say why: production and
// the environment the pipeline scores.
func (a *App) needsReason(env string) bool {
	return env == "production" || env == a.cfg.ScoringEnvironment
}

// modelConfirm builds the change ?confirm= asks about, or an error saying
// why it cannot be made.
func (a *App) modelConfirm(c echo.Context, v web.ModelView) (*web.ModelConfirm, string) {
	action, env := c.QueryParam("confirm"), c.QueryParam("environment")
	var row *web.EnvRow
	for i := range v.Environments {
		if v.Environments[i].Name == env {
			row = &v.Environments[i]
		}
	}
	if row == nil {
		return nil, fmt.Sprintf("environment: %q is not one of %s", env, strings.Join(a.store.Environments(), ", "))
	}
	cf := &web.ModelConfirm{Action: action, Environment: env, From: row.Version, Reason: c.QueryParam("reason"), NeedsReason: row.NeedsReason}
	switch action {
	case "deploy":
		cf.To = c.QueryParam("version")
		if !slices.Contains(v.Deployable, cf.To) {
			return nil, fmt.Sprintf("version: %q is not a version of %s that can be deployed", cf.To, v.Name)
		}
		if cf.To == cf.From {
			return nil, fmt.Sprintf("%s already serves %s.", cf.To, env)
		}
	case "rollback":
		if !row.CanRollback {
			return nil, fmt.Sprintf("%s has no previous version to roll back to.", env)
		}
		cf.To = row.Previous
	default:
		return nil, fmt.Sprintf("confirm: %q is neither deploy nor rollback", action)
	}
	return cf, ""
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
	// The version a rollback returns to, replayed from the whole history.
	full, err := a.store.History(ctx, registry.HistoryQuery{Model: name, Limit: 10000})
	if err != nil {
		return err
	}
	prev := previousVersions(full)
	for _, env := range a.store.Environments() {
		p := prev[env]
		v.Environments = append(v.Environments, web.EnvRow{Name: env, Version: m.Environments[env], Previous: p,
			CanRollback: p != "", NeedsReason: a.needsReason(env)})
	}
	for i := len(versions) - 1; i >= 0; i-- {
		ver := versions[i]
		row := web.VersionRow{Version: ver.Version, Algo: ver.Algo, Created: ver.Created, CreatedBy: ver.CreatedBy,
			Status: ver.Status, Environments: ver.Environments, Aliases: ver.Aliases, RunID: ver.RunID,
			Description: ver.Description, ArtifactSize: ver.ArtifactSize, HasProfile: ver.ProfileSize > 0,
			Features: len(ver.Schema), Rows: ver.Fingerprint.Rows, Source: versionSource(ver), NotScorable: notScorable(ver)}
		row.Metrics = pickMetrics(ver.Metrics, 4)
		v.Versions = append(v.Versions, row)
		if ver.Status == registry.StatusReady && ver.Scorable {
			v.Deployable = append(v.Deployable, ver.Version)
		}
	}
	for _, h := range history {
		v.History = append(v.History, web.HistoryRow{Time: h.Time, User: h.User, Action: h.Action,
			Environment: h.Environment, Alias: h.Alias, From: h.From, To: h.To, Reason: h.Reason})
	}
	if c.Request().Method == http.MethodGet && c.QueryParam("confirm") != "" && v.CanDeploy {
		cf, problem := a.modelConfirm(c, v)
		v.Confirm = cf
		if problem != "" {
			v.Error = strings.TrimPrefix(v.Error+" "+problem, " ")
		}
	}
	p := a.page(c, "models", "Model "+m.Name)
	return renderStatus(c, status, p, web.ModelBody(p, v))
}

// versionSource says where a version came from, from the "source" its
// model file records: "XGBoost import", "LightGBM import", or "driftd
// training" for a model driftd trained (which records none).
func versionSource(v registry.Version) string {
	if v.External != nil {
		return "MLflow registration from " + v.External.Source
	}
	src, _ := v.Params["source"].(string)
	switch src {
	case flows.ImportXGBoost, flows.ImportLightGBM:
		return flows.SourceTitle(src) + " import"
	}
	return "driftd training"
}

// notScorable says why driftd cannot score v ("" when it can).
func notScorable(v registry.Version) string {
	if v.External == nil {
		return ""
	}
	return v.External.Reason
}

// uiModelVersion shows one version: where it came from, its parameters
// (for an import, as read from the model file), all its metrics, its
// inputs and its feature importance, read from the model file.
func (a *App) uiModelVersion(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	ver, err := a.store.GetVersion(ctx, name, c.Param("version"))
	if err != nil {
		return err
	}
	row := web.VersionRow{Version: ver.Version, Algo: ver.Algo, Created: ver.Created, CreatedBy: ver.CreatedBy,
		Status: ver.Status, Environments: ver.Environments, Aliases: ver.Aliases, RunID: ver.RunID,
		Description: ver.Description, ArtifactSize: ver.ArtifactSize, HasProfile: ver.ProfileSize > 0,
		Features: len(ver.Schema), Rows: ver.Fingerprint.Rows, Source: versionSource(ver), NotScorable: notScorable(ver)}
	row.Objective, _ = ver.Params["objective"].(string)
	v := web.ModelVersionView{Model: name, Version: row, Fingerprint: ver.Fingerprint.SHA256}
	all, err := a.store.ListVersions(ctx, name)
	if err != nil {
		return err
	}
	v.Others, v.CompareWith = compareCandidates(all, ver.Version)
	for _, k := range sortedKeys(ver.Params) {
		v.Params = append(v.Params, web.KV{Key: k, Value: paramString(ver.Params[k])})
	}
	for _, k := range sortedKeys(ver.Metrics) {
		v.Metrics = append(v.Metrics, web.KV{Key: k, Value: strconv.FormatFloat(ver.Metrics[k], 'g', 6, 64)})
	}
	for _, f := range ver.Schema {
		typ := f.Type
		if len(f.Levels) > 0 {
			typ += fmt.Sprintf(" (%d levels)", len(f.Levels))
		}
		v.Inputs = append(v.Inputs, web.KV{Key: f.Name, Value: typ})
	}
	if ver.Scorable { // a version driftd cannot score has no model file
		art, err := a.store.Artifact(ctx, name, ver.Version)
		if err != nil {
			return err
		}
		if m, err := train.Decode(art); err == nil {
			v.Importance, v.ImportanceKind = importanceChart(flows.Importance(m))
		} else {
			a.logger.Warn("decode model for its page", "model", name, "version", ver.Version, "err", err)
		}
	}
	p := a.page(c, "models", "Model "+name+" "+ver.Version)
	return a.renderPage(c, p, web.ModelVersionBody(v))
}

// compareCandidates lists the versions other than this one, newest first,
// and the one to compare with first: the version before this one, else the
// newest other. versions are oldest first, as the registry lists them.
func compareCandidates(versions []registry.Version, this string) ([]string, string) {
	var others []string
	pick := ""
	for i := len(versions) - 1; i >= 0; i-- {
		ver := versions[i].Version
		if ver == this {
			if i > 0 {
				pick = versions[i-1].Version
			}
			continue
		}
		others = append(others, ver)
	}
	if pick == "" && len(others) > 0 {
		pick = others[0]
	}
	return others, pick
}

// importanceChart draws feature importance, largest first: total split
// gain for trees, mean absolute standardised coefficient for logistic
// models. It returns nil when there is neither.
func importanceChart(imp map[string]map[string]float64) (*web.HBarChart, string) {
	for _, kind := range []string{"gain", "abs_coef"} {
		vals := imp[kind]
		if len(vals) == 0 {
			continue
		}
		label := map[string]string{"gain": "total split gain", "abs_coef": "mean |standardised coefficient|"}[kind]
		ch := &web.HBarChart{Label: "feature importance: " + label}
		for _, f := range sortedKeys(vals) {
			ch.Bars = append(ch.Bars, web.HBar{Label: f, Value: vals[f], Text: ftoa4(vals[f])})
		}
		sort.SliceStable(ch.Bars, func(i, j int) bool { return ch.Bars[i].Value > ch.Bars[j].Value })
		ch.Bars = ch.Bars[:min(len(ch.Bars), importanceBars)]
		return ch, label
	}
	return nil, ""
}

// paramString formats a parameter in full: strings as they are, numbers
// with every digit, anything else as JSON.
func paramString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// previousVersions replays a model's deployment history (newest first, as
// the registry returns it) into the version each environment's rollback
// returns to: deploys and undeploys push the version they replace, a
// rollback pops it. An environment with nothing to return to is missing.
func previousVersions(history []registry.Event) map[string]string {
	stacks := map[string][]string{}
	for i := len(history) - 1; i >= 0; i-- {
		h := history[i]
		if h.Environment == "" || h.Alias != "" {
			continue
		}
		st := stacks[h.Environment]
		switch h.Action {
		case registry.ActionDeploy, registry.ActionUndeploy:
			if h.From != "" && h.From != h.To {
				st = append(st, h.From)
			}
		case registry.ActionRollback:
			if len(st) > 0 {
				st = st[:len(st)-1]
			}
		}
		stacks[h.Environment] = st
	}
	out := map[string]string{}
	for env, st := range stacks {
		if len(st) > 0 {
			out[env] = st[len(st)-1]
		}
	}
	return out
}

// uiDeploy deploys a version to an environment from the confirmation form.
func (a *App) uiDeploy(c echo.Context) error {
	name, env, ver := c.Param("name"), c.FormValue("environment"), c.FormValue("version")
	reason := strings.TrimSpace(c.FormValue("reason"))
	var err error
	if reason == "" && a.needsReason(env) {
		err = badRequest("reason", "deploying to %s needs a reason: it goes into the deployment history", env)
	} else {
		err = a.store.Deploy(userContext(c), name, ver, env, reason)
	}
	return a.afterModelForm(c, err, "Deployed "+ver+" to "+env+".", "deploy")
}

// uiRollback returns an environment to its previous version.
func (a *App) uiRollback(c echo.Context) error {
	name, env := c.Param("name"), c.FormValue("environment")
	reason := strings.TrimSpace(c.FormValue("reason"))
	var err error
	if reason == "" && a.needsReason(env) {
		err = badRequest("reason", "rolling back %s needs a reason: it goes into the deployment history", env)
	} else {
		err = a.store.Rollback(userContext(c), name, env, reason)
	}
	return a.afterModelForm(c, err, "Rolled "+env+" back.", "rollback")
}

// afterModelForm redirects back to the model page with a message or, for
// an input error or a conflict, with the error and the confirmation open
// again, so the browser never stays on the POST URL. A missing model and
// server errors show the error page.
func (a *App) afterModelForm(c echo.Context, err error, okMsg, action string) error {
	back := "/models/" + url.PathEscape(c.Param("name"))
	if err != nil {
		status, body := a.classify(err)
		if status >= 500 || (status == http.StatusNotFound && errors.Is(err, registry.ErrNotFound) && !a.modelExists(c)) {
			return err
		}
		q := url.Values{"err": {friendlyModelError(body.Error)}}
		if status == http.StatusBadRequest && body.Field == "reason" {
			q.Set("confirm", action)
			q.Set("environment", c.FormValue("environment"))
			q.Set("version", c.FormValue("version"))
		}
		return c.Redirect(http.StatusSeeOther, back+"?"+q.Encode())
	}
	return c.Redirect(http.StatusSeeOther, back+"?msg="+url.QueryEscape(okMsg))
}

// friendlyModelError turns a registry error into a sentence: the wrapped
// sentinel's ": conflict" or ": invalid" tail says nothing to a reader.
func friendlyModelError(msg string) string {
	for _, tail := range []string{": " + registry.ErrConflict.Error(), ": " + registry.ErrInvalid.Error(), ": " + registry.ErrNotFound.Error()} {
		msg = strings.TrimSuffix(msg, tail)
	}
	if msg == "" {
		return "The change was refused."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
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
