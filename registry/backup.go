package registry

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
)

// Snapshot is a consistent copy of the registry file taken at one instant,
// held in a temporary file so that reading it holds no transaction open. It
// is an io.Reader over the copy; Close removes the copy.
type Snapshot struct {
	f        *os.File
	size     int64
	unlinked bool // the file's name is gone already; only the descriptor remains
}

// Snapshot copies the whole registry file into a temporary file next to it,
// inside one read transaction that lasts only as long as the copy takes on
// the local disk. A client reading a backup slowly then reads the temporary
// file, and writers that need to grow the registry file (a read transaction
// blocks them) are not held up. The copy needs free space the size of the
// registry in its directory. The caller must Close the snapshot. It returns
// the error of creating or writing the temporary file.
func (s *Store) Snapshot() (*Snapshot, error) {
	snap, err := s.snapshot()
	s.observe("backup", err)
	if err != nil {
		return nil, fmt.Errorf("backup registry: %w", err)
	}
	return snap, nil
}

func (s *Store) snapshot() (*Snapshot, error) {
	f, err := os.CreateTemp(filepath.Dir(s.path), ".driftd-backup-*.tmp")
	if err != nil {
		return nil, err
	}
	// Unlinked at once where the system allows it (an open file stays
	// readable), so a crash mid-backup leaves no copy behind.
	snap := &Snapshot{f: f, unlinked: os.Remove(f.Name()) == nil}
	err = s.db.View(func(tx *bbolt.Tx) error {
		var err error
		snap.size, err = tx.WriteTo(f)
		return err
	})
	if err == nil {
		// Not fsynced: the copy is read back by this process and never
		// outlives it, so a flush to stable storage would protect nothing.
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = snap.Close()
		return nil, err
	}
	return snap, nil
}

// Size returns the size of the copy in bytes.
func (sn *Snapshot) Size() int64 { return sn.size }

// Read reads the copy.
func (sn *Snapshot) Read(p []byte) (int, error) { return sn.f.Read(p) }

// Close closes and removes the temporary file; it returns the error of
// removing it.
func (sn *Snapshot) Close() error {
	_ = sn.f.Close()
	if sn.unlinked {
		return nil
	}
	if err := os.Remove(sn.f.Name()); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove backup copy: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the whole file to w, through a Snapshot:
// a slow w holds no transaction open. It returns the number of bytes written
// and the error of taking the snapshot or of writing to w.
func (s *Store) Backup(w io.Writer) (int64, error) {
	snap, err := s.Snapshot()
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	n, err := io.Copy(w, snap)
	if err != nil {
		return n, fmt.Errorf("backup registry: %w", err)
	}
	return n, nil
}

// BackupSize returns the size in bytes that Backup would write at this moment.
func (s *Store) BackupSize() int64 {
	var n int64
	_ = s.db.View(func(tx *bbolt.Tx) error { n = tx.Size(); return nil })
	return n
}
