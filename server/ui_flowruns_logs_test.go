package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"driftd/scheduler"
)

func TestLogLevels(t *testing.T) {
	lines := []string{
		"attempt 1 of 1 started", // info: the engine's own line
		"round    3  train_loss 0.512345  valid_loss 0.52  elapsed 0.01s", // debug: a line per round
		"  f0: PSI 0.210, psi, drifted true",                              // debug: an indented detail line
		"WARN disk almost full",                                           // a level written first wins
		"[error] cannot open data.csv",
		"level=debug cache hit",
		"Warning: 3 rows skipped",
		"info: 10 rows read",
		"errors are counted below",               // "errors" is a word, not a level
		"failed: read data: EOF; retrying in 1s", // a retry is a warning
		"failed after 2s: read data: EOF",        // a failed attempt is an error
		"not retried: shutting down",
		"cancel requested by admin",
		"goroutine 42 [running]:", // a panic's stack is an error, all of it
		"runtime/debug.Stack()",
		"\t/usr/lib/go/src/runtime/debug/stack.go:26 +0x5e",
		"driftd/server/flows.trainFlow.func2(...)",
		"\t/work/main/server/flows/train.go:95 +0x1a",
		"completed in 2.1s", // after the stack
	}
	want := []string{"info", "debug", "debug", "warn", "error", "debug", "warn", "info", "info", "warn", "error", "error", "warn",
		"error", "error", "error", "error", "error", "info"}
	if got := logLevels(lines); !reflect.DeepEqual(got, want) {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("line %d %q: level %s, want %s", i+1, lines[i], got[i], want[i])
			}
		}
	}
}

func TestLogSearchMarks(t *testing.T) {
	tests := []struct {
		name, line, q string
		want          []string // the parts, matches in [brackets]
	}{
		{"any case", "Disk FULL, disk full", "disk full", []string{"[Disk FULL]", ", ", "[disk full]"}},
		{"accented letters fold", "Résumé de l'ÉTÉ", "été", []string{"Résumé de l'", "[ÉTÉ]"}},
		{"no match keeps the line", "nothing here", "xyz", []string{"nothing here"}},
		{"no search", "plain", "", []string{"plain"}},
		{"matches do not overlap", "aaaa", "aa", []string{"[aa]", "[aa]"}},
		{"a match at the end", "read 10 rows", "ROWS", []string{"read 10 ", "[rows]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range logLine(tt.line, "info", tt.q).Parts {
				if p.Match {
					got = append(got, "["+p.Text+"]")
				} else {
					got = append(got, p.Text)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parts %q, want %q", got, tt.want)
			}
		})
	}
}

// allElems returns the elements under n that match, in document order.
func allElems(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
		out = append(out, allElems(c, match)...)
	}
	return out
}

// rawText is the text under n, whitespace kept.
func rawText(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(rawText(c))
	}
	return b.String()
}

// logRows returns the level and text of each line the page shows.
func logRows(doc *html.Node) [][2]string {
	logs := byTestID(doc, "flow-run-logs")
	if logs == nil {
		return nil
	}
	var out [][2]string
	for c := logs.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && attrOf(c, "data-level") != "" {
			msg := findElem(c, func(n *html.Node) bool { return attrOf(n, "class") == "msg" })
			out = append(out, [2]string{attrOf(c, "data-level"), rawText(msg)})
		}
	}
	return out
}

