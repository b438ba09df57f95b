package web

import (
	"time"
)

// PipelineView is the view model of the Pipeline page: the scorer, the
// synthetic producer, the work queues, the recent flow runs and a form per
// flow.
type PipelineView struct {
	// CanOperate is true for operators and admins, who see the buttons and forms.
	CanOperate bool
	// Message and Error are the outcome of the last form, shown at the top.
	Message, Error string
	Scorer         ScorerView
	// ScorerPaused is set while an operator has paused scoring (the scorer
	// also waits, unpaused, while no model is deployed).
	ScorerPaused bool
	// ScoringModel names the model and environment the scorer follows.
	ScoringModel, ScoringEnvironment string
	Producer                         ProducerView
	ProducerForm                     ProducerForm
	Queues                           []QueueRow
	Runs                             []FlowRunRow
	Flows                            []FlowForm
	// Now is the time the page was rendered, for relative times.
	Now time.Time
}

// ProducerView is the state of the synthetic producer.
type ProducerView struct {
	Running             bool
	Model, Version      string
	Topic               string
	Sent, Acked, Failed uint64
	Rate                float64
	Rows                int
	Drift               string
	StartedAt, EndedAt  time.Time
	LastError           string
}

// ProducerForm is the content of the synthetic producer's form; Field names
// the input an error belongs to ("rate", "rows", "drift").
type ProducerForm struct {
	Rate, Rows, Drift string
	Field, Error      string
}

// QueueRow is one work queue of the run engine.
type QueueRow struct {
	Name                                string
	Limit, Running, Waiting, MaxWaiting int
}

// FlowRunRow is one flow run in a runs table.
type FlowRunRow struct {
	ID, Flow, State string
	// Trigger says who or what started the run ("manual by admin").
	Trigger, TriggerReason string
	Created, Started       time.Time
	Duration               time.Duration
	Attempts               int
	Error                  string
}

// FlowForm is the form that starts a run of one flow, built from its
// parameter schema.
type FlowForm struct {
	Name, Description string
	Queue             string
	Fields            []ParamField
	// Error is a refused submission's reason that belongs to no field.
	Error string
	// Open unfolds the form (after a refused submission).
	Open bool
}

// ParamField is one input of a flow form.
type ParamField struct {
	Name string
	// Type is the parameter type: string, int, float, bool or duration.
	Type     string
	Required bool
	Help     string
	Enum     []string
	// Value is the text the input shows (the default, or what was sent).
	Value string
	// Checked is the state of a bool parameter's checkbox.
	Checked bool
	// Error is the reason this field was refused.
	Error string
}

// inputType picks the HTML input type of a parameter type.
func (f ParamField) inputType() string {
	switch f.Type {
	case "int", "float":
		return "number"
	}
	return "text"
}

// step is the number input's step: whole numbers for ints.
func (f ParamField) step() string {
	if f.Type == "int" {
		return "1"
	}
	return "any"
}

// placeholder hints at the expected format of the field.
func (f ParamField) placeholder() string {
	switch f.Type {
	case "duration":
		return "e.g. 10s, 5m, 1h30m"
	case "int":
		return "a whole number"
	case "float":
		return "a number"
	}
	return ""
}

// flowRunClass picks the badge colour of a flow run state.
func flowRunClass(state string) string {
	switch state {
	case "completed":
		return "ok"
	case "scheduled", "pending", "running":
		return "warn"
	case "failed", "crashed":
		return "bad"
	}
	return ""
}

// flowRunTerminal reports whether a flow run state is final.
func flowRunTerminal(state string) bool {
	switch state {
	case "completed", "failed", "cancelled", "crashed":
		return true
	}
	return false
}

// fmtRel formats t relative to now: "in 4m", "12s ago", "now".
func fmtRel(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		s = itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		s = itoa(int(d/time.Minute)) + "m"
		if r := int(d % time.Minute / time.Second); r > 0 && d < 10*time.Minute {
			s += " " + itoa(r) + "s"
		}
	case d < 48*time.Hour:
		s = itoa(int(d/time.Hour)) + "h"
		if r := int(d % time.Hour / time.Minute); r > 0 {
			s += " " + itoa(r) + "m"
		}
	default:
		s = itoa(int(d/(24*time.Hour))) + "d"
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}

// fmtRate formats a records-per-second rate.
func fmtRate(r float64) string { return fmtNum(r) + "/s" }

// FlowRunView is the view model of a flow run's page.
type FlowRunView struct {
	ID, Flow, Queue, State string
	Trigger, TriggerReason string
	// ScheduleID and ScheduleName link a scheduled run to its schedule.
	ScheduleID, ScheduleName string
	Params                   []KV
	Attempts, MaxAttempts    int
	Timeout                  time.Duration
	Created, Started, Ended  time.Time
	Duration                 time.Duration
	Error                    string
	History                  []TransitionRow
	// Figures are the key numbers of a train or retrain result (version,
	// decision, champion and challenger metrics, reason).
	Figures []KV
	// Result and Progress are pretty-printed JSON ("" when absent).
	Result, Progress string
	// ExperimentRunID is the experiment run a train or retrain run recorded
	// into ("" for none).
	ExperimentRunID string
	// ProgressFigures are the top-level scalar values of the progress.
	ProgressFigures []KV
	// CanCancel is set for operators while the run has not ended.
	CanCancel bool
	Message   string
	Now       time.Time
}

// TransitionRow is one entry of a flow run's state history.
type TransitionRow struct {
	State string
	At    time.Time
	Note  string
}

// Live reports whether the run may still change, so the page keeps polling.
func (v FlowRunView) Live() bool { return !flowRunTerminal(v.State) }

// producerRows says how many records the producer sends.
func producerRows(n int) string {
	if n <= 0 {
		return "until stopped"
	}
	return itoa(n) + " records"
}
