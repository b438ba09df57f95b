package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/web"
)

// uiLoginForm shows the sign-in form.
func (a *App) uiLoginForm(c echo.Context) error {
	csrf, _ := c.Get("csrf").(string)
	return render(c.Request().Context(), c, http.StatusOK, web.Login(csrf, safeNext(c.QueryParam("next")), ""))
}

// uiLogin checks the password, rate-limited per client address (the TCP peer,
// or what a trusted proxy says) and per user name, and sets the session cookie.
func (a *App) uiLogin(c echo.Context) error {
	csrf, _ := c.Get("csrf").(string)
	next := safeNext(c.FormValue("next"))
	name := c.FormValue("username")
	if !a.auth.limiter.allow(c.RealIP(), name) {
		a.logger.Debug("login rate-limited", "user", cutKey(name), "remote", c.RealIP())
		return render(c.Request().Context(), c, http.StatusTooManyRequests, web.Login(csrf, next, "Too many sign-in attempts: wait a minute and try again."))
	}
	u, err := a.auth.login(c.Request().Context(), name, c.FormValue("password"))
	if err != nil {
		a.logger.Info("failed login", "user", cutKey(name), "remote", c.RealIP())
		return render(c.Request().Context(), c, http.StatusUnauthorized, web.Login(csrf, next, "Wrong user name or password."))
	}
	c.SetCookie(a.auth.newSessionCookie(u))
	a.logger.Info("login", "user", u.Name, "remote", c.RealIP())
	return c.Redirect(http.StatusSeeOther, next)
}

// uiLogout ends every session of the user (this cookie and any copy of it,
// on any device) and clears the cookie.
func (a *App) uiLogout(c echo.Context) error {
	if err := a.auth.endSessions(c.Request().Context(), currentUser(c).Name); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.cfg.SecureCookies})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
