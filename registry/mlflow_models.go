package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// History actions of whole models (MLflow's delete and rename of a registered model).
const (
	ActionModelDelete = "model_delete"
	ActionModelRename = "model_rename"
)

// deployedIn returns an ErrConflict error naming the first environment model m
// is deployed in, or nil.
func deployedIn(m *modelRecord, what string) error {
	for _, env := range sortedKeys(m.Environments) {
		if p := m.Environments[env]; p != nil && p.Version != "" {
			return fmt.Errorf("model %q has version %s deployed in %s; undeploy it before %s: %w", m.Name, p.Version, env, what, ErrConflict)
		}
	}
	return nil
}

// DeleteModel removes a model with all its versions, artifacts, profiles, drift
// history and aliases, and records the deletion in the audit history. It returns
// ErrNotFound for an unknown model and ErrConflict while a version is deployed.
func (s *Store) DeleteModel(ctx context.Context, name, reason string) error {
	err := s.deleteModel(ctx, name, reason)
	s.observe("delete_model", err)
	if err != nil {
		return fmt.Errorf("delete model %s: %w", name, err)
	}
	return nil
}

func (s *Store) deleteModel(ctx context.Context, name, reason string) error {
	if err := validReason(reason); err != nil {
		return err
	}
	now, user := s.now().UTC(), actor(ctx)
	s.order.Lock()
	defer s.order.Unlock()
	return s.db.Update(func(tx *bbolt.Tx) error {
		m, err := getModel(tx, name)
		if err != nil {
			return err
		}
		if err := deployedIn(m, "deleting it"); err != nil {
			return err
		}
		if err := tx.Bucket(bucketModels).Delete([]byte(name)); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketVersions, bucketArtifacts, bucketProfiles} {
			if err := deleteSubBucket(tx.Bucket(b), []byte(name)); err != nil {
				return err
			}
		}
		if root := tx.Bucket(bucketDriftHistory); root != nil {
			if err := deleteSubBucket(root, []byte(name)); err != nil {
				return err
			}
			if err := root.Delete([]byte("n/" + name)); err != nil {
				return err
			}
		}
		if err := deleteSubBucket(mlflowBucket(tx, bucketMLflowVersions), []byte(name)); err != nil {
			return err
		}
		if err := relinkRuns(tx, name, ""); err != nil {
			return err
		}
		return appendEvent(tx, &Event{Time: now, User: user, Action: ActionModelDelete, Model: name, Reason: reason})
	})
}

// deleteSubBucket deletes bucket name under parent (nil parent or missing bucket: nothing).
func deleteSubBucket(parent *bbolt.Bucket, name []byte) error {
	if parent == nil {
		return nil
	}
	err := parent.DeleteBucket(name)
	if errors.Is(err, bbolt.ErrBucketNotFound) {
		return nil
	}
	return err
}

