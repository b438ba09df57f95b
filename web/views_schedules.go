package web

import (
	"time"

	"github.com/a-h/templ"
)

// SchedulesView is the view model of the Schedules page: the list and the
// create form.
type SchedulesView struct {
	// CanOperate is true for operators and admins, who see the buttons and the form.
	CanOperate bool
	Message    string
	// Error is a refused action's reason that belongs to no form field.
	Error     string
	Schedules []ScheduleRow
	Form      ScheduleForm
	Now       time.Time
}

// ScheduleRow is one schedule in the list.
type ScheduleRow struct {
	ID, Name, Flow string
	// When is the cron expression or the interval, as entered.
	When     string
	Timezone string
	Enabled  bool
	Catchup  string
	Overlap  string
	Queue    string
	NextRun  time.Time
	LastFire time.Time
	// LastRunID and LastRunState describe the run the last fire started.
	LastRunID, LastRunState string
}

// ScheduleForm is the create or edit form of a schedule. Errors maps a
// field name (name, flow, cron, timezone, params, catchup, overlap, queue)
// to why it was refused.
type ScheduleForm struct {
	// ID is set when the form edits an existing schedule.
	ID       string
	Name     string
	Flow     string
	When     string
	Timezone string
	// Params is the JSON object of the run parameters.
	Params  string
	Enabled bool
	Catchup string
	Overlap string
	Queue   string
	Errors  map[string]string
	// Flows are the flows a new schedule may run, with their parameters
	// for the hint; Queues the queue names it may choose.
	Flows  []FlowHelp
	Queues []string
}

// FlowHelp describes a flow's parameters next to the JSON params field.
type FlowHelp struct {
	Name, Description string
	Params            []ParamHelp
}

// ParamHelp is one parameter of a flow, as a hint.
type ParamHelp struct {
	Name, Type, Default, Help string
	Required                  bool
}

// ScheduleView is the view model of one schedule's page: its edit form and
// its run history.
type ScheduleView struct {
	CanOperate bool
	Message    string
	Error      string
	Schedule   ScheduleRow
	Form       ScheduleForm
	Runs       []FlowRunRow
	Now        time.Time
}

// fieldError returns the form's error for a field ("" when none).
func (f ScheduleForm) fieldError(name string) string { return f.Errors[name] }

// scheduleAction is where the schedule form posts: /schedules to create,
// /schedules/:id to save.
func scheduleAction(f ScheduleForm) templ.SafeURL {
	if f.ID == "" {
		return "/schedules"
	}
	return path("/schedules", f.ID)
}
