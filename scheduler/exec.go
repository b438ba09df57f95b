package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime/debug"
	"strings"
	"time"
)

// errTimedOut is the cancel cause of an attempt that ran past its timeout.
var errTimedOut = errors.New("timed out")

// maxBackoff caps the retry backoff.
const maxBackoff = time.Hour

func attemptNote(attempt, max int) string { return fmt.Sprintf("attempt %d of %d", attempt, max) }

// outcome is what one attempt of a flow returned.
type outcome struct {
	value     any
	err       error
	abandoned bool // the flow did not return within the grace period after its context ended
}

// execute runs one attempt of lr and settles the run.
func (e *Engine) execute(ctx context.Context, stop context.CancelFunc, lr *liveRun, snap Run, seq uint64) {
	defer e.workers.Done()
	defer stop()
	e.persist(lr, snap, seq)
	lr.log.add(attemptNote(snap.Attempts, snap.MaxAttempts) + " started")
	rc := NewRunContext(snap.ID, snap.Flow, maps.Clone(lr.params), snap.Trigger, snap.Attempts,
		lr.log.add, func(v any) { e.setProgress(lr, v) })
	start := e.now()
	out := e.call(ctx, lr, rc)
	timedOut := errors.Is(context.Cause(ctx), errTimedOut)
	stop()
	e.settle(lr, out, timedOut, e.now().Sub(start))
}

// call runs the flow's function, turning a panic into an error with the stack
// in the run's log. Once ctx ends it waits at most the grace period.
func (e *Engine) call(ctx context.Context, lr *liveRun, rc *RunContext) outcome {
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				for _, line := range strings.Split(strings.TrimRight(string(debug.Stack()), "\n"), "\n") {
					lr.log.add(line)
				}
				done <- outcome{err: fmt.Errorf("panic: %v", p)}
			}
		}()
		v, err := lr.flow.Run(ctx, rc)
		done <- outcome{value: v, err: err}
	}()
	select {
	case out := <-done:
		return out
	case <-ctx.Done():
	}
	t := time.NewTimer(e.grace)
	defer t.Stop()
	select {
	case out := <-done:
		return out
	case <-t.C:
		lr.log.add(fmt.Sprintf("the flow did not return within %s of its cancellation; giving up on it", e.grace))
		return outcome{err: ctx.Err(), abandoned: true}
	}
}

// settle decides what follows an attempt: completed, cancelled, a retry, or
// failed.
func (e *Engine) settle(lr *liveRun, out outcome, timedOut bool, took time.Duration) {
	e.mu.Lock()
	note, closed := lr.stopNote, e.closed
	lr.cancel = nil
	attempts, maxAttempts, timeout := lr.run.Attempts, lr.run.MaxAttempts, lr.run.Timeout
	e.mu.Unlock()
	took = took.Round(time.Millisecond)

	switch {
	case out.err == nil && !out.abandoned:
		var result json.RawMessage
		if out.value != nil {
			raw, err := json.Marshal(out.value)
			if err != nil {
				lr.log.add("the result could not be stored as JSON: " + err.Error())
			} else {
				result = raw
			}
		}
		lr.log.add(fmt.Sprintf("completed in %s", took))
		e.end(lr, StateCompleted, "", func(r *Run) { r.Result, r.Error = result, "" })
		return
	case note != "":
		lr.log.add("cancelled: " + note)
		e.end(lr, StateCancelled, note, func(r *Run) { r.Error = "" })
		return
	}

	msg := out.err.Error()
	if timedOut {
		msg = fmt.Sprintf("timed out after %s", timeout)
	}
	switch {
	case closed:
		lr.log.add(fmt.Sprintf("failed: %s; not retried: %s", msg, shutdownNote))
		e.end(lr, StateCancelled, shutdownNote, func(r *Run) { r.Error = msg })
	case attempts < maxAttempts:
		backoff := e.backoff(lr.flow.RetryBackoff, attempts)
		lr.log.add(fmt.Sprintf("failed: %s; retrying in %s", msg, backoff.Round(time.Millisecond)))
		e.retryLater(lr, msg, backoff)
	default:
		lr.log.add(fmt.Sprintf("failed after %s: %s", took, msg))
		e.end(lr, StateFailed, msg, func(r *Run) { r.Error = msg })
	}
}

// backoff is base * 2^(attempt-1) scaled by 0.5 + Jitter(), capped at an hour.
func (e *Engine) backoff(base time.Duration, attempt int) time.Duration {
	j := e.jitter()
	if !(j >= 0 && j < 1) {
		j = 0.5
	}
	secs := base.Seconds() * math.Pow(2, float64(attempt-1)) * (0.5 + j)
	if secs >= maxBackoff.Seconds() {
		return maxBackoff
	}
	return time.Duration(secs * float64(time.Second))
}

// retryLater moves a failed run back to scheduled until its backoff ends.
func (e *Engine) retryLater(lr *liveRun, msg string, backoff time.Duration) {
	lr.log.flush()
	e.mu.Lock()
	if lr.ended {
		e.mu.Unlock()
		return
	}
	if note := lr.stopNote; e.closed || note != "" {
		// Cancelled (or shut down) while the attempt was settling: no retry.
		e.mu.Unlock()
		lr.log.add("not retried: " + cmp.Or(note, shutdownNote))
		e.end(lr, StateCancelled, cmp.Or(note, shutdownNote), func(r *Run) { r.Error = msg })
		return
	}
	now := e.now().UTC()
	lr.run.ScheduledAt = now.Add(backoff)
	lr.run.Error = msg
	note := fmt.Sprintf("%s failed: %s; retry in %s", attemptNote(lr.run.Attempts, lr.run.MaxAttempts), msg, backoff.Round(time.Millisecond))
	snap, seq := e.setStateLocked(lr, StateScheduled, note, now)
	lr.retry = time.AfterFunc(backoff, func() { e.promote(lr) })
	e.mu.Unlock()
	e.persist(lr, snap, seq)
}

// promote moves lr, waiting for its retry, to pending (its timer fired).
func (e *Engine) promote(lr *liveRun) {
	e.mu.Lock()
	snap, seq, ok := e.promoteLocked(lr, e.now().UTC())
	e.mu.Unlock()
	if ok {
		e.persist(lr, snap, seq)
	}
}

func (e *Engine) promoteLocked(lr *liveRun, now time.Time) (Run, uint64, bool) {
	if lr.ended || lr.run.State != StateScheduled || e.closed {
		return Run{}, 0, false
	}
	if lr.retry != nil {
		lr.retry.Stop()
		lr.retry = nil
	}
	snap, seq := e.enqueueLocked(lr, "retry due", now)
	e.dispatchLocked()
	return snap, seq, true
}

// promoteDue moves every run whose retry is due at now to pending; Tick calls
// it, so a clock moved forward starts retries without waiting for their timers.
func (e *Engine) promoteDue(now time.Time) {
	type saved struct {
		lr   *liveRun
		snap Run
		seq  uint64
	}
	var out []saved
	e.mu.Lock()
	for _, lr := range e.runs {
		if lr.run.State == StateScheduled && !lr.run.ScheduledAt.After(now) {
			if snap, seq, ok := e.promoteLocked(lr, now.UTC()); ok {
				out = append(out, saved{lr, snap, seq})
			}
		}
	}
	e.mu.Unlock()
	for _, s := range out {
		e.persist(s.lr, s.snap, s.seq)
	}
}
