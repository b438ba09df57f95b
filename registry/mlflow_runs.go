package registry

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// Limits of the MLflow tracking API (MLflow's own), enforced by LogRunBatch.
const (
	MaxBatchMetrics = 1000 // metrics in one LogRunBatch
	MaxBatchParams  = 100  // params in one LogRunBatch
	MaxBatchTags    = 100  // tags in one LogRunBatch
	MaxBatchItems   = 1000 // metrics, params and tags together
	// MaxRunTagValue bounds a run tag value written through LogRunBatch and
	// CreateRunAt (MLflow stores long values, e.g. mlflow.log-model.history).
	MaxRunTagValue = 8000
	maxParamValue  = 8000
)

// RunNameTag is the run tag MLflow keeps equal to the run's name.
const RunNameTag = "mlflow.runName"

// KeyValue is one param or tag of a LogRunBatch call, in request order.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RunStart holds what MLflow's create-run sets beside the experiment.
type RunStart struct {
	Name  string            // run name ("" = the mlflow.runName tag, or run-<id>)
	Tags  map[string]string // initial tags (values up to MaxRunTagValue bytes)
	Start time.Time         // start time (zero = now)
	User  string            // user recorded as the creator ("" = the context's user)
}

// CreateRunAt starts a run (status running) in experiment experimentID with a
// caller-chosen start time and creator, and the mlflow.runName tag equal to its
// name. It returns ErrNotFound for an unknown experiment, ErrConflict when the
// experiment is soft-deleted and a *FieldError for invalid input.
func (s *Store) CreateRunAt(ctx context.Context, experimentID string, o RunStart) (Run, error) {
	r, err := s.createRunAt(ctx, experimentID, o)
	s.observe("create_run", err)
	if err != nil {
		return Run{}, fmt.Errorf("create run: %w", err)
	}
	return r, nil
}

func (s *Store) createRunAt(ctx context.Context, experimentID string, o RunStart) (Run, error) {
	eid, err := parseID("experiment_id", experimentID)
	if err != nil {
		return Run{}, err
	}
	if o.Name == "" {
		o.Name = o.Tags[RunNameTag]
	}
	if len(o.Name) > maxNameLen {
		return Run{}, fieldErr("run_name", "longer than %d characters", maxNameLen)
	}
	for k, v := range o.Tags {
		if err := validRunTag(k, v); err != nil {
			return Run{}, err
		}
	}
	start := o.Start
	if start.IsZero() {
		start = s.now()
	}
	user := o.User
	if user == "" {
		user = actor(ctx)
	}
	rec := runRecord{V: 1, Run: Run{ExperimentID: experimentID, Name: o.Name, Status: RunRunning,
		Start: start.UTC(), CreatedBy: user, Params: map[string]string{}, Metrics: map[string]MetricPoint{},
		Tags: copyTags(o.Tags), Artifacts: map[string]int64{}, Versions: []string{}}}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketExperiments).Get(u64key(eid)) == nil {
			return fmt.Errorf("experiment %s: %w", experimentID, ErrNotFound)
		}
		st, err := getExperimentState(tx, u64key(eid))
		if err != nil {
			return err
		}
		if st.Deleted != nil {
			return fmt.Errorf("experiment %s is deleted; restore it first: %w", experimentID, ErrConflict)
		}
		b := tx.Bucket(bucketRuns)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.ID = strconv.FormatUint(seq, 10)
		if rec.Name == "" {
			rec.Name = "run-" + rec.ID
		}
		rec.Tags[RunNameTag] = rec.Name
		return putJSON(b, u64key(seq), rec)
	})
	return rec.Run, err
}

// validRunTag checks a run tag written through the MLflow API.
func validRunTag(k, v string) error {
	if err := validKey("tags", k); err != nil {
		return err
	}
	if len(v) > MaxRunTagValue {
		return fieldErr("tags", "value of %q longer than %d bytes", k, MaxRunTagValue)
	}
	if k == RunNameTag && len(v) > maxNameLen {
		return fieldErr("tags", "%s longer than %d characters", RunNameTag, maxNameLen)
	}
	return nil
}

