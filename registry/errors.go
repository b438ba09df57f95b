package registry

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotFound reports that a model, version, run, user or other entity does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid reports input that fails validation; FieldError wraps it with the field name.
var ErrInvalid = errors.New("invalid")

// ErrConflict reports an operation that contradicts the current state (immutable version,
// deployed version, archived version, write-once parameter, ...).
var ErrConflict = errors.New("conflict")

// ErrNotScorable reports a version driftd cannot score (Version.External is
// set): it cannot be deployed, rolled back to, loaded for scoring or retrained
// from. Errors matching it are *NotScorableError.
var ErrNotScorable = errors.New("not scorable")

// ErrLocked reports that Open gave up waiting for the registry file's lock:
// another process holds the file open.
var ErrLocked = errors.New("file is locked by another process")

// FieldError is a validation error naming the offending input field; it wraps ErrInvalid.
type FieldError struct {
	Field string // input field name, e.g. "name", "version", "environment"
	Msg   string // human readable reason
}

// Error returns "field: msg".
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// NotScorableError refuses an operation on a version driftd cannot score. It
// matches ErrNotScorable, and is a *FieldError for "version" (so ErrInvalid:
// a 400 naming the field) to errors.Is and errors.As.
type NotScorableError struct {
	Model, Version string
	External       External
	Refused        string // what cannot be done, e.g. "driftd cannot deploy it"
}

// Error names the version, why it is not scorable and what was refused.
func (e *NotScorableError) Error() string {
	return fmt.Sprintf("version %s of model %s is not scorable (%s; source %s): %s",
		e.Version, e.Model, e.External.Reason, e.External.Source, e.Refused)
}

// Unwrap makes the error ErrNotScorable and a *FieldError for "version".
func (e *NotScorableError) Unwrap() []error {
	return []error{ErrNotScorable, &FieldError{Field: "version", Msg: e.Error()}}
}

// notScorable refuses an operation on external version v.
func notScorable(v *Version, refused string) error {
	return &NotScorableError{Model: v.Name, Version: v.Version, External: *v.External, Refused: refused}
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// maxNameLen bounds model, environment, alias, user and experiment names.
const maxNameLen = 128

// validName checks the shared name rule: letters, digits, '-', '_', '.'; 1-128 chars.
func validName(field, s string) error {
	if s == "" {
		return fieldErr(field, "must not be empty")
	}
	if len(s) > maxNameLen {
		return fieldErr(field, "longer than %d characters", maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fieldErr(field, "invalid character %q at offset %d (allowed: letters, digits, '-', '_', '.')", rune(c), i)
		}
	}
	if s == "." || s == ".." {
		return fieldErr(field, "%q is reserved", s)
	}
	return nil
}

// ValidateName reports whether s is a valid model, environment, alias or user name,
// returning a *FieldError for field otherwise.
func ValidateName(field, s string) error { return validName(field, s) }

type userKey struct{}

// WithUser returns a context carrying the acting user's name, recorded in the audit log.
func WithUser(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, userKey{}, name)
}

// UserFrom returns the acting user stored by WithUser, or "" when none is set.
func UserFrom(ctx context.Context) string {
	s, _ := ctx.Value(userKey{}).(string)
	return s
}

// actor returns the user recorded in history: the context user, or "system".
func actor(ctx context.Context) string {
	if u := UserFrom(ctx); u != "" {
		return u
	}
	return "system"
}
