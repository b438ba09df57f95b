package registry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// ValidateFile opens path read-only and checks that it is a driftd registry whose pages
// are consistent; the error names the path and the problem.
func ValidateFile(path string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("validate %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("validate %s: empty file: %w", path, ErrInvalid)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("validate %s: not a bbolt file: %w: %w", path, err, ErrInvalid)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		if err := checkSchema(tx, false); err != nil {
			return err
		}
		var first error
		for cerr := range tx.Check() { // drain so the checker goroutine ends
			if first == nil {
				first = fmt.Errorf("consistency check: %w", cerr)
			}
		}
		return first
	})
	if err != nil {
		return fmt.Errorf("validate %s: %w: %w", path, err, ErrInvalid)
	}
	return nil
}

// Restore replaces the registry file dst with the backup file src after validating it.
// An existing non-empty dst is kept (ErrConflict) unless force is set; a dst locked by a
// running driftd is never replaced. The copy is written to a temporary file, synced and
// renamed into place, so a crash leaves either the old or the new file.
func Restore(src, dst string, force bool) (int64, error) {
	if err := ValidateFile(src, 2*time.Second); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if fi, err := os.Stat(dst); err == nil && fi.Size() > 0 {
		if !force {
			return 0, fmt.Errorf("restore: %s already holds a registry (%d bytes); pass --force to replace it: %w", dst, fi.Size(), ErrConflict)
		}
		// Refuse to pull the file from under a running server: take the lock briefly.
		db, err := bbolt.Open(dst, 0o600, &bbolt.Options{Timeout: time.Second})
		if err != nil {
			if errors.Is(err, bbolt.ErrTimeout) {
				return 0, fmt.Errorf("restore: %s is in use by a running driftd; stop it first: %w", dst, ErrConflict)
			}
		} else {
			_ = db.Close()
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".restore-*")
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("restore: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return n, nil
}