// ListRuns returns the runs of the given experiments (all runs when ids is
// empty), in id order.
func (s *Store) ListRuns(ctx context.Context, experimentIDs []string) ([]Run, error) {
	want := map[string]bool{}
	for _, id := range experimentIDs {
		want[id] = true
	}
	out := []Run{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
			rec, err := s.runs.shared(k, v) // read only until kept
			if err != nil {
				return err
			}
			if len(want) == 0 || want[rec.ExperimentID] {
				out = append(out, rec.clone().Run)
			}
			return nil
		})
	})
	s.observe("list_runs", err)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// RunInfoUpdate changes a run's status, end time and name; nil fields stay.
type RunInfoUpdate struct {
	Status *string    // RunRunning, RunFinished, RunFailed or RunKilled
	End    *time.Time // end time
	Name   *string    // new name (also written to the mlflow.runName tag)
}

// UpdateRunInfo applies u to run id (MLflow's update-run: any status may follow
// any other). A run given an ended status without an end time ends now. It
// returns ErrNotFound for an unknown run, ErrConflict for a deleted one and a
// *FieldError for an invalid status or name.
func (s *Store) UpdateRunInfo(ctx context.Context, id string, u RunInfoUpdate) (Run, error) {
	if u.Status != nil {
		switch *u.Status {
		case RunRunning, RunFinished, RunFailed, RunKilled:
		default:
			err := fieldErr("status", "%q is not running, finished, failed or killed", *u.Status)
			s.observe("update_run", err)
			return Run{}, fmt.Errorf("update run: %w", err)
		}
	}
	if u.Name != nil && len(*u.Name) > maxNameLen {
		err := fieldErr("run_name", "longer than %d characters", maxNameLen)
		s.observe("update_run", err)
		return Run{}, fmt.Errorf("update run: %w", err)
	}
	now := s.now().UTC()
	return s.updateRun("update_run", id, func(tx *bbolt.Tx, key []byte, r *runRecord) error {
		if err := activeRun(tx, key, r); err != nil {
			return err
		}
		if u.Status != nil {
			r.Status = *u.Status
			if r.Status != RunRunning && r.End == nil && u.End == nil {
				r.End = &now
			}
		}
		if u.End != nil {
			end := u.End.UTC()
			r.End = &end
		}
		if u.Name != nil && *u.Name != "" {
			r.Name = *u.Name
			if r.Tags == nil {
				r.Tags = map[string]string{}
			}
			r.Tags[RunNameTag] = r.Name
		}
		return nil
	})
}

// activeRun returns ErrConflict when run r (stored at key) is soft-deleted.
func activeRun(tx *bbolt.Tx, key []byte, r *runRecord) error {
	deleted, err := runDeletedTx(tx, key, r)
	if err != nil {
		return err
	}
	if deleted {
		return fmt.Errorf("run %s is deleted; restore it first: %w", r.ID, ErrConflict)
	}
	return nil
}

// RunBatch is one MLflow log-batch call: metrics appended, write-once params and
// tags (the last value of a key wins; mlflow.runName also renames the run).
type RunBatch struct {
	Metrics []MetricPoint
	Params  []KeyValue
	Tags    []KeyValue
}

// LogRunBatch writes a batch atomically: nothing is written when any item is
// invalid. It returns a *FieldError for invalid input or a batch over MLflow's
// limits, ErrConflict when a param already has another value (params are
// write-once) or the run is deleted, and ErrNotFound for an unknown run.
func (s *Store) LogRunBatch(ctx context.Context, id string, b RunBatch) error {
	pts, params, err := s.checkBatch(b)
	if err != nil {
		s.observe("log_batch", err)
		return fmt.Errorf("log batch: %w", err)
	}
	_, err = s.updateRun("log_batch", id, func(tx *bbolt.Tx, key []byte, r *runRecord) error {
		if err := activeRun(tx, key, r); err != nil {
			return err
		}
		for _, p := range b.Params {
			if old, ok := r.Params[p.Key]; ok && old != p.Value {
				return fmt.Errorf("param %q of run %s already has value %q; it cannot change to %q (params are write-once): %w",
					p.Key, id, old, p.Value, ErrConflict)
			}
		}
		if r.Params == nil {
			r.Params = map[string]string{}
		}
		for k, v := range params {
			r.Params[k] = v
		}
		if r.Tags == nil {
			r.Tags = map[string]string{}
		}
		for _, t := range b.Tags {
			r.Tags[t.Key] = t.Value
			if t.Key == RunNameTag && t.Value != "" {
				r.Name = t.Value
			}
		}
		return appendPoints(tx, key, r, pts)
	})
	return err
}

