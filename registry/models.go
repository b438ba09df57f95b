package registry

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// Model is a registered model as returned by GetModel and ListModels.
type Model struct {
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	Tags          map[string]string `json:"tags"`
	Created       time.Time         `json:"created"`
	Updated       time.Time         `json:"updated"`
	Environments  map[string]string `json:"environments"` // environment -> deployed version
	Aliases       map[string]string `json:"aliases"`      // alias -> version
	LatestVersion string            `json:"latest_version"`
	VersionCount  int               `json:"version_count"`
	// UnscorableCount is how many of the versions driftd cannot score;
	// LatestExternal is the latest version's External when it is one of them.
	UnscorableCount int       `json:"unscorable_count"`
	LatestExternal  *External `json:"latest_external,omitempty"`
}

// ModelOptions holds the optional fields of CreateModel.
type ModelOptions struct {
	Description string
	Tags        map[string]string
}

// ModelUpdate changes a model's description and/or tags; nil fields are left unchanged.
type ModelUpdate struct {
	Description *string
	Tags        map[string]string // replaces all tags when not nil
}

// pointer is an environment or alias: the current version and a stack of previous ones
// (most recent last) that Rollback pops.
type pointer struct {
	Version  string    `json:"version"`
	Since    time.Time `json:"since"`
	Previous []string  `json:"previous,omitempty"`
}

// modelRecord is the stored form of a model (encoding version V).
type modelRecord struct {
	V            int                 `json:"v"`
	Name         string              `json:"name"`
	Description  string              `json:"description"`
	Tags         map[string]string   `json:"tags,omitempty"`
	Created      time.Time           `json:"created"`
	Updated      time.Time           `json:"updated"`
	Environments map[string]*pointer `json:"environments,omitempty"`
	Aliases      map[string]*pointer `json:"aliases,omitempty"`
}

const (
	maxTags        = 64
	maxTagValueLen = 1024
	maxDescLen     = 16384
)

// validTags checks tag keys (name rule) and values (bounded length).
func validTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return fieldErr("tags", "more than %d tags", maxTags)
	}
	for k, v := range tags {
		if err := validName("tags", k); err != nil {
			return fieldErr("tags", "key %q: %s", k, err.(*FieldError).Msg)
		}
		if len(v) > maxTagValueLen {
			return fieldErr("tags", "value of %q longer than %d bytes", k, maxTagValueLen)
		}
	}
	return nil
}

func validDescription(d string) error {
	if len(d) > maxDescLen {
		return fieldErr("description", "longer than %d bytes", maxDescLen)
	}
	return nil
}

func copyTags(t map[string]string) map[string]string {
	out := make(map[string]string, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// CreateModel registers an empty model. It returns a *FieldError for a bad name, tags
// or description and ErrConflict when the model exists.
func (s *Store) CreateModel(ctx context.Context, name string, opts ModelOptions) (Model, error) {
	m, err := s.createModel(name, opts)
	s.observe("create_model", err)
	return m, err
}

func (s *Store) createModel(name string, opts ModelOptions) (Model, error) {
	if err := validName("name", name); err != nil {
		return Model{}, err
	}
	if err := validDescription(opts.Description); err != nil {
		return Model{}, err
	}
	if err := validTags(opts.Tags); err != nil {
		return Model{}, err
	}
	now := s.now().UTC()
	rec := &modelRecord{V: 1, Name: name, Description: opts.Description, Tags: copyTags(opts.Tags), Created: now, Updated: now}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketModels).Get([]byte(name)) != nil {
			return fmt.Errorf("model %q already exists: %w", name, ErrConflict)
		}
		return putJSON(tx.Bucket(bucketModels), []byte(name), rec)
	})
	if err != nil {
		return Model{}, fmt.Errorf("create model: %w", err)
	}
	return rec.public(nil), nil
}

// getModel loads a model record, returning ErrNotFound when it does not exist.
func getModel(tx *bbolt.Tx, name string) (*modelRecord, error) {
	var rec modelRecord
	ok, err := getJSON(tx.Bucket(bucketModels), []byte(name), &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("model %q: %w", name, ErrNotFound)
	}
	return &rec, nil
}

