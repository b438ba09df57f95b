package registry

import (
	"context"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
)

// DeploymentChange tells subscribers that an environment (or alias) of a model now
// points at a different version; To is "" after an undeploy. With Retired set, neither
// moved: version From was archived or deleted (it can no longer be deployed, so copies
// of it kept elsewhere, such as a cluster's published artifacts, may go).
type DeploymentChange struct {
	Model       string
	Environment string // "" for alias changes and retirements
	Alias       string // set for alias changes
	From, To    string
	Retired     bool
}

// target names an environment or an alias of a model.
type target struct {
	env, alias string
}

func (t target) field() string {
	if t.alias != "" {
		return "alias"
	}
	return "environment"
}

func (t target) pointers(m *modelRecord) map[string]*pointer {
	if t.alias != "" {
		if m.Aliases == nil {
			m.Aliases = map[string]*pointer{}
		}
		return m.Aliases
	}
	if m.Environments == nil {
		m.Environments = map[string]*pointer{}
	}
	return m.Environments
}

func (t target) name() string { return t.env + t.alias }

func (s *Store) checkTarget(t target) error {
	if t.alias != "" {
		return validName("alias", t.alias)
	}
	if !s.envSet[t.env] {
		return fieldErr("environment", "unknown environment %q (known: %v)", t.env, s.envs)
	}
	return nil
}

// Deploy points environment at version of model name atomically, pushing the previous
// version on the environment's rollback stack, and records the change. It returns
// ErrNotFound for an unknown model or version, a *FieldError for an unknown environment,
// ErrConflict for an archived version and a *NotScorableError for a version driftd
// cannot score.
func (s *Store) Deploy(ctx context.Context, name, version, environment, reason string) error {
	err := s.point(ctx, "deploy", name, target{env: environment}, version, reason)
	if err != nil {
		return fmt.Errorf("deploy %s %s to %s: %w", name, version, environment, err)
	}
	return nil
}

// SetAlias points alias (e.g. "champion") of model name at version, recording the move.
// Errors are those of Deploy, with a *FieldError for an invalid alias name; unlike an
// environment, an alias may point at a version driftd cannot score (scoring through the
// alias then answers the *NotScorableError of Artifact).
func (s *Store) SetAlias(ctx context.Context, name, alias, version, reason string) error {
	err := s.point(ctx, "set_alias", name, target{alias: alias}, version, reason)
	if err != nil {
		return fmt.Errorf("set alias %s of %s to %s: %w", alias, name, version, err)
	}
	return nil
}

// Rollback returns environment to the version it had before the current one (popping the
// rollback stack, so calling it twice goes back two deployments). It returns ErrConflict
// when there is no previous version or that version is archived.
func (s *Store) Rollback(ctx context.Context, name, environment, reason string) error {
	err := s.rollback(ctx, "rollback", name, target{env: environment}, reason)
	if err != nil {
		return fmt.Errorf("rollback %s in %s: %w", name, environment, err)
	}
	return nil
}

// RollbackAlias moves alias back to the version it pointed at before; errors as Rollback.
func (s *Store) RollbackAlias(ctx context.Context, name, alias, reason string) error {
	err := s.rollback(ctx, "rollback_alias", name, target{alias: alias}, reason)
	if err != nil {
		return fmt.Errorf("rollback alias %s of %s: %w", alias, name, err)
	}
	return nil
}

// Undeploy clears environment (the previous version stays on the rollback stack, so a
// Rollback redeploys it). It returns ErrConflict when nothing is deployed there.
func (s *Store) Undeploy(ctx context.Context, name, environment, reason string) error {
	err := s.clear(ctx, "undeploy", name, target{env: environment}, reason)
	if err != nil {
		return fmt.Errorf("undeploy %s from %s: %w", name, environment, err)
	}
	return nil
}

// DeleteAlias removes alias from model name; ErrNotFound when the alias does not exist.
func (s *Store) DeleteAlias(ctx context.Context, name, alias, reason string) error {
	err := s.clear(ctx, "delete_alias", name, target{alias: alias}, reason)
	if err != nil {
		return fmt.Errorf("delete alias %s of %s: %w", alias, name, err)
	}
	return nil
}

// Deployed returns the version of model name deployed in environment; ErrNotFound when
// nothing is deployed there.
func (s *Store) Deployed(ctx context.Context, name, environment string) (Version, error) {
	return s.current(ctx, name, target{env: environment})
}

// Production returns the version of model name deployed in "production"; ErrNotFound
// when nothing is deployed there.
func (s *Store) Production(ctx context.Context, name string) (Version, error) {
	return s.Deployed(ctx, name, "production")
}

// AliasVersion returns the version alias of model name points at; ErrNotFound if unset.
func (s *Store) AliasVersion(ctx context.Context, name, alias string) (Version, error) {
	return s.current(ctx, name, target{alias: alias})
}

