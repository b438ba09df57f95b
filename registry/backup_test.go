package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// slowWriter accepts about rate bytes per second until stop is called;
// started closes on the first Write.
type slowWriter struct {
	rate      int
	started   chan struct{}
	startOnce sync.Once
	stopped   chan struct{}
	stopOnce  sync.Once
}

func newSlowWriter(rate int) *slowWriter {
	return &slowWriter{rate: rate, started: make(chan struct{}), stopped: make(chan struct{})}
}

var errReaderGone = errors.New("slow reader went away")

func (w *slowWriter) Write(p []byte) (int, error) {
	w.startOnce.Do(func() { close(w.started) })
	n := 0
	for n < len(p) {
		k := min(len(p)-n, w.rate/10)
		// Throttling, not synchronisation: a tenth of the rate every 100 ms.
		select {
		case <-w.stopped:
			return n, errReaderGone
		case <-time.After(100 * time.Millisecond):
		}
		n += k
	}
	return n, nil
}

func (w *slowWriter) stop() { w.stopOnce.Do(func() { close(w.stopped) }) }

// TestSlowBackupReaderDoesNotStallWriters is the fault test of a backup read
// at 1 KB/s while 100 versions with 256 KB artifacts are registered: the file
// has to grow (bbolt remaps it, which waits for every read transaction), yet
// every Register completes within a second. Before backups went through a
// snapshot file, the backup's read transaction lasted as long as the client
// read, and the first Register that grew the file waited for it.
func TestSlowBackupReaderDoesNotStallWriters(t *testing.T) {
	s, path := mustOpen(t, Options{})
	w := newSlowWriter(1024)
	t.Cleanup(w.stop)
	backupErr := make(chan error, 1)
	go func() {
		_, err := s.Backup(w)
		backupErr <- err
	}()
	<-w.started // the backup is being read (before the fix: inside its transaction)

	art := make([]byte, 256<<10)
	const bound = time.Second // fault bound per operation, not a benchmark
	for i := range 100 {
		art[0], art[1] = byte(i), byte(i>>8)
		// A register stuck behind the backup would never end: the watchdog
		// stops the slow reader after the bound so the test fails, not hangs.
		stuck := time.AfterFunc(bound, w.stop)
		t0 := time.Now()
		_, err := s.Register(context.Background(), art, "big", RegisterOptions{})
		took := time.Since(t0)
		stuck.Stop()
		must(t, err)
		if took > bound {
			t.Fatalf("register %d took %s while a backup was read at 1 KB/s (bound %s)", i+1, took, bound)
		}
	}
	w.stop()
	if err := <-backupErr; !errors.Is(err, errReaderGone) {
		t.Fatalf("backup ended with %v, want the reader's error", err)
	}
	// The snapshot file is gone once the backup ends.
	entries, err := os.ReadDir(filepath.Dir(path))
	must(t, err)
	for _, e := range entries {
		if e.Name() != FileName {
			t.Errorf("left behind in the data directory: %s", e.Name())
		}
	}
}

// TestSnapshotIsConsistentAndRemoved checks that a snapshot holds the state
// of the instant it was taken, whatever is written while it is read, and that
// Close removes its file.
func TestSnapshotIsConsistentAndRemoved(t *testing.T) {
	s, path := mustOpen(t, Options{})
	mustRegister(t, s, "m", "1.0.0")
	snap, err := s.Snapshot()
	must(t, err)
	mustRegister(t, s, "m", "1.1.0") // after the snapshot: not in it
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(copyPath)
	must(t, err)
	n, err := f.ReadFrom(snap)
	must(t, err)
	must(t, f.Close())
	if n != snap.Size() {
		t.Fatalf("read %d bytes from a snapshot of %d", n, snap.Size())
	}
	must(t, snap.Close())
	entries, err := os.ReadDir(filepath.Dir(path))
	must(t, err)
	if len(entries) != 1 {
		t.Errorf("data directory after Close: %v", entries)
	}
	c, err := Open(copyPath, Options{ReadOnly: true})
	must(t, err)
	defer c.Close()
	vs, err := c.ListVersions(context.Background(), "m")
	must(t, err)
	if len(vs) != 1 || vs[0].Version != "1.0.0" {
		t.Fatalf("snapshot holds %+v, want 1.0.0 only", vs)
	}
}