// versionStats are the counts and latest version of a model's versions.
type versionStats struct {
	latest         string
	count          int
	unscorable     int
	latestExternal *External
}

// statsOf reads the version statistics of a model.
func statsOf(tx *bbolt.Tx, name string) versionStats {
	var st versionStats
	b := tx.Bucket(bucketVersions).Bucket([]byte(name))
	if b == nil {
		return st
	}
	var latestV SemVer
	_ = b.ForEach(func(k, v []byte) error {
		st.count++
		var r struct {
			Version  string    `json:"version"`
			External *External `json:"external"`
		}
		if jsonField(v, &r) != nil {
			return nil
		}
		if r.External != nil {
			st.unscorable++
		}
		if sv, err := ParseSemVer(r.Version); err == nil && (st.latest == "" || sv.Compare(latestV) > 0) {
			st.latest, latestV, st.latestExternal = r.Version, sv, r.External
		}
		return nil
	})
	return st
}

// public converts a record to the API view; tx (may be nil) supplies version stats.
func (r *modelRecord) public(tx *bbolt.Tx) Model {
	m := Model{Name: r.Name, Description: r.Description, Tags: copyTags(r.Tags), Created: r.Created,
		Updated: r.Updated, Environments: map[string]string{}, Aliases: map[string]string{}}
	for env, p := range r.Environments {
		if p != nil && p.Version != "" {
			m.Environments[env] = p.Version
		}
	}
	for a, p := range r.Aliases {
		if p != nil && p.Version != "" {
			m.Aliases[a] = p.Version
		}
	}
	if tx != nil {
		st := statsOf(tx, r.Name)
		m.LatestVersion, m.VersionCount, m.UnscorableCount, m.LatestExternal = st.latest, st.count, st.unscorable, st.latestExternal
	}
	return m
}

// GetModel returns one model with its deployed environments and aliases; ErrNotFound
// when it does not exist.
func (s *Store) GetModel(ctx context.Context, name string) (Model, error) {
	var m Model
	err := s.db.View(func(tx *bbolt.Tx) error {
		rec, err := getModel(tx, name)
		if err != nil {
			return err
		}
		m = rec.public(tx)
		return nil
	})
	s.observe("get_model", err)
	if err != nil {
		return Model{}, fmt.Errorf("get model: %w", err)
	}
	return m, nil
}

// ListModels returns all models sorted by name.
func (s *Store) ListModels(ctx context.Context) ([]Model, error) {
	out := []Model{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketModels).ForEach(func(k, v []byte) error {
			var rec modelRecord
			if err := jsonField(v, &rec); err != nil {
				return fmt.Errorf("decode model %s: %w", k, err)
			}
			out = append(out, rec.public(tx))
			return nil
		})
	})
	s.observe("list_models", err)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateModel changes a model's description and/or tags. It returns ErrNotFound for an
// unknown model and a *FieldError for invalid input.
func (s *Store) UpdateModel(ctx context.Context, name string, u ModelUpdate) (Model, error) {
	m, err := s.updateModel(name, u)
	s.observe("update_model", err)
	return m, err
}

func (s *Store) updateModel(name string, u ModelUpdate) (Model, error) {
	if u.Description != nil {
		if err := validDescription(*u.Description); err != nil {
			return Model{}, err
		}
	}
	if err := validTags(u.Tags); err != nil {
		return Model{}, err
	}
	now := s.now().UTC()
	var m Model
	err := s.db.Update(func(tx *bbolt.Tx) error {
		rec, err := getModel(tx, name)
		if err != nil {
			return err
		}
		if u.Description != nil {
			rec.Description = *u.Description
		}
		if u.Tags != nil {
			rec.Tags = copyTags(u.Tags)
		}
		rec.Updated = now
		if err := putJSON(tx.Bucket(bucketModels), []byte(name), rec); err != nil {
			return err
		}
		m = rec.public(tx)
		return nil
	})
	if err != nil {
		return Model{}, fmt.Errorf("update model: %w", err)
	}
	return m, nil
}
