package server

import (
	"github.com/labstack/echo/v4"

	"driftd/web"
)

// uiOverview shows build info and the live status of each component.
func (a *App) uiOverview(c echo.Context) error {
	o := web.Overview{
		Version: a.build.Version, GoVersion: a.build.GoVersion,
		Started: a.started, Uptime: a.now().Sub(a.started),
		DataDir: a.cfg.DataDir, Addr: a.Addr(),
		Ready: len(a.status.notReady()) == 0,
	}
	for _, s := range a.status.list() {
		o.Components = append(o.Components, web.Component{Name: s.Name, State: string(s.State), Detail: s.Detail, Required: s.Required, Since: s.Since})
	}
	return a.renderPage(c, a.page(c, "overview", "Overview"), web.OverviewBody(o))
}
