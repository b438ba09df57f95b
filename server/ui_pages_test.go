package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"

	"driftd/registry"
)

func TestUIEmptyStates(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	cases := []struct {
		path, testid, want string
	}{
		{"/models", "models-empty", "No models registered yet"},
		{"/experiments", "experiments-empty", "No experiments yet"},
		{"/drift", "drift-notice", `No version of model "drift-model" is deployed to production`},
		{"/kafka", "scorer", "no model deployed"},
		{"/training", "training-empty", "No training job yet"},
	}
	for _, tc := range cases {
		doc := s.mustGet(tc.path)
		n := mustTestID(t, doc, tc.testid)
		if !strings.Contains(nodeText(n), tc.want) {
			t.Errorf("%s: %s says %q, want it to contain %q", tc.path, tc.testid, nodeText(n), tc.want)
		}
		if byTestID(doc, "not-built") != nil {
			t.Errorf("%s still shows the not-built notice", tc.path)
		}
	}
	// Every section has its page now.
	for _, p := range []string{"/pipeline", "/schedules"} {
		if byTestID(s.mustGet(p), "not-built") != nil {
			t.Errorf("%s still shows the not-built notice", p)
		}
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/models/nope", http.StatusNotFound}, {"/experiments/42", http.StatusNotFound}, {"/runs/42", http.StatusNotFound},
		{"/kafka/topics/nope", http.StatusNotFound}, {"/experiments/nope", http.StatusBadRequest}, {"/runs/nope", http.StatusBadRequest},
	} {
		status, doc, body := s.get(tc.path)
		if status != tc.status || byTestID(doc, "error-message") == nil {
			t.Errorf("GET %s: status %d, want %d with an error page\n%s", tc.path, status, tc.status, body)
		}
	}
}

