package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"driftd/scheduler"
	"go.etcd.io/bbolt"
)

// Flow runs and schedules of the run engine (package scheduler) are stored as JSON
// records keyed by their big-endian sequence in flow_runs and schedules; flow run logs
// have the shape of experiment run logs: flow_run_logs/<run key>/<seq> -> line.

// maxFlowRuns is how many flow runs are kept: creating one beyond it deletes the
// oldest terminal runs and their logs.
const maxFlowRuns = 5000

// maxFlowRunList bounds ListFlowRuns; defaultFlowRunList is its default limit.
const (
	maxFlowRunList     = 1000
	defaultFlowRunList = 100
)

var _ scheduler.Store = (*Store)(nil)

type flowRunRecord struct {
	V int `json:"v"`
	scheduler.Run
}

type scheduleRecord struct {
	V int `json:"v"`
	scheduler.Schedule
}

// flowNotFound reports a missing flow run or schedule with an error matching both
// ErrNotFound and scheduler.ErrNotFound.
func flowNotFound(what, id string) error {
	return fmt.Errorf("%s %s: %w (%w)", what, id, ErrNotFound, scheduler.ErrNotFound)
}

// flowKey parses a flow run or schedule id; an id that cannot exist is not found.
func flowKey(what, id string) ([]byte, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 {
		return nil, flowNotFound(what, id)
	}
	return u64key(n), nil
}

// CreateFlowRun assigns r.ID and stores r; beyond 5000 stored runs it deletes the
// oldest terminal runs with their logs.
func (s *Store) CreateFlowRun(ctx context.Context, r *scheduler.Run) error {
	rec := flowRunRecord{V: 1, Run: *r}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlowRuns)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.ID = strconv.FormatUint(seq, 10)
		if err := putJSON(b, u64key(seq), rec); err != nil {
			return err
		}
		return pruneFlowRuns(tx, maxFlowRuns)
	})
	s.observe("create_flow_run", err)
	if err != nil {
		return fmt.Errorf("create flow run: %w", err)
	}
	r.ID = rec.ID
	return nil
}

// pruneFlowRuns deletes the oldest terminal flow runs and their logs until at most
// max remain; runs that are still live are kept whatever their age.
func pruneFlowRuns(tx *bbolt.Tx, max int) error {
	b := tx.Bucket(bucketFlowRuns)
	c := b.Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil || beUint(last)-beUint(first) < uint64(max) {
		return nil // ids are a subset of [first, last]: no more than max of them
	}
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	var drop [][]byte
	for k, v := c.First(); k != nil && n-len(drop) > max; k, v = c.Next() {
		var st struct {
			State string `json:"state"`
		}
		if err := jsonField(v, &st); err != nil {
			return fmt.Errorf("decode flow run %d: %w", beUint(k), err)
		}
		if scheduler.Terminal(st.State) {
			drop = append(drop, clone(k))
		}
	}
	logs := tx.Bucket(bucketFlowRunLogs)
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := logs.DeleteBucket(k); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
			return err
		}
	}
	return nil
}

// SaveFlowRun replaces a stored flow run; ErrNotFound when it does not exist.
func (s *Store) SaveFlowRun(ctx context.Context, r scheduler.Run) error {
	key, err := flowKey("flow run", r.ID)
	if err == nil {
		err = s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketFlowRuns)
			if b.Get(key) == nil {
				return flowNotFound("flow run", r.ID)
			}
			return putJSON(b, key, flowRunRecord{V: 1, Run: r})
		})
	}
	s.observe("save_flow_run", err)
	if err != nil {
		return fmt.Errorf("save flow run: %w", err)
	}
	return nil
}

