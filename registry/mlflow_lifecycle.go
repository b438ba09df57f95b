package registry

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// What MLflow's tracking API adds to driftd's experiments and runs lives in the
// bucket "mlflow", created on first write (a registry written by an older driftd
// has none, and reads treat a missing bucket as empty):
//
//	mlflow/experiments: experiment id (BE uint64) -> experimentState (soft deletion, last change)
//	mlflow/runs:        run id (BE uint64) -> runState (soft deletion)
//	mlflow/inputs:      run id (BE uint64) -> []DatasetInput (see mlflow_inputs.go)
//	mlflow/versions:    model name/ -> semver key -> MLflow version number and source (mlflow_versions.go)
var (
	bucketMLflow            = []byte("mlflow")
	bucketMLflowExperiments = []byte("experiments")
	bucketMLflowRuns        = []byte("runs")
	bucketMLflowInputs      = []byte("inputs")
	bucketMLflowVersions    = []byte("versions")
)

// mlflowBucket returns the named sub-bucket of "mlflow" for reading; nil when absent.
func mlflowBucket(tx *bbolt.Tx, name []byte) *bbolt.Bucket {
	root := tx.Bucket(bucketMLflow)
	if root == nil {
		return nil
	}
	return root.Bucket(name)
}

// mlflowBucketW returns the named sub-bucket of "mlflow", creating both as needed.
func mlflowBucketW(tx *bbolt.Tx, name []byte) (*bbolt.Bucket, error) {
	root, err := tx.CreateBucketIfNotExists(bucketMLflow)
	if err != nil {
		return nil, fmt.Errorf("create bucket mlflow: %w", err)
	}
	b, err := root.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, fmt.Errorf("create bucket mlflow/%s: %w", name, err)
	}
	return b, nil
}

// experimentState is the stored form of ExperimentState.
type experimentState struct {
	V       int        `json:"v"`
	Deleted *time.Time `json:"deleted,omitempty"`
	Updated time.Time  `json:"updated"`
}

// runState is the stored soft deletion of a run.
type runState struct {
	V       int        `json:"v"`
	Deleted *time.Time `json:"deleted,omitempty"`
}

// ExperimentState is what the MLflow API records about an experiment beside
// driftd's Experiment: whether it is soft-deleted, and when it last changed.
type ExperimentState struct {
	Deleted bool      // deleted through MLflow's delete-experiment (restorable)
	Updated time.Time // last rename, tag change, deletion or restore; zero: none
}

// Lifecycle is the soft-deletion state of every experiment and run, read at once
// so a search can classify thousands of runs without a transaction each.
type Lifecycle struct {
	Experiments map[string]ExperimentState // by experiment id; absent: active, never changed
	DeletedRuns map[string]bool            // run ids deleted one by one
}

// RunDeleted reports whether run r is deleted: deleted itself, or in a deleted experiment.
func (l Lifecycle) RunDeleted(r *Run) bool {
	return l.DeletedRuns[r.ID] || l.Experiments[r.ExperimentID].Deleted
}

// Lifecycle returns the soft-deletion state of all experiments and runs.
func (s *Store) Lifecycle(ctx context.Context) (Lifecycle, error) {
	l := Lifecycle{Experiments: map[string]ExperimentState{}, DeletedRuns: map[string]bool{}}
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := mlflowBucket(tx, bucketMLflowExperiments); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var st experimentState
				if err := jsonField(v, &st); err != nil {
					return fmt.Errorf("decode mlflow state of experiment %d: %w", beUint(k), err)
				}
				l.Experiments[strconv.FormatUint(beUint(k), 10)] = ExperimentState{Deleted: st.Deleted != nil, Updated: st.Updated}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := mlflowBucket(tx, bucketMLflowRuns); b != nil {
			return b.ForEach(func(k, v []byte) error {
				var st runState
				if err := jsonField(v, &st); err != nil {
					return fmt.Errorf("decode mlflow state of run %d: %w", beUint(k), err)
				}
				if st.Deleted != nil {
					l.DeletedRuns[strconv.FormatUint(beUint(k), 10)] = true
				}
				return nil
			})
		}
		return nil
	})
	s.observe("lifecycle", err)
	if err != nil {
		return Lifecycle{}, fmt.Errorf("read lifecycle: %w", err)
	}
	return l, nil
}

