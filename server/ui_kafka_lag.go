package server

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/stream"
	"driftd/web"
)

const (
	// lagStep is how often the server samples every consumer group's lag,
	// and the resolution of the history.
	lagStep = time.Minute
	// lagKeep is how many steps the history keeps: 24 hours.
	lagKeep = 24 * 60
	// lagMaxSeries bounds the group and topic pairs kept (1,440 points of
	// 16 bytes each: 23 KB a pair, 1.5 MB at most).
	lagMaxSeries = 64
	// lagTimeout bounds one sample's Kafka calls.
	lagTimeout = 10 * time.Second
)

// lagRanges are the spans the lag charts offer.
var lagRanges = map[string]time.Duration{"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour}

// lagKey names one series: a consumer group's total lag on one topic.
type lagKey struct{ group, topic string }

// lagPoint is one sample: the minute (Unix time / lagStep) and the lag.
type lagPoint struct {
	step int64
	lag  int64
}

// lagHistory keeps every consumer group's total lag per topic, one point
// per lagStep over the last lagKeep steps, in memory. Each series is a
// ring indexed by step, so a sample costs no allocation once the series
// exists and old points fall out by being overwritten. Safe for
// concurrent use.
type lagHistory struct {
	mu      sync.Mutex
	series  map[lagKey][]lagPoint // each lagKeep long; step 0 marks an empty slot
	first   time.Time             // the first sample
	last    time.Time             // the newest sample
	dropped map[lagKey]bool       // pairs refused beyond lagMaxSeries
}

// newLagHistory returns an empty history.
func newLagHistory() *lagHistory {
	return &lagHistory{series: map[lagKey][]lagPoint{}, dropped: map[lagKey]bool{}}
}

// observe records the groups' lag at time at: per group, the sum of its
// partitions' lag on each topic. A later sample in the same step replaces
// the earlier one. Series whose newest point is older than the history's
// span are forgotten.
func (h *lagHistory) observe(at time.Time, groups []stream.GroupInfo) {
	step := at.Unix() / int64(lagStep/time.Second)
	sums := map[lagKey]int64{}
	for _, g := range groups {
		for _, l := range g.Lag {
			sums[lagKey{g.Group, l.Topic}] += max(l.Lag, 0)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.first.IsZero() {
		h.first = at
	}
	h.last = at
	for k, ring := range h.series {
		if newest(ring) <= step-lagKeep {
			delete(h.series, k)
		}
	}
	for k, lag := range sums {
		ring, ok := h.series[k]
		if !ok {
			if len(h.series) >= lagMaxSeries {
				h.dropped[k] = true
				continue
			}
			ring = make([]lagPoint, lagKeep)
			h.series[k] = ring
			delete(h.dropped, k)
		}
		ring[step%lagKeep] = lagPoint{step: step, lag: lag}
	}
}

// state returns when the newest sample was taken (zero before the first)
// and how many series the history holds.
func (h *lagHistory) state() (time.Time, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, len(h.series)
}

// newest is the step of a ring's newest point (0 when it has none).
func newest(ring []lagPoint) int64 {
	var n int64
	for _, p := range ring {
		n = max(n, p.step)
	}
	return n
}

// view lays the history of the last span before now out as a chart per
// group, a line per topic, groups by name.
func (h *lagHistory) view(now time.Time, span time.Duration) web.LagView {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := web.LagView{Step: "minute", Dropped: len(h.dropped)}
	if !h.first.IsZero() {
		v.Since = h.first.UTC().Format("2006-01-02 15:04 UTC")
	}
	stepSec := int64(lagStep / time.Second)
	to := now.Unix() / stepSec
	from := to - int64(span/lagStep)
	byGroup := map[string][]lagKey{}
	for k := range h.series {
		byGroup[k.group] = append(byGroup[k.group], k)
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	classes := []string{"", "alt", "warn", "bad"}
	for _, g := range groups {
		keys := byGroup[g]
		sort.Slice(keys, func(i, j int) bool { return keys[i].topic < keys[j].topic })
		ch := web.LagChart{Group: g, Chart: web.TimeChart{Label: "lag of consumer group " + g + " per topic, records behind"}}
		var latest int64
		for i, k := range keys {
			var pts []lagPoint
			for _, p := range h.series[k] {
				if p.step > from && p.step <= to {
					pts = append(pts, p)
				}
			}
			if len(pts) == 0 {
				continue
			}
			slices.SortFunc(pts, func(a, b lagPoint) int { return int(a.step - b.step) })
			line := web.Line{Name: k.topic, Class: classes[i%len(classes)]}
			for _, p := range pts {
				line.Points = append(line.Points, web.TimePoint{T: time.Unix(p.step*stepSec, 0).UTC(), V: float64(p.lag)})
			}
			if last := pts[len(pts)-1]; last.step > latest {
				latest = last.step
			}
			ch.Chart.Lines = append(ch.Chart.Lines, line)
		}
		if len(ch.Chart.Lines) == 0 {
			continue
		}
		for _, l := range ch.Chart.Lines { // the group's lag now: its topics' latest points of the newest step
			if last := l.Points[len(l.Points)-1]; last.T.Unix()/stepSec == latest {
				ch.Now += int64(last.V)
			}
		}
		v.Charts = append(v.Charts, ch)
	}
	return v
}

// lagSampler samples every consumer group's lag into a history once per
// lagStep, on a timer, from the pipeline's Kafka admin client, and stops
// once the pipeline has closed.
type lagSampler struct {
	h      *lagHistory
	p      *pipeline
	now    func() time.Time
	logger *slog.Logger
}

// run samples at once and then every lagStep until ctx ends or the
// pipeline closes.
func (s *lagSampler) run(ctx context.Context) {
	t := time.NewTicker(lagStep)
	defer t.Stop()
	for !s.p.isClosed() {
		sctx, cancel := context.WithTimeout(ctx, lagTimeout)
		s.sample(sctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample reads every group's lag into the history; a failed read is
// logged and leaves a gap.
func (s *lagSampler) sample(ctx context.Context) {
	adm := s.p.Admin()
	if adm == nil {
		return
	}
	groups, err := adm.Groups(ctx)
	if err != nil {
		s.logger.Debug("sample consumer lag", "err", err)
		return
	}
	s.h.observe(s.now(), groups)
}

// lagFresh is how old the newest sample may be when the charts are shown;
// an older one is refreshed first, so the charts end at the present.
const lagFresh = 5 * time.Second

// refresh samples now when the newest sample is older than lagFresh, or
// when no group had lag to record yet (the first sample is taken as driftd
// starts, often before its own groups have joined).
func (s *lagSampler) refresh(ctx context.Context) {
	last, n := s.h.state()
	if n == 0 || last.Before(s.now().Add(-lagFresh)) {
		s.sample(ctx)
	}
}

// isClosed reports whether the pipeline has been closed.
func (p *pipeline) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// newLagSampler returns the sampler of the consumer groups' lag for the
// Kafka page's charts; Start runs it until Close.
func (a *App) newLagSampler() *lagSampler {
	return &lagSampler{h: newLagHistory(), p: a.pipeline, now: a.now, logger: a.logger.With("component", "kafka-lag")}
}

// uiKafkaLag shows the consumer lag history: ?range= is 1h, 6h or 24h
// (the default); with ?fragment=1 only the charts, which the Kafka page
// loads. A history whose newest sample is older than lagFresh is sampled
// first.
func (a *App) uiKafkaLag(s *lagSampler) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.QueryParam("range")
		if r == "" {
			r = "24h"
		}
		span, ok := lagRanges[r]
		if !ok {
			return badRequest("range", "%q: must be 1h, 6h or 24h", r)
		}
		if s.p != nil {
			s.refresh(c.Request().Context())
		}
		v := s.h.view(a.now(), span)
		v.Range, v.Ranges = r, []string{"1h", "6h", "24h"}
		if c.QueryParam("fragment") == "1" {
			c.Response().Header().Set("Cache-Control", "no-store")
			return render(c.Request().Context(), c, http.StatusOK, web.LagCharts(v))
		}
		return a.renderPage(c, a.page(c, "kafka", "Consumer lag over time"), web.LagBody(v))
	}
}
