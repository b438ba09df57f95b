package server

import (
	"testing"
	"time"

	"driftd/drift"
)

func TestEventPublisherDue(t *testing.T) {
	e := &eventPublisher{interval: time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, alert bool, drifted int) drift.Event {
		return drift.Event{Model: "m", Version: "1.0.0", Time: t0.Add(at), Alert: alert, DriftedFeatures: drifted}
	}
	steps := []struct {
		name string
		ev   drift.Event
		want bool
	}{
		{"first check", ev(0, false, 0), true},
		{"same verdict 10ms later", ev(10*time.Millisecond, false, 0), false},
		{"alert starts", ev(20*time.Millisecond, true, 1), true},
		{"same alert", ev(30*time.Millisecond, true, 1), false},
		{"more features drift", ev(40*time.Millisecond, true, 2), true},
		{"a second after the last published", ev(1040*time.Millisecond, true, 2), true},
		{"alert clears", ev(1050*time.Millisecond, false, 0), true},
	}
	for _, s := range steps {
		if got := e.due(s.ev); got != s.want {
			t.Errorf("%s: due = %v, want %v", s.name, got, s.want)
		}
	}
}