func TestUIFlowRunLogsFilterSearchDownload(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	ctx := context.Background()
	run, err := a.engine.Submit(ctx, "train", map[string]any{"data": trainCSV(t, 200), "target": "churn", "register": false, "rounds": 5},
		scheduler.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := waitFlowRunEnded(t, a, run.ID); r.State != scheduler.StateCompleted {
		t.Fatalf("run %s: %s", r.State, r.Error)
	}
	// Lines a flow might write, appended to the run's stored log.
	extra := []string{"WARN disk almost full", "ERROR could not reach the broker", "Résumé de l'ÉTÉ: 3 rows", "warn: disk at 95%"}
	if err := a.store.AppendFlowRunLog(ctx, run.ID, extra...); err != nil {
		t.Fatal(err)
	}
	all, err := a.engine.Logs(ctx, run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	page := "/flow-runs/" + run.ID

	doc := s.mustGet(page)
	rows := logRows(doc)
	if len(rows) != len(all) {
		t.Fatalf("the page shows %d lines, the run has %d", len(rows), len(all))
	}
	levels := map[string]int{}
	for _, r := range rows {
		levels[r[0]]++
	}
	if levels["debug"] != 5 || levels["warn"] != 2 || levels["error"] != 1 || levels["info"] == 0 {
		t.Errorf("levels on the page = %v, want 5 debug (one per round), 2 warn, 1 error and some info", levels)
	}
	if got := attrOf(mustTestID(t, doc, "flow-run-live"), "data-poll"); got != page+"?fragment=1" {
		t.Errorf("poll URL = %q", got)
	}

	cases := []struct {
		name, query string
		want        []string // the lines shown, in order
	}{
		{"warnings and above", "?level=warn", []string{"WARN disk almost full", "ERROR could not reach the broker", "warn: disk at 95%"}},
		{"errors only", "?level=error", []string{"ERROR could not reach the broker"}},
		{"search any case", "?q=DISK", []string{"WARN disk almost full", "warn: disk at 95%"}},
		{"search with accents", "?q=" + url.QueryEscape("été"), []string{"Résumé de l'ÉTÉ: 3 rows"}},
		{"level and search", "?level=error&q=disk", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := s.mustGet(page + tc.query)
			var got []string
			for _, r := range logRows(doc) {
				got = append(got, r[1])
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("lines %q, want %q", got, tc.want)
			}
			if len(tc.want) == 0 {
				mustTestID(t, doc, "flow-run-logs-none")
			}
			sum := nodeText(mustTestID(t, doc, "log-summary"))
			if !strings.Contains(sum, itoa64(int64(len(tc.want)))+" of "+itoa64(int64(len(all)))+" lines match") {
				t.Errorf("summary %q", sum)
			}
			q, _ := url.ParseQuery(strings.TrimPrefix(tc.query, "?"))
			// The filter stays in the form, the poll URL and the download link.
			if got := attrOf(mustTestID(t, doc, "log-search"), "value"); got != q.Get("q") {
				t.Errorf("search field = %q", got)
			}
			poll, _ := url.Parse(attrOf(mustTestID(t, doc, "flow-run-live"), "data-poll"))
			dl, _ := url.Parse(attrOf(mustTestID(t, doc, "log-download"), "href"))
			for _, k := range []string{"level", "q"} {
				if poll.Query().Get(k) != q.Get(k) || dl.Query().Get(k) != q.Get(k) {
					t.Errorf("%s: poll %s, download %s", k, poll, dl)
				}
			}
			mustTestID(t, doc, "log-filter-clear")
		})
	}

	// The search matches are marked, in the line's own case.
	doc = s.mustGet(page + "?q=disk")
	var marks []string
	for _, m := range allElems(mustTestID(t, doc, "flow-run-logs"), func(n *html.Node) bool { return n.Data == "mark" }) {
		marks = append(marks, nodeText(m))
	}
	if !reflect.DeepEqual(marks, []string{"disk", "disk"}) {
		t.Errorf("marks = %q", marks)
	}
	// The polled fragment keeps the filter.
	status, _, frag := s.get(page + "?fragment=1&level=error")
	fd, _ := html.Parse(strings.NewReader(frag))
	if got := logRows(fd); status != http.StatusOK || len(got) != 1 || got[0][1] != "ERROR could not reach the broker" {
		t.Errorf("filtered fragment: %d %v", status, got)
	}
	if status, doc, _ := s.get(page + "?level=loud"); status != http.StatusBadRequest || !strings.Contains(nodeText(mustTestID(t, doc, "error-message")), "level") {
		t.Errorf("a bad level: status %d", status)
	}

	// Download: the whole log as a text file, the filter applied.
	for _, tc := range []struct {
		query, file string
		want        []string
	}{
		{"", "flow-run-" + run.ID + "-logs.txt", all},
		{"?level=warn", "flow-run-" + run.ID + "-logs-filtered.txt", []string{"WARN disk almost full", "ERROR could not reach the broker", "warn: disk at 95%"}},
	} {
		resp, err := s.c.Get(a.base + page + "/logs.txt" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("download%s: %d %s", tc.query, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+tc.file+`"` {
			t.Errorf("download%s: Content-Disposition %q", tc.query, cd)
		}
		if got := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("download%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	if status, _, _ := s.get("/flow-runs/999/logs.txt"); status != http.StatusNotFound {
		t.Errorf("the log of an unknown run: %d", status)
	}

	// The API filters the same way.
	var out struct {
		Lines []string `json:"lines"`
	}
	b := a.apiJSON(t, http.MethodGet, "/api/v1/flow-runs/"+run.ID+"/logs?level=warn&q=disk&tail=1", nil, http.StatusOK, nil)
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(out.Lines, []string{"warn: disk at 95%"}) {
		t.Errorf("API logs: %s", b)
	}
	a.apiJSON(t, http.MethodGet, "/api/v1/flow-runs/"+run.ID+"/logs?level=loud", nil, http.StatusBadRequest, nil)
}

// TestBrowserFlowRunViews drives headless Chromium through the flow runs
// list (tick every run, cancel them after the confirmation that names how
// many) and a run's log filtered by level and search, at 1400 px and
// 390 px, asserting that each view fits the screen without console errors.
func TestBrowserFlowRunViews(t *testing.T) {
	b := mustBrowser(t, 180*time.Second)
	a := mustStartApp(t, testConfig(t))
	ctx := context.Background()
	done, err := a.engine.Submit(ctx, "train", map[string]any{"data": trainCSV(t, 200), "target": "churn", "register": false, "rounds": 5},
		scheduler.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFlowRunEnded(t, a, done.ID)
	if err := a.store.AppendFlowRunLog(ctx, done.ID, "WARN disk almost full: /var/lib/driftd/data/kafka has 2% left", "ERROR could not reach the broker at 127.0.0.1:9092"); err != nil {
		t.Fatal(err)
	}
	mustQueuedTrainRuns(t, a, 3)
	b.signIn(a.base, "build-version")
	console := watchConsole(b)
	dir := screenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pages := []pageCheck{
		{"flow-runs", "/flow-runs", "flow-runs", 200},
		{"flow-run-logs", "/flow-runs/" + done.ID, "flow-run-logs", 200},
		{"flow-run-logs-filtered", "/flow-runs/" + done.ID + "?level=warn&q=DISK", "flow-run-logs", 200},
	}
	for _, w := range []int64{1400, 390} {
		b.step("resize to "+itoa64(w), viewport(w))
		for _, p := range pages {
			what := p.name + " at " + itoa64(w) + " px"
			b.step("open "+what, chromedp.Navigate(a.base+p.path), chromedp.WaitVisible(tid(p.ready)))
			checkPageFits(b, what, w)
			if errs := console.take(); len(errs) > 0 {
				t.Errorf("%s: console errors: %q", what, errs)
			}
			shot(b, dir, p.name+"-"+itoa64(w))
		}
	}

	// Search the log from its form: the matches are marked.
	b.step("open the run", chromedp.Navigate(a.base+"/flow-runs/"+done.ID), chromedp.WaitVisible(tid("log-search")))
	b.step("search the log", chromedp.SendKeys(tid("log-search"), "broker"), chromedp.Click(tid("log-filter-submit")),
		chromedp.WaitVisible(tid("log-filter-clear")))
	if got := b.text(chromedp.CSS(`[data-testid="flow-run-logs"] mark`)); got != "broker" {
		t.Errorf("marked %q", got)
	}
	if loc := b.location(); !strings.Contains(loc, "q=broker") {
		t.Errorf("the search is not in the URL: %s", loc)
	}

	// Tick every run on the list, ask to cancel them, confirm.
	b.step("open the list", chromedp.Navigate(a.base+"/flow-runs"), chromedp.WaitVisible(tid("select-all")))
	b.step("tick every run", chromedp.Click(tid("select-all")))
	b.waitJS("every box ticked", `Array.from(document.querySelectorAll('input[name="id"]')).every(function (c) { return c.checked; })`, 5*time.Second)
	b.step("cancel the selected runs", chromedp.Click(tid("bulk-cancel")), chromedp.WaitVisible(tid("bulk-confirm-title")))
	if got := b.text(tid("bulk-confirm-title")); got != "Cancel 3 runs?" {
		t.Errorf("confirmation title %q", got)
	}
	for _, w := range []int64{390, 1400} {
		b.step("resize the confirmation to "+itoa64(w), viewport(w))
		checkPageFits(b, "bulk confirmation at "+itoa64(w)+" px", w)
		shot(b, dir, "flow-runs-confirm-"+itoa64(w))
	}
	b.step("confirm", chromedp.Click(tid("bulk-confirm-submit")), chromedp.WaitVisible(tid("flash-message")))
	if got := b.text(tid("flash-message")); !strings.Contains(got, "Cancelled") {
		t.Errorf("message after the bulk cancel: %q", got)
	}
	if errs := console.take(); len(errs) > 0 {
		t.Errorf("bulk cancel: console errors: %q", errs)
	}
	shot(b, dir, "flow-runs-cancelled-1400")
}
