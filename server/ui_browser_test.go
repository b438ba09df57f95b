package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is the Debian chromium the browser test drives.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserUI drives a real headless Chromium through the login form and
// the Overview, Models and Kafka pages, and takes a screenshot.
func TestBrowserUI(t *testing.T) {
	if os.Getenv("DRIFTD_INTEGRATION") == "" {
		t.Skip("set DRIFTD_INTEGRATION=1 to drive headless Chromium")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("DRIFTD_INTEGRATION is set but %s is missing (apt-get install chromium): %v", chromiumPath, err)
	}
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(t, cfg)
	registerUIModel(t, a, a.cfg.ModelName, "1.0.0", 1)

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
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	tid := func(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(tid(id)))
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		return s
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Without a session the browser lands on the login form.
	step("open the login form", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(tid("login-form")))
	step("sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct-horse"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("build-version")))
	version, components, user := text("build-version"), text("components"), text("current-user")
	step("open Models", chromedp.Click(tid("nav-models")), chromedp.WaitVisible(tid("models")))
	models := text("models")
	step("open Kafka", chromedp.Click(tid("nav-kafka")), chromedp.WaitVisible(tid("topics")))
	topics := text("topics")
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}

	// The Drift page refreshes its live part by itself (web/static/app.js):
	// records scored after the page loaded show up without a reload.
	if err := a.store.Deploy(context.Background(), a.cfg.ModelName, "1.0.0", "production", "browser test"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "the pipeline to load the deployed version", 10*time.Second, func() bool {
		_, ok := a.pipeline.Drift()
		return ok
	})
	step("open Drift", chromedp.Click(tid("nav-drift")), chromedp.WaitVisible(tid("drift-notice")))
	if n := text("drift-notice"); !strings.Contains(n, "No drift check has run yet") {
		t.Errorf("drift notice before any record = %q", n)
	}
	produceShifted(t, a, 40)
	step("see the drift table appear without a reload", chromedp.WaitVisible(tid("feature-x1")))
	if row := text("feature-x1"); !strings.Contains(row, "major") {
		t.Errorf("x1 row after the live refresh = %q", row)
	}
	driftShot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "drift.png"), driftShot, 0o644); err != nil {
		t.Fatal(err)
	}

	if version != "test" {
		t.Errorf("build version in the browser = %q, want test", version)
	}
	for _, want := range []string{"registry", "kafka", "scorer", "http"} {
		if !strings.Contains(components, want) {
			t.Errorf("components table %q lacks %s", components, want)
		}
	}
	if !strings.Contains(user, "admin") {
		t.Errorf("current user = %q", user)
	}
	if !strings.Contains(models, a.cfg.ModelName) || !strings.Contains(models, "1.0.0") {
		t.Errorf("models table = %q", models)
	}
	if !strings.Contains(topics, "drift-data") {
		t.Errorf("topics table = %q, want drift-data", topics)
	}
	path := filepath.Join(t.TempDir(), "kafka.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(shot) < 1000 || !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG (%d bytes)", path, len(shot))
	}
}

// removeProfile deletes the browser profile directory, retrying while
// Chromium's helper processes finish writing to it.
func removeProfile(tb testing.TB, dir string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Logf("leaving browser profile %s: %v", dir, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