// relinkRuns rewrites the "model@version" links of every run from model from to
// model to ("" drops them).
func relinkRuns(tx *bbolt.Tx, from, to string) error {
	b := tx.Bucket(bucketRuns)
	type change struct {
		key []byte
		rec runRecord
	}
	var changes []change
	err := b.ForEach(func(k, v []byte) error {
		if !strings.Contains(string(v), from+"@") {
			return nil
		}
		var rec runRecord
		if err := jsonField(v, &rec); err != nil {
			return fmt.Errorf("decode run %d: %w", beUint(k), err)
		}
		kept, changed := rec.Versions[:0:0], false
		for _, link := range rec.Versions {
			version, ok := strings.CutPrefix(link, from+"@")
			switch {
			case !ok:
				kept = append(kept, link)
			case to != "":
				kept, changed = append(kept, to+"@"+version), true
			default:
				changed = true
			}
		}
		if changed {
			rec.Versions = kept
			changes = append(changes, change{key: clone(k), rec: rec})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changes {
		if err := putJSON(b, c.key, c.rec); err != nil {
			return err
		}
	}
	return nil
}

// RenameModel gives a model a new name, moving its versions, artifacts,
// profiles, drift history, aliases and run links, and records the rename in the
// audit history (under the new name). It returns a *FieldError for an invalid
// name, ErrNotFound for an unknown model and ErrConflict when the new name is
// taken or a version is deployed (the scorer and flows name deployed models).
func (s *Store) RenameModel(ctx context.Context, name, newName, reason string) (Model, error) {
	m, err := s.renameModel(ctx, name, newName, reason)
	s.observe("rename_model", err)
	if err != nil {
		return Model{}, fmt.Errorf("rename model %s: %w", name, err)
	}
	return m, nil
}

func (s *Store) renameModel(ctx context.Context, name, newName, reason string) (Model, error) {
	if err := validName("new_name", newName); err != nil {
		return Model{}, err
	}
	if err := validReason(reason); err != nil {
		return Model{}, err
	}
	now, user := s.now().UTC(), actor(ctx)
	var out Model
	s.order.Lock()
	defer s.order.Unlock()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		m, err := getModel(tx, name)
		if err != nil {
			return err
		}
		if newName == name {
			out = m.public(tx)
			return nil
		}
		if tx.Bucket(bucketModels).Get([]byte(newName)) != nil {
			return fmt.Errorf("model %q already exists: %w", newName, ErrConflict)
		}
		if err := deployedIn(m, "renaming it"); err != nil {
			return err
		}
		if err := tx.Bucket(bucketModels).Delete([]byte(name)); err != nil {
			return err
		}
		m.Name, m.Updated = newName, now
		if err := putJSON(tx.Bucket(bucketModels), []byte(newName), m); err != nil {
			return err
		}
		renameVersion := func(v []byte) ([]byte, error) {
			var rec versionRecord
			if err := jsonField(v, &rec); err != nil {
				return nil, err
			}
			rec.Name = newName
			return json.Marshal(rec)
		}
		if err := moveBucket(tx.Bucket(bucketVersions), []byte(name), []byte(newName), renameVersion); err != nil {
			return fmt.Errorf("move versions: %w", err)
		}
		for _, b := range [][]byte{bucketArtifacts, bucketProfiles} {
			if err := moveBucket(tx.Bucket(b), []byte(name), []byte(newName), nil); err != nil {
				return fmt.Errorf("move %s: %w", b, err)
			}
		}
		if root := tx.Bucket(bucketDriftHistory); root != nil {
			if err := moveBucket(root, []byte(name), []byte(newName), nil); err != nil {
				return fmt.Errorf("move drift history: %w", err)
			}
			if n := root.Get([]byte("n/" + name)); n != nil {
				if err := root.Put([]byte("n/"+newName), clone(n)); err != nil {
					return err
				}
				if err := root.Delete([]byte("n/" + name)); err != nil {
					return err
				}
			}
		}
		if err := moveBucket(mlflowBucket(tx, bucketMLflowVersions), []byte(name), []byte(newName), nil); err != nil {
			return fmt.Errorf("move mlflow versions: %w", err)
		}
		if err := relinkRuns(tx, name, newName); err != nil {
			return err
		}
		out = m.public(tx)
		return appendEvent(tx, &Event{Time: now, User: user, Action: ActionModelRename, Model: newName,
			Reason: strings.TrimSpace(fmt.Sprintf("renamed from %s. %s", name, reason))})
	})
	return out, err
}

// moveBucket moves bucket from under parent to to (which must not exist),
// copying nested buckets and sequences; fix, when not nil, rewrites each value
// of the top level. A nil parent or missing bucket moves nothing.
func moveBucket(parent *bbolt.Bucket, from, to []byte, fix func([]byte) ([]byte, error)) error {
	if parent == nil || parent.Bucket(from) == nil {
		return nil
	}
	dst, err := parent.CreateBucket(to)
	if err != nil {
		return err
	}
	if err := copyBucket(dst, parent.Bucket(from), fix); err != nil {
		return err
	}
	return parent.DeleteBucket(from)
}

// copyBucket copies every key and nested bucket of src into dst.
func copyBucket(dst, src *bbolt.Bucket, fix func([]byte) ([]byte, error)) error {
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if v == nil {
			sub, err := dst.CreateBucket(clone(k))
			if err != nil {
				return err
			}
			return copyBucket(sub, src.Bucket(k), nil)
		}
		val := clone(v)
		if fix != nil {
			var err error
			if val, err = fix(val); err != nil {
				return fmt.Errorf("key %x: %w", k, err)
			}
		}
		return dst.Put(clone(k), val)
	})
}

// SetModelTag sets (or replaces) one tag of a model; ErrNotFound for an unknown
// model, a *FieldError for a tag breaking the tag rules.
func (s *Store) SetModelTag(ctx context.Context, name, key, value string) (Model, error) {
	return s.changeModelTags("set_model_tag", name, func(tags map[string]string) error {
		tags[key] = value
		return validTags(tags)
	})
}

// DeleteModelTag removes one tag of a model; ErrNotFound when the model or the
// tag does not exist.
func (s *Store) DeleteModelTag(ctx context.Context, name, key string) (Model, error) {
	return s.changeModelTags("delete_model_tag", name, func(tags map[string]string) error {
		if _, ok := tags[key]; !ok {
			return fmt.Errorf("model %q has no tag %q: %w", name, key, ErrNotFound)
		}
		delete(tags, key)
		return nil
	})
}

func (s *Store) changeModelTags(op, name string, fn func(map[string]string) error) (Model, error) {
	now := s.now().UTC()
	var out Model
	err := s.db.Update(func(tx *bbolt.Tx) error {
		m, err := getModel(tx, name)
		if err != nil {
			return err
		}
		m.Tags = copyTags(m.Tags)
		if err := fn(m.Tags); err != nil {
			return err
		}
		m.Updated = now
		if err := putJSON(tx.Bucket(bucketModels), []byte(name), m); err != nil {
			return err
		}
		out = m.public(tx)
		return nil
	})
	s.observe(op, err)
	if err != nil {
		return Model{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}
