package server

import (
	"bytes"
	"context"
	"net/http"
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
	return web.Page{Active: active, Title: title, User: u.Name, Role: u.Role, CSRF: csrf, Version: a.build.Version, Demo: a.demoBanner()}
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

// renderErrorPage shows an error to a browser.
func (a *App) renderErrorPage(c echo.Context, status int, msg string) error {
	return render(c.Request().Context(), c, status, web.ErrorPage(status, msg))
}
