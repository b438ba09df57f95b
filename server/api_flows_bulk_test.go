package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"driftd/scheduler"
)

// bulkAnswer is the body of POST /api/v1/flow-runs/cancel and /retry.
type bulkAnswer struct {
	Action    string       `json:"action"`
	Results   []bulkResult `json:"results"`
	Succeeded int          `json:"succeeded"`
	Failed    int          `json:"failed"`
}

// mustCSV parses a CSV document.
func mustCSV(tb testing.TB, b []byte) [][]string {
	tb.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		tb.Fatalf("not CSV: %v\n%s", err, b)
	}
	return recs
}

// mustQueuedTrainRuns submits n train runs that would take hours (100,000
// rounds): the training queue runs one at a time, so the first runs and the
// others wait. The runs still
// going are cancelled when the test ends.
func mustQueuedTrainRuns(tb testing.TB, a *testApp, n int) []string {
	tb.Helper()
	ctx := context.Background()
	params := map[string]any{"data": trainCSV(tb, 4000), "target": "churn", "register": false, "rounds": 100000}
	var ids []string
	for i := 0; i < n; i++ {
		r, err := a.engine.Submit(ctx, "train", params, scheduler.SubmitOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	tb.Cleanup(func() {
		runs, _ := a.engine.List(ctx, scheduler.RunFilter{})
		for _, r := range runs {
			if !scheduler.Terminal(r.State) {
				_, _ = a.engine.Cancel(ctx, r.ID, "test cleanup")
			}
		}
	})
	return ids
}

func TestAPIFlowRunsBulkCancelAndRetry(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	ctx := context.Background()
	done, err := a.engine.Submit(ctx, "train", map[string]any{"data": trainCSV(t, 200), "target": "churn", "register": false, "rounds": 3},
		scheduler.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFlowRunEnded(t, a, done.ID)
	ids := mustQueuedTrainRuns(t, a, 3)
	running, waiting := ids[0], ids[1:]
	uiWaitFor(t, "the first run to start", 20*time.Second, func() bool {
		r, err := a.engine.Get(ctx, running)
		return err == nil && r.State == scheduler.StateRunning
	})

	var ans bulkAnswer
	a.apiJSON(t, http.MethodPost, "/api/v1/flow-runs/cancel", map[string]any{"ids": []string{waiting[0], waiting[1], running, done.ID, "999", waiting[0]}}, http.StatusOK, &ans)
	want := []struct {
		id     string
		ok     bool
		status int
		state  string
	}{
		{waiting[0], true, 200, scheduler.StateCancelled},
		{waiting[1], true, 200, scheduler.StateCancelled},
		{running, true, 200, scheduler.StateRunning}, // asked to stop; it ends cancelled when its flow returns
		{done.ID, false, 409, scheduler.StateCompleted},
		{"999", false, 404, ""},
	}
	if ans.Action != "cancel" || len(ans.Results) != len(want) || ans.Succeeded != 3 || ans.Failed != 2 {
		t.Fatalf("answer = %+v (the repeated id must be dropped)", ans)
	}
	for i, w := range want {
		r := ans.Results[i]
		if r.ID != w.id || r.OK != w.ok || r.Status != w.status || r.State != w.state || (r.OK != (r.Error == "")) {
			t.Errorf("result %d = %+v, want %+v", i, r, w)
		}
	}
	r := waitFlowRunEnded(t, a, running)
	if r.State != scheduler.StateCancelled || !strings.Contains(r.History[len(r.History)-1].Note, "api-token") {
		t.Errorf("the running run ended %s: %+v", r.State, r.History[len(r.History)-1])
	}

	// Retry: a cancelled run starts again as a new run with its parameters
	// (not the experiment run the old one recorded into).
	old, err := a.engine.Get(ctx, waiting[0])
	if err != nil {
		t.Fatal(err)
	}
	ans = bulkAnswer{}
	a.apiJSON(t, http.MethodPost, "/api/v1/flow-runs/retry", map[string]any{"ids": []string{waiting[0], done.ID, "999"}}, http.StatusOK, &ans)
	if len(ans.Results) != 3 || ans.Succeeded != 1 {
		t.Fatalf("retry answer = %+v", ans)
	}
	if r := ans.Results[0]; !r.OK || r.NewRunID == "" || r.NewRunID == waiting[0] {
		t.Fatalf("retry of a cancelled run = %+v", r)
	}
	if r := ans.Results[1]; r.OK || r.Status != 409 || !strings.Contains(r.Error, "completed") {
		t.Errorf("retry of a completed run = %+v", r)
	}
	if r := ans.Results[2]; r.OK || r.Status != 404 {
		t.Errorf("retry of an unknown run = %+v", r)
	}
	retried, err := a.engine.Get(ctx, ans.Results[0].NewRunID)
	if err != nil {
		t.Fatal(err)
	}
	if retried.Flow != old.Flow || retried.Queue != old.Queue || retried.Trigger.Reason != "retry of run "+waiting[0] ||
		retried.Trigger.By != "api-token" || retried.MaxAttempts != old.MaxAttempts {
		t.Errorf("retried run = %s on %s, trigger %+v, %d attempts", retried.Flow, retried.Queue, retried.Trigger, retried.MaxAttempts)
	}
	for _, k := range []string{"data", "target", "register", "rounds"} {
		if fmt.Sprint(retried.Params[k]) != fmt.Sprint(old.Params[k]) {
			t.Errorf("param %s: %v, the old run had %v", k, retried.Params[k], old.Params[k])
		}
	}
	if id, _ := retried.Params["run_id"].(string); id == "" || id == old.Params["run_id"] {
		t.Errorf("the retry records into experiment run %q; the old run recorded into %v", id, old.Params["run_id"])
	}

	// Malformed requests are refused whole.
	for _, body := range []string{`{"ids": []}`, `{"ids": [""]}`, `{"id": ["1"]}`, `{"ids": "1"}`, `{"ids": [1]}`} {
		status, b := a.do(t, http.MethodPost, "/api/v1/flow-runs/cancel", a.token, "application/json", strings.NewReader(body))
		var e apiError
		if status != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s", body, status, b)
		}
	}
	ids101 := make([]string, 101) // 101 different runs: more than one call may name
	for i := range ids101 {
		ids101[i] = fmt.Sprint(i + 1)
	}
	a.apiJSON(t, http.MethodPost, "/api/v1/flow-runs/retry", map[string]any{"ids": ids101}, http.StatusBadRequest, nil)
	// Without the token (a UI session never authorises the API's mutations).
	if status, _ := a.do(t, http.MethodPost, "/api/v1/flow-runs/cancel", "", "application/json", strings.NewReader(`{"ids":["1"]}`)); status != http.StatusUnauthorized {
		t.Errorf("bulk cancel without the token: %d", status)
	}
}

func TestUIFlowRunsListBulkActions(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	ctx := context.Background()
	if err := a.putUser(ctx, "vera", "viewer-pass", RoleViewer); err != nil {
		t.Fatal(err)
	}
	admin := uiLogin(t, a, "admin", "correct-horse")
	done, err := a.engine.Submit(ctx, "train", map[string]any{"data": trainCSV(t, 200), "target": "churn", "register": false, "rounds": 3},
		scheduler.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFlowRunEnded(t, a, done.ID)
	ids := mustQueuedTrainRuns(t, a, 3)
	waiting := ids[1:]

	// The list: every run, newest first, a checkbox each for an operator.
	doc := admin.mustGet("/flow-runs")
	for _, id := range append(ids, done.ID) {
		mustTestID(t, doc, "flow-run-"+id)
		mustTestID(t, doc, "select-"+id)
	}
	if got := nodeText(mustTestID(t, doc, "flow-runs-total")); got != "4 in all" {
		t.Errorf("total = %q", got)
	}
	mustTestID(t, doc, "bulk-cancel")
	mustTestID(t, doc, "bulk-retry")
	csrf := formCSRF(t, doc, "bulk-form")
	uiWaitFor(t, "the completed run stored", 10*time.Second, func() bool { // the list filters by the stored state
		runs, err := a.engine.List(ctx, scheduler.RunFilter{State: scheduler.StateCompleted})
		return err == nil && len(runs) == 1
	})
	doc = admin.mustGet("/flow-runs?state=completed")
	if byTestID(doc, "flow-run-"+done.ID) == nil || byTestID(doc, "flow-run-"+ids[0]) != nil {
		t.Error("the state filter keeps other runs")
	}
	if got := nodeText(mustTestID(t, doc, "flow-runs-total")); got != "1 matching" {
		t.Errorf("filtered total = %q", got)
	}
	if got := selectedOption(mustTestID(t, doc, "flow-runs-state")); got != "completed" {
		t.Errorf("the state select shows %q", got)
	}

	// Cancel selected: first a confirmation naming how many, then the act.
	form := url.Values{"_csrf": {csrf}, "id": {waiting[0], waiting[1], done.ID}, "back": {"/flow-runs?flow=train"}}
	status, _, body := admin.post("/flow-runs/cancel", form)
	cd, _ := html.Parse(strings.NewReader(body))
	if status != http.StatusOK || nodeText(mustTestID(t, cd, "bulk-confirm-title")) != "Cancel 2 runs?" {
		t.Fatalf("confirmation: %d\n%s", status, nodeText(cd))
	}
	if got := nodeText(mustTestID(t, cd, "bulk-skipped")); !strings.Contains(got, "run "+done.ID) || !strings.Contains(got, "already ended") {
		t.Errorf("skipped = %q", got)
	}
	for _, id := range waiting {
		if r, _ := a.engine.Get(ctx, id); r.State == scheduler.StateCancelled {
			t.Fatal("the confirmation page cancelled a run")
		}
	}
	if got := nodeText(mustTestID(t, cd, "bulk-confirm-submit")); got != "Cancel 2 runs" {
		t.Errorf("confirm button = %q", got)
	}
	form.Set("confirm", "yes")
	form["id"] = []string{waiting[0], waiting[1]}
	status, loc, _ := admin.post("/flow-runs/cancel", form)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow-runs?flow=train&msg=") {
		t.Fatalf("cancel: %d %q", status, loc)
	}
	for _, id := range waiting {
		if r, _ := a.engine.Get(ctx, id); r.State != scheduler.StateCancelled {
			t.Errorf("run %s is %s after the bulk cancel", id, r.State)
		}
	}
	doc = admin.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flash-message")); !strings.Contains(got, "Cancelled 2 runs: "+waiting[0]+", "+waiting[1]+".") {
		t.Errorf("message = %q", got)
	}

	// Retry selected: the confirmation leaves out a run that has not ended.
	status, _, body = admin.post("/flow-runs/retry", url.Values{"_csrf": {csrf}, "id": {waiting[0], ids[0]}})
	cd, _ = html.Parse(strings.NewReader(body))
	if status != http.StatusOK || nodeText(mustTestID(t, cd, "bulk-confirm-title")) != "Retry 1 run?" {
		t.Fatalf("retry confirmation: %d\n%s", status, nodeText(cd))
	}
	if got := nodeText(mustTestID(t, cd, "bulk-skipped")); !strings.Contains(got, "run "+ids[0]) || !strings.Contains(got, "has not ended") {
		t.Errorf("skipped = %q", got)
	}
	before, _ := a.engine.List(ctx, scheduler.RunFilter{})
	status, loc, _ = admin.post("/flow-runs/retry", url.Values{"_csrf": {csrf}, "id": {waiting[0]}, "confirm": {"yes"}})
	after, _ := a.engine.List(ctx, scheduler.RunFilter{})
	if status != http.StatusSeeOther || len(after) != len(before)+1 || after[0].Trigger.Reason != "retry of run "+waiting[0] || after[0].Trigger.By != "admin" {
		t.Fatalf("retry: %d %q, %d runs then %d, newest %+v", status, loc, len(before), len(after), after[0].Trigger)
	}
	if got := nodeText(mustTestID(t, admin.mustGet(loc), "flash-message")); !strings.Contains(got, "Retried run "+waiting[0]+" as run "+after[0].ID+".") {
		t.Errorf("message = %q", got)
	}
	// A cancelled run's page offers Retry; a completed one's does not.
	mustTestID(t, admin.mustGet("/flow-runs/"+waiting[1]), "flow-run-retry-form")
	if byTestID(admin.mustGet("/flow-runs/"+done.ID), "flow-run-retry-form") != nil {
		t.Error("a completed run offers Retry")
	}

	// CSV: every matching run with its fields.
	resp, err := admin.c.Get(a.base + "/flow-runs?format=csv&flow=train")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	recs := mustCSV(t, raw)
	if resp.Header.Get("Content-Disposition") != `attachment; filename="flow-runs.csv"` || len(recs) != 1+len(after) {
		t.Fatalf("CSV: %q, %d lines for %d runs", resp.Header.Get("Content-Disposition"), len(recs), len(after))
	}
	if recs[0][0] != "run_id" || recs[0][2] != "state" || recs[1][0] != after[0].ID || recs[1][6] != "retry of run "+waiting[0] {
		t.Errorf("CSV header %v, first row %v", recs[0], recs[1])
	}

	// A viewer sees no checkboxes and is refused the actions: a 403 page.
	v := uiLogin(t, a, "vera", "viewer-pass")
	doc = v.mustGet("/flow-runs")
	if byTestID(doc, "bulk-cancel") != nil || byTestID(doc, "select-"+ids[0]) != nil {
		t.Error("a viewer is offered the bulk actions")
	}
	for _, p := range []string{"/flow-runs/cancel", "/flow-runs/retry"} {
		status, _, body := v.post(p, url.Values{"id": {ids[0]}, "confirm": {"yes"}})
		d, _ := html.Parse(strings.NewReader(body))
		if status != http.StatusForbidden || !strings.Contains(nodeText(mustTestID(t, d, "error-message")), "operator") {
			t.Errorf("viewer POST %s: %d", p, status)
		}
	}
	if r, _ := a.engine.Get(ctx, ids[0]); scheduler.Terminal(r.State) {
		t.Errorf("a refused request ended run %s (%s)", ids[0], r.State)
	}
	// The API takes no session: the viewer's cookie gets a JSON 401.
	req, _ := http.NewRequest(http.MethodPost, a.base+"/api/v1/flow-runs/cancel", strings.NewReader(`{"ids":["`+ids[0]+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = v.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var e apiError
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(raw, &e) != nil || e.Error == "" {
		t.Errorf("viewer API bulk cancel: %d %s", resp.StatusCode, raw)
	}
}

func TestUIFlowRunsPagesAndRetriesFailedRuns(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	ctx := context.Background()
	// Live drift checks with no model deployed fail at once.
	var ids []string
	for i := 0; i < flowRunsPageSize+5; i++ {
		r, err := a.engine.Submit(ctx, "drift-check", map[string]any{"live": true}, scheduler.SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	for _, id := range ids {
		if r := waitFlowRunEnded(t, a, id); r.State != scheduler.StateFailed {
			t.Fatalf("run %s is %s, want failed", id, r.State)
		}
	}
	// The list filters by the stored state, written just after a run ends.
	uiWaitFor(t, "every failed run stored", 10*time.Second, func() bool {
		runs, err := a.engine.List(ctx, scheduler.RunFilter{Flow: "drift-check", State: scheduler.StateFailed})
		return err == nil && len(runs) == len(ids)
	})
	doc := s.mustGet("/flow-runs?flow=drift-check&state=failed")
	if n := len(allByTestIDPrefix(doc, "select-")) - 1; n != flowRunsPageSize { // minus select-all
		t.Fatalf("the first page shows %d runs, want %d", n, flowRunsPageSize)
	}
	mustTestID(t, doc, "flow-run-"+ids[len(ids)-1]) // newest first
	next := html2URL(attrOf(mustTestID(t, doc, "flow-runs-next"), "href"))
	if u, _ := url.Parse(next); u.Query().Get("flow") != "drift-check" || u.Query().Get("state") != "failed" || u.Query().Get("page") != "2" {
		t.Errorf("next page link %q loses the filter", next)
	}
	doc = s.mustGet(next)
	if n := len(allByTestIDPrefix(doc, "select-")) - 1; n != 5 || byTestID(doc, "flow-run-"+ids[0]) == nil {
		t.Errorf("the second page shows %d runs, want the 5 oldest", n)
	}
	if status, _, _ := s.get("/flow-runs?state=lost"); status != http.StatusBadRequest {
		t.Errorf("an unknown state: %d", status)
	}

	// A failed run is retried: a new run of its flow with its parameters.
	var ans bulkAnswer
	a.apiJSON(t, http.MethodPost, "/api/v1/flow-runs/retry", map[string]any{"ids": []string{ids[0]}}, http.StatusOK, &ans)
	if len(ans.Results) != 1 || !ans.Results[0].OK {
		t.Fatalf("retry of a failed run: %+v", ans)
	}
	r := waitFlowRunEnded(t, a, ans.Results[0].NewRunID)
	if r.Flow != "drift-check" || r.Params["live"] != true || r.Trigger.Reason != "retry of run "+ids[0] || r.Queue != "monitoring" {
		t.Errorf("the retry is %s on %s with %v, trigger %+v", r.Flow, r.Queue, r.Params, r.Trigger)
	}
}
