package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Request body limits by kind of route. DRIFTD_MAX_BODY_BYTES caps them all.
const (
	// formBodyLimit bounds the UI's forms, /login first of all: it is
	// unauthenticated and its CSRF check parses the form before anything else.
	formBodyLimit = 16 << 10
	// jsonBodyLimit bounds JSON API calls and a test Kafka message (Kafka's
	// default largest message is 1 MiB).
	jsonBodyLimit = 4 << 20
	// uploadBodyLimit stands for DRIFTD_MAX_BODY_BYTES itself.
	uploadBodyLimit = -1
	// servingBodyLimit stands for DRIFTD_SERVING_MAX_BODY_BYTES.
	servingBodyLimit = -2
)

// routeBodyLimits names the routes, by method and echo pattern, whose
// bodies may be larger than their kind's default: model and artifact uploads
// and training CSV uploads. Every other route under /api/ gets jsonBodyLimit,
// every other route formBodyLimit, so a new route is small until listed here.
var routeBodyLimits = map[string]int64{
	"POST /api/v1/models/:name/versions":             uploadBodyLimit,
	"POST /api/v1/models/:name/versions/import":      uploadBodyLimit, // an XGBoost or LightGBM model and its reference data
	"PUT /api/v1/runs/:id/artifacts/*":               uploadBodyLimit,
	"POST /api/v1/train":                             uploadBodyLimit, // multipart CSV upload
	"POST /training":                                 uploadBodyLimit, // the Training page's CSV upload
	"POST /kafka/topics/:topic/produce":              jsonBodyLimit,   // the Topic page's test message
	"POST /api/v1/models/:name/predict":              servingBodyLimit,
	"POST /invocations":                              servingBodyLimit, // MLflow's scoring route
	"PUT /api/2.0/mlflow-artifacts/artifacts/*":      uploadBodyLimit,  // MLflow's artifact proxy
	"PUT /ajax-api/2.0/mlflow-artifacts/artifacts/*": uploadBodyLimit,
}

// bodyLimit returns the largest body accepted by the route of method and
// pattern (echo's c.Path()).
func (a *App) bodyLimit(method, pattern string) int64 {
	limit, ok := routeBodyLimits[method+" "+pattern]
	switch {
	case ok && limit == uploadBodyLimit:
		return a.cfg.MaxBodyBytes
	case ok && limit == servingBodyLimit:
		limit = a.cfg.ServingMaxBodyBytes
	case ok:
	case strings.HasPrefix(pattern, "/api/"), strings.HasPrefix(pattern, "/ajax-api/"):
		limit = jsonBodyLimit
	default:
		limit = formBodyLimit
	}
	return min(limit, a.cfg.MaxBodyBytes)
}

// limitBody applies the route's body limit (it runs after routing, so
// c.Path() is the route's pattern). A declared Content-Length over the limit
// is refused before anything is read; a body that turns out longer makes the
// request a 413, whatever error the handler or a middleware (the CSRF check's
// form parsing) made of the cut-off read.
func (a *App) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		limit := a.bodyLimit(req.Method, c.Path())
		if req.ContentLength > limit {
			return errTooLarge(limit)
		}
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		body := &limitedBody{rc: req.Body, left: limit, limit: limit}
		req.Body = body
		err := next(c)
		if body.exceeded && !c.Response().Committed {
			return errTooLarge(limit)
		}
		return err
	}
}

// errTooLarge is the 413 of a body over limit; the message names the limit.
func errTooLarge(limit int64) error {
	size := humanBytes(limit)
	if !strings.HasSuffix(size, " bytes") {
		size += fmt.Sprintf(" (%d bytes)", limit)
	}
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "request body too large: this call accepts at most "+size)
}

// limitedBody reads at most limit bytes and remembers whether the body had
// more (like http.MaxBytesReader, whose error handlers may wrap or drop).
type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	limit    int64
	exceeded bool
}

// Read reads from the body; past the limit it returns *http.MaxBytesError.
func (b *limitedBody) Read(p []byte) (int, error) {
	if b.exceeded {
		return 0, &http.MaxBytesError{Limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more than allowed tells a long body apart
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		b.exceeded = true
		n = int(b.left)
		b.left = 0
		return n, &http.MaxBytesError{Limit: b.limit}
	}
	b.left -= int64(n)
	return n, err
}

// Close closes the underlying body.
func (b *limitedBody) Close() error { return b.rc.Close() }

// humanBytes spells a byte count in KiB, MiB or GiB when it is a whole number of them.
func humanBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
