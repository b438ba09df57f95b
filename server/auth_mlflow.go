package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// basicCacheTTL is how long a Basic login stays verified: MLflow clients send
// the user name and password with every call, and a bcrypt check costs tens
// of milliseconds and a login-limiter attempt.
const (
	basicCacheTTL  = 5 * time.Minute
	basicCacheSize = 1024
)

// basicCache remembers Basic credentials that passed the password check, by
// an HMAC of name and password (never the password itself). A hit is still
// checked against the stored user's session generation, so a password change
// or logout ends it at once.
type basicCache struct {
	mu  sync.Mutex
	key []byte
	now func() time.Time
	m   map[[32]byte]basicEntry
}

type basicEntry struct {
	name  string
	gen   uint64
	until time.Time
}

func newBasicCache(key []byte, now func() time.Time) *basicCache {
	return &basicCache{key: key, now: now, m: map[[32]byte]basicEntry{}}
}

func (b *basicCache) sum(name, password string) [32]byte {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// get returns the session generation of a verified name and password.
func (b *basicCache) get(name, password string) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[b.sum(name, password)]
	if !ok || e.name != name || b.now().After(e.until) {
		return 0, false
	}
	return e.gen, true
}

// put remembers a verified name and password (forgetting all when full).
func (b *basicCache) put(name, password string, gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.m) >= basicCacheSize {
		clear(b.m)
	}
	b.m[b.sum(name, password)] = basicEntry{name: name, gen: gen, until: b.now().Add(basicCacheTTL)}
}

// requireMLflow authenticates MLflow clients, reads and writes alike: the API
// token as a bearer (MLFLOW_TRACKING_TOKEN), or a UI user's name and password
// as Basic auth (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD) with
// that user's role. Password checks are rate-limited like the login form's.
func (a *authenticator) requireMLflow(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if a.checkToken(c.Request().Header.Get(echo.HeaderAuthorization)) {
			c.Set(ctxUser, registry.User{Name: "api-token", Role: RoleAdmin})
			return next(c)
		}
		if name, password, ok := c.Request().BasicAuth(); ok {
			u, err := a.basicLogin(c.Request().Context(), c.RealIP(), name, password)
			if err == nil {
				c.Set(ctxUser, u)
				return next(c)
			}
			if err == errRateLimited {
				return echo.NewHTTPError(http.StatusTooManyRequests, "too many failed sign-ins: wait a minute")
			}
		}
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="driftd", charset="UTF-8"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "send the API token as a bearer (MLFLOW_TRACKING_TOKEN) or a driftd user's name and password (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)")
	}
}

// errRateLimited reports a Basic login refused by the login limiter.
var errRateLimited = &echo.HTTPError{Code: http.StatusTooManyRequests}

// basicLogin checks a Basic name and password: from the cache while its user
// keeps the same session generation, else with bcrypt under the login limiter.
func (a *authenticator) basicLogin(ctx context.Context, client, name, password string) (registry.User, error) {
	if gen, ok := a.basic.get(name, password); ok {
		if u, err := a.users.GetUser(ctx, name); err == nil && u.SessionGen == gen {
			return u, nil
		}
	}
	if !a.limiter.allow(client, name) {
		return registry.User{}, errRateLimited
	}
	u, err := a.login(ctx, name, password)
	if err != nil {
		return registry.User{}, err
	}
	a.basic.put(name, password, u.SessionGen)
	return u, nil
}