// FlowRun returns one flow run; ErrNotFound when it does not exist.
func (s *Store) FlowRun(ctx context.Context, id string) (scheduler.Run, error) {
	var rec flowRunRecord
	key, err := flowKey("flow run", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			ok, err := getJSONIn(tx, bucketFlowRuns, key, &rec)
			if err == nil && !ok {
				err = flowNotFound("flow run", id)
			}
			return err
		})
	}
	s.observe("flow_run", err)
	if err != nil {
		return scheduler.Run{}, fmt.Errorf("get flow run: %w", err)
	}
	return rec.Run, nil
}

// ListFlowRuns returns the flow runs matching f, newest first: at most f.Limit
// (default 100, at most 1000).
func (s *Store) ListFlowRuns(ctx context.Context, f scheduler.RunFilter) ([]scheduler.Run, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultFlowRunList
	}
	limit = min(limit, maxFlowRunList)
	out := []scheduler.Run{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlowRuns)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var rec flowRunRecord
			if err := jsonField(v, &rec); err != nil {
				return fmt.Errorf("decode flow run %d: %w", beUint(k), err)
			}
			if (f.Flow == "" || rec.Flow == f.Flow) && (f.State == "" || rec.State == f.State) &&
				(f.ScheduleID == "" || rec.ScheduleID == f.ScheduleID) {
				out = append(out, rec.Run)
			}
		}
		return nil
	})
	s.observe("list_flow_runs", err)
	if err != nil {
		return nil, fmt.Errorf("list flow runs: %w", err)
	}
	return out, nil
}

// AppendFlowRunLog appends lines to a flow run's log, cutting lines longer than 4096
// bytes and dropping the oldest beyond Options.MaxLogLines; ErrNotFound when the run
// does not exist.
func (s *Store) AppendFlowRunLog(ctx context.Context, id string, lines ...string) error {
	key, err := flowKey("flow run", id)
	if err == nil {
		err = s.db.Update(func(tx *bbolt.Tx) error {
			if tx.Bucket(bucketFlowRuns).Get(key) == nil {
				return flowNotFound("flow run", id)
			}
			lb, err := tx.Bucket(bucketFlowRunLogs).CreateBucketIfNotExists(key)
			if err != nil {
				return err
			}
			_, _, err = appendLogLines(lb, lines, logLen(lb), s.maxLogs)
			return err
		})
	}
	s.observe("append_flow_run_log", err)
	if err != nil {
		return fmt.Errorf("append flow run log: %w", err)
	}
	return nil
}

// FlowRunLogs returns the last tail lines of a flow run's log (tail <= 0: all kept
// lines); ErrNotFound when the run does not exist.
func (s *Store) FlowRunLogs(ctx context.Context, id string, tail int) ([]string, error) {
	out := []string{}
	key, err := flowKey("flow run", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			if b := tx.Bucket(bucketFlowRuns); b == nil || b.Get(key) == nil {
				return flowNotFound("flow run", id)
			}
			if logs := tx.Bucket(bucketFlowRunLogs); logs != nil {
				out = tailLines(logs.Bucket(key), tail)
			}
			return nil
		})
	}
	s.observe("flow_run_logs", err)
	if err != nil {
		return nil, fmt.Errorf("flow run logs: %w", err)
	}
	return out, nil
}

// appendLogLines appends lines to a log bucket whose keys are sequence numbers, cutting
// lines longer than maxLogLine, then drops the oldest lines while more than max are
// kept. kept is the number of lines in lb before the call; it returns the numbers
// kept and dropped after it.
func appendLogLines(lb *bbolt.Bucket, lines []string, kept, max int) (int, int, error) {
	for _, l := range lines {
		if len(l) > maxLogLine {
			l = l[:maxLogLine] + " [truncated]"
		}
		seq, err := lb.NextSequence()
		if err != nil {
			return kept, 0, err
		}
		if err := lb.Put(u64key(seq), []byte(l)); err != nil {
			return kept, 0, err
		}
		kept++
	}
	dropped := 0
	c := lb.Cursor()
	for k, _ := c.First(); k != nil && kept > max; k, _ = c.First() {
		if err := lb.Delete(k); err != nil {
			return kept, dropped, err
		}
		kept--
		dropped++
	}
	return kept, dropped, nil
}

