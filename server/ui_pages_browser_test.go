package server

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"driftd/registry"
)

// consoleLog collects what the pages of a browser session write to the
// console at the error level (console.error, uncaught exceptions, failed
// requests in the browser log).
type consoleLog struct {
	mu     sync.Mutex
	errors []string
}

// watchConsole starts collecting the console errors of b's tab.
func watchConsole(b *browserSession) *consoleLog {
	l := &consoleLog{}
	msgs := chromedp.Console(b.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				l.mu.Lock()
				l.errors = append(l.errors, m.String()+" ("+m.URL+")")
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// take returns the errors collected since the last call and forgets them.
func (l *consoleLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.errors
	l.errors = nil
	return out
}

// pageCheck is one page the layout test visits: where, what proves it
// rendered, and the HTTP status its document answers with.
type pageCheck struct {
	name, path, ready string
	status            int
}

// screenshotDir is where browser tests save screenshots: $DRIFTD_SCREENSHOTS,
// or the test's artifact directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("DRIFTD_SCREENSHOTS"); d != "" {
		return d
	}
	return t.ArtifactDir()
}

// TestBrowserEveryPageFits visits every page of the UI, with data in it, at
// 1400 px and at 390 px (a phone) and asserts that no document is wider
// than the screen and that no page wrote an error to the console (the error
// pages excepted, whose own status the browser logs). It saves a screenshot
// of each page at each width. A viewer then tries a mutation from a real
// form and gets the 403 page in HTML.
func TestBrowserEveryPageFits(t *testing.T) {
	b := mustBrowser(t, 240*time.Second)
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(t, cfg)
	name := a.cfg.ModelName
	registerUIModel(t, a, name, "1.0.0", 1)
	registerUIModel(t, a, name, "1.1.0", 2)
	ctx := registry.WithUser(context.Background(), "admin")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if err := a.store.Deploy(ctx, name, v, a.cfg.ScoringEnvironment, "browser test "+v); err != nil {
			t.Fatal(err)
		}
	}
	a.apiJSON(t, http.MethodPost, "/api/v1/users", map[string]string{"username": "vic", "password": "viewer-password", "role": "viewer"}, http.StatusCreated, nil)
	s := uiLogin(t, a, "admin", "correct-horse")
	status, loc, body := s.post("/pipeline/flows/train/runs", url.Values{"param.data": {trainCSV(t, 300)}, "param.target": {"churn"},
		"param.model": {"ui-flow-model"}, "param.register": {"true"}, "param.algo": {"gbdt"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/flow-runs/") {
		t.Fatalf("submit train: %d %q\n%s", status, loc, body)
	}
	flowRun := strings.TrimPrefix(loc, "/flow-runs/")
	waitFlowRunEnded(t, a, flowRun)
	if status, _, body := s.post("/schedules", url.Values{"name": {"hourly-drift"}, "flow": {"drift-check"}, "cron": {"@every 1h"},
		"params": {`{"live": true}`}, "enabled": {"on"}, "catchup": {"once"}, "overlap": {"skip"}}); status != http.StatusSeeOther {
		t.Fatalf("create schedule: %d\n%s", status, body)
	}
	scheds, err := a.engine.Schedules(ctx)
	if err != nil || len(scheds) != 1 {
		t.Fatalf("%d schedules: %v", len(scheds), err)
	}
	exps, err := a.store.ListExperiments(ctx)
	if err != nil || len(exps) == 0 {
		t.Fatalf("experiments after a train run: %v %v", exps, err)
	}
	runs, err := a.store.SearchRuns(ctx, registry.RunQuery{ExperimentID: exps[0].ID})
	if err != nil || len(runs) == 0 {
		t.Fatalf("runs after a train run: %v %v", runs, err)
	}
	other := mustRun(t, a, exps[0].ID, sweepParams(20, "0.3"), 20, 0.7)
	uiWaitFor(t, "the pipeline to load 1.1.0", 10*time.Second, func() bool {
		v, ok := a.pipeline.Drift()
		return ok && v.Version == "1.1.0"
	})
	produceShifted(t, a, 60)
	uiWaitFor(t, "a drift check", 20*time.Second, func() bool {
		v, _ := a.pipeline.Drift()
		return !v.Event.Time.IsZero()
	})

	pages := []pageCheck{
		{"overview", "/", "scored", 200},
		{"pipeline", "/pipeline", "queues", 200},
		{"flow-run", "/flow-runs/" + flowRun, "flow-run-state", 200},
		{"flow-run-logs-filtered", "/flow-runs/" + flowRun + "?level=info&q=round", "log-summary", 200},
		{"flow-runs", "/flow-runs", "flow-runs", 200},
		{"training", "/training", "loss-curve", 200},
		{"training-columns", "/training?data=" + url.QueryEscape(trainCSV(t, 20)), "target-select", 200},
		{"experiments", "/experiments", "experiment-" + exps[0].ID, 200},
		{"experiment", "/experiments/" + exps[0].ID, "runs", 200},
		{"run", "/runs/" + runs[0].ID, "params", 200},
		{"runs-sorted", "/experiments/" + exps[0].ID + "?sort=" + url.QueryEscape("metrics.valid_loss asc"), "runs", 200},
		{"compare", "/runs/compare?id=" + runs[0].ID + "&id=" + other, "compare-params", 200},
		{"models", "/models", "models", 200},
		{"model", "/models/" + name, "versions", 200},
		{"version", "/models/" + name + "/versions/1.1.0", "version-facts", 200},
		{"drift", "/drift", "drift-features", 200},
		{"kafka", "/kafka", "lag-charts", 200}, // the lag charts load into the page
		{"kafka-lag", "/kafka/lag?range=1h", "lag-charts", 200},
		{"topic", "/kafka/topics/" + a.pipeline.Topics().Features, "messages", 200},
		{"topic-partition", "/kafka/topics/" + a.pipeline.Topics().Features + "?partition=1&limit=10", "pager-older", 200},
		{"topic-filter", "/kafka/topics/" + a.pipeline.Topics().Features + "?limit=20&filter=" + url.QueryEscape("plan = pro and x1 > 0"), "browse-filter", 200},
		{"topic-events", "/kafka/topics/" + a.pipeline.Topics().DriftEvents, "messages", 200},
		{"schedules", "/schedules", "schedule-hourly-drift", 200},
		{"schedule", "/schedules/" + scheds[0].ID, "schedule-form", 200},
		{"settings", "/settings", "config", 200},
		{"not-found", "/no/such/page", "error-message", 404},
		{"model-not-found", "/models/nope", "error-message", 404},
	}
	b.signIn(a.base, "build-version")
	console := watchConsole(b)
	dir := screenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range []int64{1400, 390} {
		b.step("resize to "+itoa64(w), viewport(w))
		for _, p := range pages {
			what := p.name + " at " + itoa64(w) + " px"
			b.step("open "+what, chromedp.Navigate(a.base+p.path), chromedp.WaitVisible(tid(p.ready)))
			checkPageFits(b, what, w)
			if errs := console.take(); p.status == 200 && len(errs) > 0 {
				t.Errorf("%s: console errors: %q", what, errs)
			}
			if p.status != 200 {
				if got := b.text(tid("error-status")); !strings.Contains(got, itoa64(int64(p.status))) {
					t.Errorf("%s: error status heading = %q", what, got)
				}
				b.step("see the layout on "+what, chromedp.WaitReady(tid("nav")))
			}
			shot(b, dir, p.name+"-"+itoa64(w))
		}
	}
	// The training form follows the algorithm and reads the data file's
	// columns as the path is typed (still at 390 px).
	b.step("open the training form", chromedp.Navigate(a.base+"/training"), chromedp.WaitVisible(tid("training-form")))
	b.step("choose logistic regression", chromedp.SetValue(chromedp.CSS(`select[name="algo"]`), "logistic"))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector('select[name="algo"]').dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	b.step("see only the logistic parameters", chromedp.WaitVisible(tid("group-logistic")), chromedp.WaitNotVisible(tid("group-gbdt")))
	b.step("type a data path", chromedp.SendKeys(chromedp.CSS(`input[name="data"][data-columns-source]:not([type="file"])`), trainCSV(t, 20)+"\t"),
		chromedp.WaitVisible(tid("target-select")))
	if got := b.text(tid("columns-status")); !strings.Contains(got, "4 columns") {
		t.Errorf("columns status after typing a path: %q", got)
	}
	checkPageFits(b, "training form with logistic at 390 px", 390)
	if errs := console.take(); len(errs) > 0 {
		t.Errorf("training form: console errors: %q", errs)
	}
	shot(b, dir, "training-logistic-390")

	// At 390 px the navigation is folded behind the Menu button.
	b.step("open the overview on the phone", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(tid("nav-toggle")))
	if vis, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector('[data-testid="nav"]')).display !== "none"`)); err != nil || vis {
		t.Errorf("the navigation shows before the Menu button is pressed (%v)", err)
	}
	b.step("unfold the menu", chromedp.Click(tid("nav-toggle")), chromedp.WaitVisible(tid("nav-drift")))
	shot(b, dir, "menu-open-390")
	b.step("follow a menu link", chromedp.Click(tid("nav-drift")), chromedp.WaitVisible(tid("drift-features")))
	_ = console.take()

	// A viewer's mutation from a real form answers the 403 page, in the layout.
	b.step("back to 1400 px", chromedp.EmulateViewport(1400, 900))
	b.step("sign out", chromedp.Navigate(a.base+"/"), chromedp.Click(chromedp.CSS(`form.logout button`)), chromedp.WaitVisible(tid("login-form")))
	b.step("sign in as a viewer",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "vic"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "viewer-password"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("build-version")))
	// The viewer's page offers no Produce form, so the test adds one the way
	// a stale tab or a crafted page would: same origin, the viewer's CSRF token.
	b.step("open a topic as the viewer", chromedp.Navigate(a.base+"/kafka/topics/"+a.pipeline.Topics().Features), chromedp.WaitVisible(tid("browse-form")))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(function(){
		var f = document.createElement("form"); f.method = "post"; f.action = location.pathname + "/produce";
		var c = document.createElement("input"); c.name = "_csrf"; c.value = document.querySelector('form.logout input[name="_csrf"]').value; f.appendChild(c);
		var v = document.createElement("input"); v.name = "value"; v.value = "{}"; f.appendChild(v);
		document.body.appendChild(f); f.submit(); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	b.step("see the 403 page", chromedp.WaitVisible(tid("error-status")))
	if got := b.text(tid("error-status")); !strings.Contains(got, "403") || !strings.Contains(got, "Forbidden") {
		t.Errorf("viewer mutation: error heading %q", got)
	}
	if got := b.text(tid("error-message")); !strings.Contains(got, "operator") {
		t.Errorf("viewer mutation: error message %q", got)
	}
	if got := b.text(tid("current-user")); !strings.Contains(got, "vic") {
		t.Errorf("403 page header user = %q", got)
	}
	shot(b, dir, "forbidden-1400")

	// The Overview of an empty install: the start-here path, on a laptop
	// and on the phone (a second server; its session cookie replaces the
	// first one's, so this comes last).
	empty := mustStartApp(t, testConfig(t))
	b.step("sign in to an empty install",
		chromedp.Navigate(empty.base+"/login"),
		chromedp.WaitVisible(tid("login-form")),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct-horse"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("start-here")), chromedp.WaitVisible(tid("sample-train")))
	_ = console.take()
	for _, w := range []int64{1400, 390} {
		if w == 390 {
			b.step("resize the empty install to 390", chromedp.EmulateViewport(w, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile),
				chromedp.Navigate(empty.base+"/"), chromedp.WaitVisible(tid("start-here")))
		}
		checkPageFits(b, "empty overview at "+itoa64(w)+" px", w)
		shot(b, dir, "overview-empty-"+itoa64(w))
	}
	if errs := console.take(); len(errs) > 0 {
		t.Errorf("empty overview: console errors: %q", errs)
	}
}

// checkPageFits fails the test when the document is wider than the
// viewport of width w.
func checkPageFits(b *browserSession, what string, w int64) {
	b.t.Helper()
	sizes, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]float64](`[document.documentElement.scrollWidth, window.innerWidth, document.querySelector("header").getBoundingClientRect().width]`))
	if err != nil {
		b.t.Fatalf("%s: measure: %v", what, err)
	}
	if sizes[0] > float64(w) || sizes[0] > sizes[1] {
		b.t.Errorf("%s: the document is %v px wide, the viewport %v px", what, sizes[0], sizes[1])
	}
	if sizes[2] < sizes[0] {
		b.t.Errorf("%s: the header is %v px wide, the document %v px", what, sizes[2], sizes[0])
	}
}

// shot saves a full-page screenshot of the current page as dir/name.png.
func shot(b *browserSession, dir, name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
