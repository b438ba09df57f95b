package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// SubmitOptions are the optional settings of Submit; zero values take the
// flow's.
type SubmitOptions struct {
	Trigger    Trigger        // Kind defaults to manual
	Queue      string         // "" = the flow's queue
	ScheduleID string         // the schedule the run belongs to, if any
	Retries    *int           // overrides Flow.Retries
	Timeout    *time.Duration // overrides Flow.Timeout (0 = none)
}

// Submit validates raw params, runs the flow's Prepare, stores a new run and
// queues it. It returns the run (pending, or already running). Errors wrap
// ErrUnknownFlow, ErrNotStarted, ErrClosed or ErrQueueFull, or are a
// *ParamError (params.<name>, queue, retries, timeout) or Prepare's error.
func (e *Engine) Submit(ctx context.Context, flow string, raw map[string]any, o SubmitOptions) (Run, error) {
	r, err := e.submit(ctx, flow, raw, o)
	if err != nil {
		return Run{}, fmt.Errorf("submit %s: %w", flow, err)
	}
	return r, nil
}

func (e *Engine) submit(ctx context.Context, flow string, raw map[string]any, o SubmitOptions) (Run, error) {
	e.mu.Lock()
	f, ok := e.flows[flow]
	started, closed := e.started, e.closed
	e.mu.Unlock()
	switch {
	case !ok:
		return Run{}, ErrUnknownFlow
	case closed:
		return Run{}, ErrClosed
	case !started:
		return Run{}, ErrNotStarted
	}
	p, err := validateParams(ctx, f, raw)
	if err != nil {
		return Run{}, err
	}
	qname := cmp.Or(o.Queue, f.Queue)
	q, ok := e.queues[qname]
	if !ok {
		return Run{}, Errorf("queue", "unknown queue %q", qname)
	}
	retries, timeout := f.Retries, f.Timeout
	if o.Retries != nil {
		if retries = *o.Retries; retries < 0 {
			return Run{}, Errorf("retries", "must not be negative")
		}
	}
	if o.Timeout != nil {
		if timeout = *o.Timeout; timeout < 0 {
			return Run{}, Errorf("timeout", "must not be negative")
		}
	}
	t := o.Trigger
	t.Kind = cmp.Or(t.Kind, TriggerManual)
	if t.Kind == TriggerSchedule && t.ScheduleID == "" {
		t.ScheduleID = o.ScheduleID
	}

	// Reserve a waiting place before Prepare, which may have side effects.
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return Run{}, ErrClosed
	}
	if n := q.waiting + q.reserved; n >= q.max {
		e.mu.Unlock()
		return Run{}, fmt.Errorf("%w: %d runs are waiting on queue %s", ErrQueueFull, n, q.name)
	}
	q.reserved++
	e.creating++
	e.mu.Unlock()
	reserved := true
	defer func() {
		if reserved {
			e.mu.Lock()
			q.reserved--
			e.releaseLocked()
			e.mu.Unlock()
		}
	}()

	if f.Prepare != nil {
		if err := f.Prepare(ctx, p, t); err != nil {
			return Run{}, fmt.Errorf("prepare: %w", err)
		}
	}
	now := e.now().UTC()
	r := Run{Flow: f.Name, Queue: q.name, State: StateScheduled, Trigger: t, Params: p.Stored(),
		MaxAttempts: 1 + retries, Timeout: timeout, ScheduleID: o.ScheduleID, CreatedAt: now, ScheduledAt: now,
		History: []Transition{{State: StateScheduled, At: now, Note: describeTrigger(t)}}}
	if err := e.store.CreateFlowRun(context.WithoutCancel(ctx), &r); err != nil {
		return Run{}, fmt.Errorf("store run: %w", err)
	}
	lr := &liveRun{flow: f, params: p, run: r, seq: 1, savedSeq: 1, done: make(chan struct{})}
	lr.log = &runLog{store: e.store, id: r.ID, e: e}

	e.mu.Lock()
	q.reserved--
	reserved = false
	e.runs[r.ID] = lr
	e.releaseLocked()
	q.enter(StateScheduled)
	e.queueEventLocked(lr.snapshotLocked())
	if e.closed {
		snap, seq, _ := e.endLocked(lr, StateCancelled, shutdownNote, nil)
		e.mu.Unlock()
		e.afterEnd(lr, snap, seq)
		return Run{}, ErrClosed
	}
	snap, seq := e.enqueueLocked(lr, "queued on "+q.name, now)
	e.dispatchLocked()
	e.mu.Unlock()
	e.persist(lr, snap, seq)
	e.log.Info("run submitted", attrRun, r.ID, attrFlow, r.Flow, "queue", r.Queue, "trigger", t.Kind, "by", t.By)
	return snap, nil
}

// describeTrigger is the history note of a new run.
func describeTrigger(t Trigger) string {
	s := "triggered: " + t.Kind
	if t.By != "" {
		s += " by " + t.By
	}
	if t.Reason != "" {
		s += " (" + t.Reason + ")"
	}
	return s
}

