package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"driftd/train"
	"driftd/web"
)

// secretSettings are never shown in the UI.
var secretSettings = map[string]bool{"DRIFTD_API_TOKEN": true, "DRIFTD_ADMIN_PASSWORD": true, "DRIFTD_KAFKA_SASL_PASSWORD": true, "DRIFTD_SCORING_TOKEN": true}

// uiSettings shows the running configuration and the users.
func (a *App) uiSettings(c echo.Context) error {
	return a.renderSettings(c, "", "")
}

func (a *App) renderSettings(c echo.Context, msg, errMsg string) error {
	p := a.page(c, "settings", "Settings")
	view := web.SettingsView{IsAdmin: currentUser(c).Role == RoleAdmin, Message: msg, Error: errMsg}
	for _, s := range settings() {
		v := s.get(a.cfg)
		switch {
		case secretSettings[s.env]:
			v = "(hidden)"
		case s.env == "DRIFTD_DATABASE_URL":
			v = train.RedactDSN(v)
		}
		view.Settings = append(view.Settings, web.Setting{Env: s.env, Flag: "--" + s.flag, Default: s.def, Help: s.help, Value: v})
	}
	users, err := a.store.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	for _, u := range users {
		view.Users = append(view.Users, web.UserRow{Name: u.Name, Role: u.Role, Created: u.Created})
	}
	return a.renderPage(c, p, web.SettingsBody(p, view))
}

// uiUserAdd lets an admin add a user or change one's role and password.
func (a *App) uiUserAdd(c echo.Context) error {
	err := a.putUser(c.Request().Context(), c.FormValue("username"), c.FormValue("password"), c.FormValue("role"))
	if err != nil {
		status, body := a.classify(err)
		if status >= 500 {
			return err
		}
		return a.renderSettings(c, "", body.Error)
	}
	return a.renderSettings(c, "User "+c.FormValue("username")+" saved.", "")
}

// userRequest is the body of POST /api/v1/users.
type userRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

// apiUserPut creates or updates a UI user (API token required).
func (a *App) apiUserPut(c echo.Context) error {
	var req userRequest
	if err := c.Bind(&req); err != nil {
		return badRequest("", "body is not a JSON user: %v", err)
	}
	if err := a.putUser(c.Request().Context(), req.Username, req.Password, req.Role); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"username": req.Username, "role": req.Role})
}

// apiUserList lists the UI users without their password hashes.
func (a *App) apiUserList(c echo.Context) error {
	users, err := a.store.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, map[string]any{"username": u.Name, "role": u.Role, "created": u.Created})
	}
	return c.JSON(http.StatusOK, map[string]any{"users": out})
}

// putUser validates and stores a user with a bcrypt hash of the password.
func (a *App) putUser(ctx context.Context, name, password, role string) error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " /\\\t\n") {
		return badRequest("username", "must be 1-64 characters without spaces or slashes")
	}
	if _, ok := roleRank[role]; !ok {
		return badRequest("role", "must be viewer, operator or admin, got %q", role)
	}
	if len(password) < 8 {
		return badRequest("password", "must have at least 8 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return err
	}
	// A new password ends the user's sessions.
	return a.auth.setPassword(ctx, name, role, hash)
}
