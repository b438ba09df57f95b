package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"driftd/registry"
)

// Roles a UI user can have, from least to most powerful.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

const (
	sessionCookie   = "driftd_session"
	sessionLifetime = 12 * time.Hour
	// bcryptCost makes one password check take tens of milliseconds.
	bcryptCost = 11
	ctxUser    = "driftd.user"
)

// roleRank orders roles so a check can ask for "at least operator".
var roleRank = map[string]int{RoleViewer: 1, RoleOperator: 2, RoleAdmin: 3}

// userStore is what authentication needs from the registry.
type userStore interface {
	GetUser(ctx context.Context, name string) (registry.User, error)
	PutUser(ctx context.Context, u registry.User) error
	GetSetting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, v []byte) error
}

// authenticator checks API tokens, UI passwords and session cookies.
type authenticator struct {
	token      []byte
	tokenPath  string
	sessionKey []byte
	users      userStore
	secure     bool
	now        func() time.Time
	limiter    *loginLimiter
	logger     *slog.Logger
}

// newAuthenticator resolves the API token (configured, or generated into
// <data-dir>/api-token with mode 0600), makes sure the admin user exists and
// loads the key that signs session cookies.
func newAuthenticator(ctx context.Context, cfg Config, users userStore, logger *slog.Logger) (*authenticator, error) {
	a := &authenticator{users: users, secure: cfg.SecureCookies, now: time.Now, logger: logger,
		limiter: newLoginLimiter(10, time.Minute, time.Now)}
	if cfg.APIToken != "" {
		a.token = []byte(cfg.APIToken)
	} else {
		a.tokenPath = filepath.Join(cfg.DataDir, "api-token")
		tok, created, err := loadOrCreateSecretFile(a.tokenPath)
		if err != nil {
			return nil, err
		}
		a.token = []byte(tok)
		if created {
			logger.Info("generated API token", "path", a.tokenPath)
		} else {
			logger.Info("API token read", "path", a.tokenPath)
		}
	}
	if err := a.ensureAdmin(ctx, cfg.AdminPassword); err != nil {
		return nil, err
	}
	key, err := users.GetSetting(ctx, "session-key")
	if errors.Is(err, registry.ErrNotFound) || (err == nil && len(key) < 32) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make session key: %w", err)
		}
		if err := users.PutSetting(ctx, "session-key", key); err != nil {
			return nil, fmt.Errorf("store session key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read session key: %w", err)
	}
	a.sessionKey = key
	return a, nil
}

// ensureAdmin creates the admin user on first start. A configured password is
// applied on every start; a generated one is printed exactly once.
func (a *authenticator) ensureAdmin(ctx context.Context, password string) error {
	u, err := a.users.GetUser(ctx, "admin")
	switch {
	case err == nil:
		if password == "" || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) == nil {
			return nil
		}
	case errors.Is(err, registry.ErrNotFound):
		u = registry.User{Name: "admin", Role: RoleAdmin, Created: a.now()}
	default:
		return fmt.Errorf("read admin user: %w", err)
	}
	generated := password == ""
	if generated {
		password = randomToken(12)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return fmt.Errorf("hash admin password: %w", err)
	}
	u.PasswordHash = hash
	u.Role = RoleAdmin
	if err := a.users.PutUser(ctx, u); err != nil {
		return fmt.Errorf("store admin user: %w", err)
	}
	if generated {
		a.logger.Warn("created UI user admin with a generated password; it is shown only this once, set DRIFTD_ADMIN_PASSWORD to choose your own",
			"user", "admin", "password", password)
	}
	return nil
}

// checkToken reports whether the Authorization header carries the API token,
// comparing in constant time.
func (a *authenticator) checkToken(header string) bool {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), a.token) == 1
}

// requireToken rejects a request that lacks the API token with 401.
func (a *authenticator) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !a.checkToken(c.Request().Header.Get(echo.HeaderAuthorization)) {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="driftd"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong API token: send Authorization: Bearer <token> (see <data-dir>/api-token)")
		}
		c.Set(ctxUser, registry.User{Name: "api-token", Role: RoleAdmin})
		return next(c)
	}
}

// requireMutationToken lets safe methods through and asks for the token on
// every other one.
func (a *authenticator) requireMutationToken(next echo.HandlerFunc) echo.HandlerFunc {
	guarded := a.requireToken(next)
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		return guarded(c)
	}
}

