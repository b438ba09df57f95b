package drift

// The checker goroutine of a Monitor: it evaluates the check snapshots the
// observing goroutines hand over, in order, and publishes their events, so
// that checks cost the scoring path only the snapshot copy. A contributor's
// counts and merged windows (CheckMerged) go through the same queue, so
// that contributions leave and events reach the subscribers in order, one
// at a time.

// checkItem is one entry of the checker's queue: a snapshot to evaluate and
// publish, a contribution to hand over (contrib), merged counts to evaluate
// and publish (merged), or with flush only a marker; done (when not nil) is
// closed once the item and every one before it are processed. A
// contributor's contribution or own check carries the inputs of its
// window's statistics (stats), which the checker computes into the
// counts' Stats before handing them over or evaluating them.
type checkItem struct {
	snap    checkSnapshot
	contrib *WindowCounts
	merged  *MergedWindow
	stats   *statsInputs
	flush   bool
	done    chan struct{}
	ev      Event // the snapshot's or merged window's event, set before done is closed
	err     error // why merged counts were not evaluated
}

// handLocked passes it to the checker goroutine, starting it on first use,
// or processes it inline once the monitor is closed; handMu must be held.
func (m *Monitor) handLocked(it *checkItem) {
	if m.closed {
		m.process(it)
		return
	}
	if m.queue == nil {
		m.queue, m.checkerDone = make(chan *checkItem, checkQueue), make(chan struct{})
		go m.runChecker(m.queue, m.checkerDone)
	}
	m.queue <- it
}

// runChecker processes the queued items in order until q is closed.
func (m *Monitor) runChecker(q <-chan *checkItem, done chan<- struct{}) {
	defer close(done)
	for it := range q {
		m.process(it)
	}
}

// process evaluates and publishes an item's snapshot or merged counts, or
// hands over its contribution, and signals its done.
func (m *Monitor) process(it *checkItem) {
	switch {
	case it.flush:
	case it.contrib != nil:
		it.contrib.Counts.Stats = m.windowStats(it.stats)
		m.opts.Contribute(*it.contrib)
	case it.merged != nil:
		if it.stats != nil {
			it.merged.Counts.Stats = m.windowStats(it.stats)
		}
		it.ev, it.err = m.evaluateMerged(it.merged)
		if it.err == nil {
			m.publish(it.ev)
		}
	default:
		it.ev = m.evaluateSnapshot(it.snap)
		m.publish(it.ev)
	}
	if it.done != nil {
		close(it.done)
	}
}

// Flush returns once every check handed over before the call has been
// evaluated, exported and published to the subscribers, and every
// contribution handed over has been passed to Contribute.
func (m *Monitor) Flush() {
	m.handMu.Lock()
	if m.queue == nil || m.closed {
		m.handMu.Unlock()
		return
	}
	it := &checkItem{flush: true, done: make(chan struct{})}
	m.queue <- it
	m.handMu.Unlock()
	<-it.done
}

// Close stops the checker goroutine once it has evaluated and published
// the checks already handed over (and passed the queued contributions to
// Contribute). Checks and contributions due afterwards are processed on
// the observing goroutine. Close is idempotent.
func (m *Monitor) Close() {
	m.handMu.Lock()
	defer m.handMu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	if m.queue != nil {
		close(m.queue)
		<-m.checkerDone // handMu held: nothing is evaluated inline meanwhile
	}
}
