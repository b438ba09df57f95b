package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"driftd/scheduler"
)

// TrainFlow is the flow the demo submits for its first model.
const TrainFlow = "train"

// ensureModel returns the version deployed to the scoring environment,
// training and deploying one first when there is none: fresh is true then.
// A failure is logged, shown in Status and retried every r.retry; ok is
// false only when ctx ended.
func (r *Runner) ensureModel(ctx context.Context) (version string, fresh, ok bool) {
	for {
		v, err := r.deployedNow(ctx)
		if err == nil && v != "" {
			if !fresh {
				r.log.Info("demo: a version is already deployed; skipping training", "model", r.cfg.Model, "version", v)
			}
			return v, fresh, true
		}
		if err == nil && fresh {
			err = fmt.Errorf("the train run ended but no version of %q is deployed to %s", r.cfg.Model, r.cfg.Environment)
		}
		if err == nil {
			r.update(func(s *Status) { s.Phase = PhaseTraining })
			if err = r.train(ctx); err == nil {
				fresh = true
				continue // read the deployment it made
			}
		}
		if ctx.Err() != nil {
			return "", false, false
		}
		fresh = false
		r.log.Error("demo: cannot get a model deployed; retrying", "err", err, "retry_in", r.retry)
		msg := err.Error()
		r.update(func(s *Status) { s.Phase, s.Error = PhaseRetrying, msg })
		t := time.NewTimer(r.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", false, false
		case <-t.C:
		}
	}
}

// deployedNow calls Deployed with a bounded context.
func (r *Runner) deployedNow(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, depsTimeout)
	defer cancel()
	v, err := r.d.Deployed(cctx, r.cfg.Model, r.cfg.Environment)
	if err != nil {
		return "", fmt.Errorf("read the deployed version: %w", err)
	}
	return v, nil
}

// train writes DataDir/demo/train.csv, submits the train flow on it and
// waits for the run. It returns an error when the file cannot be written,
// the submission is refused, or the run does not complete.
func (r *Runner) train(ctx context.Context) error {
	path := filepath.Join(r.dir(), "train.csv")
	if err := WriteSampleFile(path, trainRows, r.cfg.Seed); err != nil {
		return fmt.Errorf("demo training data: %w", err)
	}
	params := map[string]any{
		"data": path, "target": "label", "id": "id",
		"model": r.cfg.Model, "deploy": r.cfg.Environment,
		"experiment": "demo", "rounds": trainRounds,
	}
	trig := scheduler.Trigger{Kind: scheduler.TriggerDemo, By: "demo", Reason: "demo mode: the first model, on synthetic data"}
	run, err := r.d.Submit(ctx, TrainFlow, params, trig)
	if err != nil {
		return fmt.Errorf("submit the %s flow: %w", TrainFlow, err)
	}
	id := run.ID
	r.update(func(s *Status) { s.TrainRun = id })
	r.log.Info("demo: training the first model", "run", id, "data", path, "rows", trainRows)
	run, err = r.d.Wait(ctx, id)
	if err != nil {
		return fmt.Errorf("wait for %s run %s: %w", TrainFlow, id, err)
	}
	if run.State != scheduler.StateCompleted {
		return fmt.Errorf("%s run %s ended %s: %s", TrainFlow, id, run.State, run.Error)
	}
	return nil
}
