package server

import (
	"bytes"
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
	openReads  bool
	now        func() time.Time
	limiter    *loginLimiter
	logger     *slog.Logger
	// adminPasswordPath receives a generated admin password (mode 0600).
	adminPasswordPath string
	// userMu serialises this process's read-modify-write of users, so that a
	// logout and a password change of the same user cannot undo each other.
	userMu sync.Mutex
	// basic remembers verified Basic logins of MLflow clients (requireMLflow).
	basic *basicCache
}

// newAuthenticator resolves the API token (configured, or generated into
// <data-dir>/api-token with mode 0600), makes sure the admin user exists and
// loads the key that signs session cookies.
func newAuthenticator(ctx context.Context, cfg Config, users userStore, logger *slog.Logger) (*authenticator, error) {
	a := &authenticator{users: users, secure: cfg.SecureCookies, openReads: cfg.OpenReads, now: time.Now, logger: logger,
		limiter:           newLoginLimiter(loginAttempts, loginWindow, loginLimiterSize, time.Now),
		adminPasswordPath: filepath.Join(cfg.DataDir, "admin-password")}
	switch {
	case cfg.APIToken != "":
		a.token = []byte(cfg.APIToken)
	case cfg.APITokenFile != "":
		tok, err := readSecretFile(cfg.APITokenFile, "DRIFTD_API_TOKEN_FILE", 16)
		if err != nil {
			return nil, err
		}
		a.token = tok
		logger.Info("API token read", "path", cfg.APITokenFile)
	default:
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
	if cfg.SessionKeyFile != "" {
		key, err := readSecretFile(cfg.SessionKeyFile, "DRIFTD_SESSION_KEY_FILE", 32)
		if err != nil {
			return nil, err
		}
		logger.Info("session key read", "path", cfg.SessionKeyFile)
		a.sessionKey = key
		a.basic = newBasicCache(key, a.now)
		return a, nil
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
	a.basic = newBasicCache(key, a.now)
	return a, nil
}

// ensureAdmin creates the admin user on first start. A configured password is
// applied on every start (ending the admin's sessions when it changes); a
// generated one is written once to <data-dir>/admin-password (mode 0600) and
// never logged: the log names only the file.
func (a *authenticator) ensureAdmin(ctx context.Context, password string) error {
	u, err := a.users.GetUser(ctx, "admin")
	switch {
	case err == nil:
		if password == "" || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) == nil {
			return nil
		}
	case errors.Is(err, registry.ErrNotFound):
	default:
		return fmt.Errorf("read admin user: %w", err)
	}
	generated := password == ""
	if generated {
		password = randomToken(12)
		// The file first: if storing the user fails, the next start tries again;
		// the other way round, a failed write would lock the admin out.
		if err := writeSecretFile(a.adminPasswordPath, password); err != nil {
			return err
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return fmt.Errorf("hash admin password: %w", err)
	}
	if err := a.setPassword(ctx, "admin", RoleAdmin, hash); err != nil {
		return fmt.Errorf("store admin user: %w", err)
	}
	if generated {
		a.logger.Warn("created UI user admin with a generated password: read it from the file, sign in, then delete the file (or set DRIFTD_ADMIN_PASSWORD to choose your own)",
			"path", a.adminPasswordPath)
	}
	return nil
}

// setPassword creates or updates user name with a role and a password hash,
// and ends every session the user has. It returns the registry's errors
// (*registry.FieldError for an invalid name or role).
func (a *authenticator) setPassword(ctx context.Context, name, role string, hash []byte) error {
	return a.updateUser(ctx, name, func(u *registry.User) {
		u.Role, u.PasswordHash = role, hash
		u.SessionGen++
	})
}

// endSessions makes every session cookie of user name invalid (logout).
func (a *authenticator) endSessions(ctx context.Context, name string) error {
	return a.updateUser(ctx, name, func(u *registry.User) { u.SessionGen++ })
}

// updateUser reads user name (a new one when missing), applies fn and
// stores it, one update at a time.
func (a *authenticator) updateUser(ctx context.Context, name string, fn func(*registry.User)) error {
	a.userMu.Lock()
	defer a.userMu.Unlock()
	u, err := a.users.GetUser(ctx, name)
	if errors.Is(err, registry.ErrNotFound) {
		u, err = registry.User{Name: name, Created: a.now()}, nil
	}
	if err != nil {
		return err
	}
	fn(&u)
	return a.users.PutUser(ctx, u)
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

// requireAPI guards the JSON API: a mutating call needs the API token; a read
// needs the token or a UI session, unless DRIFTD_OPEN_READS opened reads. A
// session never authorises a mutation: the API takes no CSRF token.
func (a *authenticator) requireAPI(next echo.HandlerFunc) echo.HandlerFunc {
	read, write := a.requireRead(next), a.requireToken(next)
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return read(c)
		}
		return write(c)
	}
}

// requireRead lets a read of data through with the API token, a UI session
// (any role), or when reads are open; otherwise it answers 401.
func (a *authenticator) requireRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch {
		case a.checkToken(c.Request().Header.Get(echo.HeaderAuthorization)):
			c.Set(ctxUser, registry.User{Name: "api-token", Role: RoleAdmin})
		default:
			u, ok := a.sessionUser(c.Request().Context(), c.Request())
			if ok {
				c.Set(ctxUser, u)
			} else if !a.openReads {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="driftd"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "this read needs the API token (Authorization: Bearer <token>, see <data-dir>/api-token) or a UI session; DRIFTD_OPEN_READS=true opens reads")
			}
		}
		return next(c)
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

// newSessionCookie signs a session for user u: its name, the expiry and the
// user's session generation, so that bumping the generation ends it.
func (a *authenticator) newSessionCookie(u registry.User) *http.Cookie {
	exp := a.now().Add(sessionLifetime).Unix()
	payload := base64.RawURLEncoding.EncodeToString([]byte(u.Name)) + "." + strconv.FormatInt(exp, 10) +
		"." + strconv.FormatUint(u.SessionGen, 10)
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

// sessionUser returns the user of a valid, unexpired session cookie whose
// generation is the user's current one.
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
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return registry.User{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || a.now().Unix() > exp {
		return registry.User{}, false
	}
	gen, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return registry.User{}, false
	}
	name, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return registry.User{}, false
	}
	u, err := a.users.GetUser(ctx, string(name))
	if err != nil || u.SessionGen != gen {
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

// readSecretFile reads a secret shared by several instances from path (the
// setting env names it), without surrounding white space; it must hold at
// least min bytes.
func readSecretFile(path, env string, min int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < min {
		return nil, fmt.Errorf("%s: %s holds %d bytes, want at least %d (e.g. openssl rand -hex 32 > %s)", env, path, len(b), min, path)
	}
	return b, nil
}

// writeSecretFile writes secret to path with mode 0600, replacing a file
// that is there (whatever its mode was).
func writeSecretFile(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create secret file: %w", err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(secret + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write secret file %s: %w", path, err)
	}
	return nil
}

// randomToken returns n random bytes, hex encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return hex.EncodeToString(b)
}
