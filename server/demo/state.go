package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// savedState is what the demo keeps in DataDir/demo/state.json so that a
// restart with the same data directory resumes the cycle where it was, with
// record ids that do not repeat the previous process's.
type savedState struct {
	// Shifts counts the shifts so far; the concept is Shifts mod NumConcepts.
	Shifts int `json:"shifts"`
	// AwaitingFrom is the version deployed when the last shift happened,
	// while no promotion has followed it yet ("" when none is awaited).
	AwaitingFrom string `json:"awaiting_from,omitempty"`
	// Awaiting tells an awaited promotion from a version "" (nothing deployed).
	Awaiting bool `json:"awaiting"`
	// Seq is the number of the next feature record.
	Seq int64 `json:"seq"`
}

// loadState reads path; a missing file is the zero state.
func loadState(path string) (savedState, error) {
	var s savedState
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read demo state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return savedState{}, fmt.Errorf("demo state %s: %w", path, err)
	}
	if s.Shifts < 0 || s.Seq < 0 {
		return savedState{}, fmt.Errorf("demo state %s: negative counters", path)
	}
	return s, nil
}

// saveState writes s to path through a temporary file and a rename, so a
// crash leaves the old state or the new one.
func saveState(path string, s savedState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode demo state: %w", err)
	}
	return writeFileAtomic(path, b)
}

// writeFileAtomic writes b to path through a temporary file in its directory.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