// checkBatch validates a batch and returns its metric points (time defaulted to
// now) and its params as a map.
func (s *Store) checkBatch(b RunBatch) ([]MetricPoint, map[string]string, error) {
	switch {
	case len(b.Metrics) > MaxBatchMetrics:
		return nil, nil, fieldErr("metrics", "%d metrics in one batch; at most %d", len(b.Metrics), MaxBatchMetrics)
	case len(b.Params) > MaxBatchParams:
		return nil, nil, fieldErr("params", "%d params in one batch; at most %d", len(b.Params), MaxBatchParams)
	case len(b.Tags) > MaxBatchTags:
		return nil, nil, fieldErr("tags", "%d tags in one batch; at most %d", len(b.Tags), MaxBatchTags)
	case len(b.Metrics)+len(b.Params)+len(b.Tags) > MaxBatchItems:
		return nil, nil, fieldErr("metrics", "%d metrics, params and tags in one batch; at most %d together",
			len(b.Metrics)+len(b.Params)+len(b.Tags), MaxBatchItems)
	}
	params := make(map[string]string, len(b.Params))
	for i, p := range b.Params {
		if err := validKey("params", p.Key); err != nil {
			return nil, nil, fieldErr("params", "param %d: %s", i, err.(*FieldError).Msg)
		}
		if len(p.Value) > maxParamValue {
			return nil, nil, fieldErr("params", "param %d (%q): value longer than %d bytes", i, p.Key, maxParamValue)
		}
		if old, ok := params[p.Key]; ok && old != p.Value {
			return nil, nil, fieldErr("params", "param %q given twice with different values (%q and %q)", p.Key, old, p.Value)
		}
		params[p.Key] = p.Value
	}
	for i, t := range b.Tags {
		if err := validRunTag(t.Key, t.Value); err != nil {
			return nil, nil, fieldErr("tags", "tag %d: %s", i, err.(*FieldError).Msg)
		}
	}
	now := s.now().UTC()
	pts := make([]MetricPoint, len(b.Metrics))
	for i, p := range b.Metrics {
		if err := validKey("metrics", p.Key); err != nil {
			return nil, nil, fieldErr("metrics", "metric %d: %s", i, err.(*FieldError).Msg)
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			return nil, nil, fieldErr("metrics", "metric %d (%q, step %d): %v is not a finite number", i, p.Key, p.Step, p.Value)
		}
		if p.Time.IsZero() {
			p.Time = now
		}
		p.Time = p.Time.UTC()
		pts[i] = p
	}
	return pts, params, nil
}

// appendPoints stores metric points of run r (key) and updates its latest
// values; LogMetrics and LogRunBatch write through it.
func appendPoints(tx *bbolt.Tx, key []byte, r *runRecord, pts []MetricPoint) error {
	if len(pts) == 0 {
		return nil
	}
	rb, err := tx.Bucket(bucketMetricPoints).CreateBucketIfNotExists(key)
	if err != nil {
		return err
	}
	if r.Metrics == nil {
		r.Metrics = map[string]MetricPoint{}
	}
	for _, p := range pts {
		mb, err := rb.CreateBucketIfNotExists([]byte(p.Key))
		if err != nil {
			return err
		}
		seq, err := mb.NextSequence()
		if err != nil {
			return err
		}
		if err := mb.Put(pointKey(p.Step, seq), encodePoint(p)); err != nil {
			return err
		}
		if old, ok := r.Metrics[p.Key]; !ok || p.Step > old.Step || (p.Step == old.Step && !p.Time.Before(old.Time)) {
			r.Metrics[p.Key] = p
		}
	}
	return nil
}

// DeleteRunTag removes one tag of a run. It returns ErrNotFound when the run or
// the tag does not exist and ErrConflict for a deleted run.
func (s *Store) DeleteRunTag(ctx context.Context, id, key string) error {
	_, err := s.updateRun("delete_run_tag", id, func(tx *bbolt.Tx, k []byte, r *runRecord) error {
		if err := activeRun(tx, k, r); err != nil {
			return err
		}
		if _, ok := r.Tags[key]; !ok {
			return fmt.Errorf("run %s has no tag %q: %w", id, key, ErrNotFound)
		}
		delete(r.Tags, key)
		return nil
	})
	return err
}