// ExperimentState returns the MLflow state of one experiment; ErrNotFound when
// the experiment does not exist.
func (s *Store) ExperimentState(ctx context.Context, id string) (ExperimentState, error) {
	var out ExperimentState
	err := s.db.View(func(tx *bbolt.Tx) error {
		key, err := experimentKey(tx, id)
		if err != nil {
			return err
		}
		st, err := getExperimentState(tx, key)
		out = ExperimentState{Deleted: st.Deleted != nil, Updated: st.Updated}
		return err
	})
	s.observe("experiment_state", err)
	if err != nil {
		return ExperimentState{}, fmt.Errorf("experiment state: %w", err)
	}
	return out, nil
}

// RunDeleted reports whether run id is soft-deleted, itself or through its
// experiment; ErrNotFound for an unknown run.
func (s *Store) RunDeleted(ctx context.Context, id string) (bool, error) {
	var deleted bool
	n, err := parseID("run_id", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			rec, err := getRun(tx, u64key(n), id)
			if err != nil {
				return err
			}
			deleted, err = runDeletedTx(tx, u64key(n), rec)
			return err
		})
	}
	s.observe("run_deleted", err)
	if err != nil {
		return false, fmt.Errorf("run deleted: %w", err)
	}
	return deleted, nil
}

// experimentKey checks that experiment id exists and returns its key.
func experimentKey(tx *bbolt.Tx, id string) ([]byte, error) {
	n, err := parseID("experiment_id", id)
	if err != nil {
		return nil, err
	}
	key := u64key(n)
	if tx.Bucket(bucketExperiments).Get(key) == nil {
		return nil, fmt.Errorf("experiment %s: %w", id, ErrNotFound)
	}
	return key, nil
}

func getExperimentState(tx *bbolt.Tx, key []byte) (experimentState, error) {
	var st experimentState
	if b := mlflowBucket(tx, bucketMLflowExperiments); b != nil {
		if _, err := getJSON(b, key, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// runDeletedTx reports whether run rec (stored at key) is soft-deleted, itself or
// through its experiment.
func runDeletedTx(tx *bbolt.Tx, key []byte, rec *runRecord) (bool, error) {
	if b := mlflowBucket(tx, bucketMLflowRuns); b != nil {
		var st runState
		if _, err := getJSON(b, key, &st); err != nil {
			return false, err
		}
		if st.Deleted != nil {
			return true, nil
		}
	}
	n, err := strconv.ParseUint(rec.ExperimentID, 10, 64)
	if err != nil {
		return false, nil
	}
	st, err := getExperimentState(tx, u64key(n))
	return st.Deleted != nil, err
}

// updateExperiment loads experiment id and its MLflow state, lets fn change
// both, and stores them with Updated set to now.
func (s *Store) updateExperiment(op, id string, fn func(tx *bbolt.Tx, e *experimentRecord, st *experimentState) error) error {
	now := s.now().UTC()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		key, err := experimentKey(tx, id)
		if err != nil {
			return err
		}
		var rec experimentRecord
		if _, err := getJSON(tx.Bucket(bucketExperiments), key, &rec); err != nil {
			return err
		}
		st, err := getExperimentState(tx, key)
		if err != nil {
			return err
		}
		if err := fn(tx, &rec, &st); err != nil {
			return err
		}
		st.V, st.Updated = 1, now
		b, err := mlflowBucketW(tx, bucketMLflowExperiments)
		if err != nil {
			return err
		}
		if err := putJSON(b, key, st); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketExperiments), key, rec)
	})
	s.observe(op, err)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// DeleteExperiment soft-deletes an experiment: it and its runs read as deleted
// until RestoreExperiment. ErrNotFound when it does not exist, ErrConflict when it
// is already deleted.
func (s *Store) DeleteExperiment(ctx context.Context, id string) error {
	now := s.now().UTC()
	return s.updateExperiment("delete_experiment", id, func(_ *bbolt.Tx, _ *experimentRecord, st *experimentState) error {
		if st.Deleted != nil {
			return fmt.Errorf("experiment %s is already deleted: %w", id, ErrConflict)
		}
		st.Deleted = &now
		return nil
	})
}

// RestoreExperiment undoes DeleteExperiment (runs deleted one by one stay
// deleted). ErrNotFound when it does not exist, ErrConflict when it is not deleted.
func (s *Store) RestoreExperiment(ctx context.Context, id string) error {
	return s.updateExperiment("restore_experiment", id, func(_ *bbolt.Tx, _ *experimentRecord, st *experimentState) error {
		if st.Deleted == nil {
			return fmt.Errorf("experiment %s is not deleted: %w", id, ErrConflict)
		}
		st.Deleted = nil
		return nil
	})
}

