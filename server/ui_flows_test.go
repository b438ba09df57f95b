package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"driftd/registry"
	"driftd/scheduler"
	"driftd/web"
)

// attrOf returns the value of attribute key of n ("" when absent).
func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// hasAttr reports whether n carries attribute key.
func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// findElem returns the first element under n that matches, or nil.
func findElem(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findElem(c, match); f != nil {
			return f
		}
	}
	return nil
}

// fieldNamed returns the input, select or textarea named name under n, or nil.
func fieldNamed(n *html.Node, name string) *html.Node {
	return findElem(n, func(e *html.Node) bool {
		return (e.Data == "input" || e.Data == "select" || e.Data == "textarea") && attrOf(e, "name") == name
	})
}

// selectedOption is the value of the selected option of a select.
func selectedOption(sel *html.Node) string {
	if o := findElem(sel, func(e *html.Node) bool { return e.Data == "option" && hasAttr(e, "selected") }); o != nil {
		return attrOf(o, "value")
	}
	return ""
}

// mustRender renders a component into a parsed document.
func mustRender(tb testing.TB, c templ.Component) *html.Node {
	tb.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		tb.Fatal(err)
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func TestFlowFormFromSchema(t *testing.T) {
	f := scheduler.Flow{Name: "demo", Description: "a flow with every kind of parameter", Queue: "monitoring", Params: []scheduler.Param{
		{Name: "data", Type: scheduler.TypeString, Required: true, Help: "CSV file on the server"},
		{Name: "rounds", Type: scheduler.TypeInt, Default: int64(50), Help: "boosting rounds"},
		{Name: "eta", Type: scheduler.TypeFloat, Default: 0.1},
		{Name: "register", Type: scheduler.TypeBool, Default: true},
		{Name: "dry", Type: scheduler.TypeBool},
		{Name: "window", Type: scheduler.TypeDuration, Default: 90 * time.Second},
		{Name: "algo", Type: scheduler.TypeString, Default: "gbdt", Enum: []string{"gbdt", "logistic"}},
		{Name: "objective", Type: scheduler.TypeString, Enum: []string{"", "binary", "regression"}},
		{Name: "run_id", Type: scheduler.TypeString, Hidden: true},
	}}
	page := web.Page{Active: "pipeline", CSRF: "tok"}
	form := flowForm(f)
	doc := mustRender(t, web.PipelineBody(page, web.PipelineView{CanOperate: true, Flows: []web.FlowForm{form}}))
	fe := mustTestID(t, doc, "flow-form-demo")
	if got := attrOf(fe, "action"); got != "/pipeline/flows/demo/runs" {
		t.Errorf("form action = %q", got)
	}
	if got := formCSRF(t, doc, "flow-form-demo"); got != "tok" {
		t.Errorf("csrf = %q", got)
	}
	cases := []struct {
		name, tag, typ, value, step string
		required                    bool
	}{
		{"data", "input", "text", "", "", true},
		{"rounds", "input", "number", "50", "1", false},
		{"eta", "input", "number", "0.1", "any", false},
		{"window", "input", "text", "1m30s", "", false},
		{"register", "input", "checkbox", "true", "", false},
		{"algo", "select", "", "", "", false},
	}
	for _, tc := range cases {
		n := fieldNamed(fe, "param."+tc.name)
		if n == nil {
			t.Errorf("no field for %s", tc.name)
			continue
		}
		if n.Data != tc.tag || attrOf(n, "type") != tc.typ || attrOf(n, "value") != tc.value || attrOf(n, "step") != tc.step || hasAttr(n, "required") != tc.required {
			t.Errorf("%s: <%s type=%q value=%q step=%q required=%v>, want <%s type=%q value=%q step=%q required=%v>", tc.name,
				n.Data, attrOf(n, "type"), attrOf(n, "value"), attrOf(n, "step"), hasAttr(n, "required"), tc.tag, tc.typ, tc.value, tc.step, tc.required)
		}
	}
	if n := fieldNamed(fe, "param.register"); !hasAttr(n, "checked") {
		t.Error("a bool param defaulting to true is not checked")
	}
	if n := fieldNamed(fe, "param.dry"); hasAttr(n, "checked") {
		t.Error("a bool param without default is checked")
	}
	if got := selectedOption(fieldNamed(fe, "param.algo")); got != "gbdt" {
		t.Errorf("algo selects %q, want its default gbdt", got)
	}
	obj := fieldNamed(fe, "param.objective")
	if got, opts := selectedOption(obj), nodeText(obj); got != "" || opts != "(default) binary regression" {
		t.Errorf("objective: selected %q, options %q", got, opts)
	}
	if fieldNamed(fe, "param.run_id") != nil {
		t.Error("a hidden param is in the form")
	}
	if got := nodeText(fe); !strings.Contains(got, "CSV file on the server") || !strings.Contains(got, "boosting rounds") || !strings.Contains(got, "monitoring queue") {
		t.Errorf("form text lacks the help or queue: %q", got)
	}
	if n := findElem(fe, func(e *html.Node) bool { return attrOf(e, "class") == "req" }); n == nil {
		t.Error("the required param is not marked")
	}

	// A refused submission: the error by its field, the form unfolded.
	form.Open, form.Fields[1].Value, form.Fields[1].Error = true, "many", "must be an integer"
	doc = mustRender(t, web.PipelineBody(page, web.PipelineView{CanOperate: true, Flows: []web.FlowForm{form}}))
	if got := nodeText(mustTestID(t, doc, "param-error-demo-rounds")); got != "must be an integer" {
		t.Errorf("field error = %q", got)
	}
	if !hasAttr(mustTestID(t, doc, "flow-demo"), "open") {
		t.Error("the refused form is folded")
	}
	if got := attrOf(fieldNamed(doc, "param.rounds"), "value"); got != "many" {
		t.Errorf("the refused value is not kept: %q", got)
	}

	// A viewer sees the flows but no form.
	doc = mustRender(t, web.PipelineBody(page, web.PipelineView{Flows: []web.FlowForm{form}}))
	if byTestID(doc, "flow-form-demo") != nil || byTestID(doc, "producer-form") != nil || byTestID(doc, "scorer-pause-form") != nil {
		t.Error("a viewer is shown a form")
	}
	mustTestID(t, doc, "flows-readonly")
}

func TestFmtRelativeTimes(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	doc := mustRender(t, web.SchedulesList(web.Page{}, web.SchedulesView{Now: now, Schedules: []web.ScheduleRow{
		{ID: "1", Name: "soon", Flow: "drift-check", When: "@every 5m", Enabled: true, NextRun: now.Add(4*time.Minute + 10*time.Second), LastFire: now.Add(-50 * time.Second)},
		{ID: "2", Name: "later", Flow: "retrain", When: "0 3 * * *", Enabled: false, NextRun: now.Add(15*time.Hour + 5*time.Minute)},
	}}))
	for id, want := range map[string]string{
		"schedule-soon":  "2025-01-01 12:04:10Z in 4m 10s 2025-01-01 11:59:10Z 50s ago",
		"schedule-later": "2025-01-02 03:05:00Z in 15h 5m — — paused",
	} {
		if got := nodeText(mustTestID(t, doc, id)); !strings.Contains(got, want) {
			t.Errorf("%s row = %q, want it to contain %q", id, got, want)
		}
	}
	if findElem(doc, func(e *html.Node) bool { return e.Data == "form" }) != nil {
		t.Error("a viewer's list has buttons")
	}
}

// trainCSV writes a labelled CSV of rows rows where the train flow may read
// it (DRIFTD_TRAIN_DATA_DIRS is the temp dir in tests) and returns its path.
func trainCSV(tb testing.TB, rows int) string {
	tb.Helper()
	r := rand.New(rand.NewPCG(uint64(rows), 3))
	var b strings.Builder
	b.WriteString("x1,x2,plan,churn\n")
	for i := 0; i < rows; i++ {
		x1, x2 := r.NormFloat64(), r.Float64()*10
		plan := []string{"basic", "pro", "max"}[r.IntN(3)]
		churn := 0
		if x1+0.2*x2 > 1 || r.IntN(5) == 0 {
			churn = 1
		}
		fmt.Fprintf(&b, "%.4f,%.4f,%s,%d\n", x1, x2, plan, churn)
	}
	path := filepath.Join(tb.TempDir(), "train.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// waitFlowRunEnded waits until a flow run reaches a terminal state and returns it.
func waitFlowRunEnded(tb testing.TB, a *testApp, id string) scheduler.Run {
	tb.Helper()
	var r scheduler.Run
	uiWaitFor(tb, "run "+id+" to end", 60*time.Second, func() bool {
		var err error
		r, err = a.engine.Get(context.Background(), id)
		return err == nil && scheduler.Terminal(r.State)
	})
	return r
}

func TestUIPipelineRunsAFlowFromItsForm(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")

	doc := s.mustGet("/pipeline")
	if byTestID(doc, "not-built") != nil {
		t.Fatal("the Pipeline page still says it is not built")
	}
	mustTestID(t, doc, "scorer")
	mustTestID(t, doc, "producer")
	mustTestID(t, doc, "runs-empty")
	for _, q := range []string{"training", "monitoring", "default"} {
		mustTestID(t, doc, "queue-"+q)
	}
	for _, f := range a.engine.Flows() {
		form := mustTestID(t, doc, "flow-form-"+f.Name)
		for _, p := range f.Params {
			if got := fieldNamed(form, "param."+p.Name); (got != nil) == p.Hidden {
				t.Errorf("flow %s param %s (hidden %v): field present %v", f.Name, p.Name, p.Hidden, got != nil)
			}
		}
	}
	for _, f := range []string{"train", "retrain", "drift-check", "pipeline"} {
		mustTestID(t, doc, "flow-form-"+f)
	}
	if got := attrOf(fieldNamed(mustTestID(t, doc, "flow-form-train"), "param.model"), "value"); got != a.cfg.ModelName {
		t.Errorf("train's model field holds %q, want the default %q", got, a.cfg.ModelName)
	}

	// Bad input: 400 with the message by the field, the values kept.
	status, _, body := s.post("/pipeline/flows/retrain/runs", url.Values{"param.min_labels": {"many"}, "param.lookback": {"1h"}})
	d, _ := html.Parse(strings.NewReader(body))
	if status != http.StatusBadRequest || byTestID(d, "param-error-retrain-min_labels") == nil {
		t.Fatalf("a mistyped int: status %d\n%s", status, body)
	}
	if got := attrOf(fieldNamed(mustTestID(t, d, "flow-form-retrain"), "param.min_labels"), "value"); got != "many" {
		t.Errorf("the refused value is not kept: %q", got)
	}
	status, _, body = s.post("/pipeline/flows/train/runs", url.Values{"param.target": {"churn"}})
	d, _ = html.Parse(strings.NewReader(body))
	if status != http.StatusBadRequest || !strings.Contains(nodeText(mustTestID(t, d, "param-error-train-data")), "required") {
		t.Fatalf("a missing required param: status %d\n%s", status, body)
	}
	if status, _, _ := s.post("/pipeline/flows/nope/runs", url.Values{}); status != http.StatusNotFound {
		t.Errorf("an unknown flow: status %d, want 404", status)
	}

	// A good run: 303 to its page, which follows it to the end.
	csv := trainCSV(t, 300)
	status, loc, body := s.post("/pipeline/flows/train/runs", url.Values{"param.data": {csv}, "param.target": {"churn"},
		"param.model": {"ui-flow-model"}, "param.register": {"true"}, "param.algo": {"gbdt"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow-runs/") {
		t.Fatalf("submit train: %d %q\n%s", status, loc, body)
	}
	id := strings.TrimPrefix(loc, "/flow-runs/")
	r := waitFlowRunEnded(t, a, id)
	if r.State != scheduler.StateCompleted || r.Trigger.Kind != scheduler.TriggerManual || r.Trigger.By != "admin" {
		t.Fatalf("run = %s by %+v: %s", r.State, r.Trigger, r.Error)
	}
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flow-run-state")); got != "completed" {
		t.Errorf("state on the page = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "flow-run-facts")); !strings.Contains(got, "manual by admin") || !strings.Contains(got, "1 of") {
		t.Errorf("facts = %q", got)
	}
	hist := nodeText(mustTestID(t, doc, "flow-run-history"))
	for _, st := range []string{"pending", "running", "completed"} {
		if !strings.Contains(hist, st) {
			t.Errorf("history %q lacks %s", hist, st)
		}
	}
	if got := nodeText(mustTestID(t, doc, "flow-run-figures")); !strings.Contains(got, "version") || !strings.Contains(got, "ui-flow-model") {
		t.Errorf("key figures = %q", got)
	}
	mustTestID(t, doc, "flow-run-result")
	mustTestID(t, doc, "flow-run-logs")
	if got := attrOf(mustTestID(t, doc, "flow-run-experiment"), "href"); !strings.HasPrefix(got, "/runs/") {
		t.Errorf("experiment run link = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "flow-run-params")); !strings.Contains(got, "target churn") {
		t.Errorf("params = %q", got)
	}
	if byTestID(doc, "flow-run-cancel-form") != nil {
		t.Error("an ended run offers Cancel")
	}
	status, _, frag := s.get(loc + "?fragment=1")
	if status != http.StatusOK || !strings.Contains(frag, "data-final") || strings.Contains(frag, "<html") {
		t.Errorf("the run's fragment of an ended run: %d\n%s", status, frag)
	}
	// Cancelling an ended run says so.
	status, loc2, _ := s.post(loc+"/cancel", url.Values{})
	if status != http.StatusSeeOther || !strings.Contains(loc2, "already+ended") {
		t.Errorf("cancel an ended run: %d %q", status, loc2)
	}

	// The live list on the Pipeline page has it, without the layout.
	status, _, frag = s.get("/pipeline?fragment=1")
	fd, _ := html.Parse(strings.NewReader(frag))
	if status != http.StatusOK || strings.Contains(frag, `data-testid="nav"`) {
		t.Fatalf("fragment: %d\n%s", status, frag)
	}
	row := nodeText(mustTestID(t, fd, "flow-run-"+id))
	for _, want := range []string{"train", "completed", "manual by admin"} {
		if !strings.Contains(row, want) {
			t.Errorf("runs row %q lacks %q", row, want)
		}
	}
	if status, _, _ := s.get("/flow-runs/nope"); status != http.StatusNotFound {
		t.Errorf("an unknown run: status %d", status)
	}
}

func TestUIPipelineQueueFullAndCancel(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	csv := trainCSV(t, 4000)
	params := map[string]any{"data": csv, "target": "churn", "register": false, "rounds": 400}
	ctx := context.Background()
	var ids []string
	t.Cleanup(func() {
		for _, id := range ids {
			_, _ = a.engine.Cancel(ctx, id, "test")
		}
	})
	full := false
	for i := 0; i < 40 && !full; i++ {
		r, err := a.engine.Submit(ctx, "train", params, scheduler.SubmitOptions{})
		switch {
		case err == nil:
			ids = append(ids, r.ID)
		case errors.Is(err, scheduler.ErrQueueFull):
			full = true
		default:
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("the training queue never filled")
	}
	status, _, body := s.post("/pipeline/flows/train/runs", url.Values{"param.data": {csv}, "param.target": {"churn"}})
	d, _ := html.Parse(strings.NewReader(body))
	if status != http.StatusTooManyRequests || !strings.Contains(nodeText(mustTestID(t, d, "flow-error-train")), "queue is full") {
		t.Fatalf("submit on a full queue: %d\n%s", status, body)
	}
	mustTestID(t, d, "queues")

	// A waiting run's page keeps polling and offers Cancel, which ends it.
	waiting := "/flow-runs/" + ids[len(ids)-1]
	doc := s.mustGet(waiting)
	if got := nodeText(mustTestID(t, doc, "flow-run-state")); got != scheduler.StatePending && got != scheduler.StateScheduled {
		t.Errorf("the last queued run is %q", got)
	}
	mustTestID(t, doc, "flow-run-cancel-form")
	if _, _, frag := s.get(waiting + "?fragment=1"); strings.Contains(frag, "data-final") {
		t.Error("a waiting run's fragment says it is final")
	}
	status, loc, _ := s.post(waiting+"/cancel", url.Values{})
	if status != http.StatusSeeOther || !strings.Contains(loc, "msg=Cancelled") {
		t.Fatalf("cancel: %d %q", status, loc)
	}
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flow-run-state")); got != scheduler.StateCancelled {
		t.Errorf("after cancel the run is %q", got)
	}
	if !strings.Contains(nodeText(mustTestID(t, doc, "flow-run-history")), "admin") {
		t.Errorf("the history does not say who cancelled: %q", nodeText(mustTestID(t, doc, "flow-run-history")))
	}
	if byTestID(doc, "flow-run-cancel-form") != nil {
		t.Error("a cancelled run still offers Cancel")
	}
}

func TestUIPipelineScorerAndProducer(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	name := a.cfg.ModelName
	s := uiLogin(t, a, "admin", "correct-horse")

	// Nothing deployed: the scorer waits (not paused by anyone), and the
	// producer says what to do.
	doc := s.mustGet("/pipeline")
	mustTestID(t, doc, "scorer-pause-form")
	if byTestID(doc, "scorer-resume-form") != nil {
		t.Error("a scorer waiting for a deployment offers Resume")
	}
	status, _, body := s.post("/pipeline/producer/start", url.Values{"rate": {"100"}, "rows": {"10"}})
	if status != http.StatusConflict || !strings.Contains(body, "deploy one first") {
		t.Fatalf("start with nothing deployed: %d\n%s", status, body)
	}
	registerUIModel(t, a, name, "1.0.0", 1)
	if err := a.store.Deploy(registry.WithUser(context.Background(), "admin"), name, "1.0.0", a.cfg.ScoringEnvironment, "ui test"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "the scorer to load 1.0.0", 10*time.Second, func() bool { return a.pipeline.ScorerStatus().Version == "1.0.0" })

	for _, tc := range []struct{ rate, rows, drift, field string }{
		{"fast", "10", "", "rate"}, {"0", "10", "", "rate"}, {"10", "-4", "", "rows"}, {"10", "1.5", "", "rows"},
		{"10", "10", "x1:tilt=1", "drift"}, {"10", "10", "nope:shift=1", "drift"},
	} {
		status, _, body := s.post("/pipeline/producer/start", url.Values{"rate": {tc.rate}, "rows": {tc.rows}, "drift": {tc.drift}})
		d, _ := html.Parse(strings.NewReader(body))
		if status != http.StatusBadRequest || byTestID(d, "producer-error-"+tc.field) == nil {
			t.Errorf("rate %q rows %q drift %q: status %d, want 400 by %s", tc.rate, tc.rows, tc.drift, status, tc.field)
		}
	}
	status, loc, body := s.post("/pipeline/producer/start", url.Values{"rate": {"2000"}, "rows": {"60"}, "drift": {"x1:shift=2"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/pipeline?msg=") {
		t.Fatalf("start: %d %q\n%s", status, loc, body)
	}
	uiWaitFor(t, "60 records acknowledged", 20*time.Second, func() bool {
		st := a.synth.Status()
		return !st.Running && st.Acked == 60
	})
	uiWaitFor(t, "the scorer to consume them", 20*time.Second, func() bool { return a.pipeline.ScorerStatus().Consumed >= 60 })
	doc = s.mustGet("/pipeline")
	if got := nodeText(mustTestID(t, doc, "producer")); !strings.Contains(got, "stopped") || !strings.Contains(got, "Sent 60") || !strings.Contains(got, "x1:shift=2") {
		t.Errorf("producer facts = %q", got)
	}

	// An endless run: a second start is 409, Stop ends it.
	if status, _, _ := s.post("/pipeline/producer/start", url.Values{"rate": {"20"}, "rows": {"0"}}); status != http.StatusSeeOther {
		t.Fatalf("endless start: %d", status)
	}
	status, _, body = s.post("/pipeline/producer/start", url.Values{"rate": {"20"}, "rows": {"0"}})
	if d, _ := html.Parse(strings.NewReader(body)); status != http.StatusConflict || byTestID(d, "producer-error") == nil {
		t.Fatalf("second start: %d\n%s", status, body)
	}
	mustTestID(t, s.mustGet("/pipeline"), "producer-stop-form")
	if status, _, _ := s.post("/pipeline/producer/stop", url.Values{}); status != http.StatusSeeOther || a.synth.Status().Running {
		t.Fatalf("stop: %d, running %v", status, a.synth.Status().Running)
	}

	// Pause and resume the scorer.
	if status, _, _ := s.post("/pipeline/scorer/pause", url.Values{"reason": {"maintenance"}}); status != http.StatusSeeOther {
		t.Fatalf("pause: %d", status)
	}
	doc = s.mustGet("/pipeline")
	if got := nodeText(mustTestID(t, doc, "scorer-state")); got != "paused" {
		t.Errorf("scorer state after pause = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "scorer")); !strings.Contains(got, "maintenance") {
		t.Errorf("scorer facts after pause = %q", got)
	}
	mustTestID(t, doc, "scorer-resume-form")
	if status, _, _ := s.post("/pipeline/scorer/resume", url.Values{}); status != http.StatusSeeOther {
		t.Fatalf("resume: %d", status)
	}
	uiWaitFor(t, "scoring again", 10*time.Second, func() bool { return a.pipeline.Paused() == "" && a.pipeline.ScorerStatus().Version == "1.0.0" })
	mustTestID(t, s.mustGet("/pipeline"), "scorer-pause-form")
}

func TestUIPipelineAndSchedulesNeedTheOperatorRole(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	if err := a.putUser(context.Background(), "vera", "viewer-pass", RoleViewer); err != nil {
		t.Fatal(err)
	}
	admin := uiLogin(t, a, "admin", "correct-horse")
	csv := trainCSV(t, 200)
	sched, err := a.engine.CreateSchedule(context.Background(), scheduler.Schedule{Name: "nightly", Flow: "train", Cron: "0 3 * * *",
		Params: map[string]any{"data": csv, "target": "churn", "register": false}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	v := uiLogin(t, a, "vera", "viewer-pass")
	doc := v.mustGet("/pipeline")
	mustTestID(t, doc, "flows-readonly")
	for _, id := range []string{"flow-form-train", "producer-form", "scorer-pause-form", "scorer-resume-form"} {
		if byTestID(doc, id) != nil {
			t.Errorf("a viewer sees %s", id)
		}
	}
	doc = v.mustGet("/schedules")
	mustTestID(t, doc, "schedule-nightly")
	mustTestID(t, doc, "schedules-readonly")
	if byTestID(doc, "schedule-form") != nil || findElem(mustTestID(t, doc, "schedules"), func(e *html.Node) bool { return e.Data == "form" }) != nil {
		t.Error("a viewer sees schedule forms or buttons")
	}
	doc = v.mustGet("/schedules/" + sched.ID)
	if byTestID(doc, "schedule-form") != nil || byTestID(doc, "run-now-nightly") != nil {
		t.Error("a viewer sees the edit form or buttons of a schedule")
	}
	for _, p := range []string{"/pipeline/flows/train/runs", "/pipeline/scorer/pause", "/pipeline/scorer/resume", "/pipeline/producer/start",
		"/pipeline/producer/stop", "/schedules", "/schedules/" + sched.ID, "/schedules/" + sched.ID + "/pause",
		"/schedules/" + sched.ID + "/run", "/schedules/" + sched.ID + "/delete", "/flow-runs/x/cancel"} {
		if status, _, _ := v.post(p, url.Values{"name": {"x"}, "flow": {"train"}, "cron": {"@every 1h"}}); status != http.StatusForbidden {
			t.Errorf("viewer POST %s: status %d, want 403", p, status)
		}
	}
	// Without the right CSRF token an operator's form does nothing either.
	for _, p := range []string{"/schedules/" + sched.ID + "/delete", "/pipeline/scorer/pause"} {
		if status, _, _ := admin.post(p, url.Values{"_csrf": {"forged"}}); status != http.StatusForbidden && status != http.StatusBadRequest {
			t.Errorf("forged CSRF POST %s: status %d", p, status)
		}
	}
	if _, err := a.engine.GetSchedule(context.Background(), sched.ID); err != nil {
		t.Fatalf("the schedule is gone after refused requests: %v", err)
	}
	if a.pipeline.Paused() != "" {
		t.Fatal("a refused request paused the scorer")
	}
}

func TestUISchedulesCreateEditPauseRunDelete(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/schedules")
	if got := nodeText(mustTestID(t, doc, "schedules-empty")); !strings.Contains(got, "@every 1h") || !strings.Contains(got, "drift-check") {
		t.Errorf("empty state = %q", got)
	}
	form := mustTestID(t, doc, "schedule-form")
	if got := selectedOption(fieldNamed(form, "flow")); got != "drift-check" {
		t.Errorf("the flow select defaults to %q", got)
	}
	for _, q := range []string{"training", "monitoring", "default"} {
		if !strings.Contains(nodeText(fieldNamed(form, "queue")), q) {
			t.Errorf("queue select lacks %s", q)
		}
	}

	csv := trainCSV(t, 200)
	good := func() url.Values {
		return url.Values{"name": {"hourly-train"}, "flow": {"train"}, "cron": {"@every 1h"}, "timezone": {""},
			"params": {fmt.Sprintf(`{"data": %q, "target": "churn", "register": false}`, csv)}, "enabled": {"on"},
			"catchup": {"once"}, "overlap": {"skip"}, "queue": {""}}
	}
	for _, tc := range []struct{ key, value, field, want string }{
		{"cron", "not a cron", "cron", "not a cron"},
		{"cron", "61 * * * *", "cron", "61"},
		{"cron", "@every 0s", "cron", "0s"},
		{"timezone", "Mars/Olympus", "timezone", "Mars/Olympus"},
		{"params", "{nope", "params", "JSON object"},
		{"params", `{"rounds": "many"}`, "params", "rounds"},
		{"flow", "nope", "flow", "nope"},
	} {
		f := good()
		f.Set(tc.key, tc.value)
		status, _, body := s.post("/schedules", f)
		d, _ := html.Parse(strings.NewReader(body))
		n := byTestID(d, "field-error-"+tc.field)
		if status != http.StatusBadRequest || n == nil || !strings.Contains(nodeText(n), tc.want) {
			t.Errorf("%s=%q: status %d, want 400 with %q by the %s field\n%s", tc.key, tc.value, status, tc.want, tc.field, nodeText(d))
			continue
		}
		// The form keeps what was typed.
		if got := attrOf(fieldNamed(mustTestID(t, d, "schedule-form"), "name"), "value"); got != "hourly-train" {
			t.Errorf("%s: the refused form lost the name: %q", tc.key, got)
		}
	}
	status, loc, body := s.post("/schedules", good())
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/schedules?msg=") {
		t.Fatalf("create: %d %q\n%s", status, loc, body)
	}
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flash-message")); !strings.Contains(got, "Created schedule hourly-train") {
		t.Errorf("flash = %q", got)
	}
	row := nodeText(mustTestID(t, doc, "schedule-hourly-train"))
	for _, want := range []string{"train", "@every 1h", "in 59m", "enabled", "catch-up once", "overlap skip"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	next := nodeText(mustTestID(t, doc, "next-hourly-train"))
	if _, err := time.Parse("2006-01-02 15:04:05Z", next); err != nil {
		t.Errorf("next fire time %q is not an absolute time: %v", next, err)
	}
	list, err := a.engine.Schedules(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("schedules = %v, %v", list, err)
	}
	id := list[0].ID
	page := "/schedules/" + id

	// The edit page holds the schedule's values.
	doc = s.mustGet(page)
	ef := mustTestID(t, doc, "schedule-form")
	if attrOf(ef, "action") != page || attrOf(fieldNamed(ef, "name"), "value") != "hourly-train" || attrOf(fieldNamed(ef, "cron"), "value") != "@every 1h" ||
		selectedOption(fieldNamed(ef, "catchup")) != "once" || !strings.Contains(nodeText(fieldNamed(ef, "params")), `"target": "churn"`) {
		t.Errorf("edit form not prefilled:\n%s", nodeText(ef))
	}
	mustTestID(t, doc, "schedule-runs-empty")
	f := good()
	f.Set("cron", "*/99 * * *")
	status, _, body = s.post(page, f)
	if d, _ := html.Parse(strings.NewReader(body)); status != http.StatusBadRequest || byTestID(d, "field-error-cron") == nil || byTestID(d, "schedule-facts") == nil {
		t.Fatalf("bad cron on edit: %d\n%s", status, body)
	}
	f = good()
	f.Set("cron", "30 6 * * *")
	f.Set("timezone", "Europe/Paris")
	if status, loc, _ := s.post(page, f); status != http.StatusSeeOther || !strings.HasPrefix(loc, page+"?msg=") {
		t.Fatalf("save: %d %q", status, loc)
	}
	got, err := a.engine.GetSchedule(context.Background(), id)
	if err != nil || got.Cron != "30 6 * * *" || got.Every != "" || got.Timezone != "Europe/Paris" {
		t.Fatalf("after save: %+v, %v", got, err)
	}

	// Pause and resume from the list; run now opens the run.
	if status, loc, _ := s.post(page+"/pause", url.Values{}); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/schedules?msg=") {
		t.Fatalf("pause: %d %q", status, loc)
	}
	row = nodeText(mustTestID(t, s.mustGet("/schedules"), "schedule-hourly-train"))
	if !strings.Contains(row, "paused") {
		t.Errorf("row after pause = %q", row)
	}
	mustTestID(t, s.mustGet("/schedules"), "resume-hourly-train")
	if status, _, _ := s.post(page+"/resume", url.Values{}); status != http.StatusSeeOther {
		t.Fatalf("resume: %d", status)
	}
	status, loc, _ = s.post(page+"/run", url.Values{})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow-runs/") {
		t.Fatalf("run now: %d %q", status, loc)
	}
	r := waitFlowRunEnded(t, a, strings.TrimPrefix(loc, "/flow-runs/"))
	if r.State != scheduler.StateCompleted {
		t.Errorf("scheduled run: %s %s", r.State, r.Error)
	}
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flow-run-facts")); !strings.Contains(got, "hourly-train") {
		t.Errorf("the run does not link its schedule: %q", got)
	}
	doc = s.mustGet(page)
	if got := nodeText(mustTestID(t, doc, "flow-run-"+r.ID)); !strings.Contains(got, "completed") {
		t.Errorf("history row = %q", got)
	}
	if got := nodeText(mustTestID(t, s.mustGet("/schedules"), "schedule-hourly-train")); !strings.Contains(got, r.ID) {
		t.Errorf("the list does not show the last run: %q", got)
	}
	status, _, frag := s.get(page + "?fragment=1")
	if status != http.StatusOK || !strings.Contains(frag, "flow-run-"+r.ID) || strings.Contains(frag, "<html") {
		t.Errorf("schedule fragment: %d\n%s", status, frag)
	}

	// Delete.
	if status, loc, _ := s.post(page+"/delete", url.Values{}); status != http.StatusSeeOther || !strings.Contains(loc, "Deleted") {
		t.Fatalf("delete: %d %q", status, loc)
	}
	mustTestID(t, s.mustGet("/schedules"), "schedules-empty")
	if status, _, _ := s.get(page); status != http.StatusNotFound {
		t.Errorf("a deleted schedule's page: %d", status)
	}
	if status, _, _ := s.post(page+"/pause", url.Values{}); status != http.StatusNotFound {
		t.Errorf("pausing a deleted schedule: %d", status)
	}
}
