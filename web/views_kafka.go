package web

import "time"

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
	// Field and Value filter the page to records whose JSON field has the value.
	Field, Value string
	// Low and High are the offsets of the chosen partition.
	Low, High int64
	// Messages are the records shown, newest first; Read counts the records
	// read for the page before the field filter.
	Messages []MessageRow
	Read     int
	// OlderURL, NewerURL and NewestURL link to the neighbouring pages ("" when there is none).
	OlderURL, NewerURL, NewestURL string
	// Partial is set when the read ran out of time before reaching the
	// partition's end (a compacted topic, deleted records, a slow broker).
	Partial bool
	// CanProduce is set for operators and admins.
	CanProduce bool
	Message    string
	Error      string
}
