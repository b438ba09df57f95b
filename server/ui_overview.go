package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"driftd/web"
)

// overviewDecisions is how many retrain decisions the Overview lists.
const overviewDecisions = 5

// uiOverview shows build info, the live status of each component and the
// retrain loop. The flash message of an approval arrives in ?msg=.
func (a *App) uiOverview(c echo.Context) error {
	return a.renderOverview(c, http.StatusOK, retrainForm{Message: c.QueryParam("msg")})
}

// renderOverview renders the Overview with the outcome of an approve form
// and a chosen status.
func (a *App) renderOverview(c echo.Context, status int, form retrainForm) error {
	o := web.Overview{
		Version: a.build.Version, GoVersion: a.build.GoVersion,
		Started: a.started, Uptime: a.now().Sub(a.started),
		DataDir: a.cfg.DataDir, Addr: a.Addr(),
		Ready: len(a.status.notReady()) == 0,
	}
	for _, s := range a.status.list() {
		o.Components = append(o.Components, web.Component{Name: s.Name, State: string(s.State), Detail: s.Detail, Required: s.Required, Since: s.Since})
	}
	var err error
	if o.Retrain, err = a.retrainView(c, overviewDecisions, "/", form); err != nil {
		return err
	}
	p := a.page(c, "overview", "Overview")
	o.Demo = p.Demo
	return renderStatus(c, status, p, web.OverviewBody(o))
}
