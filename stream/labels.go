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
	// MaxBytes bounds the memory of the remembered predictions, counted as
	// their id and label bytes plus entryOverhead each (default 64 MiB).
	MaxBytes int64
	Now      func() time.Time
	Logger   *slog.Logger
	Metrics  *metrics.Set
	// OnJoin receives every prediction matched with its actual label.
	OnJoin func(id string, score float64, predicted, actual string)
}

// entryOverhead is what one remembered prediction costs besides its
// strings: the entry (two string headers, a float, a time and two
// pointers: 80 bytes) and its map slot (a string header and a pointer, at
// most twice over for the table's load factor and growth), rounded up.
const entryOverhead = 160

// pending is a prediction waiting for its label, in a list ordered by
// when it was last remembered (oldest first).
type pending struct {
	id         string
	predicted  string
	score      float64
	at         time.Time
	prev, next *pending
}

func (p *pending) size() int64 { return int64(len(p.id)+len(p.predicted)) + entryOverhead }

// LabelJoiner joins labels arriving on the labels topic to recent
// predictions by id, in bounded memory: one entry per id (a prediction
// remembered again replaces the earlier one and its place in line), at most
// MaxEntries entries and MaxBytes bytes, none older than TTL.
type LabelJoiner struct {
	cfg LabelConfig
	log *slog.Logger

	mu         sync.Mutex
	preds      map[string]*pending
	head, tail *pending // oldest, newest
	bytes      int64    // sum of size() over preds
	spare      *pending // an evicted entry, reused by the next Remember

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
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
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
		preds:     make(map[string]*pending),
		joined:    set.GetOrCreateCounter("driftd_labels_joined_total" + l),
		unmatched: set.GetOrCreateCounter("driftd_labels_unmatched_total" + l),
		invalid:   set.GetOrCreateCounter("driftd_labels_invalid_total" + l),
	}, nil
}

// Remember records a prediction awaiting its label (the scorer's
// OnPrediction). A prediction of an id already waiting replaces it; one
// larger than MaxBytes on its own is not kept.
func (j *LabelJoiner) Remember(id string, score float64, predicted string) {
	now := j.cfg.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	p, ok := j.preds[id]
	if int64(len(id)+len(predicted))+entryOverhead > j.cfg.MaxBytes {
		if ok { // the earlier prediction is superseded all the same
			j.remove(p)
		}
		return
	}
	if ok {
		j.unlink(p)
		j.bytes -= p.size()
	} else {
		if p = j.spare; p != nil {
			j.spare = nil
		} else {
			p = new(pending)
		}
		p.id = id
		j.preds[id] = p
	}
	p.score, p.predicted, p.at = score, predicted, now
	j.bytes += p.size()
	j.pushBack(p)
	j.evictLocked(now)
}

// evictLocked drops expired entries, then the oldest ones while there are
// more than MaxEntries or MaxBytes.
func (j *LabelJoiner) evictLocked(now time.Time) {
	for p := j.head; p != nil; p = j.head {
		if len(j.preds) <= j.cfg.MaxEntries && j.bytes <= j.cfg.MaxBytes && now.Sub(p.at) < j.cfg.TTL {
			return
		}
		j.remove(p)
		*p = pending{}
		j.spare = p
	}
}

// remove takes p out of the map and the list.
func (j *LabelJoiner) remove(p *pending) {
	j.unlink(p)
	delete(j.preds, p.id)
	j.bytes -= p.size()
}

func (j *LabelJoiner) unlink(p *pending) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		j.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		j.tail = p.prev
	}
	p.prev, p.next = nil, nil
}

func (j *LabelJoiner) pushBack(p *pending) {
	p.prev, p.next = j.tail, nil
	if j.tail != nil {
		j.tail.next = p
	} else {
		j.head = p
	}
	j.tail = p
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
	var score float64
	var predicted string
	if ok {
		score, predicted = p.score, p.predicted
		j.remove(p)
		*p = pending{}
		j.spare = p
	}
	j.mu.Unlock()
	if !ok {
		j.unmatched.Inc()
		return false
	}
	j.joined.Inc()
	if j.cfg.OnJoin != nil {
		j.cfg.OnJoin(id, score, predicted, actual)
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
