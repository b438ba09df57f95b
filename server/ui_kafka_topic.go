package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/stream"
	"driftd/web"
)

// uiTopic is the message browser of one topic. Its state is in the URL:
// ?partition= (empty: all partitions merged, newest first), ?from= (an
// offset of that partition to read forward from), ?before= and ?after=
// (cursors of the older and newer pages), ?at= (a time to seek to),
// ?limit= (at most 200), ?filter= (records whose key, headers or JSON value
// satisfy an expression like "plan = pro and x1 > 3"; the older
// ?field=&value= means "field = value"), and ?format=csv downloads the
// page. A filtered page scans at most topicScanMax records.
func (a *App) uiTopic(c echo.Context) error {
	return a.renderTopic(c, http.StatusOK, c.QueryParam("msg"), "")
}

const (
	// topicScanMax bounds the records one filtered page reads; the page's
	// older (or newer) link continues the scan.
	topicScanMax = 10000
	// followMax bounds the records one Follow poll answers; followScanMax
	// the records a filtered poll reads.
	followMax     = 200
	followScanMax = 10000
)

// topicFor finds the topic of the request's :topic.
func (a *App) topicFor(c echo.Context) (*stream.TopicInfo, error) {
	if a.pipeline == nil || a.pipeline.Admin() == nil {
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, "the Kafka pipeline is not running")
	}
	name := c.Param("topic")
	topics, err := a.pipeline.Admin().Topics(c.Request().Context())
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	for i := range topics {
		if topics[i].Name == name {
			sort.Slice(topics[i].Partitions, func(x, y int) bool { return topics[i].Partitions[x].ID < topics[i].Partitions[y].ID })
			return &topics[i], nil
		}
	}
	return nil, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("topic %q does not exist", name))
}

// scanParts are the partitions a query reads: all, or the chosen one.
func (q topicQuery) scanParts(t *stream.TopicInfo) []stream.PartitionInfo {
	if q.all {
		return t.Partitions
	}
	for _, p := range t.Partitions {
		if p.ID == q.partition {
			return []stream.PartitionInfo{p}
		}
	}
	return nil
}

// keep is the query's filter as a predicate; nil keeps every record.
func (q topicQuery) keep() func(stream.Message) bool {
	if q.filter.empty() {
		return nil
	}
	return q.filter.match
}

// renderTopic renders the message browser with a message or an error.
func (a *App) renderTopic(c echo.Context, status int, msg, errMsg string) error {
	topic, err := a.topicFor(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	name := topic.Name
	q, problems := parseTopicQuery(c, topic)
	v := web.TopicView{Topic: name, All: q.all, Partition: q.partition, From: q.fromText, Limit: q.limit,
		At: q.atText, Filter: q.filterText, Message: msg, Error: errMsg,
		CanProduce: roleRank[currentUser(c).Role] >= roleRank[RoleOperator]}
	for _, p := range topic.Partitions {
		v.Partitions = append(v.Partitions, web.PartitionRow{ID: p.ID, Low: p.Low, High: p.High, Leader: p.Leader})
		if p.ID == q.partition {
			v.Low, v.High = p.Low, p.High
		}
	}
	if len(problems) == 0 && !q.at.IsZero() {
		offs, err := a.pipeline.Admin().OffsetsAt(ctx, name, q.at)
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			q.pos, q.newer = cursor(offs), true
		}
	}
	var page mergedPage
	if len(problems) > 0 {
		status = http.StatusBadRequest
	} else {
		page, err = browseMerged(ctx, a.pipeline.Admin(), name, q.scanParts(topic), q.pos, q.newer, q.limit, q.keep(), topicScanMax)
		if err != nil {
			problems = append(problems, fmt.Sprintf("read %s: %v", name, err))
		}
	}
	if c.QueryParam("format") == "csv" && len(problems) == 0 {
		return writeMessagesCSV(c, name, page.Messages)
	}
	v.Partial, v.Scanned, v.Exhausted = page.Partial, page.Scanned, page.Exhausted
	if page.Older != nil {
		v.OlderURL = topicURL(name, q, url.Values{"before": {q.cursorText(page.Older)}})
	}
	if page.Newer != nil {
		v.NewerURL = topicURL(name, q, url.Values{"after": {q.cursorText(page.Newer)}})
		v.NewestURL = topicURL(name, q, nil)
	} else if len(problems) == 0 {
		// The newest page: Follow polls for what comes after it.
		v.FollowURL = topicLink("/kafka/topics/"+url.PathEscape(name)+"/follow", q, nil)
		v.FollowAfter = q.cursorText(page.Next)
	}
	v.CSVURL = topicURL(name, q, q.position(url.Values{"format": {"csv"}}))
	for _, m := range page.Messages {
		v.Messages = append(v.Messages, messageRow(m))
	}
	if len(problems) > 0 {
		v.Error = strings.TrimPrefix(v.Error+"; "+strings.Join(problems, "; "), "; ")
	}
	p := a.page(c, "kafka", "Topic "+name)
	return renderStatus(c, status, p, web.TopicBody(p, v))
}

