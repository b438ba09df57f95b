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
// the Overview, Models, Kafka and Drift pages, and takes screenshots.
func TestBrowserUI(t *testing.T) {
	b := mustBrowser(t, 60*time.Second)
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(t, cfg)
	registerUIModel(t, a, a.cfg.ModelName, "1.0.0", 1)

	// Without a session the browser lands on the login form.
	b.step("open the login form", chromedp.Navigate(a.base+"/"), chromedp.WaitVisible(tid("login-form")))
	b.step("sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct-horse"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("build-version")))
	version, components, user := b.text(tid("build-version")), b.text(tid("components")), b.text(tid("current-user"))
	b.step("open Models", chromedp.Click(tid("nav-models")), chromedp.WaitVisible(tid("models")))
	models := b.text(tid("models"))
	b.step("open Kafka", chromedp.Click(tid("nav-kafka")), chromedp.WaitVisible(tid("topics")))
	topics := b.text(tid("topics"))
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
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
	b.step("open Drift", chromedp.Click(tid("nav-drift")), chromedp.WaitVisible(tid("drift-notice")))
	if n := b.text(tid("drift-notice")); !strings.Contains(n, "No drift check has run yet") {
		t.Errorf("drift notice before any record = %q", n)
	}
	produceShifted(t, a, 60) // more than the window: the first check waits for a full one at these sizes
	b.step("see the drift table appear without a reload", chromedp.WaitVisible(tid("feature-x1")))
	if row := b.text(tid("feature-x1")); !strings.Contains(row, "major") {
		t.Errorf("x1 row after the live refresh = %q", row)
	}
	b.screenshots("drift-live")

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
