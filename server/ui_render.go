package server

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"driftd/web"
)

// render writes a component into a buffer first, so a rendering error never
// leaves a half-written 200 page.
func render(ctx context.Context, c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(ctx, &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page builds the layout data of the current request.
func (a *App) page(c echo.Context, active, title string) web.Page {
	u := currentUser(c)
	csrf, _ := c.Get("csrf").(string)
	return web.Page{Active: active, Title: title, User: u.Name, Role: u.Role, CSRF: csrf, Version: a.build.Version, Demo: a.demoBanner(),
		BaseURL: c.Scheme() + "://" + c.Request().Host, TokenRef: a.tokenRef()}
}

// tokenRef is how the UI's shell examples read the API token: from the
// file driftd generated in the data directory, or from the environment
// variable it was configured with.
func (a *App) tokenRef() string {
	if a.cfg.APIToken != "" {
		return "$DRIFTD_API_TOKEN"
	}
	return "$(cat " + shellQuote(filepath.Join(a.cfg.DataDir, "api-token")) + ")"
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@%=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// demoBanner is the demo's status for the banner of every page; nil unless
// demo mode runs.
func (a *App) demoBanner() *web.DemoBanner {
	if a.demo == nil {
		return nil
	}
	st := a.demo.Status()
	b := &web.DemoBanner{Phase: st.Phase, Shifted: strings.HasPrefix(st.Phase, "shifted"), Concept: st.Concept, Shifts: st.Shifts,
		NextShiftAt: st.NextShiftAt, Sent: st.Sent, Labels: st.Labels, Deployed: st.Deployed, LastPromotion: st.LastPromotion, Error: st.Error}
	if !st.NextShiftAt.IsZero() {
		b.NextShiftIn = st.NextShiftAt.Sub(a.now())
	}
	return b
}

// renderPage renders body inside the layout.
func (a *App) renderPage(c echo.Context, p web.Page, body templ.Component) error {
	ctx := templ.WithChildren(c.Request().Context(), body)
	return render(ctx, c, http.StatusOK, web.Layout(p))
}

// renderErrorPage shows an error to a browser inside the layout. Requests
// that never passed the login middleware (an unknown path) still show who
// is signed in, read from the session cookie.
func (a *App) renderErrorPage(c echo.Context, status int, msg string) error {
	if status == http.StatusNotFound && msg == http.StatusText(status) {
		msg = "There is no page at " + c.Request().URL.Path + "."
	}
	p := a.page(c, "error", http.StatusText(status))
	if p.User == "" && a.auth != nil {
		if u, ok := a.auth.sessionUser(c.Request().Context(), c.Request()); ok {
			p.User, p.Role = u.Name, u.Role
		}
	}
	if p.CSRF == "" {
		// The CSRF middleware's token is its cookie's value; without it the
		// logout form would be refused.
		if ck, err := c.Cookie("driftd_csrf"); err == nil {
			p.CSRF = ck.Value
		}
	}
	return render(c.Request().Context(), c, status, web.ErrorPage(p, status, msg))
}

// favicon answers /favicon.ico with the SVG icon the pages link to.
func (a *App) favicon(c echo.Context) error {
	b, err := fs.ReadFile(web.Static, "static/favicon.svg")
	if err != nil {
		return fmt.Errorf("read favicon: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, "image/svg+xml", b)
}
