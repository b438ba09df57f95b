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
	// Predictions, when set, is the predictions topic the joiner reads the
	// predictions to remember from (besides Remember), in its own consumer
	// group (Group + "-predictions"), so that a label is joined whichever
	// process scored its record: the primary of a cluster joins them all. A
	// new group starts TTL back in time (older predictions could not be
	// joined any more). A label whose prediction has not been read yet waits
	// up to EarlyTTL for it.
	Predictions string
	// EarlyTTL is how long a label read before its prediction waits for it
	// when Predictions is set (default 1m); at most MaxEntries/10 wait.
	EarlyTTL time.Duration
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

	// early holds labels read before their prediction (only with
	// Predictions set), oldest first in earlyQ.
	early  map[string]earlyLabel
	earlyQ []string

	predictionsRead *metrics.Counter

	client, predClient *kgo.Client
	cancel             context.CancelFunc
	done               chan struct{}
}

// earlyLabel is a label waiting for its prediction to be read.
type earlyLabel struct {
	actual string
	at     time.Time
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
	if cfg.EarlyTTL <= 0 {
		cfg.EarlyTTL = time.Minute
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
		early:     map[string]earlyLabel{},
		// Exported only when predictions are read back: no series with an
		// empty topic on a single process.
		predictionsRead: readCounter(set, cfg.Predictions),
	}, nil
}

// readCounter is driftd_labels_predictions_read_total of topic in set, or
// an unexported counter when topic is "".
func readCounter(set *metrics.Set, topic string) *metrics.Counter {
	if topic == "" {
		set = metrics.NewSet()
	}
	return set.GetOrCreateCounter(`driftd_labels_predictions_read_total{topic=` + strconv.Quote(topic) + `}`)
}

// Remember records a prediction awaiting its label (the scorer's
// OnPrediction). A prediction of an id already waiting replaces it; one
// larger than MaxBytes on its own is not kept.
func (j *LabelJoiner) Remember(id string, score float64, predicted string) {
	now := j.cfg.Now()
	j.mu.Lock()
	if e, ok := j.early[id]; ok {
		// Its label came first: join now.
		delete(j.early, id)
		if p, ok := j.preds[id]; ok {
			j.remove(p)
		}
		j.mu.Unlock()
		j.joined.Inc()
		if j.cfg.OnJoin != nil {
			j.cfg.OnJoin(id, score, predicted, e.actual)
		}
		return
	}
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

// evictEarlyLocked counts as unmatched and drops the early labels that
// waited EarlyTTL, then the oldest beyond MaxEntries/10.
func (j *LabelJoiner) evictEarlyLocked(now time.Time) {
	limit := max(j.cfg.MaxEntries/10, 1)
	for len(j.earlyQ) > 0 {
		id := j.earlyQ[0]
		e, ok := j.early[id]
		if ok && now.Sub(e.at) < j.cfg.EarlyTTL && len(j.early) <= limit {
			return
		}
		j.earlyQ[0] = ""
		j.earlyQ = j.earlyQ[1:]
		if ok {
			delete(j.early, id)
			j.unmatched.Inc()
		}
	}
}

// Early returns the number of labels waiting for their prediction.
func (j *LabelJoiner) Early() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.evictEarlyLocked(j.cfg.Now())
	return len(j.early)
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
	} else if j.cfg.Predictions != "" {
		// The prediction may still be on its way through the predictions
		// topic: the label waits for it (counted unmatched if it expires).
		j.evictEarlyLocked(now)
		if _, dup := j.early[id]; !dup {
			j.earlyQ = append(j.earlyQ, id)
		}
		j.early[id] = earlyLabel{actual: actual, at: now}
		j.evictEarlyLocked(now)
		j.mu.Unlock()
		return false
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

// ParsePrediction decodes the id, score and label of a record of the
// predictions topic ({"id","model","version","score","label","ts"}); a
// record without an id cannot be joined and is an error.
func ParsePrediction(b []byte) (id string, score float64, label string, err error) {
	var v struct {
		ID    json.RawMessage
		Score *float64
		Label json.RawMessage
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", 0, "", fmt.Errorf("prediction record: %w", err)
	}
	if id, err = scalarString(v.ID); err != nil || id == "" {
		return "", 0, "", errors.New(`prediction record: field "id" must be a non-empty string or number`)
	}
	if v.Score == nil {
		return "", 0, "", errors.New(`prediction record: field "score" must be a number`)
	}
	if label, err = scalarString(v.Label); err != nil {
		return "", 0, "", errors.New(`prediction record: field "label" must be a string or number`)
	}
	return id, *v.Score, label, nil
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
	if j.cfg.Predictions != "" {
		// A new group starts TTL back: older predictions would be evicted
		// unjoined anyway.
		from := kgo.NewOffset().AfterMilli(j.cfg.Now().Add(-j.cfg.TTL).UnixMilli())
		pc, err := NewClient(j.cfg.Client, kgo.ConsumerGroup(j.cfg.Group+"-predictions"), kgo.ConsumeTopics(j.cfg.Predictions),
			kgo.ConsumeResetOffset(from))
		if err != nil {
			cl.Close()
			return fmt.Errorf("labels: predictions consumer: %w", err)
		}
		j.predClient = pc
	}
	ctx, j.cancel = context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	j.done = done
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		if j.predClient != nil {
			wg.Go(func() { j.readPredictions(ctx) })
		}
		j.readLabels(ctx)
		wg.Wait()
	}()
	return nil
}

// readPredictions remembers every prediction read from the predictions
// topic until ctx ends.
func (j *LabelJoiner) readPredictions(ctx context.Context) {
	for ctx.Err() == nil {
		f := j.predClient.PollRecords(ctx, 4096)
		if f.IsClientClosed() {
			return
		}
		f.EachRecord(func(r *kgo.Record) {
			id, score, label, err := ParsePrediction(r.Value)
			if err != nil {
				// Records without an id cannot be joined; nothing is wrong.
				return
			}
			j.predictionsRead.Inc()
			j.Remember(id, score, label)
		})
	}
}

// readLabels joins every label read from the labels topic until ctx ends.
func (j *LabelJoiner) readLabels(ctx context.Context) {
	for ctx.Err() == nil {
		f := j.client.PollRecords(ctx, 1000)
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
	if j.predClient != nil {
		j.predClient.Close()
	}
	return nil
}
