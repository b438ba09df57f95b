package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
	roles := topicRoles(a.pipeline.Topics())
	for _, t := range topics {
		row := web.TopicRow{Name: t.Name, Messages: t.Messages, Role: roles[t.Name]}
		for _, p := range t.Partitions {
			row.Partitions = append(row.Partitions, web.PartitionRow{ID: p.ID, Low: p.Low, High: p.High, Leader: p.Leader})
		}
		v.Topics = append(v.Topics, row)
	}
	groups, err := a.pipeline.Admin().Groups(ctx)
	if err != nil {
		errs = append(errs, "cannot list consumer groups: "+err.Error())
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

// topicRoles names what driftd uses each of its topics for.
func topicRoles(t stream.Topics) map[string]string {
	return map[string]string{t.Features: "features (scored)", t.Predictions: "predictions", t.Labels: "labels",
		t.DriftEvents: "drift events", t.DeadLetter: "dead letter"}
}

// uiTopic is the message browser of one topic: ?partition=, ?from= (an
// offset; empty for the newest records) and ?limit= (at most 200).
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
	v := web.TopicView{Topic: name, Limit: browseDefault, Message: msg, Error: errMsg,
		CanProduce: roleRank[currentUser(c).Role] >= roleRank[RoleOperator]}
	for _, p := range topic.Partitions {
		v.Partitions = append(v.Partitions, p.ID)
	}
	sort.Slice(v.Partitions, func(i, j int) bool { return v.Partitions[i] < v.Partitions[j] })
	var problems []string
	if s := c.QueryParam("partition"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || !hasPartition(topic, int32(n)) {
			problems = append(problems, fmt.Sprintf("partition: %q is not a partition of %s (0 to %d)", s, name, len(topic.Partitions)-1))
		} else {
			v.Partition = int32(n)
		}
	}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > browseMax {
			problems = append(problems, fmt.Sprintf("limit: %q must be a number from 1 to %d", s, browseMax))
		} else {
			v.Limit = n
		}
	}
	from := int64(-v.Limit)
	if s := strings.TrimSpace(c.QueryParam("from")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			problems = append(problems, fmt.Sprintf("from: %q must be an offset (a whole number ≥ 0), or empty for the newest messages", s))
		} else {
			from, v.From = n, s
		}
	}
	for _, p := range topic.Partitions {
		if p.ID == v.Partition {
			v.Low, v.High = p.Low, p.High
		}
	}
	if len(problems) > 0 {
		v.Error = strings.TrimPrefix(v.Error+"; "+strings.Join(problems, "; "), "; ")
		status = http.StatusBadRequest
	} else {
		page, err := a.pipeline.Admin().Browse(ctx, name, v.Partition, from, v.Limit)
		if err != nil {
			v.Error = strings.TrimPrefix(v.Error+"; "+fmt.Sprintf("read %s/%d: %v", name, v.Partition, err), "; ")
		}
		v.Partial = page.Partial
		for _, m := range page.Messages {
			v.Messages = append(v.Messages, messageRow(m))
		}
	}
	p := a.page(c, "kafka", "Topic "+name)
	return renderStatus(c, status, p, web.TopicBody(p, v))
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
	} else {
		row.Value = printable(m.Value)
	}
	return row
}

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
