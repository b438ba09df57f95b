package registry

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// Run statuses.
const (
	RunRunning  = "running"
	RunFinished = "finished"
	RunFailed   = "failed"
	RunKilled   = "killed"
)

// MetricPoint is one logged value of a run metric at a step (e.g. one boosting round).
type MetricPoint struct {
	Key   string    `json:"key,omitempty"`
	Value float64   `json:"value"`
	Step  int64     `json:"step"`
	Time  time.Time `json:"time"`
}

// Run is one tracked training run.
type Run struct {
	ID           string                 `json:"id"`
	ExperimentID string                 `json:"experiment_id"`
	Name         string                 `json:"name"`
	Status       string                 `json:"status"`
	Start        time.Time              `json:"start"`
	End          *time.Time             `json:"end,omitempty"`
	CreatedBy    string                 `json:"created_by"`
	Params       map[string]string      `json:"params"`
	Metrics      map[string]MetricPoint `json:"metrics"` // latest point per key
	Tags         map[string]string      `json:"tags"`
	Artifacts    map[string]int64       `json:"artifacts"` // name -> size in bytes
	Versions     []string               `json:"versions"`  // "model@version" registered from this run
	LogLines     int                    `json:"log_lines"`
	LogDropped   int                    `json:"log_dropped"`
}

type runRecord struct {
	V int `json:"v"`
	Run
}

// RunOptions holds the optional fields of CreateRun.
type RunOptions struct {
	Name string
	Tags map[string]string
}

// validKey checks a param, metric, tag or artifact key: 1-250 bytes of letters, digits,
// '_', '-', '.', '/', ' '.
func validKey(field, k string) error {
	if k == "" {
		return fieldErr(field, "empty key")
	}
	if len(k) > 250 {
		return fieldErr(field, "key longer than 250 bytes")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '-', c == '.', c == '/', c == ' ':
		default:
			return fieldErr(field, "key %q: invalid character %q at offset %d", k, rune(c), i)
		}
	}
	return nil
}

// CreateRun starts a run (status running) in experiment experimentID.
func (s *Store) CreateRun(ctx context.Context, experimentID string, opts RunOptions) (Run, error) {
	r, err := s.createRun(ctx, experimentID, opts)
	s.observe("create_run", err)
	if err != nil {
		return Run{}, fmt.Errorf("create run: %w", err)
	}
	return r, nil
}

func (s *Store) createRun(ctx context.Context, experimentID string, opts RunOptions) (Run, error) {
	eid, err := parseID("experiment_id", experimentID)
	if err != nil {
		return Run{}, err
	}
	if len(opts.Name) > maxNameLen {
		return Run{}, fieldErr("name", "longer than %d characters", maxNameLen)
	}
	for k, v := range opts.Tags {
		if err := validKey("tags", k); err != nil {
			return Run{}, err
		}
		if len(v) > maxTagValueLen {
			return Run{}, fieldErr("tags", "value of %q longer than %d bytes", k, maxTagValueLen)
		}
	}
	rec := runRecord{V: 1, Run: Run{ExperimentID: experimentID, Name: opts.Name, Status: RunRunning,
		Start: s.now().UTC(), CreatedBy: actor(ctx), Params: map[string]string{}, Metrics: map[string]MetricPoint{},
		Tags: copyTags(opts.Tags), Artifacts: map[string]int64{}, Versions: []string{}}}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketExperiments).Get(u64key(eid)) == nil {
			return fmt.Errorf("experiment %s: %w", experimentID, ErrNotFound)
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
		return putJSON(b, u64key(seq), rec)
	})
	return rec.Run, err
}

