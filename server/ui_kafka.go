package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"driftd/stream"
	"driftd/web"
)

const (
	// browseDefault and browseMax bound the message browser's page size.
	browseDefault = 50
	browseMax     = 200
)

// uiKafka shows topics with offsets, consumer groups with lag and the scorer.
func (a *App) uiKafka(c echo.Context) error {
	var v web.KafkaView
	if a.pipeline == nil || a.pipeline.Admin() == nil {
		v.Error = "The Kafka pipeline is not running."
		return a.renderPage(c, a.page(c, "kafka", "Kafka"), web.KafkaBody(v))
	}
	ctx := c.Request().Context()
	st := a.pipeline.ScorerStatus()
	v.Scorer = web.ScorerView{State: st.State, Reason: st.Reason, Model: st.Model, Version: st.Version,
		Consumed: st.Consumed, Produced: st.Produced, DeadLettered: st.DeadLettered, ProduceErrors: st.ProduceErrors,
		Commits: st.Commits, LastError: st.LastError, LastErrorAt: st.LastErrorAt}
	var errs []string
	topics, err := a.pipeline.Admin().Topics(ctx)
	if err != nil {
		errs = append(errs, "cannot list topics: "+err.Error())
	}
	groups, err := a.pipeline.Admin().Groups(ctx)
	if err != nil {
		errs = append(errs, "cannot list consumer groups: "+err.Error())
	}
	roles := topicRoles(a.pipeline.Topics())
	for _, t := range topics {
		row := web.TopicRow{Name: t.Name, Messages: t.Messages, Role: roles[t.Name], Lags: topicLags(groups, t.Name)}
		for _, p := range t.Partitions {
			row.Partitions = append(row.Partitions, web.PartitionRow{ID: p.ID, Low: p.Low, High: p.High, Leader: p.Leader})
		}
		v.Topics = append(v.Topics, row)
	}
	for _, g := range groups {
		row := web.GroupRow{Group: g.Group, State: g.State, Members: g.Members, TotalLag: g.TotalLag}
		for _, l := range g.Lag {
			row.Lag = append(row.Lag, web.LagRow{Topic: l.Topic, Partition: l.Partition, Committed: l.Committed, End: l.End, Lag: l.Lag})
		}
		v.Groups = append(v.Groups, row)
	}
	v.Error = strings.Join(errs, "; ")
	return a.renderPage(c, a.page(c, "kafka", "Kafka"), web.KafkaBody(v))
}

// topicLags sums, per consumer group that reads topic, its lag over the
// topic's partitions, in the groups' order.
func topicLags(groups []stream.GroupInfo, topic string) []web.GroupLag {
	var out []web.GroupLag
	for _, g := range groups {
		gl := web.GroupLag{Group: g.Group}
		found := false
		for _, l := range g.Lag {
			if l.Topic == topic {
				gl.Lag += l.Lag
				found = true
			}
		}
		if found {
			out = append(out, gl)
		}
	}
	return out
}

// topicRoles names what driftd uses each of its topics for.
func topicRoles(t stream.Topics) map[string]string {
	return map[string]string{t.Features: "features (scored)", t.Predictions: "predictions", t.Labels: "labels",
		t.DriftEvents: "drift events", t.DeadLetter: "dead letter"}
}

// uiTopic is the message browser of one topic. Its state is in the URL:
// ?partition= (empty: all partitions merged, newest first), ?from= (an
// offset of that partition; empty for the newest records), ?before= and
// ?after= (the merged view's older and newer pages), ?at= (a time to seek
// to), ?limit= (at most 200), and ?field=&value= (keep the messages of the
// page whose JSON field has that value).
func (a *App) uiTopic(c echo.Context) error {
	return a.renderTopic(c, http.StatusOK, c.QueryParam("msg"), "")
}