func (s *Store) current(ctx context.Context, name string, t target) (Version, error) {
	var out Version
	err := s.db.View(func(tx *bbolt.Tx) error {
		m, err := getModel(tx, name)
		if err != nil {
			return err
		}
		p := t.pointers(m)[t.name()]
		if p == nil || p.Version == "" {
			return fmt.Errorf("model %q has no version in %s %q: %w", name, t.field(), t.name(), ErrNotFound)
		}
		rec, _, err := getVersion(tx, name, p.Version)
		if err != nil {
			return err
		}
		out = rec.Version
		m.where(&out)
		return nil
	})
	s.observe("deployed", err)
	return out, err
}

// mutateModel runs fn on the model record inside one write transaction, stores the
// record, then (after commit) queues change for the subscribers when it is not nil;
// subscribers run on their own goroutines, never under s.order.
func (s *Store) mutateModel(op, name string, fn func(tx *bbolt.Tx, m *modelRecord) (*DeploymentChange, error)) error {
	var ch *DeploymentChange
	// order keeps notifications (and model_info) in commit order across writers;
	// queueing them does not block.
	s.order.Lock()
	defer s.order.Unlock()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		m, err := getModel(tx, name)
		if err != nil {
			return err
		}
		if ch, err = fn(tx, m); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketModels), []byte(name), m)
	})
	s.observe(op, err)
	if err == nil && ch != nil && ch.From != ch.To {
		s.notify(*ch)
	}
	return err
}

func (s *Store) point(ctx context.Context, op, name string, t target, version, reason string) error {
	if err := s.checkTarget(t); err != nil {
		s.observe(op, err)
		return err
	}
	if err := validReason(reason); err != nil {
		s.observe(op, err)
		return err
	}
	now, user := s.now().UTC(), actor(ctx)
	return s.mutateModel(op, name, func(tx *bbolt.Tx, m *modelRecord) (*DeploymentChange, error) {
		rec, _, err := getVersion(tx, name, version)
		if err != nil {
			return nil, err
		}
		if rec.Status == StatusArchived {
			return nil, fmt.Errorf("version %s is archived: %w", rec.Version.Version, ErrConflict)
		}
		if rec.External != nil && t.env != "" {
			return nil, notScorable(&rec.Version, "driftd cannot deploy it (an alias may point at it)")
		}
		ptrs := t.pointers(m)
		p := ptrs[t.name()]
		if p == nil {
			p = &pointer{}
			ptrs[t.name()] = p
		}
		from := p.Version
		if from != "" && from != rec.Version.Version {
			p.Previous = append(p.Previous, from)
			if len(p.Previous) > s.depth {
				p.Previous = p.Previous[len(p.Previous)-s.depth:]
			}
		}
		p.Version, p.Since = rec.Version.Version, now
		action := ActionDeploy
		if t.alias != "" {
			action = ActionAliasSet
		}
		ev := &Event{Time: now, User: user, Action: action, Model: name, Environment: t.env, Alias: t.alias,
			From: from, To: p.Version, Reason: reason}
		if err := appendEvent(tx, ev); err != nil {
			return nil, err
		}
		return &DeploymentChange{Model: name, Environment: t.env, Alias: t.alias, From: from, To: p.Version}, nil
	})
}

func (s *Store) rollback(ctx context.Context, op, name string, t target, reason string) error {
	if err := s.checkTarget(t); err != nil {
		s.observe(op, err)
		return err
	}
	if err := validReason(reason); err != nil {
		s.observe(op, err)
		return err
	}
	now, user := s.now().UTC(), actor(ctx)
	return s.mutateModel(op, name, func(tx *bbolt.Tx, m *modelRecord) (*DeploymentChange, error) {
		p := t.pointers(m)[t.name()]
		if p == nil || len(p.Previous) == 0 {
			return nil, fmt.Errorf("no previous version in %s %q: %w", t.field(), t.name(), ErrConflict)
		}
		to := p.Previous[len(p.Previous)-1]
		rec, _, err := getVersion(tx, name, to)
		if err != nil {
			return nil, err
		}
		if rec.Status == StatusArchived {
			return nil, fmt.Errorf("previous version %s is archived: %w", to, ErrConflict)
		}
		if rec.External != nil && t.env != "" {
			return nil, notScorable(&rec.Version, "driftd cannot roll back to it")
		}
		from := p.Version
		p.Previous = p.Previous[:len(p.Previous)-1]
		p.Version, p.Since = to, now
		ev := &Event{Time: now, User: user, Action: ActionRollback, Model: name, Environment: t.env, Alias: t.alias,
			From: from, To: to, Reason: reason}
		if err := appendEvent(tx, ev); err != nil {
			return nil, err
		}
		return &DeploymentChange{Model: name, Environment: t.env, Alias: t.alias, From: from, To: to}, nil
	})
}

