package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	xhtml "golang.org/x/net/html"

	"driftd/stream"
)

// followAnswer fetches a Follow poll and returns the rows' "partition/offset",
// in order, and the cursor of the next poll.
func followAnswer(tb testing.TB, s *uiSession, path string) ([]string, string, *xhtml.Node) {
	tb.Helper()
	status, doc, body := s.get(path)
	if status != http.StatusOK {
		tb.Fatalf("GET %s: %d\n%s", path, status, body)
	}
	if strings.Contains(body, `data-testid="nav"`) {
		tb.Fatalf("GET %s answers a whole page", path)
	}
	rows := mustTestID(tb, doc, "follow-rows")
	return messageIDs(doc), attrOf(rows, "data-after"), rows
}

// followOf reads the Follow control of a message browser page.
func followOf(tb testing.TB, doc *xhtml.Node) (string, string) {
	tb.Helper()
	f := mustTestID(tb, doc, "follow")
	return xhtml.UnescapeString(attrOf(f, "data-follow")), attrOf(f, "data-after")
}

func TestUITopicFollow(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	ctx := context.Background()
	topic := a.pipeline.Topics().Features
	n := 0
	produce := func(count int, plan string) map[string]bool {
		out := map[string]bool{}
		for i := 0; i < count; i++ {
			n++
			p, o, err := a.pipeline.Admin().ProduceTest(ctx, topic, []byte(fmt.Sprint("key-", n)), []byte(fmt.Sprintf(`{"id":"r%d","plan":%q}`, n, plan)))
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%d/%d", p, o)] = true
		}
		return out
	}
	produce(6, "basic")

	// The newest page offers Follow from every partition's end.
	doc := s.mustGet("/kafka/topics/" + topic)
	follow, after := followOf(t, doc)
	if follow != "/kafka/topics/"+topic+"/follow" {
		t.Errorf("follow URL %q", follow)
	}
	if want := fmt.Sprintf("0:%d,1:%d", a.highOf(t, topic, 0), a.highOf(t, topic, 1)); after != want {
		t.Errorf("follow starts after %q, want %q", after, want)
	}
	mustTestID(t, doc, "follow-toggle")

	// A poll answers exactly the records produced since, across partitions,
	// newest first, and where the next poll starts.
	fresh := produce(8, "basic")
	got, next, _ := followAnswer(t, s, follow+"?after="+url.QueryEscape(after))
	if len(got) != len(fresh) {
		t.Fatalf("follow answered %v, want the %d new records %v", got, len(fresh), fresh)
	}
	parts := map[string]bool{}
	for _, id := range got {
		if !fresh[id] {
			t.Errorf("follow answered %s, which is not new", id)
		}
		parts[strings.Split(id, "/")[0]] = true
	}
	if len(parts) != 2 {
		t.Errorf("the new records came from partitions %v, want both", parts)
	}
	if want := fmt.Sprintf("0:%d,1:%d", a.highOf(t, topic, 0), a.highOf(t, topic, 1)); next != want {
		t.Errorf("next poll after %q, want %q", next, want)
	}
	if got, again, _ := followAnswer(t, s, follow+"?after="+url.QueryEscape(next)); len(got) != 0 || again != next {
		t.Errorf("a poll with nothing new answered %v, next %q", got, again)
	}
	// Only the records after the offsets given, whatever the partition:
	// partition 0 from where it was, partition 1 from its end.
	cur, _ := parseCursor(after, twoPartitions())
	last, _ := parseCursor(next, twoPartitions())
	got, _, _ = followAnswer(t, s, follow+"?after="+url.QueryEscape(fmt.Sprintf("0:%d,1:%d", cur[0], last[1])))
	for _, id := range got {
		if !strings.HasPrefix(id, "0/") || !fresh[id] {
			t.Errorf("with partition 1 seen to its end, follow answered %s", id)
		}
	}
	if want := last[0] - cur[0]; int64(len(got)) != want {
		t.Errorf("follow answered %d records of partition 0, want %d", len(got), want)
	}

	// One partition, filtered: the page's Follow keeps both.
	doc = s.mustGet("/kafka/topics/" + topic + "?partition=1&filter=" + url.QueryEscape("plan = pro"))
	follow, after = followOf(t, doc)
	if u, _ := url.Parse(follow); u.Query().Get("partition") != "1" || u.Query().Get("filter") != "plan = pro" || after != fmt.Sprintf("1:%d", last[1]) {
		t.Errorf("filtered follow %q after %q", follow, after)
	}
	pro := produce(6, "pro")
	produce(4, "basic")
	got, _, _ = followAnswer(t, s, follow+"&after="+url.QueryEscape(after))
	want := 0
	for id := range pro {
		if strings.HasPrefix(id, "1/") {
			want++
		}
	}
	if len(got) != want {
		t.Errorf("filtered follow of partition 1 answered %v, want its %d pro records of %v", got, want, pro)
	}
	for _, id := range got {
		if !pro[id] || !strings.HasPrefix(id, "1/") {
			t.Errorf("filtered follow answered %s", id)
		}
	}

	// A backlog longer than a poll shows skips to the newest records and says how many it left out.
	got, next, rows := followAnswer(t, s, follow[:strings.Index(follow, "?")]+"?after=0:0,1:0")
	total := a.highOf(t, topic, 0) + a.highOf(t, topic, 1)
	if total <= followMax {
		if len(got) != int(total) || attrOf(rows, "data-skipped") != "0" {
			t.Errorf("a backlog of %d answered %d rows, skipped %s", total, len(got), attrOf(rows, "data-skipped"))
		}
	}
	if next != fmt.Sprintf("0:%d,1:%d", a.highOf(t, topic, 0), a.highOf(t, topic, 1)) {
		t.Errorf("after a backlog the next poll starts at %q", next)
	}
	// Older pages offer no Follow; a bad cursor is refused.
	if byTestID(s.mustGet("/kafka/topics/"+topic+"?limit=2&before=0:2,1:2"), "follow") != nil {
		t.Error("an older page offers Follow")
	}
	if status, _, _ := s.get(follow[:strings.Index(follow, "?")] + "?after=9:1"); status != http.StatusBadRequest {
		t.Errorf("a cursor of no partition: %d", status)
	}
}

