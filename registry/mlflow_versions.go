package registry

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// MLflow numbers the versions of a registered model 1, 2, 3... in creation
// order and never reuses a number; driftd names them by semver. The numbers are
// stored under mlflow/versions/<model>/<semver key>, assigned when MLflow
// registers a version and, for versions driftd registered itself, on the first
// MLflow read of the model (in ascending semver order). A record remembers the
// version's creation time, so a version deleted and registered again under the
// same semver gets a new number.

// mlflowVersionRecord is the stored MLflow view of one version.
type mlflowVersionRecord struct {
	V       int       `json:"v"`
	Number  int64     `json:"n"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Source  string    `json:"source,omitempty"`
	RunLink string    `json:"run_link,omitempty"`
}

// MLflowVersion is a model version as MLflow's registry API shows it: driftd's
// version with its MLflow number and what MLflow recorded at its creation.
type MLflowVersion struct {
	Version
	Number  int64     // MLflow's version number: 1, 2, ... per model, never reused
	Source  string    // source URI given by MLflow's create-model-version ("" for driftd's own)
	RunLink string    // run link given by MLflow ("" when none)
	Updated time.Time // last change of description or tags (Created when none)
}

// MLflowSource is what MLflow's create-model-version records beside the artifact.
type MLflowSource struct {
	Source  string // e.g. "runs:/5/model"
	RunLink string
}

// RegisterMLflow registers a new version as Register does (with the next
// automatic version when opts.Version is empty) and gives it the next MLflow
// number, recording src. Errors are those of Register.
func (s *Store) RegisterMLflow(ctx context.Context, artifact []byte, name string, opts RegisterOptions, src MLflowSource) (MLflowVersion, error) {
	v, err := s.Register(ctx, artifact, name, opts)
	if err != nil {
		return MLflowVersion{}, err
	}
	var out MLflowVersion
	err = s.db.Update(func(tx *bbolt.Tx) error {
		sv, err := ParseSemVer(v.Version)
		if err != nil {
			return err
		}
		b, err := mlflowBucketW(tx, bucketMLflowVersions)
		if err != nil {
			return err
		}
		mb, err := b.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		// Number the older versions first, so numbers follow creation order.
		if _, err := numberVersions(tx, mb, name, sv.key()); err != nil {
			return err
		}
		// A reader may have numbered the version meanwhile: keep its number.
		var rec mlflowVersionRecord
		if ok, err := getJSON(mb, sv.key(), &rec); err != nil {
			return err
		} else if !ok || !rec.Created.Equal(v.Created) {
			n, err := mb.NextSequence()
			if err != nil {
				return err
			}
			rec = mlflowVersionRecord{V: 1, Number: int64(n), Created: v.Created, Updated: v.Created}
		}
		rec.Source, rec.RunLink = src.Source, src.RunLink
		if err := putJSON(mb, sv.key(), rec); err != nil {
			return err
		}
		out = MLflowVersion{Version: v, Number: rec.Number, Source: rec.Source, RunLink: rec.RunLink, Updated: rec.Updated}
		return nil
	})
	s.observe("register_mlflow", err)
	if err != nil {
		return MLflowVersion{}, fmt.Errorf("number version %s of %s: %w", v.Version, name, err)
	}
	return out, nil
}

// numberVersions gives every version of model name that lacks a valid MLflow
// record (except skip) the next number, in semver order, and drops records of
// versions that no longer exist. It returns the records by semver key.
func numberVersions(tx *bbolt.Tx, mb *bbolt.Bucket, name string, skip []byte) (map[string]mlflowVersionRecord, error) {
	out := map[string]mlflowVersionRecord{}
	vb := tx.Bucket(bucketVersions).Bucket([]byte(name))
	type pending struct {
		key     []byte
		created time.Time
	}
	var todo []pending
	if vb != nil {
		err := vb.ForEach(func(k, v []byte) error {
			if string(k) == string(skip) {
				return nil
			}
			var vr versionRecord
			if err := jsonField(v, &vr); err != nil {
				return fmt.Errorf("decode version %s/%s: %w", name, k, err)
			}
			var rec mlflowVersionRecord
			if ok, err := getJSON(mb, k, &rec); err != nil {
				return err
			} else if ok && rec.Created.Equal(vr.Created) {
				out[string(k)] = rec
				return nil
			}
			todo = append(todo, pending{key: clone(k), created: vr.Created})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var stale [][]byte
	err := mb.ForEach(func(k, _ []byte) error {
		if vb == nil || vb.Get(k) == nil {
			stale = append(stale, clone(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range stale {
		if string(k) != string(skip) {
			if err := mb.Delete(k); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range todo {
		n, err := mb.NextSequence()
		if err != nil {
			return nil, err
		}
		rec := mlflowVersionRecord{V: 1, Number: int64(n), Created: p.created, Updated: p.created}
		if err := putJSON(mb, p.key, rec); err != nil {
			return nil, err
		}
		out[string(p.key)] = rec
	}
	return out, nil
}

// MLflowVersions returns the versions of model name with their MLflow numbers,
// in number order, numbering versions registered by driftd on first sight. It
// returns ErrNotFound for an unknown model.
func (s *Store) MLflowVersions(ctx context.Context, name string) ([]MLflowVersion, error) {
	out, complete, err := s.readMLflowVersions(name)
	if err == nil && !complete {
		err = s.db.Update(func(tx *bbolt.Tx) error {
			if _, err := getModel(tx, name); err != nil {
				return err
			}
			b, err := mlflowBucketW(tx, bucketMLflowVersions)
			if err != nil {
				return err
			}
			mb, err := b.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			_, err = numberVersions(tx, mb, name, nil)
			return err
		})
		if err == nil {
			out, _, err = s.readMLflowVersions(name)
		}
	}
	s.observe("mlflow_versions", err)
	if err != nil {
		return nil, fmt.Errorf("mlflow versions of %s: %w", name, err)
	}
	return out, nil
}

// readMLflowVersions reads the numbered versions of a model; complete is false
// when some version has no valid number yet.
func (s *Store) readMLflowVersions(name string) (out []MLflowVersion, complete bool, err error) {
	complete = true
	err = s.db.View(func(tx *bbolt.Tx) error {
		m, err := getModel(tx, name)
		if err != nil {
			return err
		}
		vb := tx.Bucket(bucketVersions).Bucket([]byte(name))
		if vb == nil {
			return nil
		}
		var mb *bbolt.Bucket
		if b := mlflowBucket(tx, bucketMLflowVersions); b != nil {
			mb = b.Bucket([]byte(name))
		}
		return vb.ForEach(func(k, v []byte) error {
			var vr versionRecord
			if err := jsonField(v, &vr); err != nil {
				return fmt.Errorf("decode version %s/%s: %w", name, k, err)
			}
			var rec mlflowVersionRecord
			if mb != nil {
				if _, err := getJSON(mb, k, &rec); err != nil {
					return err
				}
			}
			if rec.Number == 0 || !rec.Created.Equal(vr.Created) {
				complete = false
				return nil
			}
			ver := vr.Version
			m.where(&ver)
			out = append(out, MLflowVersion{Version: ver, Number: rec.Number, Source: rec.Source, RunLink: rec.RunLink, Updated: rec.Updated})
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, complete, err
}

// MLflowVersionOf returns one version of model name by its MLflow number
// ("3") or by its semver ("1.2.0"); ErrNotFound when there is none.
func (s *Store) MLflowVersionOf(ctx context.Context, name, version string) (MLflowVersion, error) {
	vs, err := s.MLflowVersions(ctx, name)
	if err != nil {
		return MLflowVersion{}, err
	}
	n, numErr := strconv.ParseInt(version, 10, 64)
	for _, v := range vs {
		if (numErr == nil && v.Number == n) || (numErr != nil && v.Version.Version == version) {
			return v, nil
		}
	}
	return MLflowVersion{}, fmt.Errorf("model %q version %s: %w", name, version, ErrNotFound)
}

// VersionMetaUpdate changes the mutable metadata of a version: its description
// and tags (the artifact stays immutable). Nil or empty fields change nothing.
type VersionMetaUpdate struct {
	Description *string
	SetTags     map[string]string // tags set or replaced
	DeleteTags  []string          // tags removed; a missing one is ErrNotFound
}

// UpdateVersionMeta applies u to one version of model name. It returns
// ErrNotFound for an unknown model, version or deleted tag, and a *FieldError
// for a description or tags breaking the rules.
func (s *Store) UpdateVersionMeta(ctx context.Context, name, version string, u VersionMetaUpdate) (Version, error) {
	if u.Description != nil {
		if err := validDescription(*u.Description); err != nil {
			s.observe("update_version", err)
			return Version{}, fmt.Errorf("update version: %w", err)
		}
	}
	now := s.now().UTC()
	var out Version
	err := s.db.Update(func(tx *bbolt.Tx) error {
		rec, key, err := getVersion(tx, name, version)
		if err != nil {
			return err
		}
		if u.Description != nil {
			rec.Description = *u.Description
		}
		rec.Tags = copyTags(rec.Tags)
		for k, v := range u.SetTags {
			rec.Tags[k] = v
		}
		for _, k := range u.DeleteTags {
			if _, ok := rec.Tags[k]; !ok {
				return fmt.Errorf("model %q version %s has no tag %q: %w", name, version, k, ErrNotFound)
			}
			delete(rec.Tags, k)
		}
		if err := validTags(rec.Tags); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketVersions).Bucket([]byte(name)), key, rec); err != nil {
			return err
		}
		if b := mlflowBucket(tx, bucketMLflowVersions); b != nil {
			if mb := b.Bucket([]byte(name)); mb != nil {
				var mr mlflowVersionRecord
				if ok, err := getJSON(mb, key, &mr); err != nil {
					return err
				} else if ok {
					mr.Updated = now
					if err := putJSON(mb, key, mr); err != nil {
						return err
					}
				}
			}
		}
		m, _ := getModel(tx, name)
		out = rec.Version
		m.where(&out)
		return nil
	})
	s.observe("update_version", err)
	if err != nil {
		return Version{}, fmt.Errorf("update version: %w", err)
	}
	return out, nil
}
