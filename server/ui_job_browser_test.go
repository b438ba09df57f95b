package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// jobTour checks and photographs each page of the whole-job browser test
// where it is met, at the width the test is at and then at the other one
// (1400 px, a laptop; 390 px, a phone).
type jobTour struct {
	b       *browserSession
	console *consoleLog
	dir     string
	width   int64
	pages   int
}

// see checks the current page at both widths (no document wider than the
// viewport, no console error) and saves a screenshot of each, then returns
// to the page at the test's width. The page is loaded again at the other
// width, so that a phone's viewport applies from the start.
func (j *jobTour) see(name, ready string) {
	j.b.t.Helper()
	url := j.b.location()
	other := int64(390)
	if j.width == 390 {
		other = 1400
	}
	j.check(name, ready, j.width)
	j.b.step("open "+name+" at "+itoa64(other)+" px", viewport(other), chromedp.Navigate(url))
	j.check(name, ready, other)
	j.b.step("back to "+itoa64(j.width)+" px", viewport(j.width), chromedp.Navigate(url), chromedp.WaitVisible(tid(ready)))
	j.pages++
}

// check checks and photographs the current page at width w.
func (j *jobTour) check(name, ready string, w int64) {
	j.b.t.Helper()
	what := name + " at " + itoa64(w) + " px"
	j.b.step("see "+what, chromedp.WaitVisible(tid(ready)))
	// Measured once the page has loaded: a scrollbar that comes with the
	// last of the content changes the widths while it loads.
	j.b.waitJS(what+" to load", `document.readyState === "complete"`, 30*time.Second)
	checkPageFits(j.b, what, w)
	if errs := j.console.take(); len(errs) > 0 {
		j.b.t.Errorf("%s: console errors: %q", what, errs)
	}
	shot(j.b, j.dir, name+"-"+itoa64(w))
}

// norm collapses whitespace.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }

// js evaluates a JavaScript expression and fails the test on an error.
func jsEval[T any](b *browserSession, what, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, b.pageText())
	}
	return v
}

// reloadUntil opens url until the JavaScript expression holds on it, for
// pages that show a server-side change only when loaded again.
func (b *browserSession) reloadUntil(what, url, expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b.step("open "+url, chromedp.Navigate(url))
		ok, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(3*time.Second)))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, b.pageText())
		}
	}
}

// fetchResult is what the page's fetch() of a refused mutation answered.
type fetchResult struct {
	Method, Path, Type, Body string
	Status                   int
}

