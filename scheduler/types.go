// Package scheduler is driftd's generic run engine: it runs named flows
// (functions with a typed parameter schema) on work queues with concurrency
// limits, from cron and interval schedules or on demand, with retries,
// timeouts, cancellation, panic recovery, per-run logs and a persisted state
// history. It knows nothing of models: the flows it runs are registered by
// the server.
//
// It is the only package that imports robfig/cron. Runs and schedules are
// persisted through the Store interface, which registry.Store implements.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Run states. A run moves scheduled → pending → running → one of the
// terminal states; a retry moves it from running back to scheduled.
const (
	StateScheduled = "scheduled" // created, or waiting for its retry backoff
	StatePending   = "pending"   // waiting on its queue for a free slot
	StateRunning   = "running"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
	StateCrashed   = "crashed" // was running (or waiting) when the process died
)

// Terminal reports whether state is one a run never leaves.
func Terminal(state string) bool {
	switch state {
	case StateCompleted, StateFailed, StateCancelled, StateCrashed:
		return true
	}
	return false
}

// Trigger kinds.
const (
	TriggerManual   = "manual"   // an API call or the UI, By names the user
	TriggerSchedule = "schedule" // a schedule fired, ScheduleID names it
	TriggerDrift    = "drift"    // a drift event passed the retrain threshold
	TriggerDemo     = "demo"     // demo mode
)

// Trigger records why a run was started.
type Trigger struct {
	Kind       string `json:"kind"`
	By         string `json:"by,omitempty"`          // user name, or schedule name
	ScheduleID string `json:"schedule_id,omitempty"` // for TriggerSchedule
	Reason     string `json:"reason,omitempty"`      // free text, e.g. "max PSI 0.41 on f0 > 0.15"
}

// Parameter types of a flow's schema.
const (
	TypeString   = "string"
	TypeInt      = "int"
	TypeFloat    = "float"
	TypeBool     = "bool"
	TypeDuration = "duration" // a Go duration string such as "10s" or "1h30m"
)

// Param describes one parameter of a flow.
type Param struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  any      `json:"default,omitempty"` // in the param's Go type (Duration as time.Duration)
	Help     string   `json:"help"`
	Enum     []string `json:"enum,omitempty"` // allowed values of a string param
	Hidden   bool     `json:"-"`              // set by the server or a Prepare hook, not shown in forms
}

// Params are the typed values of a run's parameters: string, int64,
// float64, bool or time.Duration, as the schema says. Missing optional
// params hold their defaults once validated.
type Params map[string]any

// String returns a string param ("" when absent).
func (p Params) String(name string) string { s, _ := p[name].(string); return s }

// Int returns an int param (0 when absent).
func (p Params) Int(name string) int64 { n, _ := p[name].(int64); return n }

// Float returns a float param (0 when absent).
func (p Params) Float(name string) float64 { f, _ := p[name].(float64); return f }

// Bool returns a bool param (false when absent).
func (p Params) Bool(name string) bool { b, _ := p[name].(bool); return b }

// Duration returns a duration param (0 when absent).
func (p Params) Duration(name string) time.Duration { d, _ := p[name].(time.Duration); return d }

// Flow is a named function the engine runs, with its parameter schema and
// run defaults.
type Flow struct {
	Name        string
	Description string
	Params      []Param
	// Queue is the work queue runs go to unless the submitter names one
	// ("" = "default").
	Queue string
	// Retries is how many times a failed run is tried again (0 = never);
	// RetryBackoff is the base of the exponential backoff (default 1s).
	Retries      int
	RetryBackoff time.Duration
	// Timeout bounds one attempt (0 = none); the run's context is cancelled
	// when it passes and the attempt fails.
	Timeout time.Duration
	// Validate checks values beyond their types (ranges, files, names) at
	// submit time; return a *ParamError to name the field. May be nil.
	Validate func(ctx context.Context, p Params) error
	// Prepare runs synchronously in Submit, after validation and before the
	// run is stored; it may add hidden params (an experiment run id, say).
	// May be nil.
	Prepare func(ctx context.Context, p Params, t Trigger) error
	// Run does the work. Its result is stored as JSON on the run. A panic
	// fails the attempt with the panic value and stack in the run's log.
	Run func(ctx context.Context, rc *RunContext) (any, error)
	// OnEnd is called once a run reaches a terminal state, whatever the
	// state (also for runs cancelled before they started and runs found
	// crashed at start). May be nil. It must not block for long.
	OnEnd func(ctx context.Context, r Run)
}

