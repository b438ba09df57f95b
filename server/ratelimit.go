package server

import (
	"container/list"
	"strings"
	"sync"
	"time"
)

// Login rate limits: attempts per client address and per user name in a
// fixed window, and how many clients and names the limiter remembers.
const (
	loginAttempts     = 10
	loginWindow       = time.Minute
	loginLimiterSize  = 4096
	loginLimiterKeyAt = 128 // longer keys are cut: a key costs at most this much memory
)

// loginLimiter allows a fixed number of login attempts per client address
// and, separately, per user name in a window, so that neither new addresses
// nor new names give an attacker more guesses. Its memory is bounded: each
// table holds at most size entries, and every attempt costs O(1).
type loginLimiter struct {
	mu      sync.Mutex
	clients *windowCounter
	users   *windowCounter
}

// newLoginLimiter allows max attempts per client and per user name in each
// window, remembering at most size clients and size names.
func newLoginLimiter(max int, window time.Duration, size int, now func() time.Time) *loginLimiter {
	return &loginLimiter{
		clients: newWindowCounter(max, window, size, now),
		users:   newWindowCounter(max, window, size, now),
	}
}

// allow counts one login attempt by client for user and reports whether it
// may proceed: both the client's and the name's budget must have room. A
// refused attempt is not counted.
func (l *loginLimiter) allow(client, user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.clients.has(client) || !l.users.has(user) {
		return false
	}
	l.clients.add(client)
	l.users.add(user)
	return true
}

// entries returns how many clients and user names the limiter remembers.
func (l *loginLimiter) entries() (clients, users int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients.index), len(l.users.index)
}

// windowCounter counts events per key in fixed windows that start at a key's
// first event. Entries sit in a list in the order their windows started, so
// expired ones are always at the front: dropping them, finding a key and
// evicting the oldest when full are each O(1) (amortised for expiry, as an
// entry is dropped once). When the table is full of live windows, the oldest
// is forgotten: an attacker who fills it with new keys gains at most one
// fresh window for a key that has been quiet the longest.
type windowCounter struct {
	max    int
	window time.Duration
	size   int
	now    func() time.Time
	order  *list.List // of *windowEntry, oldest window first
	index  map[string]*list.Element
}

type windowEntry struct {
	key   string
	start time.Time
	n     int
}

func newWindowCounter(max int, window time.Duration, size int, now func() time.Time) *windowCounter {
	return &windowCounter{max: max, window: window, size: size, now: now,
		order: list.New(), index: make(map[string]*list.Element, size)}
}

// has reports whether key may have one more event in its current window.
func (w *windowCounter) has(key string) bool {
	w.expire()
	el, ok := w.index[cutKey(key)]
	return !ok || el.Value.(*windowEntry).n < w.max
}

// add counts one event for key, starting its window if it has none.
func (w *windowCounter) add(key string) {
	key = cutKey(key)
	w.expire()
	if el, ok := w.index[key]; ok {
		el.Value.(*windowEntry).n++
		return
	}
	if len(w.index) >= w.size {
		oldest := w.order.Front()
		delete(w.index, oldest.Value.(*windowEntry).key)
		w.order.Remove(oldest)
	}
	w.index[key] = w.order.PushBack(&windowEntry{key: key, start: w.now(), n: 1})
}

// expire drops the entries whose window has ended; they are at the front.
func (w *windowCounter) expire() {
	now := w.now()
	for el := w.order.Front(); el != nil; el = w.order.Front() {
		e := el.Value.(*windowEntry)
		if now.Sub(e.start) < w.window {
			return
		}
		delete(w.index, e.key)
		w.order.Remove(el)
	}
}

// cutKey bounds the memory a key can take (a user name comes from the form);
// the cut is a copy, so the table does not pin the whole request string.
func cutKey(k string) string {
	if len(k) > loginLimiterKeyAt {
		return strings.Clone(k[:loginLimiterKeyAt])
	}
	return k
}