// TestBrowserWholeJob is issue 18's whole job with only the browser, on a
// real driftd with its embedded broker: sign in, train from sample data
// with one click on the Overview, train a second run from the Pipeline
// page, compare the two runs, deploy each to production through the
// confirmation (which names from → to and needs a reason), stream drifted
// records with the synthetic producer, open the drifted feature's
// distribution and PSI history, browse the features topic across
// partitions, open the diff of the two versions and roll production back
// (on a phone). Every page is checked at 1400 and 390 px: no document
// wider than the viewport, no console error, a screenshot saved. Then a
// viewer is refused every mutation: the 403 page in HTML for each form
// route, a JSON error from each API route.
func TestBrowserWholeJob(t *testing.T) {
	b := mustBrowser(t, 420*time.Second)
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 500, 200, 200
	a := mustStartApp(t, cfg)
	model, env := a.cfg.ModelName, a.cfg.ScoringEnvironment
	dir := screenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	b.step("sign in",
		chromedp.Navigate(a.base+"/"),
		chromedp.WaitVisible(tid("login-form")),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "admin"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct-horse"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("start-here")))
	j := &jobTour{b: b, console: watchConsole(b), dir: dir, width: 1400}
	j.see("overview-empty", "sample-train")

	// 1. One click trains the scored model on the built-in sample data; the
	// start-here path follows the run by itself.
	b.step("train from sample data", chromedp.Click(tid("sample-train")), chromedp.WaitVisible(tid("flash-message")))
	b.waitJS("the sample training to register a version", `document.querySelector('[data-testid="step-train"]').dataset.done === "yes"`, 120*time.Second)
	j.see("overview-trained", "step-deploy")

	// 2. A second run of the same data from the Pipeline page's train flow,
	// in the same experiment, with other boosting parameters.
	b.step("open Pipeline", chromedp.Click(tid("nav-pipeline")), chromedp.WaitVisible(tid("queues")))
	j.see("pipeline", "queues")
	b.step("fill in the train flow",
		chromedp.Click(chromedp.CSS(`[data-testid="flow-train"] > summary`)),
		chromedp.WaitVisible(chromedp.CSS("#p-train-data")),
		chromedp.SendKeys(chromedp.CSS("#p-train-data"), a.samplePath()),
		chromedp.SendKeys(chromedp.CSS("#p-train-target"), "label"),
		chromedp.SendKeys(chromedp.CSS("#p-train-id"), "id"),
		chromedp.SetValue(chromedp.CSS("#p-train-experiment"), "sample"),
		chromedp.SetValue(chromedp.CSS("#p-train-rounds"), "15"),
		chromedp.SetValue(chromedp.CSS("#p-train-learning_rate"), "0.3"),
		chromedp.SetValue(chromedp.CSS("#p-train-valid_fraction"), "0.3"))
	b.step("run it", chromedp.Click(tid("flow-submit-train")), chromedp.WaitVisible(tid("flow-run-state")))
	b.waitJS("the second run to complete", `document.querySelector('[data-testid="flow-run-state"]').textContent === "completed"`, 120*time.Second)
	j.see("flow-run", "flow-run-state")

	// 3. Compare the two runs from their experiment's page.
	b.step("open Experiments", chromedp.Click(tid("nav-experiments")), chromedp.WaitVisible(tid("experiments")))
	j.see("experiments", "experiments")
	jsEval[bool](b, "open the sample experiment", `(function(){
		var l = [...document.querySelectorAll('[data-testid="experiments"] a')].find(a => a.textContent === "sample");
		l.click(); return true; })()`)
	b.step("see its runs", chromedp.WaitVisible(tid("runs")))
	if n := jsEval[int](b, "count runs", `document.querySelectorAll('[data-testid="runs"] input[name="id"]').length`); n != 2 {
		t.Fatalf("the sample experiment lists %d runs, want 2", n)
	}
	j.see("experiment", "runs")
	jsEval[bool](b, "tick both runs", `(function(){ document.querySelectorAll('[data-testid="runs"] input[name="id"]').forEach(c => c.click()); return true; })()`)
	b.step("compare them", chromedp.Click(tid("compare-submit")), chromedp.WaitVisible(tid("compare-params")))
	if d := jsEval[string](b, "rounds row", `document.querySelector('[data-testid="param-rounds"]').dataset.differs`); d != "yes" {
		t.Errorf("compared runs: rounds differs = %q", d)
	}
	j.see("runs-compare", "compare-params")

	// 4. Deploy the first version, then the second, each through the
	// confirmation naming from → to with the reason production needs.
	b.step("open Models", chromedp.Click(tid("nav-models")), chromedp.WaitVisible(tid("models")))
	j.see("models", "model-"+model)
	b.step("open the model", chromedp.Click(chromedp.CSS(`[data-testid="model-`+model+`"] a`)), chromedp.WaitVisible(tid("versions")))
	versions := jsEval[[]string](b, "read the versions", `[...document.querySelectorAll('[data-testid="versions"] tbody tr')].map(r => r.dataset.testid.slice(8))`)
	if len(versions) != 2 {
		t.Fatalf("versions = %q, want 2", versions)
	}
	v2, v1 := versions[0], versions[1] // newest first
	j.see("model", "deploy-form")
	deploy := func(version, from, reason string) {
		b.step("ask to deploy "+version,
			chromedp.SetValue(chromedp.CSS(`[data-testid="deploy-form"] select[name="version"]`), version),
			chromedp.SetValue(chromedp.CSS(`[data-testid="deploy-form"] select[name="environment"]`), env),
			chromedp.Click(chromedp.CSS(`[data-testid="deploy-form"] button[type="submit"]`)),
			chromedp.WaitVisible(tid("confirm-form")))
		if got, want := norm(b.text(tid("confirm-change"))), "Deploy to "+env+": "+from+" → "+version; got != want {
			t.Errorf("confirmation = %q, want %q", got, want)
		}
		// Production needs a reason: the browser will not send the form without one.
		b.step("confirm without a reason", chromedp.Click(tid("confirm-submit")))
		if !jsEval[bool](b, "reason validity", `document.querySelector('[data-testid="confirm-reason"]').validity.valueMissing && !!document.querySelector('[data-testid="confirm-form"]')`) {
			t.Errorf("deploy %s: the confirmation went without a reason", version)
		}
		j.see("model-confirm-deploy-"+version, "confirm-form")
		b.step("give the reason and confirm",
			chromedp.SendKeys(tid("confirm-reason"), reason),
			chromedp.Click(tid("confirm-submit")),
			chromedp.WaitVisible(tid("flash-message")))
		if got := b.text(chromedp.CSS(`[data-testid="environment-` + env + `"] [data-field="version"]`)); got != version {
			t.Errorf("%s after deploying %s serves %q", env, version, got)
		}
	}
	deploy(v1, "nothing", "first sample model")
	deploy(v2, v1, "second run, more rounds")
	j.see("model-deployed", "history")
	if h := norm(b.text(tid("history"))); !strings.Contains(h, "second run, more rounds") || !strings.Contains(h, v1+" → "+v2) {
		t.Errorf("deployment history = %q", h)
	}

	// 5. Stream drifted records with the synthetic producer.
	b.step("open Pipeline", chromedp.Click(tid("nav-pipeline")), chromedp.WaitVisible(tid("producer-form")))
	b.step("start the producer with f0 shifted",
		chromedp.SetValue(chromedp.CSS(`[data-testid="producer-form"] input[name="rate"]`), "3000"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="producer-form"] input[name="rows"]`), "1500"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="producer-form"] input[name="drift"]`), "f0:shift=3"),
		chromedp.Click(tid("producer-start")),
		chromedp.WaitVisible(tid("flash-message")))
	b.waitJS("the producer to send its 1,500 records",
		`(document.querySelector('[data-testid="producer"] [data-field="sent"]')||{textContent:""}).textContent.startsWith("1500 ") && document.querySelector('[data-testid="producer-state"]').textContent === "stopped"`, 60*time.Second)
	b.waitJS("the scorer to consume them", `+document.querySelector('[data-testid="scorer"] [data-field="consumed"]').textContent >= 1500`, 60*time.Second)
	j.see("pipeline-streamed", "producer")

	// 6. The Drift page: f0 drifted; its distribution and PSI over time.
	b.step("open Drift", chromedp.Click(tid("nav-drift")), chromedp.WaitVisible(tid("drift-live")))
	b.waitJS("f0 to read major", `(document.querySelector('[data-testid="feature-f0"] [data-testid="level"]')||{}).textContent === "major"`, 60*time.Second)
	j.see("drift", "drift-features")
	// Its link, followed once the live refresh has drawn the PSI history.
	f0 := jsEval[string](b, "f0's link", `document.querySelector('[data-testid="feature-f0"] a').href`)
	if !strings.Contains(f0, "feature=f0") {
		t.Errorf("f0's link = %s", f0)
	}
	b.reloadUntil("f0's distribution and PSI history", f0,
		`!!document.querySelector('[data-testid="feature-distribution"] svg') && !!document.querySelector('[data-testid="feature-history"] svg') && document.querySelector('[data-testid="feature-detail"] h2').textContent.includes("f0")`, 60*time.Second)
	j.see("drift-feature-f0", "feature-history")

	// 7. The features topic: all partitions merged, newest first.
	topic := a.pipeline.Topics().Features
	b.step("open Kafka", chromedp.Click(tid("nav-kafka")), chromedp.WaitVisible(tid("topics")))
	j.see("kafka", "topics")
	// On a phone each topic is a block of labelled lines, not a squeezed
	// table whose column titles wrap a few letters per line.
	b.step("the topics on a phone", viewport(390), chromedp.Navigate(b.location()), chromedp.WaitVisible(tid("topics")))
	if tall := jsEval[float64](b, "topic lines", `Math.max(document.querySelector('[data-testid="topics"] thead').getBoundingClientRect().height,
		...[...document.querySelectorAll('[data-testid="topics"] tbody td')].map(td => td.getBoundingClientRect().height))`); tall > 40 {
		t.Errorf("at 390 px a line of the topics table is %v px tall", tall)
	}
	b.step("back to 1400 px", viewport(1400), chromedp.Navigate(b.location()), chromedp.WaitVisible(tid("topics")))
	b.step("open the features topic", chromedp.Click(chromedp.CSS(`[data-testid="topic-`+topic+`"] a`)), chromedp.WaitVisible(tid("messages")))
	if r := b.text(tid("browse-range")); !strings.Contains(r, "All 2 partitions merged") {
		t.Errorf("browse range = %q", r)
	}
	parts := jsEval[int](b, "partitions shown", `new Set([...document.querySelectorAll('[data-testid="message-rows"] tr')].map(r => r.dataset.partition)).size`)
	newestFirst := jsEval[bool](b, "order", `(function(){ var t = [...document.querySelectorAll('[data-testid="message-rows"] tr td.nowrap')].map(c => c.textContent);
		return t.length > 1 && t.every((x, i) => i === 0 || t[i-1] >= x); })()`)
	if parts < 2 || !newestFirst {
		t.Errorf("the topic's first page: %d partitions, newest first %v", parts, newestFirst)
	}
	j.see("topic", "messages")

	// 8. The diff of the two versions, from the model page and from the
	// new version's page.
	b.step("open the model", chromedp.Navigate(a.base+"/models/"+model), chromedp.WaitVisible(tid("compare-versions-form")))
	b.step("compare the versions", chromedp.Click(tid("compare-versions")), chromedp.WaitVisible(tid("diff-params")))
	if u := b.location(); !strings.HasSuffix(u, "/diff?a="+v1+"&b="+v2) {
		t.Errorf("diff address = %s", u)
	}
	for _, p := range []string{"rounds", "learning_rate"} {
		if d := jsEval[string](b, "param "+p, `(document.querySelector('[data-testid="diff-params"] [data-testid="param-`+p+`"]')||{dataset:{}}).dataset.differs || ""`); d != "yes" {
			t.Errorf("version diff: %s differs = %q", p, d)
		}
	}
	b.step("see the distributions", chromedp.WaitVisible(tid("diff-psi")), chromedp.WaitVisible(tid("dist-f0")))
	j.see("model-diff", "diff-distributions")
	b.step("open the new version", chromedp.Click(tid("diff-b-link")), chromedp.WaitVisible(tid("compare-with-form")))
	j.see("version", "version-facts")
	b.step("compare with the one before", chromedp.Click(tid("compare-with-submit")), chromedp.WaitVisible(tid("diff-params")))
	if u := b.location(); !strings.Contains(u, "a="+v1) || !strings.Contains(u, "b="+v2) {
		t.Errorf("compare with… went to %s", u)
	}

	// 9. Roll production back, on a phone.
	j.width = 390
	b.step("become a phone", viewport(390))
	b.step("open the model on the phone", chromedp.Navigate(a.base+"/models/"+model), chromedp.WaitVisible(tid("rollback-form-"+env)))
	b.step("ask to roll back", chromedp.Click(chromedp.CSS(`[data-testid="rollback-form-`+env+`"] button`)), chromedp.WaitVisible(tid("confirm-form")))
	if got, want := norm(b.text(tid("confirm-change"))), "Roll back "+env+": "+v2+" → "+v1; got != want {
		t.Errorf("rollback confirmation = %q, want %q", got, want)
	}
	j.see("model-confirm-rollback", "confirm-form")
	b.step("confirm the rollback",
		chromedp.SendKeys(tid("confirm-reason"), "drift on f0"),
		chromedp.Click(tid("confirm-submit")),
		chromedp.WaitVisible(tid("flash-message")))
	if got := b.text(chromedp.CSS(`[data-testid="environment-` + env + `"] [data-field="version"]`)); got != v1 {
		t.Errorf("%s after the rollback serves %q, want %s", env, got, v1)
	}
	j.see("model-rolled-back", "history")

	// 10. An admin adds a viewer from Settings; the viewer sees no forms to
	// change anything and is refused every change sent anyway.
	j.width = 1400
	b.step("back to 1400 px", viewport(1400))
	b.step("add a viewer",
		chromedp.Navigate(a.base+"/settings"),
		chromedp.WaitVisible(tid("add-user-form")),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-user-form"] input[name="username"]`), "vic"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-user-form"] input[name="password"]`), "viewer-password"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="add-user-form"] select[name="role"]`), "viewer"),
		chromedp.Click(chromedp.CSS(`[data-testid="add-user-form"] button`)),
		chromedp.WaitVisible(tid("settings-message")))
	if got := b.text(tid("settings-message")); !strings.Contains(got, "vic") {
		t.Errorf("adding the viewer: %q", got)
	}
	b.step("open Settings", chromedp.Navigate(a.base+"/settings"), chromedp.WaitVisible(tid("users")))
	j.see("settings", "users")
	b.step("sign out", chromedp.Click(chromedp.CSS(`form.logout button`)), chromedp.WaitVisible(tid("login-form")))
	b.step("sign in as the viewer",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "vic"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "viewer-password"),
		chromedp.Click(tid("login-submit")),
		chromedp.WaitVisible(tid("build-version")))
	b.step("open the model as the viewer", chromedp.Navigate(a.base+"/models/"+model), chromedp.WaitVisible(tid("versions")))
	if jsEval[bool](b, "forms", `!!document.querySelector('[data-testid="deploy-form"], [data-testid^="rollback-form-"]')`) {
		t.Error("the viewer is offered deploy or rollback")
	}
	j.see("model-viewer", "versions")
	// A deploy form forged in the viewer's page (same origin, the viewer's
	// CSRF token), as a stale tab or a crafted page would send it.
	jsEval[bool](b, "forge a deploy", `(function(){
		var f = document.createElement("form"); f.method = "post"; f.action = location.pathname + "/deploy";
		var add = (n, v) => { var i = document.createElement("input"); i.name = n; i.value = v; f.appendChild(i); };
		add("_csrf", document.querySelector('form.logout input[name="_csrf"]').value);
		add("version", "`+v2+`"); add("environment", "`+env+`"); add("reason", "viewer");
		document.body.appendChild(f); f.submit(); return true; })()`)
	b.step("see the 403 page", chromedp.WaitVisible(tid("error-status")))
	if got := b.text(tid("error-status")); !strings.Contains(got, "403") {
		t.Errorf("forged deploy: %q", got)
	}
	_ = j.console.take() // the browser logs the 403 document
	shot(b, dir, "forbidden-deploy-1400")
	checkPageFits(b, "the 403 page at 1400 px", 1400)

	// Every other mutation, sent from the viewer's page with fetch().
	csrf := jsEval[string](b, "csrf", `document.querySelector('form.logout input[name="_csrf"]').value`)
	basic := base64.StdEncoding.EncodeToString([]byte("vic:viewer-password"))
	var ui, api, mlflowWrites int
	for _, r := range a.echo.Routes() {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		p := concretePath(r.Path)
		var res fetchResult
		switch {
		case r.Path == "/login" || r.Path == "/logout":
			continue
		case strings.HasPrefix(r.Path, "/api/2.0/mlflow") || strings.HasPrefix(r.Path, "/ajax-api/2.0/mlflow"):
			if last := r.Path[strings.LastIndexByte(r.Path, '/')+1:]; strings.HasPrefix(last, "search") || strings.HasPrefix(last, "get") {
				continue // reads sent as POST (runs/search, registered-models/get-latest-versions)
			}
			// MLflow clients sign in with the user's name and password.
			res = fetchAs(b, r.Method, p, "application/json", "{}", "Basic "+basic)
			if res.Status != http.StatusForbidden || !isJSONError(res) {
				t.Errorf("viewer %s %s (MLflow): %d %s %.200s", r.Method, p, res.Status, res.Type, res.Body)
			}
			mlflowWrites++
		case strings.HasPrefix(r.Path, "/api/") || r.Path == "/invocations":
			// The JSON API: a session (of any role) never authorises a change.
			res = fetchAs(b, r.Method, p, "application/json", "{}", "")
			if (res.Status != http.StatusUnauthorized && res.Status != http.StatusForbidden) || !isJSONError(res) {
				t.Errorf("viewer %s %s: %d %s %.200s", r.Method, p, res.Status, res.Type, res.Body)
			}
			api++
		default:
			res = fetchAs(b, r.Method, p, "application/x-www-form-urlencoded", "_csrf="+csrf, "")
			if res.Status != http.StatusForbidden || !strings.HasPrefix(res.Type, "text/html") ||
				!strings.Contains(res.Body, `data-testid="error-status"`) || !strings.Contains(res.Body, "needs the") {
				t.Errorf("viewer %s %s: %d %s %.300s", r.Method, p, res.Status, res.Type, res.Body)
			}
			ui++
		}
	}
	_ = j.console.take()
	if ui < 20 || api < 20 || mlflowWrites < 10 {
		t.Errorf("refused %d form routes, %d API routes and %d MLflow writes: fewer than the app has", ui, api, mlflowWrites)
	}
	if v, err := a.store.Deployed(t.Context(), model, env); err != nil || v.Version != v1 {
		t.Errorf("after the viewer's attempts %s serves %s (%v), want %s", env, v.Version, err, v1)
	}
	t.Logf("%d pages checked at 1400 and 390 px; the viewer was refused %d form routes, %d API routes and %d MLflow writes; screenshots in %s",
		j.pages, ui, api, mlflowWrites, dir)
}

