package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"driftd/registry"
	"driftd/scheduler"
)

// httpMetrics counts requests and their durations by route and status.
type httpMetrics struct {
	set *metrics.Set
}

func newHTTPMetrics(set *metrics.Set) *httpMetrics { return &httpMetrics{set: set} }

// observe records one finished request. route is the echo route pattern, so
// the label set stays bounded.
func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.set.GetOrCreateCounter(fmt.Sprintf(`driftd_http_requests_total{method=%q,route=%q,status="%d"}`, method, route, status)).Inc()
	m.set.GetOrCreatePrometheusHistogram(fmt.Sprintf(`driftd_http_request_duration_seconds{method=%q,route=%q}`, method, route)).Update(d.Seconds())
}

// newEcho builds the HTTP handler: middleware, error handler and routes.
func (a *App) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = a.errorHandler
	e.IPExtractor = ipExtractor(a.cfg.TrustedProxies)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			a.logger.Error("panic in handler", "path", c.Path(), "err", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(a.requestLog)
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "same-origin",
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
	}))
	e.Use(a.limitBody)
	a.routes(e)
	return e
}

// ipExtractor returns how echo's RealIP finds the client address: the TCP
// peer, unless the peer is one of the trusted proxies, whose X-Forwarded-For
// (the nearest address that is not a trusted proxy) or X-Real-IP is believed.
// echo trusts loopback and private addresses by default; here only the
// configured networks are trusted, so a client cannot pick its own address.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	xff, xri := echo.ExtractIPFromXFFHeader(opts...), echo.ExtractIPFromRealIPHeader(opts...)
	return func(r *http.Request) string {
		if r.Header.Get(echo.HeaderXForwardedFor) != "" {
			return xff(r)
		}
		return xri(r)
	}
}

// requestLog logs every request once with slog and feeds the HTTP metrics.
func (a *App) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		status := c.Response().Status
		a.http.observe(c.Request().Method, c.Path(), status, d)
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelWarn
		}
		a.logger.Log(c.Request().Context(), level, "http request",
			"method", c.Request().Method, "path", c.Request().URL.Path, "status", status,
			"duration", d, "remote", c.RealIP())
		return nil
	}
}

// apiError is the JSON body of every API error.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// errBadRequest marks an input error found by a handler itself.
type fieldErr struct {
	field, msg string
}

func (e *fieldErr) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

// badRequest returns a 400 error naming the field ("" for the whole body).
func badRequest(field, format string, args ...any) error {
	return &fieldErr{field: field, msg: fmt.Sprintf(format, args...)}
}

// errorHandler is the one place where an error becomes an HTTP status. It
// answers JSON under /api/ and on non-HTML clients, and logs only 5xx.
func (a *App) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := a.classify(err)
	if status >= 500 {
		a.logger.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if wantsHTML(c) {
		_ = a.renderErrorPage(c, status, body.Error)
		return
	}
	_ = c.JSON(status, body)
}

// classify maps an error to an HTTP status and JSON body.
func (a *App) classify(err error) (int, apiError) {
	var he *echo.HTTPError
	var fe *fieldErr
	var rfe *registry.FieldError
	var pe *scheduler.ParamError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest, apiError{Error: fe.Error(), Field: fe.field}
	case errors.As(err, &rfe):
		return http.StatusBadRequest, apiError{Error: err.Error(), Field: rfe.Field}
	case errors.As(err, &pe):
		return http.StatusBadRequest, apiError{Error: pe.Error(), Field: pe.Field}
	case errors.Is(err, scheduler.ErrQueueFull):
		return http.StatusTooManyRequests, apiError{Error: err.Error()}
	case errors.Is(err, scheduler.ErrUnknownFlow), errors.Is(err, scheduler.ErrNotFound):
		return http.StatusNotFound, apiError{Error: err.Error()}
	case errors.Is(err, scheduler.ErrTerminal):
		return http.StatusConflict, apiError{Error: err.Error()}
	case errors.Is(err, scheduler.ErrClosed):
		return http.StatusServiceUnavailable, apiError{Error: err.Error()}
	case errors.Is(err, registry.ErrNotFound):
		return http.StatusNotFound, apiError{Error: err.Error()}
	case errors.Is(err, registry.ErrInvalid):
		return http.StatusBadRequest, apiError{Error: err.Error()}
	case errors.Is(err, registry.ErrConflict):
		return http.StatusConflict, apiError{Error: err.Error()}
	case errors.As(err, &he):
		msg := fmt.Sprint(he.Message)
		if he.Internal != nil && he.Code < 500 {
			msg = fmt.Sprintf("%s: %v", msg, he.Internal)
		}
		return he.Code, apiError{Error: msg}
	default:
		return http.StatusInternalServerError, apiError{Error: "internal error: " + err.Error()}
	}
}

// wantsHTML reports whether the client is a browser asking for a page.
func wantsHTML(c echo.Context) bool {
	p := c.Request().URL.Path
	if strings.HasPrefix(p, "/api/") {
		return false
	}
	accept := c.Request().Header.Get("Accept")
	return strings.Contains(accept, "text/html")
}
