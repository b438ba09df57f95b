package registry

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSecondOpenFailsNamingPath(t *testing.T) {
	_, path := mustOpen(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("error %q does not name the path and the lock", err)
	}
	// Not a timing assertion on speed: only that Open gave up rather than hanging.
	t.Logf("second open gave up after %v", time.Since(start))
}

func TestOpenRejectsForeignFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	must(t, os.WriteFile(junk, bytes.Repeat([]byte("not bolt "), 1000), 0o600))
	if _, err := Open(junk, Options{}); err == nil || !strings.Contains(err.Error(), junk) {
		t.Fatalf("open junk: %v", err)
	}
	wantErr(t, ValidateFile(junk, time.Second), ErrInvalid)
	empty := filepath.Join(dir, "empty.db")
	must(t, os.WriteFile(empty, nil, 0o600))
	wantErr(t, ValidateFile(empty, time.Second), ErrInvalid)
	if _, err := Open(filepath.Join(dir, "x.db"), Options{Environments: []string{"bad env"}}); err == nil {
		t.Fatal("invalid environment name accepted")
	}
}

func TestBackupRestoreIdenticalListings(t *testing.T) {
	ctx := WithUser(context.Background(), "ops")
	clk := newClock()
	s, _ := mustOpen(t, Options{Now: clk.Now})
	mustRegister(t, s, "churn", "1.0.0")
	mustRegister(t, s, "churn", "1.1.0")
	mustRegister(t, s, "fraud", "")
	must(t, s.Deploy(ctx, "churn", "1.0.0", "production", "go"))
	must(t, s.Deploy(ctx, "churn", "1.1.0", "production", "better"))
	must(t, s.Rollback(ctx, "churn", "production", "oops"))
	must(t, s.SetAlias(ctx, "fraud", "champion", "1.0.0", ""))
	exp, err := s.CreateExperiment(ctx, "churn-exp", "", nil)
	must(t, err)
	run, err := s.CreateRun(ctx, exp.ID, RunOptions{})
	must(t, err)
	must(t, s.LogMetric(ctx, run.ID, "auc", 0.8, 1, time.Time{}))
	must(t, s.PutUser(ctx, User{Name: "eve", Role: RoleViewer, PasswordHash: []byte("h")}))

	backup := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(backup)
	must(t, err)
	n, err := s.Backup(f)
	must(t, err)
	must(t, f.Close())
	if n == 0 || n != s.BackupSize() {
		t.Fatalf("backup wrote %d bytes, size %d", n, s.BackupSize())
	}
	must(t, ValidateFile(backup, time.Second))

	dst := filepath.Join(t.TempDir(), "restored", FileName)
	_, err = Restore(backup, dst, false)
	must(t, err)
	r, err := Open(dst, Options{Now: clk.Now})
	must(t, err)
	defer r.Close()

	listings := func(s *Store) []any {
		models, err := s.ListModels(ctx)
		must(t, err)
		churn, err := s.ListVersions(ctx, "churn")
		must(t, err)
		fraud, err := s.ListVersions(ctx, "fraud")
		must(t, err)
		hist, err := s.History(ctx, HistoryQuery{})
		must(t, err)
		runs, err := s.SearchRuns(ctx, RunQuery{})
		must(t, err)
		users, err := s.ListUsers(ctx)
		must(t, err)
		art, err := s.Artifact(ctx, "churn", "1.1.0")
		must(t, err)
		return []any{models, churn, fraud, hist, runs, users, art}
	}
	if a, b := listings(s), listings(r); !reflect.DeepEqual(a, b) {
		t.Fatalf("restored listings differ:\n%+v\n%+v", a, b)
	}
	// The restored store keeps working: rollback state survived.
	wantErr(t, r.Rollback(ctx, "churn", "production", ""), ErrConflict)

	// A second restore onto a non-empty store needs force; a locked store is refused.
	_, err = Restore(backup, dst, false)
	wantErr(t, err, ErrConflict)
	_, err = Restore(backup, dst, true)
	wantErr(t, err, ErrConflict) // r holds the lock
	must(t, r.Close())
	_, err = Restore(backup, dst, true)
	must(t, err)
	// A file that is not a registry is refused before anything is touched.
	junk := filepath.Join(t.TempDir(), "junk")
	must(t, os.WriteFile(junk, []byte("hello"), 0o600))
	_, err = Restore(junk, filepath.Join(t.TempDir(), FileName), false)
	wantErr(t, err, ErrInvalid)
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{StackDepth: 1000})
	const registrars, deployers, perWorker = 4, 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := 0; w < registrars; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				if _, err := s.Register(ctx, []byte("a"), "m", RegisterOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	mustRegister(t, s, "d", "1.0.0")
	mustRegister(t, s, "d", "1.1.0")
	notified := make(chan DeploymentChange, deployers*perWorker)
	cancel := s.Subscribe(func(c DeploymentChange) {
		if c.Model == "d" {
			notified <- c
		}
	})
	exp, err := s.CreateExperiment(ctx, "e", "", nil)
	must(t, err)
	run, err := s.CreateRun(ctx, exp.ID, RunOptions{})
	must(t, err)
	for w := 0; w < deployers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				v := []string{"1.0.0", "1.1.0"}[(w+i)%2]
				if err := s.Deploy(WithUser(ctx, "u"), "d", v, "production", ""); err != nil {
					errs <- err
				}
				if err := s.LogMetric(ctx, run.ID, "loss", float64(i), int64(w*perWorker+i), time.Time{}); err != nil {
					errs <- err
				}
				if _, err := s.ListModels(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	vs, err := s.ListVersions(ctx, "m")
	must(t, err)
	if len(vs) != registrars*perWorker {
		t.Fatalf("%d versions, want %d", len(vs), registrars*perWorker)
	}
	for i, v := range vs {
		if want := "1." + strconv.Itoa(i) + ".0"; v.Version != want {
			t.Fatalf("version %d = %s, want %s", i, v.Version, want)
		}
	}
	hist, err := s.History(ctx, HistoryQuery{Model: "d", Environment: "production", Limit: 1000})
	must(t, err)
	if len(hist) != deployers*perWorker {
		t.Fatalf("%d deploy events, want %d (every deploy recorded)", len(hist), deployers*perWorker)
	}
	// Each event's From is the previous event's To: deploys were serialised.
	for i := 0; i+1 < len(hist); i++ {
		if hist[i].From != hist[i+1].To {
			t.Fatalf("event %d from %q but previous to %q", hist[i].ID, hist[i].From, hist[i+1].To)
		}
	}
	cur, err := s.Production(ctx, "d")
	must(t, err)
	if cur.Version != hist[0].To {
		t.Fatalf("production %s, last event to %s", cur.Version, hist[0].To)
	}
	moved := 0
	for _, h := range hist {
		if h.From != h.To {
			moved++
		}
	}
	// Notifications arrive on the subscription's goroutine, in commit order
	// (history is newest first).
	i := 0
	for _, h := range slices.Backward(hist) {
		if h.From == h.To {
			continue
		}
		if c := recvChange(t, notified); c.From != h.From || c.To != h.To {
			t.Fatalf("notification %d = %+v, history says %s -> %s", i, c, h.From, h.To)
		}
		i++
	}
	cancel()
	if len(notified) != 0 {
		t.Fatalf("more notifications than the %d changes", moved)
	}
	pts, err := s.MetricHistory(ctx, run.ID, "loss")
	must(t, err)
	if len(pts) != deployers*perWorker {
		t.Fatalf("%d metric points", len(pts))
	}
}
