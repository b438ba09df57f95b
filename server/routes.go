package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"driftd/web"
)

// routes registers every route of driftd; all of them are readable here.
func (a *App) routes(e *echo.Echo) {
	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", a.metricsHandler)
	e.GET("/static/*", echo.WrapHandler(http.FileServer(http.FS(web.Static))))

	// JSON API: reads are open, every mutating call needs the bearer token.
	api := e.Group("/api/v1", a.auth.requireMutationToken)
	api.GET("/status", a.apiStatus)
	api.GET("/users", a.apiUserList, a.auth.requireToken)
	api.POST("/users", a.apiUserPut)
	// registry routes (models, versions, deployments, experiments, runs, backup)
	// stream routes (kafka topics, groups, messages)
	// drift and pipeline routes

	// UI: login, then pages; every form carries a CSRF token.
	csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		CookieName:     "driftd_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteStrictMode,
		CookieSecure:   a.cfg.SecureCookies,
		ContextKey:     "csrf",
	})
	pub := e.Group("", csrf)
	pub.GET("/login", a.uiLoginForm)
	pub.POST("/login", a.uiLogin)

	ui := e.Group("", csrf, a.auth.requireLogin)
	ui.POST("/logout", a.uiLogout)
	ui.GET("/", a.uiOverview)
	ui.GET("/settings", a.uiSettings)
	ui.POST("/settings/users", a.uiUserAdd, requireRole(RoleAdmin))
	for _, s := range web.Sections() {
		if h := a.sectionHandler(s.Key); h != nil {
			ui.GET(s.Path, h)
		}
	}
}
