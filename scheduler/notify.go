package scheduler

import (
	"context"
	"maps"
	"slices"
)

// Subscribe calls fn with a copy of a run at each of its state changes, in
// order, from one goroutine and outside the engine's locks; fn must not block
// for long nor call Close. The returned func unsubscribes.
func (e *Engine) Subscribe(fn func(Run)) (cancel func()) {
	e.mu.Lock()
	id := e.nextSub
	e.nextSub++
	e.subs[id] = fn
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		delete(e.subs, id)
		e.mu.Unlock()
	}
}

// queueEventLocked queues a state change for the subscribers.
func (e *Engine) queueEventLocked(r Run) {
	if len(e.subs) == 0 {
		return
	}
	e.events = append(e.events, r)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// notifyLoop delivers queued state changes until ctx ends.
func (e *Engine) notifyLoop(ctx context.Context) {
	defer e.loops.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			e.deliver()
		}
	}
}

// deliver calls the subscribers with every queued state change, in order.
func (e *Engine) deliver() {
	e.notifyMu.Lock()
	defer e.notifyMu.Unlock()
	for {
		e.mu.Lock()
		evs := e.events
		e.events = nil
		ids := slices.Sorted(maps.Keys(e.subs))
		fns := make([]func(Run), len(ids))
		for i, id := range ids {
			fns[i] = e.subs[id]
		}
		e.mu.Unlock()
		if len(evs) == 0 {
			return
		}
		for _, r := range evs {
			for _, fn := range fns {
				e.callSub(fn, r)
			}
		}
	}
}

func (e *Engine) callSub(fn func(Run), r Run) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("subscriber panicked", attrRun, r.ID, "panic", p)
		}
	}()
	fn(r)
}
