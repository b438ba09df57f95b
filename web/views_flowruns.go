package web

import (
	"net/url"
	"strings"
)

// FlowRunPage is the view model of a flow run's page: the run, its log
// with the filter applied, and what the viewer may do.
type FlowRunPage struct {
	Run  FlowRunView
	Logs FlowRunLogsView
	// CanRetry is set for operators when the run failed, was cancelled or
	// crashed.
	CanRetry bool
}

// FlowRunLogsView is a run's log as the page shows it.
type FlowRunLogsView struct {
	// Lines are the lines shown, oldest first: the last ones that pass.
	Lines []LogLine
	// Level is the least severe level shown ("" for all); Query the
	// searched text ("" for none).
	Level, Query string
	// Filtered is set when the level or the search leaves lines out.
	Filtered bool
	// Read counts the lines read; Matched those that passed the filter.
	Read, Matched int
	// DownloadURL downloads the whole log with the filter applied.
	DownloadURL string
	// Tail is the most lines the page shows.
	Tail int
}

// LogLine is one line of a run's log, split so the search matches can be
// marked.
type LogLine struct {
	// Level is "debug", "info", "warn" or "error".
	Level string
	Parts []LogPart
}

// LogPart is a piece of a log line; Match marks a piece the search found.
type LogPart struct {
	Text  string
	Match bool
}

// LogLevels are the choices of the log's level filter: the value and what
// it shows.
var LogLevels = []SortOption{{"", "all levels"}, {"info", "info and above"}, {"warn", "warnings and errors"}, {"error", "errors only"}}

// FlowRunsView is the view model of the flow runs list.
type FlowRunsView struct {
	Runs []FlowRunRow
	// Flows and States are the filter's choices; Flow and State what is chosen.
	Flows, States []string
	Flow, State   string
	// Page counts from 1; Total is the number of matching runs read, at
	// most the registry's bound, which Capped says was reached.
	Page, Pages, Total int
	Capped             bool
	// PrevURL and NextURL link the neighbouring pages; CSVURL downloads
	// every matching run.
	PrevURL, NextURL, CSVURL string
	// CanOperate shows the checkboxes and the bulk actions.
	CanOperate     bool
	Message, Error string
}

// BulkConfirmView asks an operator to confirm a bulk cancel or retry.
type BulkConfirmView struct {
	// Action is "cancel" or "retry".
	Action string
	// Runs are the runs it applies to; Skipped those it does not, with why.
	Runs    []FlowRunRow
	Skipped []KV
	// Back returns to the list the runs were chosen on.
	Back string
}

// Verb is the action's word for a heading or button ("Cancel", "Retry").
func (v BulkConfirmView) Verb() string {
	if v.Action == "retry" {
		return "Retry"
	}
	return "Cancel"
}

// PollURL is the address the run's page polls: its fragment, with the log
// filter.
func (v FlowRunPage) PollURL() string {
	q := url.Values{"fragment": {"1"}}
	if v.Logs.Level != "" {
		q.Set("level", v.Logs.Level)
	}
	if v.Logs.Query != "" {
		q.Set("q", v.Logs.Query)
	}
	return string(path("/flow-runs", v.Run.ID)) + "?" + q.Encode()
}

// Back is the address of this page of the list, for after a bulk action.
func (v FlowRunsView) Back() string {
	q := url.Values{}
	if v.Flow != "" {
		q.Set("flow", v.Flow)
	}
	if v.State != "" {
		q.Set("state", v.State)
	}
	if v.Page > 1 {
		q.Set("page", itoa(v.Page))
	}
	if len(q) == 0 {
		return "/flow-runs"
	}
	return "/flow-runs?" + q.Encode()
}

// Summary says which lines the log shows.
func (l FlowRunLogsView) Summary() string {
	if !l.Filtered {
		if len(l.Lines) < l.Tail {
			return "All " + itoa(len(l.Lines)) + " lines."
		}
		return "The last " + itoa(len(l.Lines)) + " lines."
	}
	var what []string
	if l.Level != "" && l.Level != "debug" {
		what = append(what, "level "+l.Level+" and above")
	}
	if l.Query != "" {
		what = append(what, "containing “"+l.Query+"”")
	}
	s := itoa(l.Matched) + " of " + itoa(l.Read) + " lines match (" + strings.Join(what, ", ") + ")"
	if l.Matched > len(l.Lines) {
		s += "; the last " + itoa(len(l.Lines)) + " are shown"
	}
	return s + "."
}
