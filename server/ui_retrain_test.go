package server

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"driftd/registry"
	"driftd/server/flows"
	"driftd/web"
)

// mustRecordDecisions records retrain decisions as the trigger does, oldest
// first, so the last one given is the newest.
func mustRecordDecisions(tb testing.TB, a *testApp, ds ...RetrainDecision) {
	tb.Helper()
	a.retrain.mu.Lock()
	defer a.retrain.mu.Unlock()
	for _, d := range ds {
		a.retrain.record(d)
	}
}

// score returns a pointer to a metric value.
func score(f float64) *float64 { return &f }

// mustPendingChallenger registers 1.0.0 (deployed to the scoring
// environment) and 1.1.0 of the scored model, points the challenger alias
// at 1.1.0 and records the retrain decision that left it waiting, as a
// retrain with DRIFTD_PROMOTION=manual does.
func mustPendingChallenger(tb testing.TB, a *testApp) {
	tb.Helper()
	ctx := registry.WithUser(context.Background(), "trainer")
	name := a.cfg.ModelName
	registerUIModel(tb, a, name, "1.0.0", 1)
	registerUIModel(tb, a, name, "1.1.0", 2)
	if err := a.store.Deploy(ctx, name, "1.0.0", a.cfg.ScoringEnvironment, "first release"); err != nil {
		tb.Fatal(err)
	}
	if err := a.store.SetAlias(ctx, name, flows.ChallengerAlias, "1.1.0", "retrain passed the gate"); err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	mustRecordDecisions(tb, a,
		RetrainDecision{At: now.Add(-2 * time.Minute), Model: name, Outcome: RetrainTriggered, RunID: "run-7",
			Reason: "max PSI 0.412 > RETRAIN_THRESHOLD 0.15 (x1=0.412)", MaxPSI: 0.412, Features: "x1=0.412"},
		RetrainDecision{At: now.Add(-time.Minute), Model: name, Outcome: RetrainPendingApproval, RunID: "run-7", Version: "1.1.0",
			Reason: "challenger auc 0.8456 beats champion 0.7123 by more than 0.005", Metric: "auc",
			Champion: score(0.7123), Challenger: score(0.8456)})
}