// twoPartitions is the partition list of the two-partition test topics.
func twoPartitions() []stream.PartitionInfo { return []stream.PartitionInfo{{ID: 0}, {ID: 1}} }

// highOf is the high watermark of one partition of topic.
func (t *testApp) highOf(tb testing.TB, topic string, partition int32) int64 {
	tb.Helper()
	topics, err := t.pipeline.Admin().Topics(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for _, tp := range topics {
		if tp.Name == topic {
			for _, p := range tp.Partitions {
				if p.ID == partition {
					return p.High
				}
			}
		}
	}
	tb.Fatalf("no partition %s/%d", topic, partition)
	return 0
}

func TestUITopicFilterScansEveryPartition(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	ctx := context.Background()
	topic := a.pipeline.Topics().DeadLetter
	produce := func(key, value string) (int32, int64) {
		t.Helper()
		p, o, err := a.pipeline.Admin().ProduceTest(ctx, topic, []byte(key), []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		return p, o
	}
	// A key of each partition (records are partitioned by their key's hash).
	keyOn := map[int32]string{}
	for i := 0; len(keyOn) < 2; i++ {
		k := fmt.Sprint("K", i)
		if p, _ := produce(k, `{"plan":"probe"}`); keyOn[p] == "" {
			keyOn[p] = k
		}
	}
	// The one pro record, on partition 1, then 300 newer basic ones on
	// partition 0, so the scan reads past every one of them to find it.
	p, o := produce(keyOn[1], `{"plan":"pro","note":"the one"}`)
	proID := fmt.Sprintf("%d/%d", p, o)
	for i := 0; i < 300; i++ {
		produce(keyOn[0], fmt.Sprintf(`{"plan":"basic","i":%d}`, i))
	}
	q := "/kafka/topics/" + topic + "?partition=1&limit=5&filter=" + url.QueryEscape("plan = pro and key ~ K")
	doc := s.mustGet(q)
	if ids := messageIDs(doc); len(ids) != 1 || ids[0] != proID {
		t.Fatalf("the filter on partition 1 found %v, want [%s]", ids, proID)
	}
	// All partitions: the pro record on partition 1, found by scanning
	// past the basic ones on partition 0.
	doc = s.mustGet("/kafka/topics/" + topic + "?limit=5&filter=" + url.QueryEscape("plan = pro"))
	ids := messageIDs(doc)
	if len(ids) != 1 || ids[0] != proID {
		t.Errorf("the merged filtered view shows %v, want [%s]", ids, proID)
	}
	sum := nodeText(mustTestID(t, doc, "browse-filter"))
	scanned := a.highOf(t, topic, 0) + a.highOf(t, topic, 1)
	if !strings.Contains(sum, fmt.Sprintf("%d scanned", scanned)) {
		t.Errorf("summary %q, want every one of the %d records scanned", sum, scanned)
	}
	if v := attrOf(mustTestID(t, doc, "browse-filter-input"), "value"); v != "plan = pro" {
		t.Errorf("the filter is not kept in the form: %q", v)
	}
	// The older field=&value= form is the same filter, written as one.
	doc = s.mustGet("/kafka/topics/" + topic + "?limit=5&field=plan&value=pro")
	if len(messageIDs(doc)) != len(ids) || attrOf(mustTestID(t, doc, "browse-filter-input"), "value") != "plan = pro" {
		t.Errorf("field=plan&value=pro shows %d messages, filter %q", len(messageIDs(doc)), attrOf(mustTestID(t, doc, "browse-filter-input"), "value"))
	}
	// A bad filter is explained, by column.
	status, doc, _ := s.get("/kafka/topics/" + topic + "?filter=" + url.QueryEscape("plan >> 3"))
	if status != http.StatusBadRequest || !strings.Contains(nodeText(mustTestID(t, doc, "flash-error")), "column 6") {
		t.Errorf("a bad filter: %d %q", status, nodeText(doc))
	}

	// CSV of the filtered page: a header and its records.
	resp, err := s.c.Get(a.base + "/kafka/topics/" + topic + "?partition=1&limit=5&format=csv&filter=" + url.QueryEscape("plan = pro and key ~ K"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	recs := mustCSV(t, raw)
	if len(recs) != 2 || strings.Join(recs[0], ",") != "partition,offset,timestamp,key,headers,value" || recs[1][0]+"/"+recs[1][1] != proID ||
		!strings.Contains(recs[1][5], `"plan":"pro"`) {
		t.Errorf("messages CSV: %q", recs)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="messages-`+topic+`.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
}

func TestUIKafkaCSVAndLagHistory(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	labels, group := a.pipeline.Topics().Labels, a.cfg.KafkaGroupID+"-labels"
	uiWaitFor(t, "the label joiner's group", 20*time.Second, func() bool {
		return byTestID(s.mustGet("/kafka"), "lag-"+labels+"-"+group) != nil
	})
	doc := s.mustGet("/kafka")
	if got := attrOf(mustTestID(t, doc, "lag-charts-slot"), "data-lag-src"); got != "/kafka/lag?fragment=1" {
		t.Errorf("lag charts load from %q", got)
	}
	get := func(path string) [][]string {
		t.Helper()
		resp, err := s.c.Get(a.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("GET %s: %d %s\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
		return mustCSV(t, raw)
	}
	topics := get(attrOf(mustTestID(t, doc, "topics-csv"), "href"))
	var names []string
	for _, r := range topics[1:] {
		names = append(names, r[0])
	}
	sort.Strings(names)
	if strings.Join(topics[0], ",") != "topic,used_for,partitions,messages,consumer_lag,lag_by_group,offsets_low_high" || len(topics) < 3 {
		t.Fatalf("topics CSV: %q", topics)
	}
	for _, r := range topics[1:] {
		if r[0] == labels && (r[1] != "labels" || r[2] != "2" || !strings.Contains(r[5], group+"=")) {
			t.Errorf("labels row %q", r)
		}
	}
	groups := get(attrOf(mustTestID(t, doc, "groups-csv"), "href"))
	if strings.Join(groups[0], ",") != "group,state,members,total_lag,topic,partition,committed,end,lag" {
		t.Fatalf("groups CSV header %q", groups[0])
	}
	rows := 0
	for _, r := range groups[1:] {
		if r[0] == group && r[4] == labels {
			rows++
		}
	}
	if rows != 2 {
		t.Errorf("groups CSV has %d rows of %s on %s, want one per partition: %q", rows, group, labels, groups)
	}
	if status, _, _ := s.get("/kafka?format=csv&table=nope"); status != http.StatusBadRequest {
		t.Errorf("an unknown table: %d", status)
	}

	// The lag history has a chart for the group, a line per topic it
	// reads, once a sample has seen the group (the charts sample again
	// when their newest sample is older than lagFresh).
	var frag *xhtml.Node
	uiWaitFor(t, "a lag chart of "+group, 3*lagFresh, func() bool {
		status, doc, body := s.get("/kafka/lag?fragment=1")
		if status != http.StatusOK || strings.Contains(body, `data-testid="nav"`) {
			t.Fatalf("lag fragment: %d\n%s", status, body)
		}
		frag = doc
		return byTestID(doc, "lag-chart-"+group) != nil
	})
	fig := mustTestID(t, frag, "lag-chart-"+group)
	if svg := findElem(fig, func(n *xhtml.Node) bool { return n.Data == "svg" }); svg == nil || !strings.Contains(attrOf(svg, "aria-label"), group) {
		t.Errorf("the %s chart has no labelled SVG", group)
	}
	if !strings.Contains(nodeText(fig), labels) {
		t.Errorf("the %s chart has no %s line: %q", group, labels, nodeText(fig))
	}
	mustTestID(t, frag, "lag-range-1h")
	doc = s.mustGet("/kafka/lag?range=1h")
	mustTestID(t, doc, "lag-chart-"+group)
	if got := nodeText(mustTestID(t, doc, "lag-range-1h")); got != "1h" || attrOf(mustTestID(t, doc, "lag-range-1h"), "href") != "" {
		t.Errorf("the chosen range is a link: %q", got)
	}
	if status, _, _ := s.get("/kafka/lag?range=2d"); status != http.StatusBadRequest {
		t.Errorf("an unknown range: %d", status)
	}
}

// TestBrowserTopicFollowAndLag drives headless Chromium: the Kafka page
// loads the consumer lag charts, a filtered topic page follows new
// messages live (only the matching ones appear, on top, without a reload),
// and every view fits a 1400 px and a 390 px screen without console errors.
func TestBrowserTopicFollowAndLag(t *testing.T) {
	b := mustBrowser(t, 180*time.Second)
	a := mustStartApp(t, testConfig(t))
	ctx := context.Background()
	topic := a.pipeline.Topics().Features
	for i := 0; i < 12; i++ {
		if _, _, err := a.pipeline.Admin().ProduceTest(ctx, topic, []byte(fmt.Sprint("k", i)), []byte(fmt.Sprintf(`{"id":"r%d","plan":"basic","x1":%d}`, i, i))); err != nil {
			t.Fatal(err)
		}
	}
	b.signIn(a.base, "build-version")
	console := watchConsole(b)
	dir := screenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pages := []pageCheck{
		{"kafka-lag-charts", "/kafka", "lag-charts", 200},
		{"kafka-lag-page", "/kafka/lag?range=1h", "lag-charts", 200},
		{"topic-filter-expr", "/kafka/topics/" + topic + "?limit=5&filter=" + url.QueryEscape("x1 >= 3 and key ~ K"), "messages", 200},
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

		// Follow: tick the box, produce, and see the matching records
		// appear on top of the table.
		filtered := "/kafka/topics/" + topic + "?filter=" + url.QueryEscape("plan = pro and id ~ f"+itoa64(w)+"-")
		b.step("open the filtered topic at "+itoa64(w), chromedp.Navigate(a.base+filtered), chromedp.WaitVisible(tid("follow-toggle")))
		if n := len(messageIDsJS(b)); n != 0 {
			t.Fatalf("the filtered page shows %d rows before any pro record", n)
		}
		b.step("follow", chromedp.Click(tid("follow-toggle")))
		b.waitJS("following", `document.querySelector('[data-follow-status]').textContent.indexOf("Following") === 0`, 10*time.Second)
		// One key, so one partition: records produced within the same
		// millisecond on different partitions have no newest among them.
		for i := 0; i < 6; i++ {
			plan := "basic"
			if i%2 == 0 {
				plan = "pro"
			}
			if _, _, err := a.pipeline.Admin().ProduceTest(ctx, topic, []byte(fmt.Sprint("f", w)), []byte(fmt.Sprintf(`{"id":"f%d-%d","plan":%q}`, w, i, plan))); err != nil {
				t.Fatal(err)
			}
		}
		b.waitJS("the three pro records to appear", `document.querySelectorAll('[data-testid="message-rows"] tr').length === 3`, 15*time.Second)
		if got := b.text(tid("message-rows")); strings.Contains(got, `"basic"`) || !strings.Contains(got, `"f`+itoa64(w)+`-4"`) {
			t.Errorf("followed rows: %q", got)
		}
		if first := b.text(chromedp.CSS(`[data-testid="message-rows"] tr:first-child`)); !strings.Contains(first, "-4") {
			t.Errorf("the newest record is not on top: %q", first)
		}
		b.waitJS("the status to count them", `document.querySelector('[data-follow-status]').textContent.indexOf("3 new") > 0`, 10*time.Second)
		checkPageFits(b, "following at "+itoa64(w)+" px", w)
		if errs := console.take(); len(errs) > 0 {
			t.Errorf("following at %d px: console errors: %q", w, errs)
		}
		shot(b, dir, "topic-follow-"+itoa64(w))
	}
}

// messageIDsJS lists the rows of the message table in the browser.
func messageIDsJS(b *browserSession) []string {
	b.t.Helper()
	ids, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('[data-testid="message-rows"] tr')).map(function (tr) { return tr.dataset.partition + "/" + tr.dataset.testid; })`))
	if err != nil {
		b.t.Fatal(err)
	}
	return ids
}

// BenchmarkTopicFilterScan measures a filtered page of the message browser
// that scans topicScanMax records of the embedded broker (two partitions)
// and finds none: the cost of the bound.
func BenchmarkTopicFilterScan(b *testing.B) {
	a := mustStartApp(b, testConfig(b))
	s := uiLogin(b, a, "admin", "correct-horse")
	topic := a.pipeline.Topics().DeadLetter
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < topicScanMax/20; i++ {
				if _, _, err := a.pipeline.Admin().ProduceTest(context.Background(), topic, []byte(fmt.Sprint(w, "-", i)),
					[]byte(fmt.Sprintf(`{"plan":"basic","i":%d,"f0":%d.5}`, i, i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	page := "/kafka/topics/" + topic + "?filter=" + url.QueryEscape("plan = pro")
	b.ResetTimer()
	for b.Loop() {
		if got := nodeText(mustTestID(b, s.mustGet(page), "browse-filter")); !strings.Contains(got, fmt.Sprintf("%d scanned", topicScanMax)) {
			b.Fatalf("summary %q", got)
		}
	}
}
