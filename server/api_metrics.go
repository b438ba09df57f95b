package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// customMetricsResponse is the body of a successful POST /api/v1/metrics.
type customMetricsResponse struct {
	Recorded  int `json:"recorded"`   // values recorded by this call
	Series    int `json:"series"`     // custom series that exist now
	MaxSeries int `json:"max_series"` // how many may exist
}

// apiCustomMetrics returns the handler of POST /api/v1/metrics (API token),
// which records custom gauges and counters for code that is not driftd:
// {"name":"drift","fields":{"psi_score":0.15},"labels":{"feature":"feature_1"}}
// (or a list of such objects, recorded all or none) is exported as
// driftd_custom_drift_psi_score{feature="feature_1"} 0.15. A call that would
// pass DRIFTD_CUSTOM_METRICS_MAX_SERIES gets 429 and records nothing, so a
// client cannot grow /metrics without end.
func (a *App) apiCustomMetrics() echo.HandlerFunc {
	cm := newCustomMetrics(a.metrics, a.cfg.CustomMetricsMaxSeries)
	return func(c echo.Context) error {
		ms, err := decodeCustomMetrics(c.Request().Body)
		if err != nil {
			return err
		}
		n, err := cm.record(ms)
		if errors.Is(err, errSeriesLimit) {
			return echo.NewHTTPError(http.StatusTooManyRequests, err.Error())
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, customMetricsResponse{Recorded: n, Series: cm.size(), MaxSeries: cm.max})
	}
}

// decodeCustomMetrics reads one CustomMetric object or a list of them;
// unknown fields and trailing data are errors (*fieldErr).
func decodeCustomMetrics(r io.Reader) ([]CustomMetric, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	b = bytes.TrimSpace(b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var ms []CustomMetric
	if len(b) > 0 && b[0] == '[' {
		err = dec.Decode(&ms)
	} else {
		var m CustomMetric
		err = dec.Decode(&m)
		ms = []CustomMetric{m}
	}
	if err != nil {
		return nil, badRequest("", "body is not a metric or a list of metrics: %v", err)
	}
	if dec.More() {
		return nil, badRequest("", "body has data after the JSON value")
	}
	return ms, nil
}