// fetchAs sends a request from the current page with fetch() (its cookies,
// not following redirects) and returns what it answered.
func fetchAs(b *browserSession, method, path, contentType, body, authorization string) fetchResult {
	b.t.Helper()
	args, _ := json.Marshal(map[string]string{"method": method, "path": path, "type": contentType, "body": body, "auth": authorization})
	raw := jsEval[string](b, method+" "+path, `(async function(a){
		var h = {"Content-Type": a.type, "Accept": a.type.startsWith("application/json") ? "application/json" : "text/html"};
		if (a.auth) h["Authorization"] = a.auth;
		var r = await fetch(a.path, {method: a.method, headers: h, body: a.body, redirect: "manual", credentials: "same-origin"});
		return JSON.stringify({Method: a.method, Path: a.path, Status: r.status, Type: r.headers.get("content-type") || "", Body: (await r.text()).slice(0, 4000)});
	})(`+string(args)+`)`, chromedp.EvalAwaitPromise)
	var res fetchResult
	if err := json.Unmarshal([]byte(raw), &res); err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// isJSONError reports whether a response is a JSON object naming an error
// (driftd's {"error": ...} or MLflow's {"error_code": ..., "message": ...}).
func isJSONError(r fetchResult) bool {
	if !strings.HasPrefix(r.Type, "application/json") {
		return false
	}
	var m map[string]any
	if json.Unmarshal([]byte(r.Body), &m) != nil {
		return false
	}
	return m["error"] != nil || m["error_code"] != nil
}
