package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"driftd/registry"
)

// TestDataDirLockNamesTheProcess starts a second App on a data directory
// another App holds: the error names the holder's pid from driftd.pid (or
// says no pid file names it), and the pid file goes when the holder stops.
func TestDataDirLockNamesTheProcess(t *testing.T) {
	cases := []struct {
		name    string
		pidFile bool
		want    string
	}{
		{"pid file", true, fmt.Sprintf("is in use by driftd process %d (from ", os.Getpid())},
		{"no pid file", false, "is in use by another process (no "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			first := mustStartApp(t, cfg)
			pidPath := filepath.Join(cfg.DataDir, pidFileName)
			if pid, ok := readPIDFile(pidPath); !ok || pid != os.Getpid() {
				t.Fatalf("pid file %s names %d (%v), want %d", pidPath, pid, ok, os.Getpid())
			}
			if !tc.pidFile {
				if err := os.Remove(pidPath); err != nil {
					t.Fatal(err)
				}
			}
			second := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
			err := second.Start(context.Background())
			if err == nil {
				second.Close(context.Background())
				t.Fatal("a second App started on a locked data directory")
			}
			if !errors.Is(err, registry.ErrLocked) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cfg.DataDir) {
				t.Fatalf("error %q: want registry.ErrLocked, the data directory and %q", err, tc.want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := first.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(pidPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file after Close: %v, want it removed", err)
			}
		})
	}
}

// TestTrainRelativePathsInDataDir proves that a relative "data" or "test"
// of POST /api/v1/train names a file in the data directory, not in the
// server's working directory, and that a relative path cannot climb out.
func TestTrainRelativePathsInDataDir(t *testing.T) {
	cfg := testConfig(t)
	cfg.TrainDataDirs = nil
	a := mustStartApp(t, cfg)
	writeTrainCSV(t, cfg.DataDir, "train.csv", 200, -1)
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "sets"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeTrainCSV(t, filepath.Join(cfg.DataDir, "sets"), "test.csv", 100, -1)
	outside := writeTrainCSV(t, filepath.Dir(cfg.DataDir), "outside.csv", 50, -1)
	cases := []struct {
		name   string
		body   map[string]any
		status int
		field  string
		msg    string
	}{
		{"data in the data directory", map[string]any{"data": "train.csv"}, http.StatusAccepted, "", ""},
		{"data and test in a subdirectory", map[string]any{"data": "./train.csv", "test": "sets/test.csv"}, http.StatusAccepted, "", ""},
		{"missing relative file", map[string]any{"data": "nope.csv"}, http.StatusBadRequest, "data", filepath.Join(cfg.DataDir, "nope.csv")},
		{"climbing out", map[string]any{"data": "../" + filepath.Base(outside)}, http.StatusBadRequest, "data", "outside the directories"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["target"], tc.body["register"] = "label", false
			status, resp := postTrain(t, a, tc.body)
			if status != tc.status {
				t.Fatalf("status %d %v, want %d", status, resp, tc.status)
			}
			if tc.field != "" && (resp["field"] != tc.field || !strings.Contains(fmt.Sprint(resp["error"]), tc.msg)) {
				t.Errorf("error %v, want field %q and %q", resp, tc.field, tc.msg)
			}
			if id, _ := resp["run_id"].(string); id != "" {
				waitRunEnded(t, a, id)
			}
		})
	}
}

// logBuffer is a concurrency-safe buffer for a test's logger.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRestartLogs restarts an App whose model is deployed: the restart
// does not log "no model deployed" before scoring, and no log line names
// its component twice.
func TestRestartLogs(t *testing.T) {
	cfg := testConfig(t)
	first := mustStartApp(t, cfg)
	registerUIModel(t, first, cfg.ModelName, "1.0.0", 1)
	if err := first.store.Deploy(registry.WithUser(context.Background(), "admin"), cfg.ModelName, "1.0.0", cfg.ScoringEnvironment, "restart test"); err != nil {
		t.Fatal(err)
	}
	uiWaitFor(t, "the first App to score with 1.0.0", 10*time.Second, func() bool {
		_, ok := first.pipeline.Drift()
		return ok
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var logs logBuffer
	second := mustStartAppLogger(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	produceShifted(t, second, 20)
	uiWaitFor(t, "the restarted scorer to score", 20*time.Second, func() bool {
		return second.pipeline.scorer.Status().Produced > 0
	})
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "no model deployed") {
			t.Errorf("restart with a deployed model logged %q", line)
		}
		if strings.Count(line, "component=") > 1 {
			t.Errorf("line names its component twice: %q", line)
		}
	}
}
