package registry

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.etcd.io/bbolt"
)

// Experiment groups runs under a name (the MLflow tracking concept).
type Experiment struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Tags        map[string]string `json:"tags"`
	Created     time.Time         `json:"created"`
}

type experimentRecord struct {
	V int `json:"v"`
	Experiment
}

// parseID parses a decimal entity id, returning a *FieldError for field when malformed.
func parseID(field, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fieldErr(field, "%q is not a valid id", s)
	}
	return n, nil
}

// validExperimentName allows printable text (spaces included), 1-128 bytes.
func validExperimentName(s string) error {
	if strings.TrimSpace(s) == "" {
		return fieldErr("name", "must not be empty")
	}
	if len(s) > maxNameLen {
		return fieldErr("name", "longer than %d characters", maxNameLen)
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return fieldErr("name", "unprintable character %q at offset %d", r, i)
		}
	}
	return nil
}

// CreateExperiment creates an experiment with an automatic id. It returns ErrConflict
// when the name is taken and a *FieldError for invalid input.
func (s *Store) CreateExperiment(ctx context.Context, name, description string, tags map[string]string) (Experiment, error) {
	e, _, err := s.ensureExperiment(name, description, tags, false)
	s.observe("create_experiment", err)
	return e, err
}

// EnsureExperiment returns the experiment called name, creating it when missing.
func (s *Store) EnsureExperiment(ctx context.Context, name string) (Experiment, error) {
	e, _, err := s.ensureExperiment(name, "", nil, true)
	s.observe("create_experiment", err)
	return e, err
}

func (s *Store) ensureExperiment(name, description string, tags map[string]string, existingOK bool) (Experiment, bool, error) {
	if err := validExperimentName(name); err != nil {
		return Experiment{}, false, err
	}
	if err := validDescription(description); err != nil {
		return Experiment{}, false, err
	}
	if err := validTags(tags); err != nil {
		return Experiment{}, false, err
	}
	rec := experimentRecord{V: 1, Experiment: Experiment{Name: name, Description: description, Tags: copyTags(tags), Created: s.now().UTC()}}
	created := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		names := tx.Bucket(bucketExpNames)
		if id := names.Get([]byte(name)); id != nil {
			if !existingOK {
				return fmt.Errorf("experiment %q already exists: %w", name, ErrConflict)
			}
			_, err := getJSON(tx.Bucket(bucketExperiments), id, &rec)
			return err
		}
		b := tx.Bucket(bucketExperiments)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.ID = strconv.FormatUint(seq, 10)
		created = true
		if err := names.Put([]byte(name), u64key(seq)); err != nil {
			return err
		}
		return putJSON(b, u64key(seq), rec)
	})
	if err != nil {
		return Experiment{}, false, fmt.Errorf("create experiment: %w", err)
	}
	return rec.Experiment, created, nil
}

// GetExperiment returns an experiment by id; ErrNotFound when missing.
func (s *Store) GetExperiment(ctx context.Context, id string) (Experiment, error) {
	var rec experimentRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		n, err := parseID("experiment_id", id)
		if err != nil {
			return err
		}
		ok, err := getJSON(tx.Bucket(bucketExperiments), u64key(n), &rec)
		if err == nil && !ok {
			err = fmt.Errorf("experiment %s: %w", id, ErrNotFound)
		}
		return err
	})
	s.observe("get_experiment", err)
	if err != nil {
		return Experiment{}, fmt.Errorf("get experiment: %w", err)
	}
	return rec.Experiment, nil
}

// ExperimentByName returns an experiment by name; ErrNotFound when missing.
func (s *Store) ExperimentByName(ctx context.Context, name string) (Experiment, error) {
	var id string
	err := s.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketExpNames).Get([]byte(name))
		if raw == nil {
			return fmt.Errorf("experiment %q: %w", name, ErrNotFound)
		}
		id = strconv.FormatUint(beUint(raw), 10)
		return nil
	})
	if err != nil {
		s.observe("get_experiment", err)
		return Experiment{}, fmt.Errorf("get experiment: %w", err)
	}
	return s.GetExperiment(ctx, id)
}

// ListExperiments returns all experiments sorted by name.
func (s *Store) ListExperiments(ctx context.Context) ([]Experiment, error) {
	out := []Experiment{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketExperiments).ForEach(func(k, v []byte) error {
			var rec experimentRecord
			if err := jsonField(v, &rec); err != nil {
				return fmt.Errorf("decode experiment %x: %w", k, err)
			}
			out = append(out, rec.Experiment)
			return nil
		})
	})
	s.observe("list_experiments", err)
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
