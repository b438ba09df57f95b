package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"driftd/registry"
)

// browserSession is a headless Chromium tab driven by a test.
type browserSession struct {
	t   *testing.T
	ctx context.Context
}

// mustBrowser starts headless Chromium for a browser test: skipped without
// DRIFTD_INTEGRATION, failed (not skipped) when it is set and Chromium is
// missing. The browser stops when the test ends.
func mustBrowser(t *testing.T, timeout time.Duration) *browserSession {
	t.Helper()
	if os.Getenv("DRIFTD_INTEGRATION") == "" {
		t.Skip("set DRIFTD_INTEGRATION=1 to drive headless Chromium")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("DRIFTD_INTEGRATION is set but %s is missing (apt-get install chromium): %v", chromiumPath, err)
	}
	// A temp profile outside t.TempDir: Chromium's crashpad helper may still
	// write there for a moment after the browser exits.
	profile, err := os.MkdirTemp("", "driftd-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeProfile(t, profile) })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancel() })
	// Start the browser on bctx itself: a browser started by a step's
	// shorter-lived child context would end with that step.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return &browserSession{t: t, ctx: bctx}
}

// tid selects the element with data-testid=id.
func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// step runs actions within 30 seconds or fails the test with what was
// being done and the text of the page it was on.
func (b *browserSession) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, b.pageText())
	}
}

// signIn signs in as the tests' admin on base's login page and waits for
// the element ready of the page it lands on.
func (b *browserSession) signIn(base, ready string) {
	b.t.Helper()
	b.step("sign in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(tid("login-form")),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct-horse"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid(ready)))
}

// viewport sets the viewport to a laptop's 1400 px or a phone's 390 px
// (portrait, mobile).
func viewport(w int64) chromedp.Action[chromedp.Void] {
	if w == 390 {
		return chromedp.EmulateViewport(w, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(w, 900)
}

// pageText is the visible text of the current page, for failure messages.
func (b *browserSession) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// text returns the text of the element matching sel.
func (b *browserSession) text(sel chromedp.CSS) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// waitJS waits until a JavaScript expression is truthy.
func (b *browserSession) waitJS(what, expr string, timeout time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		b.t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, b.pageText())
	}
}

