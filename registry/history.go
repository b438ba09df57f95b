package registry

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// History actions recorded in the audit log.
const (
	ActionDeploy      = "deploy"
	ActionRollback    = "rollback"
	ActionUndeploy    = "undeploy"
	ActionAliasSet    = "alias_set"
	ActionAliasDelete = "alias_delete"
	ActionArchive     = "archive"
	ActionUnarchive   = "unarchive"
	ActionDelete      = "delete"
)

// Event is one audit log entry: who changed what, where, from which version to which.
type Event struct {
	ID          uint64    `json:"id"`
	Time        time.Time `json:"time"`
	User        string    `json:"user"`
	Action      string    `json:"action"`
	Model       string    `json:"model"`
	Environment string    `json:"environment"`     // "" for alias, archive and delete events
	Alias       string    `json:"alias,omitempty"` // set for alias events
	From        string    `json:"from"`
	To          string    `json:"to"`
	Reason      string    `json:"reason"`
}

type eventRecord struct {
	V int `json:"v"`
	Event
}

// HistoryQuery filters History; zero fields match everything.
type HistoryQuery struct {
	Model       string // only this model
	Environment string // only this environment
	Alias       string // only this alias
	Before      uint64 // only events with ID < Before (paging); 0 = no bound
	Limit       int    // maximum events returned (default 100, at most 10000)
}

const maxReasonLen = 1024

func validReason(r string) error {
	if len(r) > maxReasonLen {
		return fieldErr("reason", "longer than %d bytes", maxReasonLen)
	}
	return nil
}

// appendEvent assigns the next id to ev and stores it.
func appendEvent(tx *bbolt.Tx, ev *Event) error {
	b := tx.Bucket(bucketHistory)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	ev.ID = seq
	return putJSON(b, u64key(seq), eventRecord{V: 1, Event: *ev})
}

// History returns audit events matching q, newest first.
func (s *Store) History(ctx context.Context, q HistoryQuery) ([]Event, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	if q.Limit > 10000 {
		q.Limit = 10000
	}
	out := []Event{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		if q.Model != "" && tx.Bucket(bucketModels).Get([]byte(q.Model)) == nil {
			return fmt.Errorf("model %q: %w", q.Model, ErrNotFound)
		}
		return scanHistory(tx, q.Before, func(ev *Event) bool {
			if (q.Model == "" || ev.Model == q.Model) && (q.Environment == "" || ev.Environment == q.Environment) &&
				(q.Alias == "" || ev.Alias == q.Alias) {
				out = append(out, *ev)
			}
			return len(out) < q.Limit
		})
	})
	s.observe("history", err)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

// scanHistory walks events newest first (IDs below before, when not 0) until fn returns false.
func scanHistory(tx *bbolt.Tx, before uint64, fn func(*Event) bool) error {
	c := tx.Bucket(bucketHistory).Cursor()
	var k, v []byte
	if before > 0 {
		k, v = c.Seek(u64key(before))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Last()
	}
	for ; k != nil; k, v = c.Prev() {
		var rec eventRecord
		if err := jsonField(v, &rec); err != nil {
			return fmt.Errorf("decode event %x: %w", k, err)
		}
		if before > 0 && rec.ID >= before {
			continue
		}
		if !fn(&rec.Event) {
			return nil
		}
	}
	return nil
}

// DeployedAt answers "what was in environment env of model name at time t": the version
// string, or ErrNotFound when nothing was deployed then.
func (s *Store) DeployedAt(ctx context.Context, name, env string, t time.Time) (string, error) {
	found, version := false, ""
	err := s.db.View(func(tx *bbolt.Tx) error {
		if _, err := getModel(tx, name); err != nil {
			return err
		}
		return scanHistory(tx, 0, func(ev *Event) bool {
			if ev.Model != name || ev.Environment != env || ev.Time.After(t) {
				return true
			}
			switch ev.Action {
			case ActionDeploy, ActionRollback, ActionUndeploy:
				found, version = true, ev.To
				return false
			}
			return true
		})
	})
	s.observe("deployed_at", err)
	if err != nil {
		return "", fmt.Errorf("deployed at: %w", err)
	}
	if !found || version == "" {
		return "", fmt.Errorf("model %q had nothing in %s at %s: %w", name, env, t.UTC().Format(time.RFC3339), ErrNotFound)
	}
	return version, nil
}
