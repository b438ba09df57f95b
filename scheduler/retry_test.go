package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"driftd/scheduler"
)

func TestRetryBackoff(t *testing.T) {
	const base = 20 * time.Millisecond
	for _, jitter := range []float64{0, 0.25, 0.999} {
		t.Run(fmt.Sprint(jitter), func(t *testing.T) {
			store, _ := mustStore(t)
			var calls atomic.Int32
			f := scheduler.Flow{Name: "flaky", Retries: 2, RetryBackoff: base,
				Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
					if n := calls.Add(1); int(n) != rc.Attempt {
						return nil, fmt.Errorf("attempt %d on call %d", rc.Attempt, n)
					}
					if rc.Attempt < 3 {
						return nil, fmt.Errorf("boom %d", rc.Attempt)
					}
					return "ok", nil
				}}
			e := mustEngine(t, store, scheduler.Options{Jitter: func() float64 { return jitter }}, f)
			r, err := e.Submit(context.Background(), "flaky", nil, scheduler.SubmitOptions{})
			must(t, err)
			r = mustWait(t, e, r.ID)
			if r.State != scheduler.StateCompleted || r.Attempts != 3 || r.MaxAttempts != 3 || r.Error != "" {
				t.Fatalf("ended %s after %d/%d attempts, error %q", r.State, r.Attempts, r.MaxAttempts, r.Error)
			}
			want := []string{"scheduled", "pending", "running", "scheduled", "pending", "running", "scheduled", "pending", "running", "completed"}
			if got := states(r); !slices.Equal(got, want) {
				t.Fatalf("history %v, want %v", got, want)
			}
			for _, i := range []int{3, 6} {
				if note := r.History[i].Note; !strings.Contains(note, "boom") {
					t.Errorf("retry note %q does not carry the error", note)
				}
			}
			// The backoff is ScheduledAt (of the last retry) minus the failure;
			// the fake clock stands still, so a timer moved the run on.
			got := r.ScheduledAt.Sub(r.History[6].At)
			const attempt = 2
			exact := time.Duration(float64(base) * (1 << (attempt - 1)) * (0.5 + jitter))
			lo, hi := base*(1<<(attempt-1))/2, base*(1<<(attempt-1))*3/2
			if got != exact || got < lo || got >= hi {
				t.Fatalf("backoff after attempt %d = %s, want %s within [%s, %s)", attempt, got, exact, lo, hi)
			}
			for _, line := range []string{"attempt 2 of 3 started", "attempt 3 of 3 started", "failed: boom 1; retrying in", "failed: boom 2; retrying in"} {
				if !logsContain(t, e, r.ID, line) {
					t.Errorf("log has no line with %q", line)
				}
			}
		})
	}
}

// TestRetryBackoffEachAttempt checks each backoff as it happens: the run is
// read while it waits for its retry.
func TestRetryBackoffEachAttempt(t *testing.T) {
	const base = 10 * time.Minute // never due by its timer: Tick moves the retry on
	clk := newClock(t0)
	store, _ := mustStore(t)
	failed := make(chan int, 10)
	f := scheduler.Flow{Name: "flaky", Retries: 3, RetryBackoff: base,
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			defer func() { failed <- rc.Attempt }()
			if rc.Attempt < 3 {
				return nil, errors.New("boom")
			}
			return nil, nil
		}}
	e := mustEngine(t, store, scheduler.Options{Now: clk.Now, Jitter: func() float64 { return 0.5 }}, f)
	r, err := e.Submit(context.Background(), "flaky", nil, scheduler.SubmitOptions{})
	must(t, err)
	for attempt := 1; attempt <= 2; attempt++ {
		<-failed
		var got scheduler.Run
		eventually(t, "the run waiting for its retry", func() bool {
			got, err = e.Get(context.Background(), r.ID)
			must(t, err)
			return got.State == scheduler.StateScheduled && got.Attempts == attempt
		})
		failedAt := got.History[len(got.History)-1].At
		want := base * time.Duration(1<<(attempt-1)) // 0.5 + 0.5 = 1
		if d := got.ScheduledAt.Sub(failedAt); d != want {
			t.Fatalf("backoff after attempt %d = %s, want %s", attempt, d, want)
		}
		if got.Error != "boom" {
			t.Fatalf("error while waiting %q", got.Error)
		}
		e.Tick(failedAt.Add(want - time.Second))
		if got, _ := e.Get(context.Background(), r.ID); got.State != scheduler.StateScheduled {
			t.Fatalf("retry started before its backoff ended: %s", got.State)
		}
		clk.Set(got.ScheduledAt)
		e.Tick(got.ScheduledAt)
	}
	<-failed
	if r = mustWait(t, e, r.ID); r.State != scheduler.StateCompleted || r.Attempts != 3 {
		t.Fatalf("ended %s after %d attempts", r.State, r.Attempts)
	}
}

func TestBackoffCap(t *testing.T) {
	store, _ := mustStore(t)
	clk := newClock(t0)
	failed := make(chan struct{}, 1)
	f := scheduler.Flow{Name: "f", Retries: 1, RetryBackoff: 2 * time.Hour,
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			defer func() { failed <- struct{}{} }()
			return nil, errors.New("boom")
		}}
	e := mustEngine(t, store, scheduler.Options{Now: clk.Now, Jitter: func() float64 { return 0.9 }}, f)
	r, err := e.Submit(context.Background(), "f", nil, scheduler.SubmitOptions{})
	must(t, err)
	<-failed
	eventually(t, "the retry wait", func() bool {
		r, err = e.Get(context.Background(), r.ID)
		must(t, err)
		return r.State == scheduler.StateScheduled
	})
	if d := r.ScheduledAt.Sub(t0); d != time.Hour {
		t.Fatalf("backoff %s, want the 1h cap", d)
	}
}

func TestTimeout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		retries  int
		attempts int
	}{
		{"no retry", 0, 1},
		{"retried", 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, _ := mustStore(t)
			f := scheduler.Flow{Name: "stuck", Timeout: 20 * time.Millisecond, Retries: tc.retries, RetryBackoff: time.Millisecond,
				Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
					<-ctx.Done()
					return nil, ctx.Err()
				}}
			e := mustEngine(t, store, scheduler.Options{}, f)
			r, err := e.Submit(context.Background(), "stuck", nil, scheduler.SubmitOptions{})
			must(t, err)
			r = mustWait(t, e, r.ID)
			if r.State != scheduler.StateFailed || r.Error != "timed out after 20ms" || r.Attempts != tc.attempts {
				t.Fatalf("ended %s, error %q, %d attempts", r.State, r.Error, r.Attempts)
			}
		})
	}
	// A per-run timeout overrides the flow's.
	store, _ := mustStore(t)
	f := scheduler.Flow{Name: "stuck", Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	e := mustEngine(t, store, scheduler.Options{}, f)
	timeout := 5 * time.Millisecond
	r, err := e.Submit(context.Background(), "stuck", nil, scheduler.SubmitOptions{Timeout: &timeout})
	must(t, err)
	if r = mustWait(t, e, r.ID); r.Error != "timed out after 5ms" || r.Timeout != timeout {
		t.Fatalf("ended %+v", r)
	}
}
