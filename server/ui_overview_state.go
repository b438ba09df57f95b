package server

import (
	"sync"
	"time"
)

// overviewMinSpan is the shortest time between two samples the Overview
// computes a rate or a lag trend from; a refresh sooner than that reuses the
// figures of the last two samples.
const overviewMinSpan = time.Second

// overviewSample is one reading of the scorer's input counter and its
// consumer group's lag.
type overviewSample struct {
	at       time.Time
	consumed uint64
	lag      int64
	lagKnown bool
}

// overviewFigures are what two samples tell: records/s and the lag trend.
type overviewFigures struct {
	rate      float64
	rateKnown bool
	span      time.Duration
	lagTrend  string // rising, falling, steady, or "" with fewer than two lag samples
}

// overviewSampler keeps the last sample of an App's scorer so that each
// Overview render can compare the present with it.
type overviewSampler struct {
	mu   sync.Mutex
	last overviewSample
	figs overviewFigures
}

// overviewSamplerOf returns a's sampler.
func (a *App) overviewSamplerOf() *overviewSampler { return &a.overview }

// observe records cur and returns the figures between it and the sample
// before it. A counter that went backwards (the scorer restarted) starts
// over: "measuring" until the next sample.
func (s *overviewSampler) observe(cur overviewSample) overviewFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.last
	switch {
	case prev.at.IsZero() || cur.consumed < prev.consumed || cur.at.Before(prev.at):
		s.last, s.figs = cur, overviewFigures{}
		return s.figs
	case cur.at.Sub(prev.at) < overviewMinSpan:
		return s.figs
	}
	span := cur.at.Sub(prev.at)
	f := overviewFigures{rate: float64(cur.consumed-prev.consumed) / span.Seconds(), rateKnown: true, span: span}
	if prev.lagKnown && cur.lagKnown {
		switch {
		case cur.lag > prev.lag:
			f.lagTrend = "rising"
		case cur.lag < prev.lag:
			f.lagTrend = "falling"
		default:
			f.lagTrend = "steady"
		}
	}
	s.last, s.figs = cur, f
	return f
}
