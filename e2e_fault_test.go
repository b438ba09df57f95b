package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"driftd/train"
)

// The fault tests of the registry and the server's lifecycle: real binaries,
// real files, and one bound each that says what "stalled" means.

// requireIntegration skips a heavy fault test unless DRIFTD_INTEGRATION is set.
func requireIntegration(tb testing.TB, what string) {
	tb.Helper()
	if os.Getenv("DRIFTD_INTEGRATION") == "" {
		tb.Skipf("%s: set DRIFTD_INTEGRATION=1 to run it", what)
	}
}

// requireFreeSpace skips the test when dir's file system has less than n bytes free.
func requireFreeSpace(tb testing.TB, dir string, n uint64) {
	tb.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		tb.Fatal(err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < n {
		tb.Skipf("%d MB free in %s, the test needs %d MB", free>>20, dir, n>>20)
	}
}

// TestE2ESIGTERMDuringTrainingOnLargeCSV sends SIGTERM to `driftd serve`
// while a training run reads a 1 GB CSV (about 20 s of reading here): the
// read stops with the run's context and the server exits 0 within
// DRIFTD_SHUTDOWN_TIMEOUT. Before CSV reading took a context, the read went
// on, the scheduler gave up waiting after the timeout, and driftd exited 1.
func TestE2ESIGTERMDuringTrainingOnLargeCSV(t *testing.T) {
	requireIntegration(t, "SIGTERM during training on a 1 GB CSV")
	dir := t.TempDir()
	requireFreeSpace(t, dir, 3<<30)
	csv := filepath.Join(dir, "big.csv")
	mustRun(t, "gen", "--rows", "3800000", "--out", csv) // 1.05 GB
	const timeout = 5 * time.Second
	s := startServer(t, filepath.Join(dir, "data"), freePort(t),
		"DRIFTD_SHUTDOWN_TIMEOUT="+timeout.String(), "DRIFTD_TRAIN_DATA_DIRS="+dir)
	body := fmt.Sprintf(`{"params":{"data":%q,"target":"label","rounds":1}}`, csv)
	status, b := s.call(t, http.MethodPost, "/api/v1/flows/train/runs", "application/json", []byte(body))
	var run flowRun
	if status != http.StatusAccepted || json.Unmarshal(b, &run) != nil {
		t.Fatalf("submit training: %d %s", status, b)
	}
	// The flow logs "training ..." just before it opens the CSV.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, b := s.call(t, http.MethodGet, "/api/v1/flow-runs/"+run.ID+"/logs", "", nil)
		if strings.Contains(string(b), "training ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the training run did not start: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := s.getRun(t, run.ID); r.State != "running" {
		t.Fatalf("run is %s before SIGTERM, want running (reading the CSV)", r.State)
	}
	t0 := time.Now()
	if err := s.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := s.p.exitWithin(t, timeout) // fault bound: the shutdown timeout itself
	t.Logf("driftd exited %d %s after SIGTERM (shutdown timeout %s)", code, time.Since(t0).Round(time.Millisecond), timeout)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM during training, want 0:\n%s", code, s.p.output())
	}
}

// paddedModel trains a small model with `driftd train` and pads it with an
// attachment to about size bytes: a valid model file of a chosen size.
func paddedModel(tb testing.TB, size int) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "model.bin")
	mustRun(tb, "train", "--data", "testdata/train_binary.csv", "--target", "label", "--rounds", "2", "--out", path)
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := train.Decode(b)
	if err != nil {
		tb.Fatal(err)
	}
	pad := make([]byte, size)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(pad)
	m.Attach("padding", pad)
	if b, err = m.MarshalBinary(); err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestE2ESlowBackupReaderDoesNotStallRegistrations reads GET /api/v1/backup
// at 1 KB/s while 100 versions of a 1 MB model are registered over the API:
// every registration completes within a second. The registry is first grown
// past what loopback socket buffers hold, so a stalled client really stalls
// the server's copy. Before backups went through a snapshot file, the copy
// held a read transaction for as long as the client read, and the first
// registration that grew the file waited for it.
func TestE2ESlowBackupReaderDoesNotStallRegistrations(t *testing.T) {
	requireIntegration(t, "slow backup reader")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := startServer(t, data, freePort(t))
	register := func(art []byte) error {
		status, b := s.call(t, http.MethodPost, "/api/v1/models/backup-fault/versions", "application/octet-stream", art)
		if status != http.StatusCreated {
			return fmt.Errorf("register: %d %s", status, b)
		}
		return nil
	}
	big := paddedModel(t, 8<<20)
	for range 4 { // 32 MB
		if err := register(big); err != nil {
			t.Fatal(err)
		}
	}

	ctx, stopReader := context.WithCancel(context.Background())
	defer stopReader()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/backup", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %v %v", resp, err)
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer resp.Body.Close()
		buf := make([]byte, 1024)
		for {
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				return
			}
			select { // 1 KB/s: throttling, not synchronisation
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()

	art := paddedModel(t, 1<<20)
	const bound = time.Second // fault bound per registration, not a benchmark
	var slowest time.Duration
	for i := range 100 {
		// A registration stuck behind the backup would wait for the whole
		// backup: the watchdog drops the slow reader so the test fails fast.
		stuck := time.AfterFunc(bound, stopReader)
		t0 := time.Now()
		err := register(art)
		took := time.Since(t0)
		stuck.Stop()
		if err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, took)
		if took > bound {
			t.Fatalf("registration %d took %s while a backup was read at 1 KB/s (bound %s)", i+1, took, bound)
		}
	}
	t.Logf("100 registrations of 1 MB during a 1 KB/s backup: slowest %s", slowest.Round(time.Millisecond))
	stopReader()
	<-readerDone
	// The snapshot the backup streamed from is gone once the response ends.
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := os.ReadDir(data)
		if err != nil {
			t.Fatal(err)
		}
		left := ""
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".driftd-backup-") {
				left = e.Name()
			}
		}
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup snapshot %s left in the data directory", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