// Get returns a run, with its live progress while it runs. Errors wrap
// ErrNotFound.
func (e *Engine) Get(ctx context.Context, id string) (Run, error) {
	e.mu.Lock()
	if lr, ok := e.runs[id]; ok {
		r := lr.snapshotLocked()
		e.mu.Unlock()
		return r, nil
	}
	e.mu.Unlock()
	r, err := e.store.FlowRun(ctx, id)
	if err != nil {
		return Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	return r, nil
}

// List returns stored runs matching f, newest first, with the live state and
// progress of the runs still going.
func (e *Engine) List(ctx context.Context, f RunFilter) ([]Run, error) {
	runs, err := e.store.ListFlowRuns(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	e.mu.Lock()
	for i, r := range runs {
		if lr, ok := e.runs[r.ID]; ok {
			runs[i] = lr.snapshotLocked()
		}
	}
	e.mu.Unlock()
	return runs, nil
}

// Logs returns the last tail lines of a run's log (tail <= 0: all kept lines).
// Errors wrap ErrNotFound.
func (e *Engine) Logs(ctx context.Context, id string, tail int) ([]string, error) {
	e.mu.Lock()
	lr := e.runs[id]
	e.mu.Unlock()
	if lr != nil {
		lr.log.flush()
	}
	lines, err := e.store.FlowRunLogs(ctx, id, tail)
	if err != nil {
		return nil, fmt.Errorf("run logs %s: %w", id, err)
	}
	return lines, nil
}

// Cancel cancels a run on behalf of by: a scheduled or pending run ends
// cancelled at once; a running run has its context cancelled and ends
// cancelled when its function returns (the run returned is still running).
// Errors wrap ErrTerminal for a run that has ended, or ErrNotFound.
func (e *Engine) Cancel(ctx context.Context, id, by string) (Run, error) {
	note := "cancelled"
	if by != "" {
		note += " by " + by
	}
	e.mu.Lock()
	lr := e.runs[id]
	e.mu.Unlock()
	if lr == nil {
		r, err := e.store.FlowRun(ctx, id)
		if err != nil {
			return Run{}, fmt.Errorf("cancel run %s: %w", id, err)
		}
		if Terminal(r.State) {
			return r, fmt.Errorf("cancel run %s: %w (%s)", id, ErrTerminal, r.State)
		}
		return r, fmt.Errorf("cancel run %s: it is %s but not handled by this process", id, r.State)
	}

	waiting := func() bool { return lr.run.State == StateScheduled || lr.run.State == StatePending }
	e.mu.Lock()
	if !lr.ended && waiting() {
		// Store the line before the run is reported cancelled.
		e.mu.Unlock()
		lr.log.add(note)
		lr.log.flush()
		e.mu.Lock()
	}
	switch {
	case lr.ended:
		r := lr.snapshotLocked()
		e.mu.Unlock()
		return r, fmt.Errorf("cancel run %s: %w (%s)", id, ErrTerminal, r.State)
	case waiting():
		// Holding mu since the check keeps a worker from taking it.
		snap, seq, _ := e.endLocked(lr, StateCancelled, note, nil)
		e.mu.Unlock()
		lr.log.close()
		e.afterEnd(lr, snap, seq)
		e.log.Info("run cancelled", attrRun, id, "by", by)
		return snap, nil
	}
	if lr.stopNote == "" {
		lr.stopNote = note
	}
	if lr.cancel != nil {
		lr.cancel()
	}
	r := lr.snapshotLocked()
	e.mu.Unlock()
	lr.log.add("cancel requested by " + cmp.Or(by, "an unnamed user"))
	e.log.Info("run cancel requested", attrRun, id, "by", by)
	return r, nil
}

// releaseLocked ends one Submit's creation window and wakes the Waits that
// found a stored run not yet in runs.
func (e *Engine) releaseLocked() {
	e.creating--
	close(e.released)
	e.released = make(chan struct{})
}

// Wait blocks until the run has ended, or ctx ends, and returns it. Errors
// wrap ErrNotFound or ctx's error.
func (e *Engine) Wait(ctx context.Context, id string) (Run, error) {
	var lr *liveRun
	for lr == nil {
		e.mu.Lock()
		lr = e.runs[id]
		creating, released := e.creating > 0, e.released
		e.mu.Unlock()
		if lr != nil {
			break
		}
		// A run ends in the store before it leaves runs, so a stored run
		// that is not terminal is either being created by a Submit here
		// (stored before it enters runs) or handled by another process.
		r, err := e.store.FlowRun(ctx, id)
		if err != nil {
			return Run{}, fmt.Errorf("wait run %s: %w", id, err)
		}
		if Terminal(r.State) {
			return r, nil
		}
		if !creating {
			return r, fmt.Errorf("wait run %s: it is %s but not handled by this process", id, r.State)
		}
		select {
		case <-released:
		case <-ctx.Done():
			return Run{}, fmt.Errorf("wait run %s: %w", id, ctx.Err())
		}
	}
	select {
	case <-lr.done:
		return lr.final, nil
	case <-ctx.Done():
		return Run{}, fmt.Errorf("wait run %s: %w", id, ctx.Err())
	}
}

// Active returns the runs of flow that are scheduled, pending or running,
// oldest first.
func (e *Engine) Active(flow string) []Run {
	e.mu.Lock()
	var out []Run
	for _, lr := range e.runs {
		if lr.run.Flow == flow && !lr.ended {
			out = append(out, lr.snapshotLocked())
		}
	}
	e.mu.Unlock()
	slices.SortFunc(out, compareRuns)
	return out
}

// compareRuns orders runs by creation, then by numeric id.
func compareRuns(a, b Run) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
}
