package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"

	"driftd/drift"
	"driftd/registry"
)

// driftHistoryInterval is how often the drift recorder keeps a check whose
// verdict did not change: at one point a minute the registry's bound
// (registry.DefaultDriftHistoryPoints) holds a little more than 30 days.
const driftHistoryInterval = time.Minute

// driftRecorder keeps drift checks in the registry's drift history, from
// its own goroutine so a slow disk never stalls the monitor's checker. A
// check is kept when its verdict changed (version, alert, retrain, dataset
// drift, drifted features) and otherwise at most once per interval. It also
// remembers the monitor of the latest check, whose window the Drift page
// shows as the current distribution.
type driftRecorder struct {
	store    *registry.Store
	model    string
	interval time.Duration
	logger   *slog.Logger
	failed   *metrics.Counter
	dropped  *metrics.Counter

	mon atomic.Pointer[drift.Monitor]

	mu      sync.Mutex // guards last, state, started, closed and profiles
	last    time.Time
	state   string
	started bool
	closed  bool
	queue   chan registry.DriftPoint
	wg      sync.WaitGroup
	// profiles caches the decoded reference profile of the last version asked for.
	profVersion string
	profile     *drift.Profile
}

func newDriftRecorder(store *registry.Store, model string, set *metrics.Set, logger *slog.Logger) *driftRecorder {
	return &driftRecorder{store: store, model: model, interval: driftHistoryInterval, logger: logger,
		queue:   make(chan registry.DriftPoint, 64),
		failed:  set.GetOrCreateCounter(`driftd_drift_history_failed_total`),
		dropped: set.GetOrCreateCounter(`driftd_drift_history_dropped_total`)}
}

// start runs the writing goroutine until close.
func (r *driftRecorder) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		// Points queued while one is written go in the next transaction
		// together: one disk sync however fast checks come.
		batch := make([]registry.DriftPoint, 0, cap(r.queue))
		for p := range r.queue {
			batch = append(batch[:0], p)
		drain:
			for len(batch) < cap(batch) {
				select {
				case q, ok := <-r.queue:
					if !ok {
						break drain
					}
					batch = append(batch, q)
				default:
					break drain
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := r.store.AppendDriftPoints(ctx, r.model, batch, registry.DriftHistoryOptions{})
			cancel()
			if err != nil {
				r.failed.Add(len(batch))
				r.logger.Warn("keep drift history", "points", len(batch), "err", err)
			}
		}
	}()
}

// record is called with every drift check of the deployed version, on the
// monitor's checker goroutine; it never blocks.
func (r *driftRecorder) record(ev drift.Event, mon *drift.Monitor) {
	if r == nil {
		return
	}
	r.mon.Store(mon)
	drifted := make([]string, 0, ev.DriftedFeatures)
	feats := make(map[string]float64, len(ev.Features))
	for _, f := range ev.Features {
		feats[f.Name] = f.PSI
		if f.Drifted {
			drifted = append(drifted, f.Name)
		}
	}
	slices.Sort(drifted)
	perf := performancePoint(ev.Estimated, ev.EstimatedLoss, mon)
	state := fmt.Sprint(ev.Version, ev.Alert, ev.Retrain, ev.DatasetDrift, drifted, perf != nil && perf.Drop, ev.Multivariate != nil && ev.Multivariate.Drifted)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || (state == r.state && ev.Time.Sub(r.last) < r.interval) {
		return
	}
	r.state, r.last = state, ev.Time
	p := registry.DriftPoint{Time: ev.Time, Version: ev.Version, WindowRecords: ev.WindowRecords, MaxPSI: ev.MaxPSI,
		PredictionPSI: finite(ev.PredictionPSI), DriftShare: ev.DriftShare, DriftedFeatures: ev.DriftedFeatures,
		DatasetDrift: ev.DatasetDrift, Retrain: ev.Retrain, Alert: ev.Alert, Features: feats, Drifted: drifted, Performance: perf}
	if mv := ev.Multivariate; mv != nil && !math.IsNaN(mv.Error) {
		lo, hi := mv.Lo, mv.Hi
		p.Multivariate = &registry.MultivariatePoint{Error: mv.Error, Lo: &lo, Hi: &hi, Drifted: mv.Drifted}
	}
	select {
	case r.queue <- p:
	default:
		r.dropped.Inc()
	}
}

