package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/scheduler"
	"driftd/web"
)

const (
	// flowRunsPageSize is how many runs the flow runs list shows per page.
	flowRunsPageSize = 50
	// flowRunsRead bounds the runs the list reads: the registry's own
	// bound on one listing.
	flowRunsRead = 1000
)

// flowRunStates are the states the list filters by, in a run's order.
var flowRunStates = []string{scheduler.StateScheduled, scheduler.StatePending, scheduler.StateRunning,
	scheduler.StateCompleted, scheduler.StateFailed, scheduler.StateCancelled, scheduler.StateCrashed}

// uiFlowRuns lists flow runs newest first. Its state is in the URL: ?flow=
// and ?state= filter, ?page= pages by flowRunsPageSize, and ?format=csv
// downloads every matching run the list reads (the newest flowRunsRead).
func (a *App) uiFlowRuns(c echo.Context) error {
	if a.engine == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
	}
	v := web.FlowRunsView{Flow: strings.TrimSpace(c.QueryParam("flow")), State: strings.TrimSpace(c.QueryParam("state")),
		States: flowRunStates, Page: 1, CanOperate: canOperate(c), Message: c.QueryParam("msg")}
	for _, f := range a.engine.Flows() {
		v.Flows = append(v.Flows, f.Name)
	}
	if v.State != "" && !validRunState(v.State) {
		return badRequest("state", "%q: must be one of %s", v.State, strings.Join(flowRunStates, ", "))
	}
	runs, err := a.engine.List(c.Request().Context(), scheduler.RunFilter{Flow: v.Flow, State: v.State, Limit: flowRunsRead})
	if err != nil {
		return err
	}
	if c.QueryParam("format") == "csv" {
		return writeFlowRunsCSV(c, runs, a.now())
	}
	v.Total, v.Capped = len(runs), len(runs) >= flowRunsRead
	v.Pages = max(1, (len(runs)+flowRunsPageSize-1)/flowRunsPageSize)
	if s := c.QueryParam("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return badRequest("page", "%q: must be a page number from 1", s)
		}
		v.Page = min(n, v.Pages)
	}
	now := a.now()
	for _, r := range runs[min((v.Page-1)*flowRunsPageSize, len(runs)):min(v.Page*flowRunsPageSize, len(runs))] {
		v.Runs = append(v.Runs, flowRunRow(r, now))
	}
	link := func(set url.Values) string {
		q := url.Values{}
		if v.Flow != "" {
			q.Set("flow", v.Flow)
		}
		if v.State != "" {
			q.Set("state", v.State)
		}
		for k, x := range set {
			q[k] = x
		}
		if len(q) == 0 {
			return "/flow-runs"
		}
		return "/flow-runs?" + q.Encode()
	}
	if v.Page > 1 {
		v.PrevURL = link(url.Values{"page": {strconv.Itoa(v.Page - 1)}})
	}
	if v.Page < v.Pages {
		v.NextURL = link(url.Values{"page": {strconv.Itoa(v.Page + 1)}})
	}
	v.CSVURL = link(url.Values{"format": {"csv"}})
	p := a.page(c, "pipeline", "Flow runs")
	return a.renderPage(c, p, web.FlowRunsBody(p, v))
}

// writeFlowRunsCSV answers the flow runs list as CSV, one row per run.
func writeFlowRunsCSV(c echo.Context, runs []scheduler.Run, now time.Time) error {
	header := []string{"run_id", "flow", "state", "queue", "trigger", "trigger_by", "trigger_reason", "schedule_id",
		"attempts", "max_attempts", "created", "started", "ended", "duration_seconds", "error"}
	rows := make([][]string, 0, len(runs))
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, r := range runs {
		dur := ""
		if !r.StartedAt.IsZero() {
			dur = strconv.FormatFloat(r.Duration(now).Seconds(), 'f', 3, 64)
		}
		rows = append(rows, []string{r.ID, r.Flow, r.State, r.Queue, r.Trigger.Kind, r.Trigger.By, r.Trigger.Reason,
			r.ScheduleID, strconv.Itoa(r.Attempts), strconv.Itoa(r.MaxAttempts), stamp(r.CreatedAt), stamp(r.StartedAt),
			stamp(r.EndedAt), dur, r.Error})
	}
	return writeCSV(c, "flow-runs.csv", header, rows)
}

