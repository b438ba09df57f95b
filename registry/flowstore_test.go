package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"driftd/scheduler"
	"go.etcd.io/bbolt"
)

// mustFlowRun stores a flow run of flow in state and returns it with its id.
func mustFlowRun(tb testing.TB, s *Store, flow, state, schedule string) scheduler.Run {
	tb.Helper()
	r := scheduler.Run{Flow: flow, Queue: "default", State: state, ScheduleID: schedule,
		Params: map[string]any{}, History: []scheduler.Transition{{State: state}}}
	if err := s.CreateFlowRun(context.Background(), &r); err != nil {
		tb.Fatalf("create flow run: %v", err)
	}
	return r
}

func runIDs(runs []scheduler.Run) []string {
	ids := []string{}
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestFlowRunRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := scheduler.Run{
		Flow: "retrain", Queue: "training", State: scheduler.StateScheduled,
		Trigger:  scheduler.Trigger{Kind: scheduler.TriggerSchedule, By: "nightly", ScheduleID: "3", Reason: "cron"},
		Params:   map[string]any{"rounds": float64(50), "window": "1h0m0s", "model": "churn", "dry": true},
		Attempts: 0, MaxAttempts: 3, Timeout: time.Minute, ScheduleID: "3",
		CreatedAt: at, ScheduledAt: at,
		History: []scheduler.Transition{{State: scheduler.StateScheduled, At: at, Note: "triggered"}},
	}
	must(t, s.CreateFlowRun(ctx, &in))
	if in.ID != "1" {
		t.Fatalf("first id = %q, want 1", in.ID)
	}
	got, err := s.FlowRun(ctx, in.ID)
	must(t, err)
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}

	in.State, in.Attempts, in.StartedAt, in.EndedAt = scheduler.StateCompleted, 1, at.Add(time.Second), at.Add(time.Minute)
	in.Result = json.RawMessage(`{"auc":0.91}`)
	in.Progress = json.RawMessage(`{"round":50}`)
	in.History = append(in.History, scheduler.Transition{State: scheduler.StateCompleted, At: in.EndedAt})
	must(t, s.SaveFlowRun(ctx, in))
	got, err = s.FlowRun(ctx, in.ID)
	must(t, err)
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("after save:\n got %+v\nwant %+v", got, in)
	}
}

func TestFlowStoreNotFound(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	mustFlowRun(t, s, "f", scheduler.StateRunning, "")
	sc := scheduler.Schedule{Name: "x", Flow: "f", Every: "1m"}
	must(t, s.CreateSchedule(ctx, &sc))
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"flow run", func() error { _, err := s.FlowRun(ctx, "99"); return err }},
		{"flow run bad id", func() error { _, err := s.FlowRun(ctx, "abc"); return err }},
		{"flow run zero id", func() error { _, err := s.FlowRun(ctx, "0"); return err }},
		{"save flow run", func() error { return s.SaveFlowRun(ctx, scheduler.Run{ID: "99"}) }},
		{"save flow run no id", func() error { return s.SaveFlowRun(ctx, scheduler.Run{}) }},
		{"append log", func() error { return s.AppendFlowRunLog(ctx, "99", "x") }},
		{"logs", func() error { _, err := s.FlowRunLogs(ctx, "99", 0); return err }},
		{"get schedule", func() error { _, err := s.GetSchedule(ctx, "99"); return err }},
		{"save schedule", func() error { return s.SaveSchedule(ctx, scheduler.Schedule{ID: "99"}) }},
		{"delete schedule", func() error { return s.DeleteSchedule(ctx, "99") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrNotFound) || !errors.Is(err, scheduler.ErrNotFound) {
				t.Fatalf("error %v matches registry.ErrNotFound %v, scheduler.ErrNotFound %v; want both",
					err, errors.Is(err, ErrNotFound), errors.Is(err, scheduler.ErrNotFound))
			}
		})
	}
}

func TestListFlowRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	mustFlowRun(t, s, "retrain", scheduler.StateCompleted, "1") // 1
	mustFlowRun(t, s, "monitor", scheduler.StateFailed, "")     // 2
	mustFlowRun(t, s, "retrain", scheduler.StateFailed, "1")    // 3
	mustFlowRun(t, s, "retrain", scheduler.StateRunning, "")    // 4
	mustFlowRun(t, s, "monitor", scheduler.StateCompleted, "2") // 5
	for _, tc := range []struct {
		name string
		f    scheduler.RunFilter
		want []string
	}{
		{"all newest first", scheduler.RunFilter{}, []string{"5", "4", "3", "2", "1"}},
		{"flow", scheduler.RunFilter{Flow: "retrain"}, []string{"4", "3", "1"}},
		{"state", scheduler.RunFilter{State: scheduler.StateFailed}, []string{"3", "2"}},
		{"schedule", scheduler.RunFilter{ScheduleID: "1"}, []string{"3", "1"}},
		{"flow and state", scheduler.RunFilter{Flow: "monitor", State: scheduler.StateCompleted}, []string{"5"}},
		{"limit", scheduler.RunFilter{Limit: 2}, []string{"5", "4"}},
		{"no match", scheduler.RunFilter{Flow: "nope"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListFlowRuns(ctx, tc.f)
			must(t, err)
			if ids := runIDs(got); !slices.Equal(ids, tc.want) {
				t.Fatalf("ids = %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestListFlowRunsLimits(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	must(t, s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlowRuns)
		for i := 0; i < maxFlowRunList+10; i++ {
			seq, _ := b.NextSequence()
			rec := flowRunRecord{V: 1, Run: scheduler.Run{ID: strconv.FormatUint(seq, 10), Flow: "f", State: scheduler.StateCompleted}}
			if err := putJSON(b, u64key(seq), rec); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, tc := range []struct {
		limit, want int
	}{{0, defaultFlowRunList}, {-1, defaultFlowRunList}, {7, 7}, {5000, maxFlowRunList}} {
		got, err := s.ListFlowRuns(ctx, scheduler.RunFilter{Limit: tc.limit})
		must(t, err)
		if len(got) != tc.want {
			t.Errorf("limit %d: %d runs, want %d", tc.limit, len(got), tc.want)
		}
	}
}

func TestPruneFlowRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	states := []string{scheduler.StateRunning, scheduler.StateCompleted, scheduler.StatePending,
		scheduler.StateFailed, scheduler.StateCrashed, scheduler.StateCancelled, scheduler.StateCompleted}
	for i, st := range states {
		r := mustFlowRun(t, s, "f", st, "")
		must(t, s.AppendFlowRunLog(ctx, r.ID, fmt.Sprintf("line of run %d", i+1)))
	}
	must(t, s.db.Update(func(tx *bbolt.Tx) error { return pruneFlowRuns(tx, 4) }))
	got, err := s.ListFlowRuns(ctx, scheduler.RunFilter{})
	must(t, err)
	// The oldest terminal runs (2, 4, 5) go; live runs 1 and 3 stay however old.
	if ids, want := runIDs(got), []string{"7", "6", "3", "1"}; !slices.Equal(ids, want) {
		t.Fatalf("kept %v, want %v", ids, want)
	}
	for _, id := range []string{"2", "4", "5"} {
		_, err := s.FlowRunLogs(ctx, id, 0)
		wantErr(t, err, ErrNotFound)
	}
	must(t, s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketFlowRunLogs).Bucket(u64key(2)) != nil {
			t.Error("the log of pruned run 2 is still stored")
		}
		return nil
	}))
	lines, err := s.FlowRunLogs(ctx, "1", 0)
	must(t, err)
	if !slices.Equal(lines, []string{"line of run 1"}) {
		t.Fatalf("log of kept run 1 = %q", lines)
	}
}

func TestCreateFlowRunPrunesBeyondMax(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	must(t, s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFlowRuns)
		for i := 0; i < maxFlowRuns; i++ {
			seq, _ := b.NextSequence()
			rec := flowRunRecord{V: 1, Run: scheduler.Run{ID: strconv.FormatUint(seq, 10), Flow: "f", State: scheduler.StateCompleted}}
			if err := putJSON(b, u64key(seq), rec); err != nil {
				return err
			}
		}
		return nil
	}))
	r := mustFlowRun(t, s, "f", scheduler.StateScheduled, "")
	if r.ID != strconv.Itoa(maxFlowRuns+1) {
		t.Fatalf("id %s, want %d", r.ID, maxFlowRuns+1)
	}
	_, err := s.FlowRun(ctx, "1")
	wantErr(t, err, scheduler.ErrNotFound)
	_, err = s.FlowRun(ctx, "2")
	must(t, err)
	n := 0
	must(t, s.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucketFlowRuns).Stats().KeyN; return nil }))
	if n != maxFlowRuns {
		t.Fatalf("%d runs kept, want %d", n, maxFlowRuns)
	}
}

