package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// LabelConfig configures a LabelJoiner.
type LabelConfig struct {
	Client     Config
	Group      string        // default "driftd-labels"
	Topic      string        // default "labels"
	TTL        time.Duration // how long a prediction waits for its label (default 1h)
	MaxEntries int           // predictions remembered at most (default 100000)
	Now        func() time.Time
	Logger     *slog.Logger
	Metrics    *metrics.Set
	// OnJoin receives every prediction matched with its actual label.
	OnJoin func(id string, score float64, predicted, actual string)
}

type pending struct {
	score     float64
	predicted string
	at        time.Time
	seq       uint64
}

type queued struct {
	id  string
	seq uint64
}

// LabelJoiner joins labels arriving on the labels topic to recent
// predictions by id, in bounded memory.
type LabelJoiner struct {
	cfg LabelConfig
	log *slog.Logger

	mu    sync.Mutex
	preds map[string]pending
	queue []queued // insertion order, for eviction; entries before head are gone
	head  int
	seq   uint64

	joined, unmatched, invalid *metrics.Counter

	client *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// NewLabelJoiner returns a joiner; Remember feeds it predictions and Start
// consumes labels.
func NewLabelJoiner(cfg LabelConfig) (*LabelJoiner, error) {
	if cfg.Group == "" {
		cfg.Group = "driftd-labels"
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopics().Labels
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	set := cfg.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	l := `{topic=` + strconv.Quote(cfg.Topic) + `}`
	return &LabelJoiner{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "labels", "topic", cfg.Topic),
		preds:     make(map[string]pending),
		joined:    set.GetOrCreateCounter("driftd_labels_joined_total" + l),
		unmatched: set.GetOrCreateCounter("driftd_labels_unmatched_total" + l),
		invalid:   set.GetOrCreateCounter("driftd_labels_invalid_total" + l),
	}, nil
}

// Remember records a prediction awaiting its label (the scorer's OnPrediction).
func (j *LabelJoiner) Remember(id string, score float64, predicted string) {
	now := j.cfg.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	j.preds[id] = pending{score: score, predicted: predicted, at: now, seq: j.seq}
	j.queue = append(j.queue, queued{id: id, seq: j.seq})
	j.evictLocked(now)
}

// evictLocked drops expired entries and keeps at most MaxEntries.
func (j *LabelJoiner) evictLocked(now time.Time) {
	i := j.head
	for ; i < len(j.queue); i++ {
		q := j.queue[i]
		p, ok := j.preds[q.id]
		if ok && p.seq != q.seq {
			continue // superseded by a newer prediction of the same id
		}
		if ok && len(j.preds) <= j.cfg.MaxEntries && now.Sub(p.at) < j.cfg.TTL {
			break
		}
		if ok {
			delete(j.preds, q.id)
		}
	}
	j.head = i
	// Compact only when the dead prefix is as long as the live part, so each
	// eviction costs O(1) amortised instead of a shift of the whole queue.
	if j.head >= 1024 && 2*j.head >= len(j.queue) {
		n := copy(j.queue, j.queue[j.head:])
		clear(j.queue[n:])
		j.queue, j.head = j.queue[:n], 0
	}
}

// Len returns the number of predictions waiting for a label.
func (j *LabelJoiner) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.preds)
}

// Join matches an actual label to a remembered prediction and calls OnJoin;
// it reports whether the id was found.
func (j *LabelJoiner) Join(id, actual string) bool {
	now := j.cfg.Now()
	j.mu.Lock()
	j.evictLocked(now)
	p, ok := j.preds[id]
	if ok {
		delete(j.preds, id)
	}
	j.mu.Unlock()
	if !ok {
		j.unmatched.Inc()
		return false
	}
	j.joined.Inc()
	if j.cfg.OnJoin != nil {
		j.cfg.OnJoin(id, p.score, p.predicted, actual)
	}
	return true
}

// ParseLabel decodes a {"id", "label"} record; id and label may be strings or numbers.
func ParseLabel(b []byte) (id, label string, err error) {
	var v struct{ ID, Label json.RawMessage }
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", fmt.Errorf("label record: %w", err)
	}
	if id, err = scalarString(v.ID); err != nil || id == "" {
		return "", "", errors.New(`label record: field "id" must be a non-empty string or number`)
	}
	if label, err = scalarString(v.Label); err != nil || label == "" {
		return "", "", errors.New(`label record: field "label" must be a non-empty string or number`)
	}
	return id, label, nil
}

func scalarString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] == 'n' {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	if isJSONNumber(string(raw)) {
		return string(raw), nil
	}
	if string(raw) == "true" || string(raw) == "false" {
		return string(raw), nil
	}
	return "", errors.New("not a scalar")
}

// Start consumes the labels topic in the background until Close.
func (j *LabelJoiner) Start(ctx context.Context) error {
	cl, err := NewClient(j.cfg.Client, kgo.ConsumerGroup(j.cfg.Group), kgo.ConsumeTopics(j.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	if err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	j.client = cl
	ctx, j.cancel = context.WithCancel(context.WithoutCancel(ctx))
	j.done = make(chan struct{})
	go func() {
		defer close(j.done)
		for ctx.Err() == nil {
			f := cl.PollRecords(ctx, 1000)
			if f.IsClientClosed() {
				return
			}
			f.EachRecord(func(r *kgo.Record) {
				id, label, err := ParseLabel(r.Value)
				if err != nil {
					j.invalid.Inc()
					j.log.Debug("invalid label record", "partition", r.Partition, "offset", r.Offset, "err", err)
					return
				}
				j.Join(id, label)
			})
		}
	}()
	return nil
}

// Close stops the labels consumer (committing its position) within ctx.
func (j *LabelJoiner) Close(ctx context.Context) error {
	if j.done == nil {
		return nil
	}
	j.cancel()
	select {
	case <-j.done:
	case <-ctx.Done():
		return fmt.Errorf("labels close: %w", ctx.Err())
	}
	j.client.Close()
	return nil
}
