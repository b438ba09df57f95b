package web

import (
	"strconv"
	"strings"
	"time"
)

// PartitionRow is one partition of a topic.
type PartitionRow struct {
	ID        int32
	Low, High int64
	Leader    int32
}

// TopicRow is one topic on the Kafka page.
type TopicRow struct {
	Name       string
	Partitions []PartitionRow
	Messages   int64
	// Role says what driftd uses the topic for ("features", "predictions", ...), "" for others.
	Role string
	// Lags is the total lag on this topic of each consumer group that reads it.
	Lags []GroupLag
}

// GroupLag is one consumer group's total lag on one topic.
type GroupLag struct {
	Group string
	Lag   int64
}

// LagRow is a consumer group's lag on one partition.
type LagRow struct {
	Topic          string
	Partition      int32
	Committed, End int64
	Lag            int64
}

// GroupRow is one consumer group.
type GroupRow struct {
	Group, State string
	Members      int
	Lag          []LagRow
	TotalLag     int64
}

// ScorerView is the scorer's state and counters.
type ScorerView struct {
	State, Reason, Model, Version    string
	Consumed, Produced, DeadLettered uint64
	ProduceErrors, Commits           uint64
	LastError                        string
	LastErrorAt                      time.Time
}

// KafkaView is the view model of the Kafka page.
type KafkaView struct {
	Topics []TopicRow
	Groups []GroupRow
	Scorer ScorerView
	// Cluster is set on a cluster's primary (DRIFTD_CLUSTER=true): the
	// scoring instances that sent a heartbeat lately are listed.
	Cluster   bool
	Instances []InstanceRow
	// InstancesTTL is how old a heartbeat may be for its instance to count
	// as live, for the section's hint.
	InstancesTTL time.Duration
	// LagURL is the fragment of the consumer lag charts, loaded by the page.
	LagURL string
	// Error is shown when the cluster could not be read.
	Error string
}

// MessageRow is one record in the message browser.
type MessageRow struct {
	Partition int32
	Offset    int64
	Key       string
	Timestamp time.Time
	Headers   []KV
	// Value is the pretty-printed JSON value, or the raw text.
	Value string
	JSON  bool
	// Long values are shown collapsed to Preview, one line, with the whole
	// value behind a disclosure; Lines counts the lines of Value.
	Long    bool
	Preview string
	Lines   int
}

// TopicView is the view model of the message browser of one topic.
type TopicView struct {
	Topic      string
	Partitions []PartitionRow
	// All is the merged view of every partition; Partition is used otherwise.
	All       bool
	Partition int32
	// From is the requested start offset ("" = the newest Limit records).
	From  string
	Limit int
	// At is the time the page was sought to, as typed ("" for none).
	At string
	// Filter keeps the records whose key, headers or JSON value satisfy
	// it ("" for every record).
	Filter string
	// Low and High are the offsets of the chosen partition.
	Low, High int64
	// Messages are the records shown, newest first; Scanned counts the
	// records read to find them, and Exhausted says a filtered scan
	// stopped at its bound before filling the page (the pager continues it).
	Messages  []MessageRow
	Scanned   int
	Exhausted bool
	// OlderURL, NewerURL and NewestURL link to the neighbouring pages ("" when there is none).
	OlderURL, NewerURL, NewestURL string
	// FollowURL, on the newest page, is polled for newer records from the
	// cursor FollowAfter ("partition:offset,...").
	FollowURL, FollowAfter string
	// CSVURL downloads the page as CSV.
	CSVURL string
	// Partial is set when the read ran out of time before reaching the
	// partition's end (a compacted topic, deleted records, a slow broker).
	Partial bool
	// CanProduce is set for operators and admins.
	CanProduce bool
	Message    string
	Error      string
}

// FollowView is one answer to the message browser's Follow poll: the new
// records, newest first, and the cursor of the next poll.
type FollowView struct {
	Messages []MessageRow
	After    string
	// Skipped counts the records left out of a backlog too long to show;
	// Scanned the records read.
	Skipped int64
	Scanned int
}

// FollowMax is how many rows the message browser keeps while following.
const FollowMax = 500

// LagView is the view model of the consumer lag charts: one chart per
// consumer group, a line per topic it reads.
type LagView struct {
	Charts []LagChart
	// Range is the span shown ("1h", "6h" or "24h"); Ranges the choices.
	Range  string
	Ranges []string
	// Step is the sampling interval, for the explanation.
	Step string
	// Since is when the server began sampling; Dropped counts the
	// group/topic series left out beyond the bound.
	Since   string
	Dropped int
}

// LagChart is the lag of one consumer group over time.
type LagChart struct {
	Group string
	// Now is the group's latest total lag over its topics.
	Now   int64
	Chart TimeChart
}

// Intro says what the lag charts show and since when.
func (v LagView) Intro() string {
	s := "Each group's lag per topic (records behind), sampled every " + v.Step + " by the server and kept in memory for 24 hours"
	if v.Since != "" {
		s += " (since " + v.Since + ")"
	}
	return s + "."
}

// listSep ends item i of n in a list: a comma between items, a full stop
// after the last.
func listSep(i, n int) string {
	if i == n-1 {
		return "."
	}
	return ", "
}

// InstanceRow is one live scoring process of a cluster.
type InstanceRow struct {
	ID, Role, Host string
	// HTTPAddr is the instance's HTTP address ("" when unknown).
	HTTPAddr         string
	Version          string // the version it scores with, "" when none
	Partitions       []int32
	Consumed         uint64
	RecordsPerSecond float64
	Lag              int64 // -1 unknown
	Started, At      time.Time
}

// partitionList renders partitions as "0, 3, 4", or "none".
func partitionList(ps []int32) string {
	if len(ps) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(int(p)))
	}
	return b.String()
}
