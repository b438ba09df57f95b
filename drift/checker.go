package drift

// The checker goroutine of a Monitor: it evaluates the check snapshots the
// observing goroutines hand over, in order, and publishes their events, so
// that checks cost the scoring path only the snapshot copy.

// checkItem is one entry of the checker's queue: a snapshot to evaluate and
// publish, or with flush only a marker; done (when not nil) is closed once
// the item and every one before it are processed.
type checkItem struct {
	snap  checkSnapshot
	flush bool
	done  chan struct{}
	ev    Event // the snapshot's event, set before done is closed
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

// process evaluates and publishes an item's snapshot and signals its done.
func (m *Monitor) process(it *checkItem) {
	if !it.flush {
		it.ev = m.evaluateSnapshot(it.snap)
		m.publish(it.ev)
	}
	if it.done != nil {
		close(it.done)
	}
}

// Flush returns once every check handed over before the call has been
// evaluated, exported and published to the subscribers.
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
// the checks already handed over. Checks due afterwards are evaluated on
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
