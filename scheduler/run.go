package scheduler

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// liveRun is a run that has not reached a terminal state, held in memory by
// the engine. Fields marked "mu" are guarded by Engine.mu.
type liveRun struct {
	flow   Flow
	params Params
	log    *runLog
	done   chan struct{} // closed once the run has ended and OnEnd returned
	final  Run           // the terminal run, set before done is closed

	run      Run                // mu
	seq      uint64             // mu: bumped at each change of run
	ended    bool               // mu: a terminal state was set
	cancel   context.CancelFunc // mu: cancels the running attempt
	stopNote string             // mu: why the running attempt was cancelled
	retry    *time.Timer        // mu: moves the run to pending when its backoff ends
	progress json.RawMessage    // mu: the latest SetProgress value

	saveMu   sync.Mutex
	savedSeq uint64 // saveMu: seq of the stored version
}

// snapshotLocked returns a copy of the run with its live progress.
func (lr *liveRun) snapshotLocked() Run {
	r := lr.run
	r.History = slices.Clone(r.History)
	if r.Progress == nil {
		r.Progress = lr.progress
	}
	return r
}

// setStateLocked moves lr to state with a history note, keeping the queue
// counts, and queues the change for subscribers; it returns the new snapshot
// and its sequence number for persist.
func (e *Engine) setStateLocked(lr *liveRun, state, note string, now time.Time) (Run, uint64) {
	q := e.queues[lr.run.Queue]
	q.leave(lr.run.State)
	q.enter(state)
	lr.run.State = state
	lr.run.History = append(lr.run.History, Transition{State: state, At: now, Note: note})
	lr.seq++
	snap := lr.snapshotLocked()
	e.queueEventLocked(snap)
	return snap, lr.seq
}

// persist stores snap unless a newer version of the run is already stored.
// Progress is stored only with the terminal state.
func (e *Engine) persist(lr *liveRun, snap Run, seq uint64) {
	lr.saveMu.Lock()
	defer lr.saveMu.Unlock()
	if seq <= lr.savedSeq {
		return
	}
	if !Terminal(snap.State) {
		snap.Progress = nil
	}
	if err := e.store.SaveFlowRun(context.Background(), snap); err != nil {
		e.log.Error("store run", attrRun, snap.ID, "state", snap.State, attrErr, err)
		return
	}
	lr.savedSeq = seq
}

// dispatchLocked starts pending runs, first come first served, on every queue
// with a free slot.
func (e *Engine) dispatchLocked() {
	if !e.started || e.closed {
		return
	}
	for _, q := range e.queues {
		for q.running < q.limit && len(q.pending) > 0 {
			lr := q.pending[0]
			q.pending[0] = nil
			q.pending = q.pending[1:]
			e.startLocked(lr)
		}
	}
}

// startLocked moves a pending run to running and starts its attempt.
func (e *Engine) startLocked(lr *liveRun) {
	now := e.now().UTC()
	lr.run.Attempts++
	if lr.run.StartedAt.IsZero() {
		lr.run.StartedAt = now
	}
	ctx, cancel := context.WithCancel(e.runCtx)
	lr.cancel, lr.stopNote = cancel, ""
	actx, stop := ctx, cancel
	if lr.run.Timeout > 0 {
		var tcancel context.CancelFunc
		actx, tcancel = context.WithTimeoutCause(ctx, lr.run.Timeout, errTimedOut)
		stop = func() { tcancel(); cancel() }
	}
	snap, seq := e.setStateLocked(lr, StateRunning, attemptNote(lr.run.Attempts, lr.run.MaxAttempts), now)
	e.workers.Add(1)
	go e.execute(actx, stop, lr, snap, seq)
}

// enqueueLocked moves a scheduled run to pending at the end of its queue.
func (e *Engine) enqueueLocked(lr *liveRun, note string, now time.Time) (Run, uint64) {
	snap, seq := e.setStateLocked(lr, StatePending, note, now)
	q := e.queues[lr.run.Queue]
	q.pending = append(q.pending, lr)
	return snap, seq
}

// end moves lr to a terminal state (a no-op when it has already ended): its
// log is flushed first, then the state is stored, subscribers are told, the
// metrics counted and OnEnd called; Wait returns after that.
func (e *Engine) end(lr *liveRun, state, note string, mut func(*Run)) (Run, bool) {
	lr.log.close()
	e.mu.Lock()
	snap, seq, ok := e.endLocked(lr, state, note, mut)
	e.mu.Unlock()
	if ok {
		e.afterEnd(lr, snap, seq)
	}
	return snap, ok
}

// endLocked is the part of end under Engine.mu: it sets the terminal state and
// frees the run's place in its queue. The caller must flush the run's log
// first and call afterEnd when ok.
func (e *Engine) endLocked(lr *liveRun, state, note string, mut func(*Run)) (snap Run, seq uint64, ok bool) {
	if lr.ended {
		return lr.snapshotLocked(), 0, false
	}
	lr.ended = true
	if lr.retry != nil {
		lr.retry.Stop()
		lr.retry = nil
	}
	if lr.run.State == StatePending {
		e.queues[lr.run.Queue].remove(lr)
	}
	now := e.now().UTC()
	if mut != nil {
		mut(&lr.run)
	}
	lr.run.EndedAt = now
	lr.run.Progress = lr.progress
	snap, seq = e.setStateLocked(lr, state, note, now)
	e.dispatchLocked()
	return snap, seq, true
}

// afterEnd stores a run that ended, counts it, calls OnEnd and wakes Wait.
func (e *Engine) afterEnd(lr *liveRun, snap Run, seq uint64) {
	e.persist(lr, snap, seq)
	e.metrics.ended(snap)
	e.log.Info("run ended", attrRun, snap.ID, attrFlow, snap.Flow, "state", snap.State, "attempts", snap.Attempts, attrErr, snap.Error)
	e.onEnd(lr.flow, snap)
	e.mu.Lock()
	delete(e.runs, snap.ID)
	e.mu.Unlock()
	lr.final = snap
	close(lr.done)
}

// setProgress keeps the latest progress value of a running flow.
func (e *Engine) setProgress(lr *liveRun, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		lr.log.add("progress is not JSON: " + err.Error())
		return
	}
	e.mu.Lock()
	if !lr.ended {
		lr.progress = raw
	}
	e.mu.Unlock()
}

// Log batching: lines are stored at most logFlushDelay after they are written,
// or at once when logBatchMax are waiting, and always before the run's state
// changes. One bbolt write per line would cost an fsync each.
const (
	logFlushDelay = 200 * time.Millisecond
	logBatchMax   = 256
)

// runLog buffers the log lines of one run on their way to the store.
type runLog struct {
	store Store
	id    string
	e     *Engine

	flushMu sync.Mutex // keeps batches in order
	mu      sync.Mutex
	lines   []string
	closed  bool
	timer   *time.Timer
}

// add buffers one line; lines added after close are dropped.
func (l *runLog) add(line string) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.lines = append(l.lines, line)
	full := len(l.lines) >= logBatchMax
	if !full && l.timer == nil {
		l.timer = time.AfterFunc(logFlushDelay, l.flush)
	}
	l.mu.Unlock()
	if full {
		l.flush()
	}
}

// flush stores the buffered lines.
func (l *runLog) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	lines := l.lines
	l.lines = nil
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	if err := l.store.AppendFlowRunLog(context.Background(), l.id, lines...); err != nil {
		l.e.log.Warn("store run log", attrRun, l.id, "lines", len(lines), attrErr, err)
	}
}

// close flushes the buffer and drops later lines.
func (l *runLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.flush()
}
