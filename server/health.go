package server

import (
	"net/http"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"

	"driftd/server/cluster"
)

// healthz answers 200 while the process serves HTTP at all.
func (a *App) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "alive"})
}

// readyz answers 200 while driftd serves its API: every required component
// is ready or degraded. A degraded one, such as the scorer with no model
// deployed, is named in the body ("degraded") without failing readiness, so
// an orchestrator that gates traffic on /readyz lets the first deploy
// through. It answers 503 with a JSON reason naming the required components
// that are starting, stopped or failed.
func (a *App) readyz(c echo.Context) error {
	bad := a.status.notReady()
	if len(bad) == 0 {
		body := map[string]any{"status": "ready", "components": a.status.list()}
		if d := a.status.degraded(); len(d) > 0 {
			body["degraded"] = reasons(d)
		}
		return c.JSON(http.StatusOK, body)
	}
	return c.JSON(http.StatusServiceUnavailable, map[string]any{
		"status": "not ready", "reason": reasons(bad), "components": bad,
	})
}

// reasons joins "name is state: detail" for each component.
func reasons(cs []ComponentStatus) string {
	var out []string
	for _, s := range cs {
		r := s.Name + " is " + string(s.State)
		if s.Detail != "" {
			r += ": " + s.Detail
		}
		out = append(out, r)
	}
	return strings.Join(out, "; ")
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
	// Instances are a cluster's live scoring processes, on its primary
	// (DRIFTD_CLUSTER=true) only.
	Instances []cluster.Instance `json:"instances,omitempty"`
}

// apiStatus returns build info and the live status of every component.
func (a *App) apiStatus(c echo.Context) error {
	st := statusResponse{Build: a.build, Ready: len(a.status.notReady()) == 0, Components: a.status.list()}
	if a.pipeline != nil {
		st.Instances = a.pipeline.LiveInstances()
	}
	return c.JSON(http.StatusOK, st)
}
