package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Admin serves the Kafka views of the UI and API.
type Admin struct {
	cfg Config
	cl  *kgo.Client
	adm *kadm.Client
}

// TopicInfo describes one topic.
type TopicInfo struct {
	Name       string
	Partitions []PartitionInfo
	Messages   int64 // sum of high - low over partitions
}

// PartitionInfo describes one partition's offsets and leader.
type PartitionInfo struct {
	ID        int32
	Low, High int64
	Leader    int32
}

// GroupInfo describes a consumer group and its lag.
type GroupInfo struct {
	Group    string
	State    string
	Members  int
	Lag      []PartitionLag
	TotalLag int64
}

// PartitionLag is a group's lag on one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64 // -1 when nothing committed
	End       int64
	Lag       int64
}

// Message is one record for the message browser.
type Message struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
	Timestamp time.Time
}

// NewAdmin returns an Admin; Close releases its client.
func NewAdmin(cfg Config) (*Admin, error) {
	cl, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Admin{cfg: cfg, cl: cl, adm: kadm.NewClient(cl)}, nil
}

// Close closes the admin client.
func (a *Admin) Close() { a.cl.Close() }

// Topics lists the non-internal topics with partition offsets, sorted by name.
func (a *Admin) Topics(ctx context.Context) ([]TopicInfo, error) {
	md, err := a.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	names := md.Names()
	starts, err := a.adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := a.adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var out []TopicInfo
	for _, td := range md.Sorted() {
		if td.IsInternal {
			continue
		}
		ti := TopicInfo{Name: td.Topic}
		for _, pd := range td.Partitions.Sorted() {
			pi := PartitionInfo{ID: pd.Partition, Leader: pd.Leader}
			if o, ok := starts.Lookup(td.Topic, pd.Partition); ok && o.Err == nil {
				pi.Low = o.Offset
			}
			if o, ok := ends.Lookup(td.Topic, pd.Partition); ok && o.Err == nil {
				pi.High = o.Offset
			}
			ti.Messages += pi.High - pi.Low
			ti.Partitions = append(ti.Partitions, pi)
		}
		out = append(out, ti)
	}
	return out, nil
}