// renderTopic renders the message browser with a message or an error.
func (a *App) renderTopic(c echo.Context, status int, msg, errMsg string) error {
	if a.pipeline == nil || a.pipeline.Admin() == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the Kafka pipeline is not running")
	}
	ctx := c.Request().Context()
	name := c.Param("topic")
	topics, err := a.pipeline.Admin().Topics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var topic *stream.TopicInfo
	for i := range topics {
		if topics[i].Name == name {
			topic = &topics[i]
		}
	}
	if topic == nil {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("topic %q does not exist", name))
	}
	q, problems := parseTopicQuery(c, topic)
	v := web.TopicView{Topic: name, All: q.all, Partition: q.partition, From: q.fromText, Limit: q.limit,
		At: q.atText, Field: q.field, Value: q.value, Message: msg, Error: errMsg,
		CanProduce: roleRank[currentUser(c).Role] >= roleRank[RoleOperator]}
	parts := append([]stream.PartitionInfo(nil), topic.Partitions...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	for _, p := range parts {
		v.Partitions = append(v.Partitions, web.PartitionRow{ID: p.ID, Low: p.Low, High: p.High, Leader: p.Leader})
		if p.ID == q.partition {
			v.Low, v.High = p.Low, p.High
		}
	}
	if len(problems) == 0 && !q.at.IsZero() {
		offs, err := a.pipeline.Admin().OffsetsAt(ctx, name, q.at)
		pos := cursor(offs)
		if err != nil {
			problems = append(problems, err.Error())
		} else if q.all {
			q.pos, q.newer = pos, true
		} else {
			q.from = pos[q.partition]
		}
	}
	var msgs []stream.Message
	if len(problems) > 0 {
		status = http.StatusBadRequest
	} else if q.all {
		page, err := browseMerged(ctx, a.pipeline.Admin(), name, parts, q.pos, q.newer, q.limit)
		if err != nil {
			problems = append(problems, fmt.Sprintf("read %s: %v", name, err))
		}
		msgs, v.Partial = page.Messages, page.Partial
		if page.Older != nil {
			v.OlderURL = topicURL(name, q, url.Values{"before": {page.Older.String()}})
		}
		if page.Newer != nil {
			v.NewerURL = topicURL(name, q, url.Values{"after": {page.Newer.String()}})
			v.NewestURL = topicURL(name, q, nil)
		}
	} else {
		page, err := a.pipeline.Admin().Browse(ctx, name, q.partition, q.from, q.limit)
		if err != nil {
			problems = append(problems, fmt.Sprintf("read %s/%d: %v", name, q.partition, err))
		}
		msgs, v.Partial = page.Messages, page.Partial
		first := page.Next
		if len(msgs) > 0 {
			first = msgs[0].Offset
		}
		part := strconv.Itoa(int(q.partition))
		if first > v.Low {
			v.OlderURL = topicURL(name, q, url.Values{"partition": {part}, "from": {strconv.FormatInt(max(v.Low, first-int64(q.limit)), 10)}})
		}
		if page.Next < v.High {
			v.NewerURL = topicURL(name, q, url.Values{"partition": {part}, "from": {strconv.FormatInt(page.Next, 10)}})
			v.NewestURL = topicURL(name, q, url.Values{"partition": {part}})
		}
		slices.Reverse(msgs) // newest first, like the merged view
	}
	v.Read = len(msgs)
	for _, m := range msgs {
		if q.field != "" {
			if got, ok := fieldValue(m.Value, q.field); !ok || got != q.value {
				continue
			}
		}
		v.Messages = append(v.Messages, messageRow(m))
	}
	if len(problems) > 0 {
		v.Error = strings.TrimPrefix(v.Error+"; "+strings.Join(problems, "; "), "; ")
	}
	p := a.page(c, "kafka", "Topic "+name)
	return renderStatus(c, status, p, web.TopicBody(p, v))
}

// topicQuery is the message browser's parsed URL.
type topicQuery struct {
	all       bool
	partition int32
	from      int64 // per partition; < 0 for the newest -from records
	fromText  string
	pos       cursor // merged view
	newer     bool
	limit     int
	at        time.Time
	atText    string
	field     string
	value     string
}

