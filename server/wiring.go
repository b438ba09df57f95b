package server

import (
	"context"
	"errors"
	"fmt"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
	"driftd/server/demo"
	"driftd/stream"
)

// liveScorer is what the flows see of the pipeline.
type liveScorer struct{ p *pipeline }

// Drift returns the live drift check and performance of the scored model.
func (l liveScorer) Drift() (drift.Event, drift.Performance, bool) {
	v, ok := l.p.Drift()
	return v.Event, v.Performance, ok
}

// ScorerStatus returns the scorer's counters.
func (l liveScorer) ScorerStatus() stream.Status { return l.p.ScorerStatus() }

// startDemo starts demo mode: the synthetic concept, its training run, the
// stream of records and delayed labels, and the shifts.
func (a *App) startDemo(ctx context.Context) error {
	r, err := demo.New(demo.Config{
		Model: a.cfg.ModelName, Environment: a.cfg.ScoringEnvironment, DataDir: a.cfg.DataDir,
		Rate: a.cfg.DemoRate, LabelDelay: a.cfg.DemoLabelDelay, ShiftAfter: a.cfg.DemoShiftAfter, Repeat: a.cfg.DemoRepeat,
	}, demo.Deps{
		Kafka:  a.pipeline.KafkaConfig,
		Topics: a.pipeline.Topics(),
		Submit: func(ctx context.Context, flow string, params map[string]any, t scheduler.Trigger) (scheduler.Run, error) {
			return a.engine.Submit(ctx, flow, params, scheduler.SubmitOptions{Trigger: t})
		},
		Wait: a.engine.Wait,
		Deployed: func(ctx context.Context, model, env string) (string, error) {
			v, err := a.store.Deployed(ctx, model, env)
			if errors.Is(err, registry.ErrNotFound) {
				return "", nil
			}
			return v.Version, err
		},
		Logger: a.logger,
		Now:    a.now,
	})
	if err != nil {
		return err
	}
	a.status.set("demo", false, StateStarting, "")
	if err := r.Start(ctx); err != nil {
		a.status.set("demo", false, StateFailed, err.Error())
		return fmt.Errorf("start demo: %w", err)
	}
	a.demo = r
	a.status.set("demo", false, StateReady, fmt.Sprintf("demo mode: synthetic records at %g/s, first shift after %s", a.cfg.DemoRate, a.cfg.DemoShiftAfter))
	a.logger.Warn("demo mode is on: driftd trains, streams and shifts synthetic data by itself; never use it for real models")
	return nil
}
