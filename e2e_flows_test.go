package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// flowRun is the part of a flow run the end-to-end tests read.
type flowRun struct {
	ID         string
	Flow       string
	State      string
	ScheduleID string `json:"schedule_id"`
	Error      string
	CreatedAt  time.Time `json:"created_at"`
	Trigger    struct{ Kind, By, Reason string }
	History    []struct{ State, Note string }
	Params     map[string]any
	Progress   json.RawMessage
}

// getRun reads one flow run over the API.
func (s *e2eServer) getRun(tb testing.TB, id string) flowRun {
	tb.Helper()
	status, b := s.call(tb, http.MethodGet, "/api/v1/flow-runs/"+id, "", nil)
	var r flowRun
	if status != http.StatusOK || json.Unmarshal(b, &r) != nil {
		tb.Fatalf("flow run %s: %d %s", id, status, b)
	}
	return r
}

// TestE2EKill9CrashesRunningFlowAndCronFiresAfterRestart kills the real
// binary with SIGKILL while a training run is going and a cron schedule is
// firing every second: after the restart the run is "crashed" (its
// experiment run KILLED) and the schedule fires again.
func TestE2EKill9CrashesRunningFlowAndCronFiresAfterRestart(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	kafka := freePort(t)
	s := startServer(t, data, kafka)

	// A schedule on a cron expression with seconds: every second.
	body := `{"name":"every-second","flow":"drift-check","cron":"* * * * * *","params":{"live":true},"catchup":"skip","overlap":"queue"}`
	status, b := s.call(t, http.MethodPost, "/api/v1/schedules", "application/json", []byte(body))
	var sched struct {
		ID        string
		NextRunAt time.Time `json:"next_run_at"`
	}
	if status != http.StatusCreated || json.Unmarshal(b, &sched) != nil || sched.ID == "" || sched.NextRunAt.IsZero() {
		t.Fatalf("create schedule: %d %s", status, b)
	}
	// A bad cron expression is refused naming the field.
	status, b = s.call(t, http.MethodPost, "/api/v1/schedules", "application/json", []byte(`{"name":"bad","flow":"drift-check","cron":"61 * * * *"}`))
	var apiErr struct{ Error, Field string }
	if status != http.StatusBadRequest || json.Unmarshal(b, &apiErr) != nil || apiErr.Field != "cron" {
		t.Fatalf("bad cron: %d %s, want 400 naming cron", status, b)
	}

	// A training run long enough to be killed in the middle.
	csv := filepath.Join(data, "long.csv")
	mustRun(t, "gen", "--rows", "20000", "--seed", "3", "--out", csv)
	body = fmt.Sprintf(`{"params":{"data":%q,"target":"label","id":"id","rounds":100000,"register":false}}`, csv)
	status, b = s.call(t, http.MethodPost, "/api/v1/flows/train/runs", "application/json", []byte(body))
	var run flowRun
	if status != http.StatusAccepted || json.Unmarshal(b, &run) != nil || run.ID == "" {
		t.Fatalf("start train run: %d %s", status, b)
	}
	expRun, _ := run.Params["run_id"].(string)
	if expRun == "" {
		t.Fatalf("train run has no experiment run id: %s", b)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := s.getRun(t, run.ID)
		if r.State == "running" && len(r.Progress) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("train run did not start making progress: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The schedule has fired at least once before the kill.
	waitScheduleRuns(t, s, sched.ID, time.Time{}, 1)

	if err := s.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.p.done
	restarted := time.Now()

	s = startServer(t, data, kafka)
	r := s.getRun(t, run.ID)
	if r.State != "crashed" || len(r.History) == 0 || r.History[len(r.History)-1].State != "crashed" {
		t.Fatalf("after kill -9 and restart, the train run is %q (history %+v), want crashed", r.State, r.History)
	}
	status, b = s.call(t, http.MethodGet, "/api/v1/runs/"+expRun, "", nil)
	var exp struct{ Status string }
	if status != http.StatusOK || json.Unmarshal(b, &exp) != nil || exp.Status != "killed" {
		t.Fatalf("experiment run of the crashed train run: %d %s, want killed", status, b)
	}
	// The cron schedule fires again after the restart.
	got := waitScheduleRuns(t, s, sched.ID, restarted, 2)
	for _, r := range got {
		if r.Trigger.Kind != "schedule" || r.ScheduleID != sched.ID {
			t.Errorf("run %s of the schedule has trigger %+v schedule %q", r.ID, r.Trigger, r.ScheduleID)
		}
	}
}

// waitScheduleRuns polls until the schedule has n runs created after since.
func waitScheduleRuns(tb testing.TB, s *e2eServer, id string, since time.Time, n int) []flowRun {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last []byte
	for time.Now().Before(deadline) {
		status, b := s.call(tb, http.MethodGet, "/api/v1/flow-runs?schedule="+id+"&limit=100", "", nil)
		var out struct{ Runs []flowRun }
		if status == http.StatusOK && json.Unmarshal(b, &out) == nil {
			var after []flowRun
			for _, r := range out.Runs {
				if r.CreatedAt.After(since) {
					after = append(after, r)
				}
			}
			if len(after) >= n {
				return after
			}
		}
		last = b
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("schedule %s did not fire %d times after %s: %s", id, n, since.Format(time.RFC3339Nano), last)
	return nil
}
