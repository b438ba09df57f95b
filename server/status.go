package server

import (
	"sort"
	"sync"
	"time"
)

// ComponentState is the coarse state of one long-lived part of the server.
type ComponentState string

// The states a component moves through.
const (
	StateStarting ComponentState = "starting"
	StateReady    ComponentState = "ready"
	StateDegraded ComponentState = "degraded"
	StateStopped  ComponentState = "stopped"
	StateFailed   ComponentState = "failed"
)

// ComponentStatus is what /readyz and the Overview page show for one component.
type ComponentStatus struct {
	Name   string         `json:"name"`
	State  ComponentState `json:"state"`
	Detail string         `json:"detail,omitempty"`
	// Required components make /readyz fail while they are starting,
	// stopped or failed; degraded still serves.
	Required bool      `json:"required"`
	Since    time.Time `json:"since"`
}

// statusBoard holds the live status of every component; safe for concurrent use.
type statusBoard struct {
	mu    sync.Mutex
	now   func() time.Time
	items map[string]ComponentStatus
	order []string
}

func newStatusBoard(now func() time.Time) *statusBoard {
	return &statusBoard{now: now, items: map[string]ComponentStatus{}}
}

// set records the state of a component; the Since time moves only when the
// state changes.
func (b *statusBoard) set(name string, required bool, state ComponentState, detail string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.items[name]
	if !ok {
		b.order = append(b.order, name)
	}
	since := b.now()
	if ok && old.State == state {
		since = old.Since
	}
	b.items[name] = ComponentStatus{Name: name, State: state, Detail: detail, Required: required, Since: since}
}

// degraded returns the components that serve with a caveat (the scorer with
// no model deployed), sorted by name.
func (b *statusBoard) degraded() []ComponentStatus {
	var out []ComponentStatus
	for _, c := range b.list() {
		if c.State == StateDegraded {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// list returns every component in registration order.
func (b *statusBoard) list() []ComponentStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ComponentStatus, 0, len(b.order))
	for _, n := range b.order {
		out = append(out, b.items[n])
	}
	return out
}

// notReady returns the required components that are not serving (neither
// ready nor degraded), sorted by name.
func (b *statusBoard) notReady() []ComponentStatus {
	var out []ComponentStatus
	for _, c := range b.list() {
		if c.Required && c.State != StateReady && c.State != StateDegraded {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