func (s *Store) clear(ctx context.Context, op, name string, t target, reason string) error {
	if err := s.checkTarget(t); err != nil {
		s.observe(op, err)
		return err
	}
	if err := validReason(reason); err != nil {
		s.observe(op, err)
		return err
	}
	now, user := s.now().UTC(), actor(ctx)
	return s.mutateModel(op, name, func(tx *bbolt.Tx, m *modelRecord) (*DeploymentChange, error) {
		ptrs := t.pointers(m)
		p := ptrs[t.name()]
		if p == nil || p.Version == "" {
			if t.alias != "" {
				return nil, fmt.Errorf("alias %q: %w", t.alias, ErrNotFound)
			}
			return nil, fmt.Errorf("nothing deployed in %s: %w", t.env, ErrConflict)
		}
		from := p.Version
		action := ActionUndeploy
		if t.alias != "" {
			action = ActionAliasDelete
			delete(ptrs, t.alias)
		} else {
			p.Previous = append(p.Previous, from)
			if len(p.Previous) > s.depth {
				p.Previous = p.Previous[len(p.Previous)-s.depth:]
			}
			p.Version, p.Since = "", now
		}
		ev := &Event{Time: now, User: user, Action: action, Model: name, Environment: t.env, Alias: t.alias,
			From: from, Reason: reason}
		if err := appendEvent(tx, ev); err != nil {
			return nil, err
		}
		return &DeploymentChange{Model: name, Environment: t.env, Alias: t.alias, From: from}, nil
	})
}

// inUse returns an ErrConflict error when version is deployed or aliased.
func inUse(m *modelRecord, version string) error {
	for env, p := range m.Environments {
		if p != nil && p.Version == version {
			return fmt.Errorf("version %s is deployed in %s; undeploy it first: %w", version, env, ErrConflict)
		}
	}
	for a, p := range m.Aliases {
		if p != nil && p.Version == version {
			return fmt.Errorf("version %s is the %s alias; move or delete the alias first: %w", version, a, ErrConflict)
		}
	}
	return nil
}

// Archive marks a version archived (it can no longer be deployed). It returns ErrConflict
// when the version is deployed or aliased, ErrNotFound when it does not exist.
func (s *Store) Archive(ctx context.Context, name, version, reason string) error {
	if err := s.setStatus(ctx, "archive", name, version, reason, StatusArchived); err != nil {
		return fmt.Errorf("archive %s %s: %w", name, version, err)
	}
	return nil
}

// Unarchive marks an archived version ready again; ErrNotFound when it does not exist.
func (s *Store) Unarchive(ctx context.Context, name, version, reason string) error {
	if err := s.setStatus(ctx, "unarchive", name, version, reason, StatusReady); err != nil {
		return fmt.Errorf("unarchive %s %s: %w", name, version, err)
	}
	return nil
}

func (s *Store) setStatus(ctx context.Context, op, name, version, reason, status string) error {
	if err := validReason(reason); err != nil {
		s.observe(op, err)
		return err
	}
	now, user := s.now().UTC(), actor(ctx)
	return s.mutateModel(op, name, func(tx *bbolt.Tx, m *modelRecord) (*DeploymentChange, error) {
		rec, key, err := getVersion(tx, name, version)
		if err != nil {
			return nil, err
		}
		if status == StatusArchived {
			if err := inUse(m, rec.Version.Version); err != nil {
				return nil, err
			}
		}
		if rec.Status == status {
			return nil, nil
		}
		rec.Status = status
		if err := putJSON(tx.Bucket(bucketVersions).Bucket([]byte(name)), key, rec); err != nil {
			return nil, err
		}
		action, ch := ActionArchive, &DeploymentChange{Model: name, From: rec.Version.Version, Retired: true}
		if status == StatusReady {
			action, ch = ActionUnarchive, nil
		}
		return ch, appendEvent(tx, &Event{Time: now, User: user, Action: action, Model: name,
			From: rec.Version.Version, Reason: reason})
	})
}

// DeleteVersion removes a version with its artifact and profile and drops it from every
// rollback stack. It returns ErrConflict when the version is deployed or aliased.
func (s *Store) DeleteVersion(ctx context.Context, name, version, reason string) error {
	if err := validReason(reason); err != nil {
		s.observe("delete_version", err)
		return fmt.Errorf("delete %s %s: %w", name, version, err)
	}
	now, user := s.now().UTC(), actor(ctx)
	err := s.mutateModel("delete_version", name, func(tx *bbolt.Tx, m *modelRecord) (*DeploymentChange, error) {
		rec, key, err := getVersion(tx, name, version)
		if err != nil {
			return nil, err
		}
		v := rec.Version.Version
		if err := inUse(m, v); err != nil {
			return nil, err
		}
		for _, b := range [][]byte{bucketVersions, bucketArtifacts, bucketProfiles} {
			if nb := tx.Bucket(b).Bucket([]byte(name)); nb != nil {
				if err := nb.Delete(key); err != nil {
					return nil, err
				}
			}
		}
		for _, ptrs := range []map[string]*pointer{m.Environments, m.Aliases} {
			for _, p := range ptrs {
				if p != nil {
					p.Previous = slices.DeleteFunc(p.Previous, func(x string) bool { return x == v })
				}
			}
		}
		return &DeploymentChange{Model: name, From: v, Retired: true},
			appendEvent(tx, &Event{Time: now, User: user, Action: ActionDelete, Model: name, From: v, Reason: reason})
	})
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", name, version, err)
	}
	return nil
}