func TestUIModelsDeployRollbackAndHistory(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	name := a.cfg.ModelName
	registerUIModel(t, a, name, "1.0.0", 1)
	registerUIModel(t, a, name, "1.1.0", 2)
	s := uiLogin(t, a, "admin", "correct-horse")

	doc := s.mustGet("/models")
	mustTestID(t, doc, "models")
	row := mustTestID(t, doc, "model-"+name)
	if got := nodeText(row); !strings.Contains(got, name) || !strings.Contains(got, "2") || !strings.Contains(got, "1.1.0") {
		t.Fatalf("models row = %q", got)
	}

	doc = s.mustGet("/models/" + name)
	mustTestID(t, doc, "history-empty")
	if got := nodeText(mustTestID(t, doc, "version-1.0.0")); !strings.Contains(got, "gbdt") || !strings.Contains(got, "trainer") || !strings.Contains(got, "ready") || !strings.Contains(got, "train_loss") {
		t.Errorf("version row = %q", got)
	}
	mustTestID(t, doc, "deploy-form")
	csrf := s.csrf

	deploy := func(version, reason string) (int, string, string) {
		return s.post("/models/"+name+"/deploy", url.Values{"_csrf": {csrf}, "version": {version}, "environment": {"production"}, "reason": {reason}})
	}
	status, loc, body := deploy("1.0.0", "first release")
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/models/"+name+"?msg=") {
		t.Fatalf("deploy: %d %q\n%s", status, loc, body)
	}
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flash-message")); got != "Deployed 1.0.0 to production." {
		t.Errorf("flash = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "environment-production")); !strings.Contains(got, "1.0.0") {
		t.Errorf("production row = %q", got)
	}
	rows := allByTestID(doc, "history-row")
	if len(rows) != 1 {
		t.Fatalf("history has %d rows, want 1", len(rows))
	}
	if got, want := nodeText(rows[0]), "admin deploy production — → 1.0.0 first release"; !strings.Contains(got, want) {
		t.Errorf("history row = %q, want it to contain %q", got, want)
	}

	if status, _, body := deploy("1.1.0", "better auc"); status != http.StatusSeeOther {
		t.Fatalf("second deploy: %d\n%s", status, body)
	}
	status, loc, body = s.post("/models/"+name+"/rollback", url.Values{"_csrf": {csrf}, "environment": {"production"}, "reason": {"oops"}})
	if status != http.StatusSeeOther {
		t.Fatalf("rollback: %d\n%s", status, body)
	}
	doc = s.mustGet(loc)
	rows = allByTestID(doc, "history-row")
	if len(rows) != 3 {
		t.Fatalf("history has %d rows, want 3", len(rows))
	}
	// Newest first.
	for i, want := range []string{"rollback production 1.1.0 → 1.0.0 oops", "deploy production 1.0.0 → 1.1.0 better auc", "deploy production — → 1.0.0"} {
		if got := nodeText(rows[i]); !strings.Contains(got, want) {
			t.Errorf("history row %d = %q, want it to contain %q", i, got, want)
		}
	}
	if v, err := a.store.Deployed(context.Background(), name, "production"); err != nil || v.Version != "1.0.0" {
		t.Fatalf("production after rollback = %v, %v", v.Version, err)
	}

	// Errors are shown on the page with their status, not as a crash.
	if err := a.store.Archive(context.Background(), name, "1.1.0", "bad"); err != nil {
		t.Fatal(err)
	}
	// Errors come back on the model page (a redirect: the browser does not
	// stay on the POST URL), in words, without the sentinel's tail.
	status, loc, body = deploy("1.1.0", "again")
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/models/"+name+"?err=") {
		t.Fatalf("deploying an archived version: %d %q\n%s", status, loc, body)
	}
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flash-error")); !strings.Contains(got, "archived") || strings.Contains(got, ": conflict") {
		t.Errorf("archived deploy error = %q", got)
	}
	mustTestID(t, doc, "versions")
	status, loc, _ = s.post("/models/"+name+"/deploy", url.Values{"_csrf": {csrf}, "version": {"1.0.0"}, "environment": {"moon"}, "reason": {"x"}})
	if status != http.StatusSeeOther || !strings.Contains(nodeText(mustTestID(t, s.mustGet(loc), "flash-error")), "environment") {
		t.Fatalf("unknown environment: %d %q", status, loc)
	}
	// Without the CSRF token nothing happens.
	status, _, _ = s.post("/models/"+name+"/deploy", url.Values{"_csrf": {"forged"}, "version": {"1.0.0"}, "environment": {"staging"}})
	if status != http.StatusForbidden && status != http.StatusBadRequest {
		t.Fatalf("forged CSRF token: status %d", status)
	}

	// A viewer sees the page without forms and cannot deploy.
	if err := a.putUser(context.Background(), "vera", "viewer-pass", RoleViewer); err != nil {
		t.Fatal(err)
	}
	v := uiLogin(t, a, "vera", "viewer-pass")
	doc = v.mustGet("/models/" + name)
	if byTestID(doc, "deploy-form") != nil || byTestID(doc, "rollback-form-production") != nil {
		t.Fatal("a viewer is shown the deploy or rollback form")
	}
	for _, p := range []string{"/deploy", "/rollback"} {
		status, _, _ = v.post("/models/"+name+p, url.Values{"version": {"1.0.0"}, "environment": {"staging"}})
		if status != http.StatusForbidden {
			t.Errorf("viewer POST %s: status %d, want 403", p, status)
		}
	}
	h, err := a.store.History(context.Background(), registry.HistoryQuery{Model: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		if e.User == "vera" || e.Environment == "staging" {
			t.Fatalf("a rejected request changed the registry: %+v", e)
		}
	}
}