// Groups lists consumer groups with per-partition lag, sorted by name.
func (a *Admin) Groups(ctx context.Context) ([]GroupInfo, error) {
	listed, err := a.adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	groups := listed.Groups()
	if len(groups) == 0 {
		return nil, nil
	}
	lags, err := a.adm.Lag(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("group lag: %w", err)
	}
	var out []GroupInfo
	for _, g := range lags.Sorted() {
		gi := GroupInfo{Group: g.Group, State: g.State, Members: len(g.Members), TotalLag: g.Lag.Total()}
		for _, l := range g.Lag.Sorted() {
			gi.Lag = append(gi.Lag, PartitionLag{Topic: l.Topic, Partition: l.Partition,
				Committed: l.Commit.At, End: l.End.Offset, Lag: l.Lag})
		}
		out = append(out, gi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// BrowseTimeout bounds how long the message browser waits for the records
// it asked for when the caller's context allows longer.
const BrowseTimeout = 2 * time.Second

// MessagePage is what the message browser found.
type MessagePage struct {
	Messages []Message
	// Partial says the browser stopped before it had seen every offset of
	// the range it read (from the start offset to the high watermark the
	// partition had when it started, at most limit records): the time ran
	// out, usually because the last offsets hold no record (compacted away
	// or deleted) or the broker is slow. Messages holds what was found.
	Partial bool
	// Next is the offset after the last one seen, where a next page starts.
	Next int64
}

// Messages reads up to limit records of topic/partition starting at
// fromOffset, or the newest -fromOffset records when fromOffset < 0. It is
// Browse without the page's details.
func (a *Admin) Messages(ctx context.Context, topic string, partition int32, fromOffset int64, limit int) ([]Message, error) {
	page, err := a.Browse(ctx, topic, partition, fromOffset, limit)
	return page.Messages, err
}

// Browse reads up to limit records (100 when limit is out of 1..1000) of
// topic/partition starting at fromOffset, or the newest -fromOffset records
// when fromOffset < 0, up to the high watermark the partition has when the
// call starts. It takes at most BrowseTimeout, or until ctx's deadline when
// that is sooner; when the time runs out while reading, it returns what it
// found with Partial set (offsets of a compacted topic or of deleted records
// never arrive). Offsets that hold a transaction marker count as seen. It
// returns an error for an unknown topic or partition, offsets that cannot be
// listed in time, a fetch error, or ctx being canceled.
func (a *Admin) Browse(ctx context.Context, topic string, partition int32, fromOffset int64, limit int) (MessagePage, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	wait, cancel := context.WithTimeout(ctx, BrowseTimeout)
	defer cancel()
	starts, err := a.adm.ListStartOffsets(wait, topic)
	if err != nil {
		return MessagePage{}, fmt.Errorf("messages %s/%d: %w", topic, partition, err)
	}
	ends, err := a.adm.ListEndOffsets(wait, topic)
	if err != nil {
		return MessagePage{}, fmt.Errorf("messages %s/%d: %w", topic, partition, err)
	}
	so, ok1 := starts.Lookup(topic, partition)
	eo, ok2 := ends.Lookup(topic, partition)
	if !ok1 || !ok2 || so.Err != nil || eo.Err != nil {
		return MessagePage{}, fmt.Errorf("messages: unknown topic or partition %s/%d", topic, partition)
	}
	from := fromOffset
	if from < 0 {
		from = eo.Offset + from
	}
	from = max(from, so.Offset)
	page := MessagePage{Next: from}
	if from >= eo.Offset {
		return page, nil
	}
	end := min(eo.Offset, from+int64(limit))
	opts, err := a.cfg.Options()
	if err != nil {
		return MessagePage{}, err
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.KeepControlRecords(), // a transaction marker may hold the last offset
	)...)
	if err != nil {
		return MessagePage{}, fmt.Errorf("messages %s/%d: %w", topic, partition, err)
	}
	defer cl.Close()
	for page.Next < end {
		f := cl.PollFetches(wait)
		if err := ctx.Err(); errors.Is(err, context.Canceled) {
			return page, fmt.Errorf("messages %s/%d: %w", topic, partition, err)
		}
		for _, r := range f.Records() {
			if r.Offset < page.Next {
				continue
			}
			if r.Offset >= end {
				page.Next = end
				break
			}
			page.Next = r.Offset + 1
			if r.Attrs.IsControl() {
				continue
			}
			m := Message{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
			if len(r.Headers) > 0 {
				m.Headers = make(map[string]string, len(r.Headers))
				for _, h := range r.Headers {
					m.Headers[h.Key] = string(h.Value)
				}
			}
			page.Messages = append(page.Messages, m)
		}
		if page.Next >= end {
			break
		}
		if wait.Err() != nil {
			page.Partial = true // our deadline or the caller's
			break
		}
		if errs := f.Errors(); len(errs) > 0 {
			return page, fmt.Errorf("messages %s/%d: %w", topic, partition, errs[0].Err)
		}
	}
	return page, nil
}

// OffsetsAt returns, per partition of topic, the first offset whose record's
// timestamp is at or after t (the high watermark when there is none): where
// a reader seeking to t starts.
func (a *Admin) OffsetsAt(ctx context.Context, topic string, t time.Time) (map[int32]int64, error) {
	listed, err := a.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	if err != nil {
		return nil, fmt.Errorf("seek %s to %s: %w", topic, t.Format(time.RFC3339), err)
	}
	out := map[int32]int64{}
	var lerr error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && lerr == nil {
			lerr = fmt.Errorf("seek %s partition %d to %s: %w", topic, o.Partition, t.Format(time.RFC3339), o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out, lerr
}

// ProduceTest produces one message and waits for its acknowledgement,
// returning its partition and offset.
func (a *Admin) ProduceTest(ctx context.Context, topic string, key, value []byte) (int32, int64, error) {
	r := &kgo.Record{Topic: topic, Key: key, Value: value}
	if err := a.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return 0, 0, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return r.Partition, r.Offset, nil
}
