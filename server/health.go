package server

import (
	"net/http"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
)

// healthz answers 200 while the process serves HTTP at all.
func (a *App) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "alive"})
}

// readyz answers 200 when every required component is ready, and 503 with a
// JSON reason naming the components that are not.
func (a *App) readyz(c echo.Context) error {
	bad := a.status.notReady()
	if len(bad) == 0 {
		return c.JSON(http.StatusOK, map[string]any{"status": "ready"})
	}
	var reasons []string
	for _, s := range bad {
		r := s.Name + " is " + string(s.State)
		if s.Detail != "" {
			r += ": " + s.Detail
		}
		reasons = append(reasons, r)
	}
	return c.JSON(http.StatusServiceUnavailable, map[string]any{
		"status": "not ready", "reason": strings.Join(reasons, "; "), "components": bad,
	})
}

// metricsHandler writes every driftd metric plus Go and process metrics in
// the Prometheus text format.
func (a *App) metricsHandler(c echo.Context) error {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	a.metrics.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
	return nil
}

// statusResponse is the body of GET /api/v1/status.
type statusResponse struct {
	Build      BuildInfo         `json:"build"`
	Ready      bool              `json:"ready"`
	Components []ComponentStatus `json:"components"`
}

// apiStatus returns build info and the live status of every component.
func (a *App) apiStatus(c echo.Context) error {
	return c.JSON(http.StatusOK, statusResponse{
		Build: a.build, Ready: len(a.status.notReady()) == 0, Components: a.status.list(),
	})
}