// parseTopicQuery reads the browser's URL, returning what was wrong with it.
func parseTopicQuery(c echo.Context, topic *stream.TopicInfo) (topicQuery, []string) {
	q := topicQuery{all: true, limit: browseDefault, field: strings.TrimSpace(c.QueryParam("field")), value: c.QueryParam("value")}
	var problems []string
	if s := c.QueryParam("partition"); s != "" && s != "all" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || !hasPartition(topic, int32(n)) {
			problems = append(problems, fmt.Sprintf("partition: %q is not a partition of %s (0 to %d)", s, topic.Name, len(topic.Partitions)-1))
		} else {
			q.all, q.partition = false, int32(n)
		}
	}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > browseMax {
			problems = append(problems, fmt.Sprintf("limit: %q must be a number from 1 to %d", s, browseMax))
		} else {
			q.limit = n
		}
	}
	q.from = int64(-q.limit)
	if s := strings.TrimSpace(c.QueryParam("from")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil || n < 0:
			problems = append(problems, fmt.Sprintf("from: %q must be an offset (a whole number ≥ 0), or empty for the newest messages", s))
		case q.all:
			problems = append(problems, "from: offsets belong to one partition; choose a partition to page by offset, or seek all partitions by time")
		default:
			q.from, q.fromText = n, s
		}
	}
	for _, k := range []string{"before", "after"} {
		if s := c.QueryParam(k); s != "" {
			pos, err := parseCursor(s, topic.Partitions)
			if err != nil {
				problems = append(problems, k+": "+err.Error())
			} else {
				q.pos, q.newer = pos, k == "after"
			}
		}
	}
	if s := strings.TrimSpace(c.QueryParam("at")); s != "" {
		t, err := parseSeekTime(s)
		if err != nil {
			problems = append(problems, "at: "+err.Error())
		} else {
			q.at, q.atText = t, s
		}
	}
	return q, problems
}

// topicURL links to the message browser keeping the page size and the
// filter; set replaces the position.
func topicURL(name string, q topicQuery, set url.Values) string {
	v := url.Values{}
	if q.limit != browseDefault {
		v.Set("limit", strconv.Itoa(q.limit))
	}
	if q.field != "" {
		v.Set("field", q.field)
		v.Set("value", q.value)
	}
	if !q.all {
		v.Set("partition", strconv.Itoa(int(q.partition)))
	}
	for k, vals := range set {
		v[k] = vals
	}
	u := "/kafka/topics/" + url.PathEscape(name)
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

// hasPartition reports whether the topic has partition id.
func hasPartition(t *stream.TopicInfo, id int32) bool {
	for _, p := range t.Partitions {
		if p.ID == id {
			return true
		}
	}
	return false
}

// messageRow prepares a record for display: a UTF-8 JSON value is indented, other
// bytes are shown as text (invalid UTF-8 quoted); templ escapes all of it.
func messageRow(m stream.Message) web.MessageRow {
	row := web.MessageRow{Partition: m.Partition, Offset: m.Offset, Key: printable(m.Key), Timestamp: m.Timestamp}
	keys := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		row.Headers = append(row.Headers, web.KV{Key: k, Value: m.Headers[k]})
	}
	var buf bytes.Buffer
	if utf8.Valid(m.Value) && json.Valid(m.Value) && json.Indent(&buf, m.Value, "", "  ") == nil {
		row.Value, row.JSON = buf.String(), true
		var compact bytes.Buffer
		if json.Compact(&compact, m.Value) == nil {
			row.Preview = compact.String()
		}
	} else {
		row.Value = printable(m.Value)
		row.Preview = strings.Join(strings.Fields(row.Value), " ")
	}
	row.Lines = strings.Count(row.Value, "\n") + 1
	row.Long = row.Lines > longLines || len(row.Value) > longChars
	if r := []rune(row.Preview); len(r) > previewRunes {
		row.Preview = string(r[:previewRunes]) + "…"
	}
	return row
}

const (
	// longLines and longChars decide when a message is shown collapsed to
	// one line, with the whole value behind a disclosure triangle.
	longLines = 12
	longChars = 600
	// previewRunes bounds a collapsed message's one-line preview.
	previewRunes = 140
)

// printable shows bytes as text, or Go-quoted when they are not UTF-8.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

// uiProduce produces a test message from the topic page's form (operator).
func (a *App) uiProduce(c echo.Context) error {
	if a.pipeline == nil || a.pipeline.Admin() == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the Kafka pipeline is not running")
	}
	name := c.Param("topic")
	key, value := c.FormValue("key"), c.FormValue("value")
	if value == "" {
		return a.renderTopic(c, http.StatusBadRequest, "", "value: a test message needs a value")
	}
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	part, off, err := a.pipeline.Admin().ProduceTest(c.Request().Context(), name, k, []byte(value))
	if err != nil {
		return a.renderTopic(c, http.StatusBadGateway, "", fmt.Sprintf("produce to %s: %v", name, err))
	}
	a.logger.Info("test message produced", "user", currentUser(c).Name, "topic", name, "partition", part, "offset", off)
	q := url.Values{"partition": {strconv.Itoa(int(part))}, "msg": {fmt.Sprintf("Produced to %s partition %d at offset %d.", name, part, off)}}
	return c.Redirect(http.StatusSeeOther, "/kafka/topics/"+url.PathEscape(name)+"?"+q.Encode())
}