// logLen counts the lines of a log bucket written by appendLogLines: its keys are
// consecutive sequence numbers, as lines are only ever dropped from the front.
func logLen(lb *bbolt.Bucket) int {
	c := lb.Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0
	}
	return int(beUint(last)-beUint(first)) + 1
}

// tailLines returns copies of the last tail lines of a log bucket, oldest first (tail
// <= 0: all); a nil bucket has no lines.
func tailLines(lb *bbolt.Bucket, tail int) []string {
	out := []string{}
	if lb == nil {
		return out
	}
	c := lb.Cursor()
	for k, v := c.Last(); k != nil && (tail <= 0 || len(out) < tail); k, v = c.Prev() {
		out = append(out, string(v))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// getJSONIn decodes the JSON value at key of a top-level bucket; a bucket missing from
// a file opened read-only is empty.
func getJSONIn(tx *bbolt.Tx, bucket, key []byte, v any) (bool, error) {
	b := tx.Bucket(bucket)
	if b == nil {
		return false, nil
	}
	return getJSON(b, key, v)
}

// CreateSchedule assigns s.ID and stores s (NextRunAt, which is computed, is not stored).
func (s *Store) CreateSchedule(ctx context.Context, sc *scheduler.Schedule) error {
	rec := scheduleRecord{V: 1, Schedule: *sc}
	rec.NextRunAt = time.Time{}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSchedules)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.ID = strconv.FormatUint(seq, 10)
		return putJSON(b, u64key(seq), rec)
	})
	s.observe("create_schedule", err)
	if err != nil {
		return fmt.Errorf("create schedule: %w", err)
	}
	sc.ID = rec.ID
	return nil
}

// SaveSchedule replaces a stored schedule; ErrNotFound when it does not exist.
func (s *Store) SaveSchedule(ctx context.Context, sc scheduler.Schedule) error {
	sc.NextRunAt = time.Time{}
	key, err := flowKey("schedule", sc.ID)
	if err == nil {
		err = s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketSchedules)
			if b.Get(key) == nil {
				return flowNotFound("schedule", sc.ID)
			}
			return putJSON(b, key, scheduleRecord{V: 1, Schedule: sc})
		})
	}
	s.observe("save_schedule", err)
	if err != nil {
		return fmt.Errorf("save schedule: %w", err)
	}
	return nil
}

// GetSchedule returns one schedule; ErrNotFound when it does not exist.
func (s *Store) GetSchedule(ctx context.Context, id string) (scheduler.Schedule, error) {
	var rec scheduleRecord
	key, err := flowKey("schedule", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			ok, err := getJSONIn(tx, bucketSchedules, key, &rec)
			if err == nil && !ok {
				err = flowNotFound("schedule", id)
			}
			return err
		})
	}
	s.observe("get_schedule", err)
	if err != nil {
		return scheduler.Schedule{}, fmt.Errorf("get schedule: %w", err)
	}
	return rec.Schedule, nil
}

// ListSchedules returns every schedule in the order they were created.
func (s *Store) ListSchedules(ctx context.Context) ([]scheduler.Schedule, error) {
	out := []scheduler.Schedule{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSchedules)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec scheduleRecord
			if err := jsonField(v, &rec); err != nil {
				return fmt.Errorf("decode schedule %d: %w", beUint(k), err)
			}
			out = append(out, rec.Schedule)
			return nil
		})
	})
	s.observe("list_schedules", err)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out, nil
}

// DeleteSchedule deletes a schedule (its runs stay); ErrNotFound when it does not exist.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	key, err := flowKey("schedule", id)
	if err == nil {
		err = s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketSchedules)
			if b.Get(key) == nil {
				return flowNotFound("schedule", id)
			}
			return b.Delete(key)
		})
	}
	s.observe("delete_schedule", err)
	if err != nil {
		return fmt.Errorf("delete schedule: %w", err)
	}
	return nil
}
