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

// uiKafka shows topics with offsets, consumer groups with lag and the
// scorer, and loads the consumer lag charts. ?format=csv&table=topics (or
// groups) downloads that table.
func (a *App) uiKafka(c echo.Context) error {
	v := web.KafkaView{LagURL: "/kafka/lag?fragment=1"}
	if a.pipeline == nil || a.pipeline.Admin() == nil {
		v.Error = "The Kafka pipeline is not running."
		return a.renderPage(c, a.page(c, "kafka", "Kafka"), web.KafkaBody(v))
	}
	ctx := c.Request().Context()
	st := a.pipeline.ScorerStatus()
	v.Scorer = web.ScorerView{State: st.State, Reason: st.Reason, Model: st.Model, Version: st.Version,
		Consumed: st.Consumed, Produced: st.Produced, DeadLettered: st.DeadLettered, ProduceErrors: st.ProduceErrors,
		Commits: st.Commits, LastError: st.LastError, LastErrorAt: st.LastErrorAt}
	if a.cfg.Cluster {
		v.Cluster, v.InstancesTTL = true, instancesTTL
		for _, in := range a.pipeline.LiveInstances() {
			v.Instances = append(v.Instances, web.InstanceRow{ID: in.ID, Role: in.Role, Host: in.Host, HTTPAddr: in.HTTPAddr,
				Version: in.Version, Partitions: in.Partitions, Consumed: in.Consumed, RecordsPerSecond: in.RecordsPerSecond,
				Lag: in.Lag, Started: in.Started, At: in.At})
		}
	}
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
	if c.QueryParam("format") == "csv" {
		if v.Error != "" {
			return echo.NewHTTPError(http.StatusBadGateway, v.Error)
		}
		switch t := c.QueryParam("table"); t {
		case "topics":
			return writeTopicsCSV(c, v.Topics)
		case "groups":
			return writeGroupsCSV(c, v.Groups)
		default:
			return badRequest("table", "%q: must be topics or groups", t)
		}
	}
	return a.renderPage(c, a.page(c, "kafka", "Kafka"), web.KafkaBody(v))
}

// writeTopicsCSV answers the topic list as CSV: one row per topic, with
// each partition's offsets and each consumer group's lag on it.
func writeTopicsCSV(c echo.Context, topics []web.TopicRow) error {
	rows := make([][]string, 0, len(topics))
	for _, t := range topics {
		var offs, lags []string
		for _, p := range t.Partitions {
			offs = append(offs, fmt.Sprintf("%d:%d-%d", p.ID, p.Low, p.High))
		}
		var total int64
		for _, l := range t.Lags {
			lags = append(lags, fmt.Sprintf("%s=%d", l.Group, l.Lag))
			total += l.Lag
		}
		rows = append(rows, []string{t.Name, t.Role, strconv.Itoa(len(t.Partitions)), strconv.FormatInt(t.Messages, 10),
			strconv.FormatInt(total, 10), strings.Join(lags, " "), strings.Join(offs, " ")})
	}
	return writeCSV(c, "kafka-topics.csv", []string{"topic", "used_for", "partitions", "messages", "consumer_lag", "lag_by_group", "offsets_low_high"}, rows)
}

// writeGroupsCSV answers the consumer groups as CSV: one row per group and
// partition it has offsets on (a group without any: one row).
func writeGroupsCSV(c echo.Context, groups []web.GroupRow) error {
	var rows [][]string
	for _, g := range groups {
		head := []string{g.Group, g.State, strconv.Itoa(g.Members), strconv.FormatInt(g.TotalLag, 10)}
		if len(g.Lag) == 0 {
			rows = append(rows, append(head, "", "", "", "", ""))
		}
		for _, l := range g.Lag {
			committed := ""
			if l.Committed >= 0 {
				committed = strconv.FormatInt(l.Committed, 10)
			}
			rows = append(rows, append(slices.Clone(head), l.Topic, strconv.Itoa(int(l.Partition)), committed,
				strconv.FormatInt(l.End, 10), strconv.FormatInt(l.Lag, 10)))
		}
	}
	return writeCSV(c, "kafka-consumer-groups.csv", []string{"group", "state", "members", "total_lag", "topic", "partition", "committed", "end", "lag"}, rows)
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