// getRun loads a run record by key; ErrNotFound when missing.
func getRun(tx *bbolt.Tx, key []byte, id string) (*runRecord, error) {
	var rec runRecord
	ok, err := getJSON(tx.Bucket(bucketRuns), key, &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	return &rec, nil
}

// updateRun loads, changes with fn and stores one run in a write transaction.
func (s *Store) updateRun(op, id string, fn func(tx *bbolt.Tx, key []byte, r *runRecord) error) (Run, error) {
	var out Run
	n, err := parseID("run_id", id)
	if err == nil {
		key := u64key(n)
		err = s.db.Update(func(tx *bbolt.Tx) error {
			rec, err := getRun(tx, key, id)
			if err != nil {
				return err
			}
			if err := fn(tx, key, rec); err != nil {
				return err
			}
			out = rec.Run
			return putJSON(tx.Bucket(bucketRuns), key, rec)
		})
	}
	s.observe(op, err)
	if err != nil {
		return Run{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// linkRun records "model@version" on the run (inside the caller's transaction).
func linkRun(tx *bbolt.Tx, key []byte, id, model, version string) error {
	rec, err := getRun(tx, key, id)
	if err != nil {
		return fieldErr("run_id", "run %s does not exist", id)
	}
	rec.Versions = append(rec.Versions, model+"@"+version)
	return putJSON(tx.Bucket(bucketRuns), key, rec)
}

// LinkRun records that model version was produced by run id (Register does this itself
// when RegisterOptions.RunID is set). ErrNotFound when the run or version is missing.
func (s *Store) LinkRun(ctx context.Context, id, model, version string) error {
	_, err := s.updateRun("link_run", id, func(tx *bbolt.Tx, key []byte, r *runRecord) error {
		if _, _, err := getVersion(tx, model, version); err != nil {
			return err
		}
		r.Versions = append(r.Versions, model+"@"+version)
		return nil
	})
	return err
}

// GetRun returns a run with its params, latest metrics and tags; ErrNotFound when missing.
func (s *Store) GetRun(ctx context.Context, id string) (Run, error) {
	var out Run
	n, err := parseID("run_id", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			rec, err := getRun(tx, u64key(n), id)
			if err == nil {
				out = rec.Run
			}
			return err
		})
	}
	s.observe("get_run", err)
	if err != nil {
		return Run{}, fmt.Errorf("get run: %w", err)
	}
	return out, nil
}

// LogParam sets a run parameter once; re-logging the same value is a no-op, a different
// value returns ErrConflict.
func (s *Store) LogParam(ctx context.Context, id, key, value string) error {
	return s.LogParams(ctx, id, map[string]string{key: value})
}

// LogParams sets several write-once parameters atomically (see LogParam).
func (s *Store) LogParams(ctx context.Context, id string, params map[string]string) error {
	for k, v := range params {
		if err := validKey("params", k); err != nil {
			s.observe("log_param", err)
			return fmt.Errorf("log param: %w", err)
		}
		if len(v) > 8000 {
			s.observe("log_param", ErrInvalid)
			return fmt.Errorf("log param: %w", fieldErr("params", "value of %q longer than 8000 bytes", k))
		}
	}
	_, err := s.updateRun("log_param", id, func(_ *bbolt.Tx, _ []byte, r *runRecord) error {
		for k, v := range params {
			if old, ok := r.Params[k]; ok && old != v {
				return fmt.Errorf("param %q already set to %q (params are write-once): %w", k, old, ErrConflict)
			}
			r.Params[k] = v
		}
		return nil
	})
	return err
}

// SetRunTag sets (or replaces) a run tag.
func (s *Store) SetRunTag(ctx context.Context, id, key, value string) error {
	if err := validKey("tags", key); err != nil {
		s.observe("set_run_tag", err)
		return fmt.Errorf("set run tag: %w", err)
	}
	if len(value) > maxTagValueLen {
		err := fieldErr("tags", "value of %q longer than %d bytes", key, maxTagValueLen)
		s.observe("set_run_tag", err)
		return fmt.Errorf("set run tag: %w", err)
	}
	_, err := s.updateRun("set_run_tag", id, func(_ *bbolt.Tx, _ []byte, r *runRecord) error {
		if r.Tags == nil {
			r.Tags = map[string]string{}
		}
		r.Tags[key] = value
		return nil
	})
	return err
}

// FinishRun ends a running run with status finished, failed or killed. It returns a
// *FieldError for another status and ErrConflict when the run already ended.
func (s *Store) FinishRun(ctx context.Context, id, status string) (Run, error) {
	if status != RunFinished && status != RunFailed && status != RunKilled {
		err := fieldErr("status", "%q is not finished, failed or killed", status)
		s.observe("finish_run", err)
		return Run{}, fmt.Errorf("finish run: %w", err)
	}
	end := s.now().UTC()
	return s.updateRun("finish_run", id, func(_ *bbolt.Tx, _ []byte, r *runRecord) error {
		if r.Status != RunRunning {
			return fmt.Errorf("run %s already %s: %w", id, r.Status, ErrConflict)
		}
		r.Status, r.End = status, &end
		return nil
	})
}