// Transition is one entry of a run's state history.
type Transition struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// Run is one execution of a flow, with its whole history. The engine
// persists it at every state change.
type Run struct {
	ID      string  `json:"id"`
	Flow    string  `json:"flow"`
	Queue   string  `json:"queue"`
	State   string  `json:"state"`
	Trigger Trigger `json:"trigger"`
	// Params are stored JSON-friendly: durations as strings ("10s"),
	// numbers as numbers; Engine.Params turns them back into typed Params.
	Params      map[string]any  `json:"params"`
	Attempts    int             `json:"attempts"`     // attempts started so far
	MaxAttempts int             `json:"max_attempts"` // 1 + retries
	Timeout     time.Duration   `json:"timeout,omitempty"`
	ScheduleID  string          `json:"schedule_id,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at,omitzero"` // when it may start (retry backoff)
	StartedAt   time.Time       `json:"started_at,omitzero"`   // first attempt
	EndedAt     time.Time       `json:"ended_at,omitzero"`
	Error       string          `json:"error,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	History     []Transition    `json:"history"`
	// Progress is the latest value the running flow gave SetProgress; kept
	// in memory only while the run is live, and stored when it ends.
	Progress json.RawMessage `json:"progress,omitempty"`
}

// Duration is how long the run has taken from its first start to its end
// (or to now while it runs); 0 before it starts.
func (r Run) Duration(now time.Time) time.Duration {
	if r.StartedAt.IsZero() {
		return 0
	}
	end := r.EndedAt
	if end.IsZero() {
		end = now
	}
	return end.Sub(r.StartedAt)
}

// RunFilter selects runs for listing; zero fields match everything.
type RunFilter struct {
	Flow       string
	State      string
	ScheduleID string
	Limit      int // newest first; 0 = a default of 100
}

// Catch-up and overlap policies of a schedule.
const (
	CatchupSkip  = "skip"  // fires missed while the process was down are dropped
	CatchupOnce  = "once"  // one run is started at start-up for any number of missed fires
	OverlapSkip  = "skip"  // a fire while a run of the schedule is pending or running is dropped
	OverlapQueue = "queue" // it queues behind
)

// Schedule starts runs of a flow on a cron expression or an interval.
type Schedule struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Flow     string         `json:"flow"`
	Cron     string         `json:"cron,omitempty"`  // 5 fields, optional seconds, CRON_TZ=, @daily...
	Every    string         `json:"every,omitempty"` // an interval such as "10m" or "@every 10m"
	Params   map[string]any `json:"params"`
	Timezone string         `json:"timezone,omitempty"` // IANA name for Cron ("" = UTC)
	Enabled  bool           `json:"enabled"`
	Catchup  string         `json:"catchup"`
	Overlap  string         `json:"overlap"`
	Queue    string         `json:"queue,omitempty"` // "" = the flow's queue
	By       string         `json:"by,omitempty"`    // who created it

	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	LastFiredAt time.Time `json:"last_fired_at,omitzero"`
	LastRunID   string    `json:"last_run_id,omitempty"`
	// NextRunAt is computed, never stored: the next fire time, zero when paused.
	NextRunAt time.Time `json:"next_run_at,omitzero"`
}

// SchedulePatch changes some fields of a schedule; nil fields stay.
type SchedulePatch struct {
	Name     *string         `json:"name"`
	Cron     *string         `json:"cron"`
	Every    *string         `json:"every"`
	Params   *map[string]any `json:"params"`
	Timezone *string         `json:"timezone"`
	Enabled  *bool           `json:"enabled"`
	Catchup  *string         `json:"catchup"`
	Overlap  *string         `json:"overlap"`
	Queue    *string         `json:"queue"`
}

// Store persists runs, their logs and schedules. registry.Store implements
// it; a missing id is reported with an error wrapping ErrNotFound.
type Store interface {
	// CreateFlowRun assigns r.ID and stores r.
	CreateFlowRun(ctx context.Context, r *Run) error
	// SaveFlowRun replaces a stored run.
	SaveFlowRun(ctx context.Context, r Run) error
	FlowRun(ctx context.Context, id string) (Run, error)
	// ListFlowRuns returns runs newest first.
	ListFlowRuns(ctx context.Context, f RunFilter) ([]Run, error)
	AppendFlowRunLog(ctx context.Context, id string, lines ...string) error
	// FlowRunLogs returns the last tail lines (all when tail <= 0).
	FlowRunLogs(ctx context.Context, id string, tail int) ([]string, error)
	// CreateSchedule assigns s.ID and stores s.
	CreateSchedule(ctx context.Context, s *Schedule) error
	SaveSchedule(ctx context.Context, s Schedule) error
	GetSchedule(ctx context.Context, id string) (Schedule, error)
	ListSchedules(ctx context.Context) ([]Schedule, error)
	DeleteSchedule(ctx context.Context, id string) error
}

// Errors the engine returns; match with errors.Is.
var (
	ErrUnknownFlow = errors.New("unknown flow")
	ErrQueueFull   = errors.New("the queue is full")
	ErrNotFound    = errors.New("not found")
	ErrTerminal    = errors.New("the run has already ended")
	ErrClosed      = errors.New("the scheduler is shut down")
)

// ParamError is a bad parameter or schedule field; Field names it
// ("params.rounds", "cron", "timezone").
type ParamError struct {
	Field string
	Msg   string
}

func (e *ParamError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Msg) }

// Errorf builds a *ParamError for field.
func Errorf(field, format string, args ...any) error {
	return &ParamError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// RunContext is what a running flow sees of its run: its params, trigger and
// attempt, a log that is stored with the run, and a live progress value.
type RunContext struct {
	ID      string
	Flow    string
	Params  Params
	Trigger Trigger
	Attempt int // 1 for the first attempt

	logf     func(line string)
	progress func(v any)
}

// NewRunContext builds a RunContext whose log lines go to logf and progress
// values to progress (either may be nil); the engine builds one per attempt,
// and code that runs a flow's function directly (a command, a test) may too.
func NewRunContext(id, flow string, p Params, t Trigger, attempt int, logf func(string), progress func(any)) *RunContext {
	return &RunContext{ID: id, Flow: flow, Params: p, Trigger: t, Attempt: attempt, logf: logf, progress: progress}
}

// Logf appends one line to the run's log.
func (rc *RunContext) Logf(format string, args ...any) {
	if rc.logf != nil {
		rc.logf(fmt.Sprintf(format, args...))
	}
}

// SetProgress publishes a live progress value (JSON-encodable), shown by
// the API and the UI while the run is going.
func (rc *RunContext) SetProgress(v any) {
	if rc.progress != nil {
		rc.progress(v)
	}
}