func TestUIExperimentsAndRun(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	ctx := registry.WithUser(context.Background(), "trainer")
	exp, err := a.store.CreateExperiment(ctx, "churn", "weekly churn model", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := a.store.CreateRun(ctx, exp.ID, registry.RunOptions{Name: "gbdt-eta-0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.LogParams(ctx, run.ID, map[string]string{"algo": "gbdt", "eta": "0.1", "rounds": "5"}); err != nil {
		t.Fatal(err)
	}
	var pts []registry.MetricPoint
	for i, v := range []float64{0.61, 0.70, 0.74, 0.79, 0.81} {
		pts = append(pts, registry.MetricPoint{Key: "valid_auc", Value: v, Step: int64(i + 1)})
	}
	if err := a.store.LogMetrics(ctx, run.ID, pts); err != nil {
		t.Fatal(err)
	}
	if err := a.store.SetRunTag(ctx, run.ID, "dataset", "<b>jan</b>"); err != nil {
		t.Fatal(err)
	}
	if err := a.store.AppendLog(ctx, run.ID, "round 1 valid_auc=0.61", "round 5 valid_auc=0.81"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.FinishRun(ctx, run.ID, registry.RunFinished); err != nil {
		t.Fatal(err)
	}
	s := uiLogin(t, a, "admin", "correct-horse")

	doc := s.mustGet("/experiments")
	if got := nodeText(mustTestID(t, doc, "experiment-"+exp.ID)); !strings.Contains(got, "churn") || !strings.Contains(got, "1") {
		t.Errorf("experiment row = %q", got)
	}
	doc = s.mustGet("/experiments/" + exp.ID)
	got := nodeText(mustTestID(t, doc, "run-"+run.ID))
	for _, want := range []string{"gbdt-eta-0.1", "finished", "rounds=5"} {
		if !strings.Contains(got, want) {
			t.Errorf("run row %q lacks %q", got, want)
		}
	}
	if cell := fieldOf(mustTestID(t, doc, "run-"+run.ID), "metric-valid_auc"); cell == nil || nodeText(cell) != "0.81" {
		t.Errorf("valid_auc column of the run row: %v", cell)
	}
	status, doc, body := s.get("/runs/" + run.ID)
	if status != http.StatusOK {
		t.Fatalf("run page: %d\n%s", status, body)
	}
	// A metric logged over rounds is a chart with axes: five points rising.
	chart := mustTestID(t, doc, "chart-valid_auc")
	var line *xhtml.Node
	for _, n := range allByClass(chart, "line") {
		if n.Data == "polyline" {
			line = n
		}
	}
	if line == nil {
		t.Fatal("the valid_auc chart has no line")
	}
	points := strings.Fields(attrOf(line, "points"))
	if len(points) != 5 {
		t.Fatalf("the line has %d points, want 5: %v", len(points), points)
	}
	var prevY float64 = 1e9
	for _, p := range points {
		var x, y float64
		if _, err := fmt.Sscanf(p, "%g,%g", &x, &y); err != nil || y >= prevY {
			t.Errorf("points %v do not rise (svg y falls as the value grows)", points)
			break
		}
		prevY = y
	}
	if c := nodeText(chart); !strings.Contains(c, "0.8") || !strings.Contains(c, "5") {
		t.Errorf("chart has no value or step ticks: %q", c)
	}
	if got := nodeText(mustTestID(t, doc, "logs")); !strings.Contains(got, "round 5 valid_auc=0.81") {
		t.Errorf("logs = %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "tags")); !strings.Contains(got, "<b>jan</b>") || strings.Contains(body, "<b>jan</b>") {
		t.Errorf("tag value not shown escaped: %q", got)
	}
	if got := nodeText(mustTestID(t, doc, "params")); !strings.Contains(got, "rounds 5") {
		t.Errorf("params = %q", got)
	}
}

func TestUIKafkaBrowserAndProduce(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/kafka")
	mustTestID(t, doc, "topics")
	for _, topic := range a.pipeline.Topics().All() {
		mustTestID(t, doc, "topic-"+topic)
	}
	if got := nodeText(mustTestID(t, doc, "scorer")); !strings.Contains(got, "no model deployed") {
		t.Errorf("scorer facts = %q", got)
	}

	topic := a.pipeline.Topics().Features
	doc = s.mustGet("/kafka/topics/" + topic)
	mustTestID(t, doc, "messages-empty")
	csrf := formCSRF(t, doc, "produce-form")
	status, loc, body := s.post("/kafka/topics/"+topic+"/produce", url.Values{"_csrf": {csrf}, "key": {"k-1"}, "value": {`{"id":"t1","x1":0.5,"note":"<script>alert(1)</script>"}`}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "partition=") {
		t.Fatalf("produce: %d %q\n%s", status, loc, body)
	}
	status, doc, body = s.get(loc)
	if status != http.StatusOK {
		t.Fatalf("after produce: %d\n%s", status, body)
	}
	if got := nodeText(mustTestID(t, doc, "flash-message")); !strings.Contains(got, "Produced to "+topic) {
		t.Errorf("flash = %q", got)
	}
	rows := allByTestID(doc, "messages")
	if len(rows) != 1 {
		t.Fatalf("message table missing:\n%s", body)
	}
	got := nodeText(rows[0])
	for _, want := range []string{"k-1", `"id": "t1"`, `"x1": 0.5`} {
		if !strings.Contains(got, want) {
			t.Errorf("message table %q lacks %q", got, want)
		}
	}
	if strings.Contains(body, "<script>alert(1)") {
		t.Fatal("a message value was written into the page unescaped")
	}
	if !strings.Contains(body, "{\n  &#34;id&#34;: &#34;t1&#34;,\n") {
		t.Errorf("JSON value not indented:\n%s", body)
	}

	// Bad browser input is explained, not crashed on.
	for _, q := range []string{"?limit=500", "?from=-3", "?partition=9"} {
		status, doc, body := s.get("/kafka/topics/" + topic + q)
		if status != http.StatusBadRequest || byTestID(doc, "flash-error") == nil {
			t.Errorf("%s: status %d\n%s", q, status, body)
		}
	}
	// From offset 0 in the message's partition shows it too.
	u, _ := url.Parse(loc)
	doc = s.mustGet("/kafka/topics/" + topic + "?from=0&limit=10&partition=" + u.Query().Get("partition"))
	mustTestID(t, doc, "message-0")

	// A viewer browses but cannot produce.
	if err := a.putUser(context.Background(), "vic", "viewer-pass", RoleViewer); err != nil {
		t.Fatal(err)
	}
	v := uiLogin(t, a, "vic", "viewer-pass")
	if byTestID(v.mustGet("/kafka/topics/"+topic), "produce-form") != nil {
		t.Error("a viewer is shown the produce form")
	}
	if status, _, _ := v.post("/kafka/topics/"+topic+"/produce", url.Values{"value": {"x"}}); status != http.StatusForbidden {
		t.Errorf("viewer produce: status %d, want 403", status)
	}
}

func TestUIDriftPage(t *testing.T) {
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(t, cfg)
	name := a.cfg.ModelName
	registerUIModel(t, a, name, "1.0.0", 1)
	if err := a.store.Deploy(registry.WithUser(context.Background(), "admin"), name, "1.0.0", "production", "drift test"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "the pipeline to load the deployed version", 10*time.Second, func() bool {
		_, ok := a.pipeline.Drift()
		return ok
	})
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/drift")
	if got := nodeText(mustTestID(t, doc, "drift-notice")); !strings.Contains(got, "No drift check has run yet") {
		t.Errorf("notice before the first check = %q", got)
	}
	mustTestID(t, doc, "drift-live")

	produceShifted(t, a, 60) // more than the window: the first check waits for a full one at these sizes
	var body string
	uiWaitFor(t, "a drift check on the page", 20*time.Second, func() bool {
		var status int
		status, _, body = s.get("/drift?fragment=1")
		return status == http.StatusOK && strings.Contains(body, `data-testid="drift-features"`)
	})
	if strings.Contains(body, "<html") || strings.Contains(body, `data-testid="nav"`) {
		t.Fatal("the fragment carries the whole layout")
	}
	doc = s.mustGet("/drift")
	x1 := nodeText(mustTestID(t, doc, "feature-x1"))
	if !strings.Contains(x1, "major") || !strings.Contains(x1, "drifted") || !strings.Contains(x1, "numeric") {
		t.Errorf("x1 row = %q, want a major, drifted numeric feature", x1)
	}
	if got := nodeText(mustTestID(t, doc, "feature-plan")); !strings.Contains(got, "categorical") {
		t.Errorf("plan row = %q", got)
	}
	sum := nodeText(mustTestID(t, doc, "drift-summary"))
	if !strings.Contains(sum, "records") || strings.Contains(sum, "Checked —") {
		t.Errorf("summary = %q", sum)
	}
	mustTestID(t, doc, "dataset-drift")
	// No labels yet: performance says so and shows no invented numbers.
	mustTestID(t, doc, "performance-empty")
	mustTestID(t, doc, "estimated-none") // this model has no calibrator
	if got := nodeText(mustTestID(t, doc, "performance")); !strings.Contains(got, "Accuracy —") || !strings.Contains(got, "Labels joined 0") {
		t.Errorf("performance = %q", got)
	}
}

// TestUIDriftEstimatedWithoutLabels deploys a binary model whose profile
// carries a score calibrator: after a drift check, and with no label joined,
// the Drift page shows accuracy and AUC estimated from the scores (CBPE).
func TestUIDriftEstimatedWithoutLabels(t *testing.T) {
	cfg := testConfig(t)
	cfg.DriftWindowSize, cfg.DriftMinWindow, cfg.DriftCheckInterval = 50, 20, 20
	a := mustStartApp(t, cfg)
	name := a.cfg.ModelName
	art := uiModelFileCalibrated(t, 1, true)
	opts, err := registerOptions(art)
	if err != nil {
		t.Fatal(err)
	}
	opts.Version = "1.0.0"
	ctx := registry.WithUser(context.Background(), "admin")
	if _, err := a.store.Register(ctx, art, name, opts); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Deploy(ctx, name, "1.0.0", "production", "estimate test"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "the pipeline to load the deployed version", 10*time.Second, func() bool {
		_, ok := a.pipeline.Drift()
		return ok
	})
	produceShifted(t, a, 60)
	uiWaitFor(t, "a drift check with an estimate", 20*time.Second, func() bool {
		v, ok := a.pipeline.Drift()
		return ok && v.Event.Estimated != nil
	})
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/drift")
	est := nodeText(mustTestID(t, doc, "estimated"))
	// The shifted records all score as positive with probability 1, so the
	// expected accuracy is 1 and AUC undefined (one expected class).
	// The band comes from the validation scores, which span both classes.
	if !regexp.MustCompile(`^Accuracy 1 AUC — Precision / recall 1 / 1 F1 1 Expected without a shift accuracy 0\.\d+–[01](\.\d+)?, AUC 0\.\d+–[01](\.\d+)? Verdict within the expected range$`).MatchString(est) {
		t.Errorf("estimated = %q", est)
	}
	// The check is kept in the history, and the chart draws it with its band.
	uiWaitFor(t, "the chart of the kept estimate", 10*time.Second, func() bool {
		return byTestID(s.mustGet("/drift"), "estimated-chart") != nil
	})
	chart := mustTestID(t, s.mustGet("/drift"), "estimated-chart")
	if findElem(chart, func(n *xhtml.Node) bool { return n.Data == "polygon" && attrOf(n, "class") == "band" }) == nil {
		t.Error("the estimated accuracy chart has no band")
	}
	if byTestID(doc, "estimated-none") != nil {
		t.Error("the page says there is no estimate")
	}
	mustTestID(t, doc, "performance-empty") // and still no realised numbers
}
