package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"driftd/stream"
)

// topicJSON is one topic in GET /api/v1/kafka/topics.
type topicJSON struct {
	Name       string          `json:"name"`
	Partitions []partitionJSON `json:"partitions"`
	Messages   int64           `json:"messages"`
}

type partitionJSON struct {
	ID     int32 `json:"id"`
	Low    int64 `json:"low"`
	High   int64 `json:"high"`
	Leader int32 `json:"leader"`
}

// apiKafkaTopics lists topics with partition offsets and message counts.
func (a *App) apiKafkaTopics(c echo.Context) error {
	topics, err := a.pipeline.Admin().Topics(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]topicJSON, 0, len(topics))
	for _, t := range topics {
		tj := topicJSON{Name: t.Name, Messages: t.Messages, Partitions: []partitionJSON{}}
		for _, p := range t.Partitions {
			tj.Partitions = append(tj.Partitions, partitionJSON{p.ID, p.Low, p.High, p.Leader})
		}
		out = append(out, tj)
	}
	return c.JSON(http.StatusOK, map[string]any{"topics": out})
}

// groupJSON is one consumer group in GET /api/v1/kafka/groups.
type groupJSON struct {
	Group    string    `json:"group"`
	State    string    `json:"state"`
	Members  int       `json:"members"`
	TotalLag int64     `json:"total_lag"`
	Lag      []lagJSON `json:"lag"`
}

type lagJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
}

// apiKafkaGroups lists consumer groups with per-partition lag.
func (a *App) apiKafkaGroups(c echo.Context) error {
	groups, err := a.pipeline.Admin().Groups(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]groupJSON, 0, len(groups))
	for _, g := range groups {
		gj := groupJSON{Group: g.Group, State: g.State, Members: g.Members, TotalLag: g.TotalLag, Lag: []lagJSON{}}
		for _, l := range g.Lag {
			gj.Lag = append(gj.Lag, lagJSON{l.Topic, l.Partition, l.Committed, l.End, l.Lag})
		}
		out = append(out, gj)
	}
	return c.JSON(http.StatusOK, map[string]any{"groups": out})
}

// messageJSON is one record in the message browser. Value is the record as
// JSON when it is JSON, else ValueText holds it as text (or base64 when it is
// not UTF-8).
type messageJSON struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp time.Time         `json:"timestamp"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers,omitempty"`
	Value     json.RawMessage   `json:"value,omitempty"`
	ValueText string            `json:"value_text,omitempty"`
	Base64    []byte            `json:"value_base64,omitempty"`
}

// apiKafkaMessages browses a partition: ?partition=0&offset=N (from offset N)
// or ?newest=N (the last N records, the default with N=20); &limit= caps the
// count. &filter= keeps the records that satisfy an expression of the
// message browser ("plan = pro and x1 > 3"), scanning at most topicScanMax
// records from the offset forward (or from the end backward); "scanned"
// says how many were read and "next" where a forward scan stopped.
func (a *App) apiKafkaMessages(c echo.Context) error {
	topic := c.Param("topic")
	info, err := a.requireTopic(c, topic)
	if err != nil {
		return err
	}
	part, err := intParam(c, "partition", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	if !hasPartition(info, int32(part)) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("topic %q has no partition %d (it has %d)", topic, part, len(info.Partitions)))
	}
	limit, err := intParam(c, "limit", 20, 1, 1000)
	if err != nil {
		return err
	}
	from := int64(-limit)
	if c.QueryParam("offset") != "" {
		o, err := intParam(c, "offset", 0, 0, 1<<62)
		if err != nil {
			return err
		}
		from = int64(o)
	} else if c.QueryParam("newest") != "" {
		n, err := intParam(c, "newest", 20, 1, 1000)
		if err != nil {
			return err
		}
		from = -int64(n)
	}
	if expr := strings.TrimSpace(c.QueryParam("filter")); expr != "" {
		return a.apiKafkaMessagesFiltered(c, info, int32(part), from, limit, expr)
	}
	page, err := a.pipeline.Admin().Browse(c.Request().Context(), topic, int32(part), from, limit)
	if err != nil {
		return err
	}
	out := make([]messageJSON, 0, len(page.Messages))
	for _, m := range page.Messages {
		out = append(out, toMessageJSON(m))
	}
	// partial: the read ran out of time before the range's end (compacted or
	// deleted offsets never arrive); next: where the following page starts.
	return c.JSON(http.StatusOK, map[string]any{"topic": topic, "partition": part, "messages": out, "partial": page.Partial,
		"next": page.Next, "scanned": len(page.Messages)})
}