// uiFlowRunsBulk answers the list's "Cancel selected" and "Retry selected"
// (operators): without confirm=yes it shows what would happen, naming the
// runs; with it, it acts on each run and goes back to the list with what
// happened to every run.
func (a *App) uiFlowRunsBulk(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		if a.engine == nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
		}
		form, err := c.FormParams()
		if err != nil {
			return badRequest("", "cannot read the form: %v", err)
		}
		back := form.Get("back")
		if back != "/flow-runs" && !strings.HasPrefix(back, "/flow-runs?") {
			back = "/flow-runs"
		}
		if len(form["id"]) == 0 {
			return c.Redirect(http.StatusSeeOther, withMsg(back, "Tick the runs to "+action+" first."))
		}
		ids, err := bulkIDs(form["id"])
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		if form.Get("confirm") != "yes" {
			v := web.BulkConfirmView{Action: action, Back: back}
			now := a.now()
			for _, id := range ids {
				r, err := a.engine.Get(ctx, id)
				switch {
				case err != nil:
					_, body := a.classify(err)
					v.Skipped = append(v.Skipped, web.KV{Key: id, Value: body.Error})
				case action == "cancel" && scheduler.Terminal(r.State):
					v.Skipped = append(v.Skipped, web.KV{Key: id, Value: "it has already ended (" + r.State + ")"})
				case action == "retry" && !scheduler.Terminal(r.State):
					v.Skipped = append(v.Skipped, web.KV{Key: id, Value: "it has not ended (" + r.State + "); only an ended run is retried"})
				case action == "retry" && r.State == scheduler.StateCompleted:
					v.Skipped = append(v.Skipped, web.KV{Key: id, Value: "it completed; only failed, cancelled or crashed runs are retried"})
				default:
					v.Runs = append(v.Runs, flowRunRow(r, now))
				}
			}
			p := a.page(c, "pipeline", "Confirm: "+action+" flow runs")
			return a.renderPage(c, p, web.BulkConfirmBody(p, v))
		}
		res := a.bulkFlowRuns(ctx, action, ids, currentUser(c).Name)
		a.logger.Info("bulk flow run "+action, "user", currentUser(c).Name, "runs", len(ids))
		return c.Redirect(http.StatusSeeOther, withMsg(back, bulkMessage(action, res)))
	}
}

// bulkMessage says what a bulk action did, run by run.
func bulkMessage(action string, res []bulkResult) string {
	var done, stopping, failed []string
	for _, r := range res {
		switch {
		case !r.OK:
			failed = append(failed, fmt.Sprintf("%s (%s)", r.ID, r.Error))
		case action == "retry":
			done = append(done, r.ID+" as run "+r.NewRunID)
		case r.State == scheduler.StateCancelled:
			done = append(done, r.ID)
		default:
			stopping = append(stopping, r.ID)
		}
	}
	runs := func(ids []string) string {
		if len(ids) == 1 {
			return "run " + ids[0]
		}
		return fmt.Sprintf("%d runs: %s", len(ids), strings.Join(ids, ", "))
	}
	var parts []string
	if len(done) > 0 {
		verb := "Cancelled "
		if action == "retry" {
			verb = "Retried "
		}
		parts = append(parts, verb+runs(done)+".")
	}
	if len(stopping) > 0 {
		parts = append(parts, "Asked "+runs(stopping)+" to stop; they end cancelled when their flows return.")
	}
	if len(failed) > 0 {
		parts = append(parts, "Not "+map[string]string{"cancel": "cancelled", "retry": "retried"}[action]+": "+strings.Join(failed, "; ")+".")
	}
	return strings.Join(parts, " ")
}

// withMsg adds ?msg= (or &msg=) to a local URL.
func withMsg(u, msg string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "msg=" + url.QueryEscape(msg)
}
