package registry

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// User roles, in increasing order of power.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// User is a UI login account; the server hashes passwords, the registry only stores them.
type User struct {
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash []byte    `json:"password_hash"`
	Created      time.Time `json:"created"`
	// SessionGen is part of every session of the user; the server bumps it to
	// end them all (logout, password change).
	SessionGen uint64 `json:"session_gen,omitempty"`
}

type userRecord struct {
	V int `json:"v"`
	User
}

// ValidRole reports whether role is viewer, operator or admin.
func ValidRole(role string) bool {
	return role == RoleViewer || role == RoleOperator || role == RoleAdmin
}

// PutUser creates or replaces a user (Created is set when zero). It returns a *FieldError
// for an invalid name, role or empty password hash.
func (s *Store) PutUser(ctx context.Context, u User) error {
	err := s.putUser(u)
	s.observe("put_user", err)
	if err != nil {
		return fmt.Errorf("put user: %w", err)
	}
	return nil
}

func (s *Store) putUser(u User) error {
	if err := validName("name", u.Name); err != nil {
		return err
	}
	if !ValidRole(u.Role) {
		return fieldErr("role", "%q is not viewer, operator or admin", u.Role)
	}
	if len(u.PasswordHash) == 0 {
		return fieldErr("password_hash", "empty")
	}
	if u.Created.IsZero() {
		u.Created = s.now().UTC()
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketUsers), []byte(u.Name), userRecord{V: 1, User: u})
	})
}

// GetUser returns a user; ErrNotFound when missing.
func (s *Store) GetUser(ctx context.Context, name string) (User, error) {
	var rec userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketUsers), []byte(name), &rec)
		if err == nil && !ok {
			err = fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		return err
	})
	s.observe("get_user", err)
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return rec.User, nil
}

// ListUsers returns all users sorted by name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	out := []User{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var rec userRecord
			if err := jsonField(v, &rec); err != nil {
				return fmt.Errorf("decode user %s: %w", k, err)
			}
			out = append(out, rec.User)
			return nil
		})
	})
	s.observe("list_users", err)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteUser removes a user; ErrNotFound when missing.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("user %q: %w", name, ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
	s.observe("delete_user", err)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	return nil
}

// GetSetting returns a copy of the value stored under key; ErrNotFound when unset.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketSettings).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("setting %q: %w", key, ErrNotFound)
		}
		out = append([]byte{}, v...)
		return nil
	})
	s.observe("get_setting", err)
	if err != nil {
		return nil, fmt.Errorf("get setting: %w", err)
	}
	return out, nil
}

// PutSetting stores v under key (a small KV for server secrets and preferences).
func (s *Store) PutSetting(ctx context.Context, key string, v []byte) error {
	var err error
	if key == "" || len(key) > 250 {
		err = fieldErr("key", "must be 1-250 bytes")
	} else {
		err = s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketSettings).Put([]byte(key), v) })
	}
	s.observe("put_setting", err)
	if err != nil {
		return fmt.Errorf("put setting: %w", err)
	}
	return nil
}