// apiKafkaMessagesFiltered answers a filtered read of one partition: from
// offset from forward, or (from < 0) from the end backward; the messages
// in offset order either way.
func (a *App) apiKafkaMessagesFiltered(c echo.Context, info *stream.TopicInfo, part int32, from int64, limit int, expr string) error {
	f, err := parseMsgFilter(expr)
	if err != nil {
		return badRequest("filter", "%s", strings.TrimPrefix(err.Error(), "filter: "))
	}
	var p stream.PartitionInfo
	for _, x := range info.Partitions {
		if x.ID == part {
			p = x
		}
	}
	pos, forward := cursor{part: from}, from >= 0
	if !forward {
		pos = nil
	}
	page, err := browseMerged(c.Request().Context(), a.pipeline.Admin(), info.Name, []stream.PartitionInfo{p}, pos, forward, limit, f.match, topicScanMax)
	if err != nil {
		return err
	}
	out := make([]messageJSON, 0, len(page.Messages))
	for i := len(page.Messages) - 1; i >= 0; i-- { // the page is newest first
		out = append(out, toMessageJSON(page.Messages[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"topic": info.Name, "partition": part, "messages": out, "partial": page.Partial,
		"next": page.Next[part], "scanned": page.Scanned, "filter": f.String()})
}

func toMessageJSON(m stream.Message) messageJSON {
	mj := messageJSON{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: string(m.Key), Headers: m.Headers}
	switch {
	case json.Valid(m.Value):
		mj.Value = json.RawMessage(m.Value)
	case utf8.Valid(m.Value):
		mj.ValueText = string(m.Value)
	default:
		mj.Base64 = m.Value
	}
	return mj
}

// produceRequest is the body of POST /api/v1/kafka/topics/{topic}/messages.
type produceRequest struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// apiKafkaProduce produces one test message and answers with its position.
func (a *App) apiKafkaProduce(c echo.Context) error {
	topic := c.Param("topic")
	if _, err := a.requireTopic(c, topic); err != nil {
		return err
	}
	var req produceRequest
	if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
		return badRequest("", "body must be {\"key\": \"...\", \"value\": <JSON>}: %v", err)
	}
	if len(req.Value) == 0 {
		return badRequest("value", "is required")
	}
	value := []byte(req.Value)
	var s string
	if json.Unmarshal(req.Value, &s) == nil {
		value = []byte(s) // a JSON string is produced as its text
	}
	part, off, err := a.pipeline.Admin().ProduceTest(c.Request().Context(), topic, []byte(req.Key), value)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"topic": topic, "partition": part, "offset": off})
}

// requireTopic returns the topic, or a 404 for a topic the cluster does not have.
func (a *App) requireTopic(c echo.Context, topic string) (*stream.TopicInfo, error) {
	topics, err := a.pipeline.Admin().Topics(c.Request().Context())
	if err != nil {
		return nil, err
	}
	for i := range topics {
		if topics[i].Name == topic {
			return &topics[i], nil
		}
	}
	return nil, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("topic %q not found", topic))
}

// apiScorer returns the scorer's state and counters.
func (a *App) apiScorer(c echo.Context) error {
	s := a.pipeline.ScorerStatus()
	return c.JSON(http.StatusOK, map[string]any{
		"state": s.State, "reason": s.Reason, "model": s.Model, "version": s.Version,
		"consumed": s.Consumed, "produced": s.Produced, "dead_lettered": s.DeadLettered,
		"produce_errors": s.ProduceErrors, "commits": s.Commits, "last_error": s.LastError,
		"topics": a.pipeline.Topics(),
	})
}

// intParam parses an optional integer query parameter within [min, max].
func intParam(c echo.Context, name string, def, min, max int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest(name, "not an integer: %q", v)
	}
	if n < min || n > max {
		return 0, badRequest(name, "must be between %d and %d, got %d", min, max, n)
	}
	return n, nil
}