// performancePoint is a check's performance for the history: estimated
// (with its band) when the version has a calibrator (a classifier) or loss
// models (a regression), realised when labels joined; nil when neither.
func performancePoint(e *drift.Estimated, l *drift.EstimatedLoss, mon *drift.Monitor) *registry.PerformancePoint {
	var pp registry.PerformancePoint
	known := false
	if e != nil {
		pp.EstimatedAccuracy, pp.EstimatedAUC, pp.Drop = &e.Accuracy, &e.AUC, e.Drop
		if b := e.Band; b != nil {
			pp.AccuracyLo, pp.AccuracyHi, pp.AUCLo, pp.AUCHi = &b.Accuracy.Lo, &b.Accuracy.Hi, &b.AUC.Lo, &b.AUC.Hi
		}
		known = true
	}
	if l != nil {
		pp.EstimatedRMSE, pp.EstimatedMAE = finitePtr(l.RMSE), finitePtr(l.MAE)
		pp.Drop = pp.Drop || l.Drop
		if b := l.Band; b != nil {
			pp.RMSELo, pp.RMSEHi = finitePtr(b.RMSE.Lo), finitePtr(b.RMSE.Hi)
		}
		known = true
	}
	if mon != nil {
		if perf := mon.Performance(); perf.Window > 0 {
			if l == nil || e != nil {
				acc, auc := perf.Accuracy, perf.AUC
				pp.Accuracy, pp.AUC = &acc, &auc
			}
			pp.RMSE, pp.MAE, pp.Labels = finitePtr(perf.RMSE), finitePtr(perf.MAE), perf.Labels
			known = true
		}
	}
	if !known {
		return nil
	}
	return &pp
}

// close stops accepting checks and waits, until ctx ends, for the queued
// ones to be written.
func (r *driftRecorder) close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.queue)
	r.mu.Unlock()
	if err := waitContext(ctx, &r.wg); err != nil {
		return fmt.Errorf("drift history still queued: %w", err)
	}
	return nil
}

// window returns the reference profile of version and the bin counts of
// the current drift window when the latest check was of that version; ok
// is false when either is not known.
func (r *driftRecorder) window(ctx context.Context, version string) (*drift.Profile, *drift.Counts, bool, error) {
	if r == nil {
		return nil, nil, false, nil
	}
	mon := r.mon.Load()
	if mon == nil {
		return nil, nil, false, nil
	}
	r.mu.Lock()
	prof := r.profile
	if r.profVersion != version {
		prof = nil
	}
	r.mu.Unlock()
	if prof == nil {
		raw, err := r.store.Profile(ctx, r.model, version)
		if err != nil {
			return nil, nil, false, fmt.Errorf("profile of %s %s: %w", r.model, version, err)
		}
		if prof, err = drift.DecodeProfile(raw); err != nil {
			return nil, nil, false, fmt.Errorf("profile of %s %s: %w", r.model, version, err)
		}
		r.mu.Lock()
		r.profVersion, r.profile = version, prof
		r.mu.Unlock()
	}
	counts := mon.Counts()
	nf := len(prof.Features)
	if prof.Prediction != nil {
		nf++
	}
	if len(counts.Bins) != nf {
		// The monitor is of another version than the profile.
		return nil, nil, false, nil
	}
	return prof, counts, true, nil
}

// driftHistoryJSON is the body of GET /api/v1/drift/history.
type driftHistoryJSON struct {
	Model   string                `json:"model"`
	Feature string                `json:"feature,omitempty"`
	Since   *time.Time            `json:"since"`
	Points  []registry.DriftPoint `json:"points"`
}

// apiDriftHistory returns the kept drift checks of a model:
// ?model= (default the scored model), ?feature= (only that feature's PSI),
// ?since= (RFC 3339 time, or a duration back from now such as 24h; default
// 24h), ?max_points= (downsampling, default 500).
func (a *App) apiDriftHistory(c echo.Context) error {
	q, err := a.driftHistoryQuery(c.QueryParam("model"), c.QueryParam("feature"), c.QueryParam("since"), c.QueryParam("max_points"))
	if err != nil {
		return err
	}
	pts, err := a.store.DriftHistory(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out := driftHistoryJSON{Model: q.Model, Feature: q.Feature, Points: pts}
	if !q.Since.IsZero() {
		out.Since = &q.Since
	}
	return c.JSON(http.StatusOK, out)
}

// driftHistoryQuery parses the drift history parameters shared by the API
// and the Drift page; errors name the parameter.
func (a *App) driftHistoryQuery(model, feature, since, maxPoints string) (registry.DriftHistoryQuery, error) {
	q := registry.DriftHistoryQuery{Model: model, Feature: feature}
	if q.Model == "" {
		q.Model = a.cfg.ModelName
	}
	switch {
	case since == "":
		q.Since = a.now().Add(-24 * time.Hour)
	case since == "all":
	default:
		if d, err := time.ParseDuration(since); err == nil && d > 0 {
			q.Since = a.now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, since); err == nil {
			q.Since = t
		} else {
			return q, badRequest("since", "%q is neither an RFC 3339 time, a duration back from now (24h) nor \"all\"", since)
		}
	}
	if maxPoints != "" {
		n, err := strconv.Atoi(maxPoints)
		if err != nil || n < 1 {
			return q, badRequest("max_points", "%q is not a positive number", maxPoints)
		}
		q.MaxPoints = n
	}
	return q, nil
}

// finitePtr returns &v, or nil when v is NaN or infinite (not kept).
func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