// login checks a user name and password; it returns the user on success.
func (a *authenticator) login(ctx context.Context, name, password string) (registry.User, error) {
	u, err := a.users.GetUser(ctx, name)
	if err != nil {
		// Spend the same time as a real check so names cannot be probed.
		_ = bcrypt.CompareHashAndPassword([]byte("$2a$11$0000000000000000000000000000000000000000000000000000"), []byte(password))
		return registry.User{}, errBadLogin
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		return registry.User{}, errBadLogin
	}
	return u, nil
}

var errBadLogin = errors.New("wrong user name or password")

// newSessionCookie signs a session for user name.
func (a *authenticator) newSessionCookie(name string) *http.Cookie {
	exp := a.now().Add(sessionLifetime).Unix()
	payload := base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + strconv.FormatInt(exp, 10)
	return &http.Cookie{
		Name: sessionCookie, Value: payload + "." + a.sign(payload), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.secure,
		Expires: time.Unix(exp, 0),
	}
}

func (a *authenticator) sign(payload string) string {
	m := hmac.New(sha256.New, a.sessionKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sessionUser returns the user of a valid, unexpired session cookie.
func (a *authenticator) sessionUser(ctx context.Context, r *http.Request) (registry.User, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return registry.User{}, false
	}
	i := strings.LastIndexByte(ck.Value, '.')
	if i < 0 {
		return registry.User{}, false
	}
	payload, sig := ck.Value[:i], ck.Value[i+1:]
	if !hmac.Equal([]byte(sig), []byte(a.sign(payload))) {
		return registry.User{}, false
	}
	nameB64, expS, ok := strings.Cut(payload, ".")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || a.now().Unix() > exp {
		return registry.User{}, false
	}
	name, err := base64.RawURLEncoding.DecodeString(nameB64)
	if err != nil {
		return registry.User{}, false
	}
	u, err := a.users.GetUser(ctx, string(name))
	if err != nil {
		return registry.User{}, false
	}
	return u, true
}

// requireLogin sends a browser without a session to the login page.
func (a *authenticator) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, ok := a.sessionUser(c.Request().Context(), c.Request())
		if !ok {
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		c.Set(ctxUser, u)
		return next(c)
	}
}

// requireRole lets only users with at least the given role through.
func requireRole(role string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := currentUser(c)
			if roleRank[u.Role] < roleRank[role] {
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("this needs the %s role; %s has %s", role, u.Name, u.Role))
			}
			return next(c)
		}
	}
}

// currentUser is the authenticated user of the request (zero if none).
func currentUser(c echo.Context) registry.User {
	u, _ := c.Get(ctxUser).(registry.User)
	return u
}

// userContext returns the request context carrying the user name, for the
// registry's audit log.
func userContext(c echo.Context) context.Context {
	return registry.WithUser(c.Request().Context(), currentUser(c).Name)
}

// loadOrCreateSecretFile reads a secret from path, or creates the file with a
// new random secret and mode 0600. It reports whether it created the file.
func loadOrCreateSecretFile(path string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", false, fmt.Errorf("API token file %s is empty: delete it to generate a new one", path)
		}
		return tok, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read API token file: %w", err)
	}
	tok := randomToken(32)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("create API token file: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write API token file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("sync API token file %s: %w", path, err)
	}
	return tok, true, f.Close()
}

// randomToken returns n random bytes, hex encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return hex.EncodeToString(b)
}

// loginLimiter allows a fixed number of login attempts per client per window.
type loginLimiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	now     func() time.Time
	clients map[string]*attempts
}

type attempts struct {
	start time.Time
	n     int
}

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: max, window: window, now: now, clients: map[string]*attempts{}}
}

// allow counts one attempt by client and reports whether it may proceed.
func (l *loginLimiter) allow(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.clients) > 10000 {
		for k, v := range l.clients {
			if now.Sub(v.start) > l.window {
				delete(l.clients, k)
			}
		}
	}
	a, ok := l.clients[client]
	if !ok || now.Sub(a.start) > l.window {
		a = &attempts{start: now}
		l.clients[client] = a
	}
	a.n++
	return a.n <= l.max
}