// RenameExperiment gives experiment id a new name. It returns a *FieldError for an
// invalid name, ErrConflict when another experiment has it, ErrNotFound for an
// unknown experiment.
func (s *Store) RenameExperiment(ctx context.Context, id, name string) error {
	if err := validExperimentName(name); err != nil {
		s.observe("rename_experiment", err)
		return fmt.Errorf("rename_experiment: %w", err)
	}
	return s.updateExperiment("rename_experiment", id, func(tx *bbolt.Tx, e *experimentRecord, _ *experimentState) error {
		if e.Name == name {
			return nil
		}
		names := tx.Bucket(bucketExpNames)
		if names.Get([]byte(name)) != nil {
			return fmt.Errorf("experiment %q already exists: %w", name, ErrConflict)
		}
		if err := names.Delete([]byte(e.Name)); err != nil {
			return err
		}
		e.Name = name
		return names.Put([]byte(name), u64key(mustID(e.ID)))
	})
}

// mustID parses a stored (already validated) experiment id; 0 when malformed.
func mustID(id string) uint64 {
	n, _ := strconv.ParseUint(id, 10, 64)
	return n
}

// maxExperimentTagValue bounds an experiment tag value set through MLflow
// (MLflow guarantees 20000; notes in mlflow.note.content are long).
const maxExperimentTagValue = 20000

// SetExperimentTag sets (or replaces) one tag of an experiment. Keys follow the
// run key rule (1-250 bytes of letters, digits, '_', '-', '.', '/', ' '); values
// are at most 20000 bytes. ErrNotFound for an unknown experiment.
func (s *Store) SetExperimentTag(ctx context.Context, id, key, value string) error {
	if err := validKey("key", key); err != nil {
		s.observe("set_experiment_tag", err)
		return fmt.Errorf("set_experiment_tag: %w", err)
	}
	if len(value) > maxExperimentTagValue {
		err := fieldErr("value", "tag %q: value longer than %d bytes", key, maxExperimentTagValue)
		s.observe("set_experiment_tag", err)
		return fmt.Errorf("set_experiment_tag: %w", err)
	}
	return s.updateExperiment("set_experiment_tag", id, func(_ *bbolt.Tx, e *experimentRecord, _ *experimentState) error {
		if _, ok := e.Tags[key]; !ok && len(e.Tags) >= maxTags {
			return fieldErr("key", "experiment %s already has %d tags", id, maxTags)
		}
		if e.Tags == nil {
			e.Tags = map[string]string{}
		}
		e.Tags[key] = value
		return nil
	})
}

// DeleteExperimentTag removes one tag of an experiment; ErrNotFound when the
// experiment or the tag does not exist.
func (s *Store) DeleteExperimentTag(ctx context.Context, id, key string) error {
	return s.updateExperiment("delete_experiment_tag", id, func(_ *bbolt.Tx, e *experimentRecord, _ *experimentState) error {
		if _, ok := e.Tags[key]; !ok {
			return fmt.Errorf("experiment %s has no tag %q: %w", id, key, ErrNotFound)
		}
		delete(e.Tags, key)
		return nil
	})
}

// updateRunState loads run id and its MLflow state, lets fn change the state and
// stores it.
func (s *Store) updateRunState(op, id string, fn func(rec *runRecord, st *runState) error) error {
	n, err := parseID("run_id", id)
	if err == nil {
		key := u64key(n)
		err = s.db.Update(func(tx *bbolt.Tx) error {
			rec, err := getRun(tx, key, id)
			if err != nil {
				return err
			}
			b, err := mlflowBucketW(tx, bucketMLflowRuns)
			if err != nil {
				return err
			}
			var st runState
			if _, err := getJSON(b, key, &st); err != nil {
				return err
			}
			if err := fn(rec, &st); err != nil {
				return err
			}
			if st.Deleted == nil {
				return b.Delete(key)
			}
			st.V = 1
			return putJSON(b, key, st)
		})
	}
	s.observe(op, err)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// DeleteRun soft-deletes a run (MLflow's delete-run): it reads as deleted and
// refuses new data until RestoreRun. ErrNotFound for an unknown run.
func (s *Store) DeleteRun(ctx context.Context, id string) error {
	now := s.now().UTC()
	return s.updateRunState("delete_run", id, func(_ *runRecord, st *runState) error {
		if st.Deleted == nil {
			st.Deleted = &now
		}
		return nil
	})
}

// RestoreRun undoes DeleteRun; ErrNotFound for an unknown run.
func (s *Store) RestoreRun(ctx context.Context, id string) error {
	return s.updateRunState("restore_run", id, func(_ *runRecord, st *runState) error {
		st.Deleted = nil
		return nil
	})
}