func TestFlowRunLogs(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{MaxLogLines: 3})
	r := mustFlowRun(t, s, "f", scheduler.StateRunning, "")
	lines, err := s.FlowRunLogs(ctx, r.ID, 0)
	must(t, err)
	if len(lines) != 0 {
		t.Fatalf("new run has log %q", lines)
	}
	must(t, s.AppendFlowRunLog(ctx, r.ID, "a", "b"))
	must(t, s.AppendFlowRunLog(ctx, r.ID, "c", strings.Repeat("x", maxLogLine+10), "e"))
	for _, tc := range []struct {
		tail int
		want []string
	}{
		{0, []string{"c", strings.Repeat("x", maxLogLine) + " [truncated]", "e"}},
		{-1, []string{"c", strings.Repeat("x", maxLogLine) + " [truncated]", "e"}},
		{1, []string{"e"}},
		{10, []string{"c", strings.Repeat("x", maxLogLine) + " [truncated]", "e"}},
	} {
		got, err := s.FlowRunLogs(ctx, r.ID, tc.tail)
		must(t, err)
		if !slices.Equal(got, tc.want) {
			t.Errorf("tail %d: %q, want %q", tc.tail, got, tc.want)
		}
	}
	// Appending keeps the cap: the count comes from the first and last keys.
	must(t, s.AppendFlowRunLog(ctx, r.ID, "f"))
	got, err := s.FlowRunLogs(ctx, r.ID, 0)
	must(t, err)
	if want := []string{strings.Repeat("x", maxLogLine) + " [truncated]", "e", "f"}; !slices.Equal(got, want) {
		t.Fatalf("after one more line: %q", got)
	}
}

func TestSchedulesStore(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := scheduler.Schedule{Name: "nightly", Flow: "retrain", Cron: "0 3 * * *", Timezone: "Europe/Paris",
		Params: map[string]any{"rounds": float64(10)}, Enabled: true, Catchup: "skip", Overlap: "skip",
		CreatedAt: at, UpdatedAt: at, NextRunAt: at.Add(time.Hour)}
	b := scheduler.Schedule{Name: "check", Flow: "monitor", Every: "10m", Params: map[string]any{}, CreatedAt: at, UpdatedAt: at}
	must(t, s.CreateSchedule(ctx, &a))
	must(t, s.CreateSchedule(ctx, &b))
	if a.ID != "1" || b.ID != "2" {
		t.Fatalf("ids %q %q", a.ID, b.ID)
	}
	got, err := s.GetSchedule(ctx, a.ID)
	must(t, err)
	want := a
	want.NextRunAt = time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	a.LastFiredAt, a.LastRunID, a.NextRunAt = at.Add(time.Minute), "7", at.Add(2*time.Hour)
	must(t, s.SaveSchedule(ctx, a))
	list, err := s.ListSchedules(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != "1" || list[1].ID != "2" || list[0].LastRunID != "7" || !list[0].NextRunAt.IsZero() {
		t.Fatalf("list %+v", list)
	}
	must(t, s.DeleteSchedule(ctx, a.ID))
	list, err = s.ListSchedules(ctx)
	must(t, err)
	if len(list) != 1 || list[0].ID != "2" {
		t.Fatalf("after delete %+v", list)
	}
}

// A file written before the flow buckets existed gets them at open.
func TestFlowBucketsCreatedOnOldFile(t *testing.T) {
	ctx := context.Background()
	s, path := mustOpen(t, Options{})
	must(t, s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketFlowRuns, bucketFlowRunLogs, bucketSchedules} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, s.Close())

	ro, err := Open(path, Options{ReadOnly: true})
	must(t, err)
	runs, err := ro.ListFlowRuns(ctx, scheduler.RunFilter{})
	must(t, err)
	scheds, err := ro.ListSchedules(ctx)
	must(t, err)
	_, err = ro.FlowRun(ctx, "1")
	wantErr(t, err, scheduler.ErrNotFound)
	if len(runs) != 0 || len(scheds) != 0 {
		t.Fatalf("read-only old file: %d runs, %d schedules", len(runs), len(scheds))
	}
	must(t, ro.Close())

	s2, err := Open(path, Options{})
	must(t, err)
	t.Cleanup(func() { _ = s2.Close() })
	r := mustFlowRun(t, s2, "f", scheduler.StateRunning, "")
	must(t, s2.AppendFlowRunLog(ctx, r.ID, "hello"))
}