// location returns the current URL.
func (b *browserSession) location() string {
	b.t.Helper()
	u, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// screenshots takes full-page screenshots of the current page at 1400 and
// 390 pixels wide into $DRIFTD_SCREENSHOTS (nothing is written when it is
// unset), and fails when the page is wider than the 390 px screen.
func (b *browserSession) screenshots(name string) {
	b.t.Helper()
	dir := os.Getenv("DRIFTD_SCREENSHOTS")
	for _, w := range []int64{1400, 390} {
		// A phone: portrait, overlay scrollbars, the page's viewport meta honoured.
		resize := chromedp.EmulateViewport(w, 900)
		if w == 390 {
			resize = chromedp.EmulateViewport(w, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile)
		}
		b.step("resize to "+name+" at "+itoa64(w), resize, chromedp.Sleep(200*time.Millisecond))
		if w == 390 {
			over, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
			if err != nil {
				b.t.Fatal(err)
			}
			if over > 0 {
				b.t.Errorf("%s at 390 px: the page is %v px wider than the screen", name, over)
			}
		}
		if dir == "" {
			continue
		}
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+itoa64(w)+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.step("back to 1400 px", chromedp.EmulateViewport(1400, 900))
}

// TestBrowserPipelineAndSchedules drives the Pipeline page (a train run
// from its form, seen completing in the live runs list; the synthetic
// producer), a flow run's page and the Schedules page (an @every 1s
// schedule whose next fire time shows and whose run appears by itself).
func TestBrowserPipelineAndSchedules(t *testing.T) {
	b := mustBrowser(t, 150*time.Second)
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(t, cfg)
	registerUIModel(t, a, a.cfg.ModelName, "1.0.0", 1)
	if err := a.store.Deploy(registry.WithUser(context.Background(), "admin"), a.cfg.ModelName, "1.0.0", a.cfg.ScoringEnvironment, "browser test"); err != nil {
		t.Fatal(err)
	}
	csv := trainCSV(t, 2000)

	b.signIn(a.base, "build-version")

	// Pipeline: start a train run from its form.
	b.step("open Pipeline", chromedp.Click(tid("nav-pipeline")), chromedp.WaitVisible(tid("queues")))
	if got := b.text(tid("queue-training")); !strings.Contains(got, "training") {
		t.Errorf("training queue row = %q", got)
	}
	b.step("fill in the train form",
		chromedp.Click(chromedp.CSS(`[data-testid="flow-train"] > summary`)),
		chromedp.WaitVisible(chromedp.CSS("#p-train-data")),
		chromedp.SendKeys(chromedp.CSS("#p-train-data"), csv),
		chromedp.SendKeys(chromedp.CSS("#p-train-target"), "churn"),
		chromedp.SetValue(chromedp.CSS("#p-train-model"), "browser-model"),
		chromedp.SetValue(chromedp.CSS("#p-train-rounds"), "150"))
	b.screenshots("pipeline-train-form")
	b.step("submit the train form",
		chromedp.Click(tid("flow-submit-train")),
		chromedp.WaitVisible(tid("flow-run-state")))
	runURL := b.location()
	id := runURL[strings.LastIndex(runURL, "/")+1:]
	if !strings.Contains(runURL, "/flow-runs/") || id == "" {
		t.Fatalf("after submitting: at %s", runURL)
	}
	b.step("back to Pipeline", chromedp.Click(tid("nav-pipeline")), chromedp.WaitVisible(tid("flow-run-"+id)))
	b.waitJS("the run to complete in the live runs list",
		`document.querySelector('[data-testid="flow-run-`+id+`"] [data-field="state"]').textContent === "completed"`, 60*time.Second)
	if row := b.text(tid("flow-run-" + id)); !strings.Contains(row, "manual by admin") || !strings.Contains(row, "train") {
		t.Errorf("runs row = %q", row)
	}

	// The synthetic producer, from its form; its counters refresh by themselves.
	b.step("start the producer",
		chromedp.SetValue(chromedp.CSS(`[data-testid="producer-form"] input[name="rate"]`), "400"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="producer-form"] input[name="rows"]`), "300"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="producer-form"] input[name="drift"]`), "x1:shift=2"),
		chromedp.Click(tid("producer-start")),
		chromedp.WaitVisible(tid("flash-message")))
	b.waitJS("the producer to finish its 300 records",
		`(document.querySelector('[data-testid="producer"] [data-field="sent"]')||{}).textContent.startsWith("300 ") && document.querySelector('[data-testid="producer-state"]').textContent === "stopped"`, 30*time.Second)
	b.waitJS("the scorer to consume them", `+document.querySelector('[data-testid="scorer"] [data-field="consumed"]').textContent >= 300`, 30*time.Second)
	b.screenshots("pipeline")

	// The run's own page, ended: history, result and logs.
	b.step("open the run", chromedp.Navigate(runURL), chromedp.WaitVisible(tid("flow-run-logs")))
	if got := b.text(tid("flow-run-state")); got != "completed" {
		t.Errorf("run state = %q", got)
	}
	if got := b.text(tid("flow-run-figures")); !strings.Contains(got, "browser-model") {
		t.Errorf("run figures = %q", got)
	}
	b.screenshots("flow-run")

	// Schedules: an @every 1s schedule shows its next fire time, then a run.
	b.step("open Schedules", chromedp.Click(tid("nav-schedules")), chromedp.WaitVisible(tid("schedules-empty")))
	b.screenshots("schedules-empty")
	b.step("submit a bad cron expression",
		chromedp.SendKeys(chromedp.CSS("#s-name"), "every-second"),
		chromedp.SetValue(chromedp.CSS("#s-flow"), "drift-check"),
		chromedp.SendKeys(chromedp.CSS("#s-cron"), "every second"),
		chromedp.SetValue(chromedp.CSS("#s-params"), `{"live": true}`),
		chromedp.Click(tid("schedule-submit")),
		chromedp.WaitVisible(tid("field-error-cron")))
	if got := b.text(tid("field-error-cron")); !strings.Contains(got, "every second") {
		t.Errorf("cron error = %q", got)
	}
	b.screenshots("schedules-error")
	b.step("create an @every 1s schedule",
		chromedp.SetValue(chromedp.CSS("#s-cron"), "@every 1s"),
		chromedp.Click(tid("schedule-submit")),
		chromedp.WaitVisible(tid("schedule-every-second")))
	next := b.text(tid("next-every-second"))
	if _, err := time.Parse("2006-01-02 15:04:05Z", next); err != nil {
		t.Errorf("next fire time %q is not an absolute time: %v", next, err)
	}
	if rel := b.text(chromedp.CSS(`[data-testid="schedule-every-second"] [data-field="next-rel"]`)); rel != "now" && !strings.HasPrefix(rel, "in ") {
		t.Errorf("relative next fire time = %q", rel)
	}
	b.waitJS("a run of the schedule to appear in the list",
		`!!document.querySelector('[data-testid="schedule-every-second"] [data-field="last-run"] a')`, 30*time.Second)
	b.step("pause it", chromedp.Click(chromedp.CSS(`[data-testid="pause-every-second"] button`)), chromedp.WaitVisible(tid("resume-every-second")))
	b.screenshots("schedules")

	b.step("open the schedule", chromedp.Click(chromedp.CSS(`[data-testid="schedule-every-second"] a[data-field="link"]`)),
		chromedp.WaitVisible(tid("schedule-runs")), chromedp.WaitVisible(tid("schedule-form")))
	if got := b.text(tid("schedule-runs")); !strings.Contains(got, "drift-check") || !strings.Contains(got, "schedule every-second") {
		t.Errorf("schedule runs = %q", got)
	}
	b.screenshots("schedule-edit")
}
