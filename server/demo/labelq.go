package demo

import "time"

// pendingLabel is a label waiting for its time to be produced.
type pendingLabel struct {
	due   time.Time
	id    string
	label int
}

// labelQueue holds labels in the order they fall due. The delay is the same
// for every label and records are queued in time order, so a FIFO is
// already sorted by due time: no heap, no per-label timer or goroutine.
// It holds about Rate × LabelDelay entries.
type labelQueue struct {
	items []pendingLabel
	head  int // items before head are gone
}

// push queues a label.
func (q *labelQueue) push(l pendingLabel) { q.items = append(q.items, l) }

// len returns the number of labels waiting.
func (q *labelQueue) len() int { return len(q.items) - q.head }

// popDue calls fn for every label due at now, oldest first, and drops them.
func (q *labelQueue) popDue(now time.Time, fn func(pendingLabel)) {
	for q.head < len(q.items) && !q.items[q.head].due.After(now) {
		fn(q.items[q.head])
		q.items[q.head] = pendingLabel{}
		q.head++
	}
	// Compact once the dead prefix is as long as the live part: O(1)
	// amortised per label, and the backing array stays about twice the
	// live size.
	if q.head >= 1024 && 2*q.head >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	} else if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
}