// uiTopicFollow answers the message browser's Follow: the records at or
// after ?after= (a cursor, "partition:offset,..."), newest first, as table
// rows, for the page's ?partition= and ?filter=. At most followMax records:
// unfiltered, a larger backlog is skipped to the newest followMax (the
// answer says how many were skipped); filtered, at most followScanMax are
// read and the next poll goes on from there. The answer's data-after is
// the cursor of the next poll.
func (a *App) uiTopicFollow(c echo.Context) error {
	topic, err := a.topicFor(c)
	if err != nil {
		return err
	}
	q, problems := parseTopicQuery(c, topic)
	if len(problems) > 0 {
		return badRequest("", "%s", strings.Join(problems, "; "))
	}
	parts := q.scanParts(topic)
	pos := q.pos
	if c.QueryParam("after") == "" {
		pos = cursor{} // nothing seen: start at the end
	}
	var backlog int64
	for _, p := range parts {
		at, ok := pos[p.ID]
		if !ok {
			at = p.High
		}
		backlog += p.High - min(max(at, p.Low), p.High)
	}
	var page mergedPage
	skipped := int64(0)
	if q.filter.empty() && backlog > followMax {
		page, err = browseMerged(c.Request().Context(), a.pipeline.Admin(), topic.Name, parts, nil, false, followMax, nil, 0)
		skipped = backlog - int64(len(page.Messages))
	} else {
		page, err = browseMerged(c.Request().Context(), a.pipeline.Admin(), topic.Name, parts, pos, true, followMax, q.keep(), followScanMax)
	}
	if err != nil {
		return fmt.Errorf("follow %s: %w", topic.Name, err)
	}
	v := web.FollowView{After: q.cursorText(page.Next), Skipped: skipped, Scanned: page.Scanned}
	for _, m := range page.Messages {
		v.Messages = append(v.Messages, messageRow(m))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c.Request().Context(), c, http.StatusOK, web.FollowRows(v))
}

// writeMessagesCSV answers a page of the message browser as CSV.
func writeMessagesCSV(c echo.Context, topic string, msgs []stream.Message) error {
	rows := make([][]string, 0, len(msgs))
	for _, m := range msgs {
		headers := ""
		if len(m.Headers) > 0 {
			b, err := json.Marshal(m.Headers)
			if err != nil {
				return fmt.Errorf("headers of %s/%d@%d: %w", topic, m.Partition, m.Offset, err)
			}
			headers = string(b)
		}
		rows = append(rows, []string{strconv.Itoa(int(m.Partition)), strconv.FormatInt(m.Offset, 10),
			m.Timestamp.UTC().Format(time.RFC3339Nano), printable(m.Key), headers, printable(m.Value)})
	}
	return writeCSV(c, "messages-"+topic+".csv", []string{"partition", "offset", "timestamp", "key", "headers", "value"}, rows)
}

// topicQuery is the message browser's parsed URL.
type topicQuery struct {
	all       bool
	partition int32
	fromText  string
	pos       cursor
	newer     bool
	limit     int
	at        time.Time
	atText    string
	// posParams are the URL parameters that placed the page (from, before,
	// after or at), for links to the same page (the CSV download).
	posParams  url.Values
	filter     msgFilter
	filterText string
}

// cursorText writes a cursor of the query's partitions.
func (q topicQuery) cursorText(c cursor) string {
	if q.all {
		return c.String()
	}
	return cursor{q.partition: c[q.partition]}.String()
}

// position adds the parameters that placed the page to set.
func (q topicQuery) position(set url.Values) url.Values {
	for k, v := range q.posParams {
		set[k] = v
	}
	return set
}

// parseTopicQuery reads the browser's URL, returning what was wrong with it.
func parseTopicQuery(c echo.Context, topic *stream.TopicInfo) (topicQuery, []string) {
	q := topicQuery{all: true, limit: browseDefault, posParams: url.Values{}}
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
	if s := strings.TrimSpace(c.QueryParam("from")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil || n < 0:
			problems = append(problems, fmt.Sprintf("from: %q must be an offset (a whole number ≥ 0), or empty for the newest messages", s))
		case q.all:
			problems = append(problems, "from: offsets belong to one partition; choose a partition to page by offset, or seek all partitions by time")
		default:
			q.pos, q.newer, q.fromText = cursor{q.partition: n}, true, s
			q.posParams.Set("from", s)
		}
	}
	for _, k := range []string{"before", "after"} {
		if s := c.QueryParam(k); s != "" {
			pos, err := parseCursor(s, topic.Partitions)
			if err != nil {
				problems = append(problems, k+": "+err.Error())
			} else {
				q.pos, q.newer = pos, k == "after"
				q.posParams.Set(k, s)
			}
		}
	}
	if s := strings.TrimSpace(c.QueryParam("at")); s != "" {
		t, err := parseSeekTime(s)
		if err != nil {
			problems = append(problems, "at: "+err.Error())
		} else {
			q.at, q.atText = t, s
			q.posParams.Set("at", s)
		}
	}
	if s := strings.TrimSpace(c.QueryParam("filter")); s != "" {
		f, err := parseMsgFilter(s)
		if err != nil {
			problems = append(problems, err.Error())
		}
		q.filter, q.filterText = f, s
	} else if field := strings.TrimSpace(c.QueryParam("field")); field != "" {
		q.filter = fieldEquals(field, c.QueryParam("value"))
		q.filterText = q.filter.String()
	}
	return q, problems
}

// topicURL links to the message browser keeping the page size, the
// partition and the filter; set adds the position (or a format).
func topicURL(name string, q topicQuery, set url.Values) string {
	return topicLink("/kafka/topics/"+url.PathEscape(name), q, set)
}

// topicLink is topicURL for any path of the topic (its Follow endpoint).
func topicLink(u string, q topicQuery, set url.Values) string {
	v := url.Values{}
	if q.limit != browseDefault {
		v.Set("limit", strconv.Itoa(q.limit))
	}
	if q.filterText != "" {
		v.Set("filter", q.filterText)
	}
	if !q.all {
		v.Set("partition", strconv.Itoa(int(q.partition)))
	}
	for k, vals := range set {
		v[k] = vals
	}
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}
