package server

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	xhtml "golang.org/x/net/html"
)

// messageIDs lists "partition/offset" of the rows of the message table, in order.
func messageIDs(doc *xhtml.Node) []string {
	var out []string
	for _, tr := range messageRows(doc) {
		out = append(out, attrOf(tr, "data-partition")+"/"+strings.TrimPrefix(attrOf(tr, "data-testid"), "message-"))
	}
	return out
}

// messageRows returns the rows of the message table, in order.
func messageRows(doc *xhtml.Node) []*xhtml.Node {
	var out []*xhtml.Node
	for _, tr := range allByTestIDPrefix(doc, "message-") {
		if attrOf(tr, "data-partition") != "" {
			out = append(out, tr)
		}
	}
	return out
}

// allByTestIDPrefix returns the elements whose data-testid starts with prefix.
func allByTestIDPrefix(n *xhtml.Node, prefix string) []*xhtml.Node {
	var out []*xhtml.Node
	var walk func(*xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode && strings.HasPrefix(attrOf(n, "data-testid"), prefix) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// pagerLink returns the href of a pager link, or "".
func pagerLink(doc *xhtml.Node, id string) string {
	if n := byTestID(doc, id); n != nil {
		return html.UnescapeString(attrOf(n, "href"))
	}
	return ""
}

func TestUITopicMergedBrowser(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	s := uiLogin(t, a, "admin", "correct-horse")
	ctx := context.Background()
	topic := a.pipeline.Topics().Features
	produced := map[string]bool{}
	produce := func(i int, value string) {
		p, o, err := a.pipeline.Admin().ProduceTest(ctx, topic, []byte(fmt.Sprint("key-", i)), []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		produced[fmt.Sprintf("%d/%d", p, o)] = true
	}
	for i := 0; i < 12; i++ {
		plan := "basic"
		if i%3 == 0 {
			plan = "pro"
		}
		produce(i, fmt.Sprintf(`{"id":"r%d","plan":%q,"x1":%d}`, i, plan, i))
	}
	seekTo := time.Now().Truncate(time.Millisecond).Add(time.Millisecond)
	uiWaitFor(t, "the clock to pass the seek time", 2*time.Second, func() bool { return time.Now().After(seekTo) })
	for i := 12; i < 16; i++ {
		produce(i, fmt.Sprintf(`{"id":"r%d","plan":"pro","notes":%q}`, i, strings.Repeat("long text ", 80)))
	}

	// By default every partition is shown, newest first.
	doc := s.mustGet("/kafka/topics/" + topic)
	got := messageIDs(doc)
	if len(got) != 16 {
		t.Fatalf("merged view shows %d messages, want 16: %v", len(got), got)
	}
	parts := map[string]bool{}
	for _, id := range got {
		parts[strings.Split(id, "/")[0]] = true
		if !produced[id] {
			t.Errorf("message %s was never produced", id)
		}
	}
	if len(parts) < 2 {
		t.Errorf("merged view shows partitions %v, want both", parts)
	}
	// Newest first: the four records produced after seekTo lead (records
	// in one millisecond may come in any partition order).
	for i, row := range messageRows(doc)[:4] {
		if txt := nodeText(row); !strings.Contains(txt, "long text") {
			t.Errorf("row %d is an older record: %.60q", i, txt)
		}
	}
	// Long messages are collapsed behind a disclosure; short ones are not.
	if n := len(allByTestID(doc, "message-collapsed")); n != 4 {
		t.Errorf("%d collapsed messages, want the 4 long ones", n)
	}

	// Paging: older pages never repeat a message and together show them all.
	seen := map[string]bool{}
	next := "/kafka/topics/" + topic + "?limit=5"
	pages := 0
	for next != "" && pages < 10 {
		doc := s.mustGet(next)
		for _, id := range messageIDs(doc) {
			if seen[id] {
				t.Errorf("message %s shown on two pages", id)
			}
			seen[id] = true
		}
		if pages == 1 {
			newer := pagerLink(doc, "pager-newer")
			if newer == "" {
				t.Error("the second page has no link to newer messages")
			} else if ids := messageIDs(s.mustGet(newer)); len(ids) != 5 || ids[0] != messageIDs(s.mustGet("/kafka/topics/" + topic + "?limit=5"))[0] {
				t.Errorf("newer from page 2 = %v, want the first page", ids)
			}
		}
		next = pagerLink(doc, "pager-older")
		pages++
	}
	if len(seen) != 16 || pages != 4 {
		t.Errorf("paged through %d messages in %d pages, want 16 in 4", len(seen), pages)
	}

	// The filter keeps the messages whose field has the value, scanning
	// the topic for them (the older field=&value= form is the same filter).
	for _, q := range []string{"?field=plan&value=pro", "?filter=" + url.QueryEscape("plan = pro")} {
		doc = s.mustGet("/kafka/topics/" + topic + q)
		if n := len(messageIDs(doc)); n != 8 {
			t.Errorf("%s keeps %d messages, want 8", q, n)
		}
		if f := nodeText(mustTestID(t, doc, "browse-filter")); !strings.Contains(f, "8 messages match plan = pro ; 16 scanned") {
			t.Errorf("filter summary = %q", f)
		}
		if v := attrOf(mustTestID(t, doc, "browse-filter-input"), "value"); v != "plan = pro" {
			t.Errorf("the filter is not kept in the form: %q", v)
		}
	}
	// A page of 3 matches scans only as far as the third.
	doc = s.mustGet("/kafka/topics/" + topic + "?limit=3&filter=" + url.QueryEscape("plan = pro"))
	if n := len(messageIDs(doc)); n != 3 || pagerLink(doc, "pager-older") == "" {
		t.Errorf("a page of 3 matches shows %d, older link %q", n, pagerLink(doc, "pager-older"))
	}
	older := s.mustGet(pagerLink(doc, "pager-older"))
	if n := len(messageIDs(older)); n != 3 {
		t.Errorf("the next 3 matches: %d", n)
	}

	// Seeking by time shows the records at or after it, across partitions.
	doc = s.mustGet("/kafka/topics/" + topic + "?at=" + url.QueryEscape(seekTo.UTC().Format(time.RFC3339Nano)))
	if ids := messageIDs(doc); len(ids) != 4 {
		t.Errorf("seek to %s shows %v, want the 4 later records", seekTo, ids)
	}
	if n := len(allByTestID(doc, "message-collapsed")); n != 4 {
		t.Errorf("seek shows %d of the long later records", n)
	}

	// One partition on request, by offset, with its own pager.
	doc = s.mustGet("/kafka/topics/" + topic + "?partition=1&from=0&limit=2")
	ids := messageIDs(doc)
	if len(ids) != 2 || ids[0] != "1/1" || ids[1] != "1/0" {
		t.Errorf("partition 1 from 0 = %v, want [1/1 1/0]", ids)
	}
	if byTestID(doc, "pager-older") != nil || byTestID(doc, "pager-newer") == nil {
		t.Error("the first page of a partition should link newer, not older")
	}

	// The topic list shows each group's lag on the topics it reads.
	labels, group := a.pipeline.Topics().Labels, a.cfg.KafkaGroupID+"-labels"
	uiWaitFor(t, "the label joiner's lag in the topic list", 10*time.Second, func() bool {
		return byTestID(s.mustGet("/kafka"), "lag-"+labels+"-"+group) != nil
	})

	for _, q := range []string{"?from=3", "?before=7:1", "?at=yesterday", "?partition=1&limit=0"} {
		status, doc, body := s.get("/kafka/topics/" + topic + q)
		if status != http.StatusBadRequest || byTestID(doc, "flash-error") == nil {
			t.Errorf("%s: status %d\n%s", q, status, body)
		}
	}
}
