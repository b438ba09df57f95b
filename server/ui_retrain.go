package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/server/flows"
	"driftd/web"
)

// retrainForm is what the approve form left for the page it returns to: a
// message after success, or the error and the reason typed.
type retrainForm struct {
	Message, Error, Reason string
}

// approveBack is the page an approve form returns to: only the Overview
// ("/") and the Drift page ("/drift"), so the form cannot redirect elsewhere.
func approveBack(s string) string {
	if s == "/" {
		return "/"
	}
	return "/drift"
}

// uiApprove answers the approve form of the Drift page and the Overview:
// an operator promotes the challenger a retrain left waiting
// (DRIFTD_PROMOTION=manual) to the scoring environment, with a reason that
// goes into the deployment history. It redirects back to the page; a refused
// approval (no reason, not the waiting challenger, unknown environment) shows
// that page again with the message and a 4xx status.
func (a *App) uiApprove(c echo.Context) error {
	back := approveBack(c.FormValue("back"))
	name := c.Param("name")
	version := strings.TrimSpace(c.FormValue("version"))
	env := strings.TrimSpace(c.FormValue("environment"))
	if env == "" {
		env = a.cfg.ScoringEnvironment
	}
	form := retrainForm{Reason: strings.TrimSpace(c.FormValue("reason"))}
	var err error
	switch {
	case version == "":
		err = badRequest("version", "required: the challenger version to approve")
	case form.Reason == "":
		err = badRequest("reason", "required: say why challenger %s should serve; the reason goes into the deployment history", version)
	default:
		err = flows.Approve(userContext(c), a.store, name, version, env, form.Reason)
	}
	if err != nil {
		status, body := a.classify(err)
		if status >= 500 {
			return err
		}
		form.Error = body.Error
		if back == "/" {
			return a.renderOverview(c, status, form)
		}
		return a.renderDrift(c, status, form)
	}
	msg := fmt.Sprintf("Approved challenger %s of %s: it is deployed to %s.", version, name, env)
	return c.Redirect(http.StatusSeeOther, back+"?msg="+url.QueryEscape(msg))
}

// retrainView builds the retrain loop's view: settings, the challenger
// waiting for approval and the last limit decisions of the scored model.
func (a *App) retrainView(c echo.Context, limit int, back string, form retrainForm) (web.RetrainView, error) {
	csrf, _ := c.Get("csrf").(string)
	v := web.RetrainView{Model: a.cfg.ModelName, Environment: a.cfg.ScoringEnvironment,
		Mode: a.cfg.Retrain, Promotion: a.cfg.Promotion, On: a.cfg.RetrainOn, Threshold: a.cfg.RetrainThreshold,
		Cooldown: a.cfg.RetrainCooldown, MinLabels: a.cfg.RetrainMinLabels,
		CanApprove: roleRank[currentUser(c).Role] >= roleRank[RoleOperator], CSRF: csrf, Back: back,
		Message: form.Message, Error: form.Error, Reason: form.Reason}
	all := a.retrain.decisions(0)
	for i, d := range all {
		if i == limit {
			break
		}
		v.Decisions = append(v.Decisions, web.RetrainRow{At: d.At, Outcome: d.Outcome, Reason: d.Reason,
			MaxPSI: d.MaxPSI, Features: d.Features, RunID: d.RunID, Version: d.Version, Metric: d.Metric,
			ChampionScore: orNaN(d.Champion), ChallengerScore: orNaN(d.Challenger)})
	}
	p, err := a.pendingApproval(c.Request().Context(), all)
	if err != nil {
		return v, err
	}
	v.Pending = p
	return v, nil
}

// pendingApproval returns the challenger of the scored model that waits for
// approval, with the retrain decision that left it there; nil when none waits.
func (a *App) pendingApproval(ctx context.Context, decisions []RetrainDecision) (*web.PendingApproval, error) {
	model, env := a.cfg.ModelName, a.cfg.ScoringEnvironment
	ver, err := a.store.AliasVersion(ctx, model, flows.ChallengerAlias)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("challenger of %s: %w", model, err)
	}
	p := &web.PendingApproval{Version: ver.Version, Created: ver.Created, Metrics: challengerMetrics(ver.Metrics),
		ChampionScore: math.NaN(), ChallengerScore: math.NaN()}
	switch cur, err := a.store.Deployed(ctx, model, env); {
	case err == nil:
		p.Champion = cur.Version
	case !errors.Is(err, registry.ErrNotFound):
		return nil, fmt.Errorf("deployed version of %s: %w", model, err)
	}
	for _, d := range decisions {
		if d.Outcome == RetrainPendingApproval && d.Model == model && d.Version == ver.Version {
			p.Decided, p.Metric, p.Reason, p.RunID = d.At, d.Metric, d.Reason, d.RunID
			p.ChampionScore, p.ChallengerScore = orNaN(d.Champion), orNaN(d.Challenger)
			break
		}
	}
	return p, nil
}

// challengerMetrics picks a challenger's held-out and validation metrics
// (at most eight), or its key metrics when it has neither.
func challengerMetrics(m map[string]float64) []web.KV {
	var out []web.KV
	for k, x := range m {
		if strings.HasPrefix(k, "holdout_") || strings.HasPrefix(k, "valid_") {
			out = append(out, web.KV{Key: k, Value: ftoa4(x)})
		}
	}
	if len(out) == 0 {
		return pickMetrics(m, 4)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out[:min(len(out), 8)]
}
