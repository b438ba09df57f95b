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
}

// TopicView is the view model of the message browser of one topic.
type TopicView struct {
	Topic      string
	Partitions []int32
	Partition  int32
	// From is the requested start offset ("" = the newest Limit records).
	From     string
	Limit    int
	Low      int64
	High     int64
	Messages []MessageRow
	// Partial is set when the read ran out of time before reaching the
	// partition's end (a compacted topic, deleted records, a slow broker).
	Partial bool
	// CanProduce is set for operators and admins.
	CanProduce bool
	Message    string
	Error      string
}
