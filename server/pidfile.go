package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"driftd/registry"
)

// pidFileName is the file in the data directory that names the process
// holding it, so that a second start can say which process to stop.
const pidFileName = "driftd.pid"

// writePIDFile writes this process's id to <dir>/driftd.pid. It is called
// once the registry's lock is held, so no other driftd writes it meanwhile.
func writePIDFile(dir string) error {
	p := filepath.Join(dir, pidFileName)
	if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file %s: %w", p, err)
	}
	return nil
}

// removePIDFile removes <dir>/driftd.pid when it still names this process.
func removePIDFile(dir string) {
	p := filepath.Join(dir, pidFileName)
	if pid, ok := readPIDFile(p); ok && pid == os.Getpid() {
		_ = os.Remove(p)
	}
}

// readPIDFile returns the process id written in the pid file p.
func readPIDFile(p string) (int, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// lockedError explains a registry that another process holds: it names the
// process from the data directory's pid file when there is one, and what to
// do. err is the registry's error, wrapped.
func lockedError(dir string, err error) error {
	if !errors.Is(err, registry.ErrLocked) {
		return fmt.Errorf("open registry in data directory %s: %w", dir, err)
	}
	p := filepath.Join(dir, pidFileName)
	if pid, ok := readPIDFile(p); ok {
		return fmt.Errorf("data directory %s is in use by driftd process %d (from %s): stop it first (Ctrl-C in its terminal, or kill %d), or give this one another DRIFTD_DATA_DIR: %w", dir, pid, p, pid, err)
	}
	return fmt.Errorf("data directory %s is in use by another process (no %s names it: an older driftd, or driftd restore?): stop it first, or give this one another DRIFTD_DATA_DIR: %w", dir, p, err)
}