func TestUIRetrainDecisionsOnDriftAndOverview(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")

	// Before any decision both pages say what will happen.
	doc := s.mustGet("/drift")
	if got := nodeText(mustTestID(t, doc, "retrain-empty")); !strings.Contains(got, "RETRAIN_THRESHOLD 0.15") || !strings.Contains(got, "500 labelled records") {
		t.Errorf("Drift empty state = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "retrain-mode")); !strings.Contains(got, "retrain auto") || !strings.Contains(got, "promotion auto") || !strings.Contains(got, "cooldown 10m") {
		t.Errorf("mode line = %q", got)
	}
	mustTestID(t, s.mustGet("/"), "overview-retrain-empty")
	if byTestID(doc, "retrain-pending") != nil {
		t.Error("a pending approval is shown with no challenger alias")
	}

	name := a.cfg.ModelName
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mustRecordDecisions(t, a,
		RetrainDecision{At: base, Model: name, Outcome: RetrainSkippedLabels, Reason: "120 labelled records since the drift began 40s ago; DRIFTD_RETRAIN_MIN_LABELS is 500", MaxPSI: 0.31, Features: "x1=0.310"},
		RetrainDecision{At: base.Add(time.Minute), Model: name, Outcome: RetrainTriggered, Reason: "max PSI 0.412 > RETRAIN_THRESHOLD 0.15 (x1=0.412,x2=0.200)", MaxPSI: 0.412, Features: "x1=0.412,x2=0.200", RunID: "run-1"},
		RetrainDecision{At: base.Add(2 * time.Minute), Model: name, Outcome: RetrainPromoted, Reason: "challenger auc 0.91 beats champion 0.74", RunID: "run-1", Version: "2", Metric: "auc", Champion: score(0.74), Challenger: score(0.91)},
		RetrainDecision{At: base.Add(3 * time.Minute), Model: name, Outcome: RetrainSkippedCooldown, Reason: "the last retrain started 2m0s ago; DRIFTD_RETRAIN_COOLDOWN is 10m0s"},
		RetrainDecision{At: base.Add(4 * time.Minute), Model: name, Outcome: RetrainRejected, Reason: "challenger auc 0.70 is not better than champion 0.74", RunID: "run-2", Version: "3", Metric: "auc", Champion: score(0.74), Challenger: score(0.70)},
		RetrainDecision{At: base.Add(5 * time.Minute), Model: name, Outcome: RetrainFailed, Reason: "retrain run failed: boom", RunID: "run-3"},
		RetrainDecision{At: base.Add(6 * time.Minute), Model: name, Outcome: RetrainSkippedRunning, Reason: "retrain run run-4 is still running", RunID: "run-4"},
	)

	doc = s.mustGet("/drift")
	rows := allByTestID(mustTestID(t, doc, "retrain-decisions"), "decision")
	if len(rows) != 7 {
		t.Fatalf("Drift lists %d decisions, want 7:\n%s", len(rows), nodeText(doc))
	}
	wantClass := map[string]string{RetrainSkippedRunning: "badge skipped", RetrainFailed: "badge bad", RetrainRejected: "badge bad",
		RetrainSkippedCooldown: "badge skipped", RetrainPromoted: "badge ok", RetrainTriggered: "badge info", RetrainSkippedLabels: "badge skipped"}
	for i, want := range []string{RetrainSkippedRunning, RetrainFailed, RetrainRejected, RetrainSkippedCooldown, RetrainPromoted, RetrainTriggered, RetrainSkippedLabels} {
		if got := attrOf(rows[i], "data-outcome"); got != want {
			t.Errorf("row %d outcome = %q, want %q (newest first)", i, got, want)
		}
		if got := attrOf(mustTestID(t, rows[i], "decision-outcome"), "class"); got != wantClass[want] {
			t.Errorf("%s badge class = %q, want %q", want, got, wantClass[want])
		}
	}
	promoted := nodeText(rows[4])
	for _, want := range []string{"2026-03-01 12:02:00Z", "promoted", "challenger auc 0.91 beats champion 0.74", "auc 0.74 → 0.91", "challenger 2", "run-1"} {
		if !strings.Contains(promoted, want) {
			t.Errorf("promoted row %q lacks %q", promoted, want)
		}
	}
	if got := nodeText(rows[5]); !strings.Contains(got, "max PSI 0.412 (x1=0.412, x2=0.200)") {
		t.Errorf("triggered row = %q, want the drift that triggered it", got)
	}
	if href := attrOf(mustElement(t, rows[5], "a"), "href"); href != "/flow-runs/run-1" {
		t.Errorf("run link = %q, want /flow-runs/run-1", href)
	}

	// The live fragment answers the same table.
	status, frag, body := s.get("/drift?fragment=retrain&shown=")
	if status != http.StatusOK || len(allByTestID(frag, "decision")) != 7 || byTestID(frag, "retrain-changed") != nil {
		t.Fatalf("retrain fragment: %d\n%s", status, body)
	}

	// The Overview shows the last five, linking to the Drift page.
	doc = s.mustGet("/")
	list := mustTestID(t, doc, "overview-decisions")
	items := allByTestID(list, "decision")
	if len(items) != overviewDecisions {
		t.Fatalf("Overview lists %d decisions, want %d", len(items), overviewDecisions)
	}
	if got := nodeText(items[0]); !strings.Contains(got, "skipped: running") || !strings.Contains(got, "retrain run run-4 is still running") || !strings.Contains(got, "2026-03-01 12:06:00Z") {
		t.Errorf("newest decision on the Overview = %q", got)
	}
	if href := attrOf(mustElement(t, items[0], "a"), "href"); href != "/drift#retrain" {
		t.Errorf("Overview decision links to %q, want /drift#retrain", href)
	}
}

func TestUIApproveChallenger(t *testing.T) {
	cfg := testConfig(t)
	cfg.Promotion = "manual"
	a := mustStartApp(t, cfg)
	name, env := a.cfg.ModelName, a.cfg.ScoringEnvironment
	mustPendingChallenger(t, a)
	ctx := context.Background()
	if err := a.putUser(ctx, "olga", "operator-pass", RoleOperator); err != nil {
		t.Fatal(err)
	}
	if err := a.putUser(ctx, "vera", "viewer-pass", RoleViewer); err != nil {
		t.Fatal(err)
	}
	deployed := func() string {
		t.Helper()
		v, err := a.store.Deployed(ctx, name, env)
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}

	// A viewer sees the waiting challenger but no button, and cannot approve.
	v := uiLogin(t, a, "vera", "viewer-pass")
	for _, p := range []string{"/drift", "/"} {
		doc := v.mustGet(p)
		mustTestID(t, doc, "retrain-pending")
		mustTestID(t, doc, "approve-readonly")
		if byTestID(doc, "approve-form") != nil {
			t.Errorf("%s shows a viewer the approve form", p)
		}
	}
	status, _, _ := v.post("/models/"+name+"/approve", url.Values{"version": {"1.1.0"}, "reason": {"looks good"}})
	if status != http.StatusForbidden {
		t.Errorf("viewer approve: status %d, want 403", status)
	}

	// An operator sees the challenger, its figures and the form, on both pages.
	o := uiLogin(t, a, "olga", "operator-pass")
	doc := o.mustGet("/drift")
	pending := nodeText(mustTestID(t, doc, "retrain-pending"))
	for _, want := range []string{"Challenger 1.1.0 waits for approval", "1.0.0 serves in production", "run-7"} {
		if !strings.Contains(pending, want) {
			t.Errorf("pending panel %q lacks %q", pending, want)
		}
	}
	if got := nodeText(mustTestID(t, doc, "pending-scores")); got != "auc champion 0.7123 → challenger 0.8456" {
		t.Errorf("pending scores = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "pending-reason")); !strings.Contains(got, "beats champion") {
		t.Errorf("pending reason = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "pending-metrics")); !strings.Contains(got, "train_loss") {
		t.Errorf("pending metrics = %q, want the version's recorded metrics", got)
	}
	if got := nodeText(mustTestID(t, doc, "retrain-mode")); !strings.Contains(got, "promotion manual") {
		t.Errorf("mode line = %q", got)
	}
	csrf := formCSRF(t, doc, "approve-form")
	mustTestID(t, o.mustGet("/"), "approve-form")

	approve := func(form url.Values) (int, string, *html.Node, string) {
		t.Helper()
		form.Set("_csrf", csrf)
		status, loc, body := o.post("/models/"+name+"/approve", form)
		doc, err := html.Parse(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return status, loc, doc, body
	}
	cases := []struct {
		name       string
		form       url.Values
		status     int
		page, want string
	}{
		{"no reason", url.Values{"version": {"1.1.0"}, "reason": {"  "}, "back": {"/drift"}}, http.StatusBadRequest, "page-drift", "reason: required"},
		{"no reason from the Overview", url.Values{"version": {"1.1.0"}, "back": {"/"}}, http.StatusBadRequest, "page-overview", "reason: required"},
		{"not the challenger", url.Values{"version": {"1.0.0"}, "reason": {"try"}, "back": {"/drift"}}, http.StatusConflict, "page-drift", "the challenger waiting for approval is 1.1.0, not 1.0.0"},
		{"unknown environment", url.Values{"version": {"1.1.0"}, "reason": {"try"}, "environment": {"moon"}}, http.StatusBadRequest, "page-drift", "moon"},
	}
	for _, tc := range cases {
		status, _, doc, body := approve(tc.form)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d\n%s", tc.name, status, tc.status, body)
			continue
		}
		mustTestID(t, doc, tc.page)
		if got := nodeText(mustTestID(t, doc, "flash-error")); !strings.Contains(got, tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.name, got, tc.want)
		}
		// The form is there again, with what was typed.
		if got := attrOf(mustTestID(t, doc, "approve-reason"), "value"); got != strings.TrimSpace(tc.form.Get("reason")) {
			t.Errorf("%s: reason field refilled with %q", tc.name, got)
		}
	}
	if got := deployed(); got != "1.0.0" {
		t.Fatalf("a refused approval deployed %s", got)
	}

	// The approval deploys the challenger with the reason and returns to
	// the page it came from; a back outside the two pages is ignored.
	status, loc, _, body := approve(url.Values{"version": {"1.1.0"}, "reason": {"beats the champion on the new concept"}, "back": {"https://evil.example/"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/drift?msg=") {
		t.Fatalf("approve: %d %q\n%s", status, loc, body)
	}
	if got := deployed(); got != "1.1.0" {
		t.Fatalf("deployed after approval = %s, want 1.1.0", got)
	}
	if _, err := a.store.AliasVersion(ctx, name, flows.ChallengerAlias); err == nil {
		t.Error("the challenger alias stays after the approval")
	}
	h, err := a.store.History(ctx, registry.HistoryQuery{Model: name})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range h {
		if e.Action == registry.ActionDeploy && e.To == "1.1.0" && e.Environment == env {
			found = true
			if e.Reason != "beats the champion on the new concept" || e.User != "olga" {
				t.Errorf("deploy event = %+v, want olga's reason", e)
			}
		}
	}
	if !found {
		t.Fatalf("no deploy of 1.1.0 in the history: %+v", h)
	}
	doc = o.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flash-message")); !strings.Contains(got, "Approved challenger 1.1.0") {
		t.Errorf("flash after approval = %q", got)
	}
	if byTestID(doc, "retrain-pending") != nil {
		t.Error("the Drift page still shows a pending approval")
	}
	// The live table of a page that showed 1.1.0 says it no longer waits.
	_, frag, _ := o.get("/drift?fragment=retrain&shown=1.1.0")
	if got := nodeText(mustTestID(t, frag, "retrain-changed")); !strings.Contains(got, "1.1.0 no longer waits") {
		t.Errorf("live table after the approval says %q", got)
	}
	// Approving again: nothing waits any more.
	status, _, doc, _ = approve(url.Values{"version": {"1.1.0"}, "reason": {"again"}, "back": {"/"}})
	if status != http.StatusConflict || !strings.Contains(nodeText(mustTestID(t, doc, "flash-error")), "no challenger") {
		t.Errorf("second approval: status %d, error %q", status, nodeText(doc))
	}
}

func TestUIDemoBanner(t *testing.T) {
	// The banner's words for each phase, rendered by the layout itself.
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		demo web.DemoBanner
		want string
	}{
		{"next shift", web.DemoBanner{Phase: "streaming", NextShiftAt: at, NextShiftIn: 80 * time.Second}, "streaming concept 0, next shift in 1m20s"},
		{"shifted", web.DemoBanner{Phase: "shifted: concept 2", Shifted: true, Concept: 2, Shifts: 2}, "shifted to concept 2, waiting for the retrain"},
		{"training", web.DemoBanner{Phase: "training"}, "training the first model on synthetic data"},
		{"retrying", web.DemoBanner{Phase: "training failed, retrying", Error: "broker down"}, "training failed, retrying: broker down"},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		ctx := templ.WithChildren(context.Background(), templ.Raw("<p>body</p>"))
		if err := web.Layout(web.Page{Active: "overview", Title: "Overview", Demo: &tc.demo}).Render(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(&buf)
		if err != nil {
			t.Fatal(err)
		}
		banner := nodeText(mustTestID(t, doc, "demo-banner"))
		if !strings.Contains(banner, "Demo mode — driftd is training, streaming and shifting synthetic data by itself") || !strings.Contains(banner, tc.want) {
			t.Errorf("%s: banner = %q, want %q", tc.name, banner, tc.want)
		}
		if href := attrOf(mustTestID(t, doc, "demo-drift-link"), "href"); href != "/drift#retrain" {
			t.Errorf("%s: banner links to %q", tc.name, href)
		}
	}

	// Without demo mode no page has the banner.
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	for _, p := range []string{"/", "/drift", "/models"} {
		if byTestID(s.mustGet(p), "demo-banner") != nil {
			t.Errorf("%s shows the demo banner without demo mode", p)
		}
	}

	// In demo mode every page has it, and the Overview the demo's status.
	cfg := testConfig(t)
	cfg.Demo = true
	cfg.DemoRate, cfg.DemoShiftAfter, cfg.DemoRepeat = 20, time.Hour, time.Hour
	d := mustStartApp(t, cfg)
	s = uiLogin(t, d, "admin", "correct-horse")
	for _, p := range []string{"/", "/drift", "/models", "/settings"} {
		doc := s.mustGet(p)
		if got := nodeText(mustTestID(t, doc, "demo-banner")); !strings.Contains(got, "Demo mode") {
			t.Errorf("%s: banner = %q", p, got)
		}
	}
	mustTestID(t, s.mustGet("/"), "overview-demo")
}

// TestBrowserRetrainLoop runs the demo with DRIFTD_PROMOTION=manual in
// headless Chromium until a real retrain leaves a challenger waiting, shows
// the Drift page and the Overview with the banner, the decisions and the
// pending approval (screenshots at 1400 and 390 px into $DRIFTD_SCREENSHOTS),
// approves the challenger from the Overview through the confirm dialog, and
// sees the demo move on.
func TestBrowserRetrainLoop(t *testing.T) {
	b := mustBrowser(t, 6*time.Minute)
	cfg := testConfig(t)
	cfg.Demo = true
	cfg.DemoRate, cfg.DemoLabelDelay, cfg.DemoShiftAfter, cfg.DemoRepeat = 200, time.Second, 10*time.Second, time.Hour
	cfg.DriftWindowSize, cfg.DriftCheckInterval, cfg.DriftMinWindow = 300, 50, 100
	// One retrain: a second one would replace the waiting challenger while
	// the test looks at it.
	cfg.RetrainMinLabels, cfg.RetrainCooldown, cfg.RetrainLookback = 300, 10*time.Minute, time.Minute
	cfg.Promotion = "manual"
	a := mustStartApp(t, cfg)
	ctx := context.Background()

	b.signIn(a.base, "demo-banner")
	if got := b.text(tid("demo-state")); !strings.Contains(got, "Now:") {
		t.Errorf("banner state at start = %q", got)
	}

	var challenger string
	uiWaitFor(t, "the demo's retrain to leave a challenger waiting for approval", 4*time.Minute, func() bool {
		v, err := a.store.AliasVersion(ctx, cfg.ModelName, flows.ChallengerAlias)
		challenger = v.Version
		return err == nil
	})
	champion, err := a.store.Deployed(ctx, cfg.ModelName, cfg.ScoringEnvironment)
	if err != nil {
		t.Fatal(err)
	}

	b.step("open Drift", chromedp.Navigate(a.base+"/drift"), chromedp.WaitVisible(tid("approve-form")), chromedp.WaitVisible(tid("decision")))
	if got := b.text(tid("demo-state")); !strings.Contains(got, "shifted to concept 1, waiting for the retrain") {
		t.Errorf("banner after the shift = %q", got)
	}
	if got := b.text(tid("retrain-pending")); !strings.Contains(got, "Challenger "+challenger+" waits for approval") {
		t.Errorf("pending panel = %q", got)
	}
	if got := b.text(tid("retrain-decisions")); !strings.Contains(got, "pending approval") || !strings.Contains(got, "triggered") {
		t.Errorf("decisions = %q, want the trigger and the pending approval", got)
	}
	b.screenshots("retrain-drift")

	b.step("open the Overview", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(tid("retrain-loop")), chromedp.WaitVisible(tid("approve-form")))
	b.screenshots("retrain-overview")

	// Approve: the form asks first; accept the dialog from another goroutine.
	asked := make(chan string, 1)
	go func() {
		for ev, err := range chromedp.Events(b.ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			select {
			case asked <- ev.Message:
			default:
			}
			if _, err := chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	b.step("approve the challenger",
		chromedp.SendKeys(tid("approve-reason"), "wins on the shifted concept"),
		chromedp.Click(tid("approve-submit")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash-message"], [data-testid="flash-error"]`)))
	if got := b.text(chromedp.CSS(`.flash`)); !strings.Contains(got, "Approved challenger "+challenger) {
		t.Fatalf("after approving: %q", got)
	}
	select {
	case q := <-asked:
		if want := "Deploy challenger " + challenger + " of " + cfg.ModelName + " to " + cfg.ScoringEnvironment + "?"; q != want {
			t.Errorf("confirm dialog asked %q, want %q", q, want)
		}
	default:
		t.Error("the approve form did not ask for confirmation")
	}
	if loc := b.location(); !strings.HasPrefix(loc, a.base+"/?msg=") {
		t.Errorf("after approving the browser is at %s, want the Overview", loc)
	}
	v, err := a.store.Deployed(ctx, cfg.ModelName, cfg.ScoringEnvironment)
	if err != nil || v.Version != challenger {
		t.Fatalf("deployed after approval = %q (%v), want %s (was %s)", v.Version, err, challenger, champion.Version)
	}
	// The demo sees the promotion and plans its next shift.
	uiWaitFor(t, "the demo to see the promotion", 20*time.Second, func() bool {
		return a.demo.Status().LastPromotion == challenger
	})
	b.step("open Drift again", chromedp.Navigate(a.base+"/drift"), chromedp.WaitVisible(tid("demo-banner")))
	if got := b.text(tid("demo-state")); !strings.Contains(got, "next shift in") {
		t.Errorf("banner after the promotion = %q", got)
	}
	b.screenshots("retrain-drift-approved")
}

// mustElement returns the first element named tag under n, or fails the test.
func mustElement(tb testing.TB, n *html.Node, tag string) *html.Node {
	tb.Helper()
	var find func(*html.Node) *html.Node
	find = func(n *html.Node) *html.Node {
		if n.Type == html.ElementNode && n.Data == tag {
			return n
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if f := find(c); f != nil {
				return f
			}
		}
		return nil
	}
	f := find(n)
	if f == nil {
		tb.Fatalf("no <%s> in %q", tag, nodeText(n))
	}
	return f
}
