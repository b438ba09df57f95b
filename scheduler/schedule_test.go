package scheduler_test

import (
	"context"
	"testing"
	"time"

	"driftd/scheduler"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestScheduleNextFire(t *testing.T) {
	for _, tc := range []struct {
		name        string
		start       time.Time // clock at creation (default t0, Sunday 12:00 UTC)
		cron, every string
		tz          string
		first, then time.Time
	}{
		{name: "cron in a timezone", cron: "0 9 * * *", tz: "Europe/Paris",
			first: utc("2026-03-02T08:00:00Z"), then: utc("2026-03-03T08:00:00Z")},
		{name: "CRON_TZ prefix", cron: "CRON_TZ=America/New_York 30 7 * * *",
			first: utc("2026-03-01T12:30:00Z"), then: utc("2026-03-02T12:30:00Z")},
		{name: "CRON_TZ wins over timezone", cron: "CRON_TZ=America/New_York 30 7 * * *", tz: "Asia/Tokyo",
			first: utc("2026-03-01T12:30:00Z"), then: utc("2026-03-02T12:30:00Z")},
		{name: "TZ prefix", cron: "TZ=Asia/Tokyo 0 0 * * *",
			first: utc("2026-03-01T15:00:00Z"), then: utc("2026-03-02T15:00:00Z")},
		{name: "@daily", cron: "@daily",
			first: utc("2026-03-02T00:00:00Z"), then: utc("2026-03-03T00:00:00Z")},
		{name: "@daily in a timezone", cron: "@daily", tz: "Asia/Tokyo",
			first: utc("2026-03-01T15:00:00Z"), then: utc("2026-03-02T15:00:00Z")},
		{name: "@hourly", cron: "@hourly",
			first: utc("2026-03-01T13:00:00Z"), then: utc("2026-03-01T14:00:00Z")},
		{name: "every 1h", every: "1h",
			first: utc("2026-03-01T13:00:00Z"), then: utc("2026-03-01T14:00:00Z")},
		{name: "@every 1h in every", every: "@every 1h",
			first: utc("2026-03-01T13:00:00Z"), then: utc("2026-03-01T14:00:00Z")},
		{name: "@every in cron", cron: "@every 90m",
			first: utc("2026-03-01T13:30:00Z"), then: utc("2026-03-01T15:00:00Z")},
		{name: "seconds field", cron: "30 */5 * * * *",
			first: utc("2026-03-01T12:00:30Z"), then: utc("2026-03-01T12:05:30Z")},
		{name: "weekdays only", cron: "0 9 * * MON-FRI", start: utc("2026-03-06T10:00:00Z"),
			first: utc("2026-03-09T09:00:00Z"), then: utc("2026-03-10T09:00:00Z")},
		{name: "across the start of summer time", cron: "0 9 * * *", tz: "Europe/Paris", start: utc("2026-03-28T12:00:00Z"),
			first: utc("2026-03-29T07:00:00Z"), then: utc("2026-03-30T07:00:00Z")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			start := tc.start
			if start.IsZero() {
				start = t0
			}
			clk := newClock(start)
			store, _ := mustStore(t)
			e := mustEngine(t, store, scheduler.Options{Now: clk.Now}, okFlow("f"))
			s, err := e.CreateSchedule(ctx, scheduler.Schedule{Name: "s", Flow: "f", Cron: tc.cron, Every: tc.every,
				Timezone: tc.tz, Enabled: true, Overlap: scheduler.OverlapQueue})
			must(t, err)
			if !s.NextRunAt.Equal(tc.first) {
				t.Fatalf("NextRunAt = %s, want %s", s.NextRunAt.UTC(), tc.first)
			}
			for i, fire := range []time.Time{tc.first, tc.then} {
				clk.Set(fire.Add(-time.Second))
				e.Tick(fire.Add(-time.Second))
				if n := len(runsOf(t, e, s.ID)); n != i {
					t.Fatalf("a second before fire %d: %d runs, want %d", i+1, n, i)
				}
				clk.Set(fire)
				e.Tick(fire)
				runs := runsOf(t, e, s.ID)
				if len(runs) != i+1 {
					t.Fatalf("at fire %d: %d runs, want %d", i+1, len(runs), i+1)
				}
				if tr := runs[0].Trigger; tr.Kind != scheduler.TriggerSchedule || tr.ScheduleID != s.ID || tr.By != "s" {
					t.Fatalf("trigger %+v", tr)
				}
				got, err := e.GetSchedule(ctx, s.ID)
				must(t, err)
				if !got.LastFiredAt.Equal(fire) || got.LastRunID != runs[0].ID {
					t.Fatalf("after fire %d: last fired %s run %s, want %s run %s", i+1, got.LastFiredAt, got.LastRunID, fire, runs[0].ID)
				}
			}
			got, err := e.GetSchedule(ctx, s.ID)
			must(t, err)
			if got.NextRunAt.Before(tc.then.Add(time.Second)) {
				t.Fatalf("NextRunAt after the second fire = %s", got.NextRunAt)
			}
		})
	}
}

func TestSchedulePaused(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	store, _ := mustStore(t)
	e := mustEngine(t, store, scheduler.Options{Now: clk.Now}, okFlow("f"))
	s, err := e.CreateSchedule(ctx, scheduler.Schedule{Name: "paused", Flow: "f", Every: "1m"})
	must(t, err)
	if s.Enabled || !s.NextRunAt.IsZero() {
		t.Fatalf("paused schedule: enabled %v, next %s", s.Enabled, s.NextRunAt)
	}
	for _, at := range []time.Time{t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(24 * 365 * time.Hour)} {
		clk.Set(at)
		e.Tick(at)
	}
	if n := len(runsOf(t, e, s.ID)); n != 0 {
		t.Fatalf("paused schedule fired %d times", n)
	}
	// Resuming counts from the resume, not from the creation a year ago.
	on := true
	s, err = e.UpdateSchedule(ctx, s.ID, scheduler.SchedulePatch{Enabled: &on})
	must(t, err)
	if want := clk.Now().Add(time.Minute); !s.NextRunAt.Equal(want) {
		t.Fatalf("NextRunAt after resume = %s, want %s", s.NextRunAt, want)
	}
	e.Tick(clk.Now())
	if n := len(runsOf(t, e, s.ID)); n != 0 {
		t.Fatalf("resumed schedule fired %d times at once", n)
	}
	off := false
	s, err = e.UpdateSchedule(ctx, s.ID, scheduler.SchedulePatch{Enabled: &off})
	must(t, err)
	list, err := e.Schedules(ctx)
	must(t, err)
	if len(list) != 1 || !list[0].NextRunAt.IsZero() {
		t.Fatalf("schedules %+v", list)
	}
}

func TestScheduleCatchUp(t *testing.T) {
	for _, tc := range []struct {
		policy     string
		wantRuns   int
		wantReason string
	}{
		{scheduler.CatchupSkip, 1, ""},
		{scheduler.CatchupOnce, 2, "catch-up: 4 missed fires"},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock(t0)
			store, path := mustStore(t)
			e1 := mustEngine(t, store, scheduler.Options{Now: clk.Now}, okFlow("f"))
			s, err := e1.CreateSchedule(ctx, scheduler.Schedule{Name: "hourly", Flow: "f", Every: "1h", Enabled: true, Catchup: tc.policy})
			must(t, err)
			clk.Set(t0.Add(time.Hour))
			e1.Tick(clk.Now())
			first := runsOf(t, e1, s.ID)
			if len(first) != 1 {
				t.Fatalf("%d runs before the restart", len(first))
			}
			mustWait(t, e1, first[0].ID)
			must(t, e1.Close(ctx))
			must(t, store.Close())

			// The process was down from 13:00 to 17:30: fires at 14, 15, 16 and 17 were missed.
			down := t0.Add(5*time.Hour + 30*time.Minute)
			clk.Set(down)
			store2 := mustReopen(t, path)
			e2 := mustEngine(t, store2, scheduler.Options{Now: clk.Now}, okFlow("f"))
			runs := runsOf(t, e2, s.ID)
			if len(runs) != tc.wantRuns {
				t.Fatalf("%d runs after the restart, want %d", len(runs), tc.wantRuns)
			}
			if tc.wantReason != "" && runs[0].Trigger.Reason != tc.wantReason {
				t.Fatalf("catch-up reason %q, want %q", runs[0].Trigger.Reason, tc.wantReason)
			}
			got, err := e2.GetSchedule(ctx, s.ID)
			must(t, err)
			if !got.LastFiredAt.Equal(down) {
				t.Fatalf("LastFiredAt %s, want %s", got.LastFiredAt, down)
			}
			if want := down.Add(time.Hour); !got.NextRunAt.Equal(want) {
				t.Fatalf("NextRunAt %s, want %s", got.NextRunAt, want)
			}
			e2.Tick(down.Add(time.Minute))
			if n := len(runsOf(t, e2, s.ID)); n != tc.wantRuns {
				t.Fatalf("a tick after the catch-up fired again: %d runs", n)
			}
		})
	}
}

func TestScheduleOverlap(t *testing.T) {
	for _, tc := range []struct {
		policy   string
		wantRuns int
	}{
		{scheduler.OverlapSkip, 1},
		{scheduler.OverlapQueue, 2},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock(t0)
			store, _ := mustStore(t)
			g := newGate()
			defer g.Release()
			e := mustEngine(t, store, scheduler.Options{Now: clk.Now}, g.flow("slow", "default"))
			s, err := e.CreateSchedule(ctx, scheduler.Schedule{Name: "s", Flow: "slow", Every: "1h", Enabled: true, Overlap: tc.policy})
			must(t, err)
			clk.Set(t0.Add(time.Hour))
			e.Tick(clk.Now())
			g.nextStart(t)
			clk.Set(t0.Add(2 * time.Hour))
			e.Tick(clk.Now())
			runs := runsOf(t, e, s.ID)
			if len(runs) != tc.wantRuns {
				t.Fatalf("%d runs, want %d", len(runs), tc.wantRuns)
			}
			got, err := e.GetSchedule(ctx, s.ID)
			must(t, err)
			if !got.LastFiredAt.Equal(clk.Now()) {
				t.Fatalf("LastFiredAt %s not advanced to %s", got.LastFiredAt, clk.Now())
			}
			g.Release()
			for _, r := range runs {
				if r := mustWait(t, e, r.ID); r.State != scheduler.StateCompleted {
					t.Fatalf("run %s %s", r.ID, r.State)
				}
			}
		})
	}
}

func TestScheduleRealClock(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	e := mustEngine(t, store, scheduler.Options{Now: time.Now, TickEvery: 10 * time.Millisecond}, okFlow("f"))
	s, err := e.CreateSchedule(ctx, scheduler.Schedule{Name: "fast", Flow: "f", Cron: "@every 1s", Enabled: true})
	must(t, err)
	eventually(t, "2 runs of an @every 1s schedule", func() bool { return len(runsOf(t, e, s.ID)) >= 2 })
	for _, r := range runsOf(t, e, s.ID) {
		if r := mustWait(t, e, r.ID); r.State != scheduler.StateCompleted || string(r.Result) != `{"double":2}` {
			t.Fatalf("run %s: %s %s", r.ID, r.State, r.Result)
		}
	}
}

func TestRunSchedule(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	e := mustEngine(t, store, scheduler.Options{}, okFlow("f"))
	s, err := e.CreateSchedule(ctx, scheduler.Schedule{Name: "s", Flow: "f", Cron: "@daily", Params: map[string]any{"n": "21"}})
	must(t, err)
	r, err := e.RunSchedule(ctx, s.ID, "alice")
	must(t, err)
	if r.ScheduleID != s.ID || r.Trigger.Kind != scheduler.TriggerManual || r.Trigger.By != "alice" || r.Trigger.ScheduleID != s.ID {
		t.Fatalf("run %+v", r)
	}
	if r = mustWait(t, e, r.ID); string(r.Result) != `{"double":42}` {
		t.Fatalf("result %s", r.Result)
	}
	got, err := e.GetSchedule(ctx, s.ID)
	must(t, err)
	if got.LastRunID != r.ID || !got.LastFiredAt.IsZero() {
		t.Fatalf("schedule after run now: %+v", got)
	}
	_, err = e.RunSchedule(ctx, "404", "alice")
	wantErr(t, err, scheduler.ErrNotFound)
	must(t, e.DeleteSchedule(ctx, s.ID))
	wantErr(t, e.DeleteSchedule(ctx, s.ID), scheduler.ErrNotFound)
	_, err = e.GetSchedule(ctx, s.ID)
	wantErr(t, err, scheduler.ErrNotFound)
}

func TestScheduleValidation(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	f := okFlow("f")
	f.Params = append(f.Params, scheduler.Param{Name: "mode", Type: scheduler.TypeString, Enum: []string{"a", "b"}})
	e := mustEngine(t, store, scheduler.Options{}, f)
	_, err := e.CreateSchedule(ctx, scheduler.Schedule{Name: "taken", Flow: "f", Every: "1m"})
	must(t, err)
	ok := scheduler.Schedule{Name: "s", Flow: "f", Cron: "0 * * * *"}
	for _, tc := range []struct {
		name  string
		edit  func(*scheduler.Schedule)
		field string
		msg   string
	}{
		{"empty name", func(s *scheduler.Schedule) { s.Name = " " }, "name", "empty"},
		{"taken name", func(s *scheduler.Schedule) { s.Name = "taken" }, "name", "already exists"},
		{"unknown flow", func(s *scheduler.Schedule) { s.Flow = "nope" }, "flow", `unknown flow "nope" (known: f)`},
		{"bad cron", func(s *scheduler.Schedule) { s.Cron = "61 * * * *" }, "cron", "61"},
		{"too few fields", func(s *scheduler.Schedule) { s.Cron = "* *" }, "cron", ""},
		{"bad descriptor", func(s *scheduler.Schedule) { s.Cron = "@fortnightly" }, "cron", ""},
		{"never fires", func(s *scheduler.Schedule) { s.Cron = "0 0 30 2 *" }, "cron", "never fires"},
		{"bad CRON_TZ", func(s *scheduler.Schedule) { s.Cron = "CRON_TZ=Mars/Olympus 0 * * * *" }, "cron", "location"},
		{"CRON_TZ alone", func(s *scheduler.Schedule) { s.Cron = "CRON_TZ=UTC" }, "cron", "followed by"},
		{"cron and every", func(s *scheduler.Schedule) { s.Every = "1h" }, "cron", "exactly one"},
		{"neither", func(s *scheduler.Schedule) { s.Cron = "" }, "cron", "exactly one"},
		{"bad every", func(s *scheduler.Schedule) { s.Cron, s.Every = "", "often" }, "every", "interval"},
		{"every too short", func(s *scheduler.Schedule) { s.Cron, s.Every = "", "500ms" }, "every", "shorter than 1s"},
		{"every not whole seconds", func(s *scheduler.Schedule) { s.Cron, s.Every = "", "1.5s" }, "every", "whole"},
		{"@every too short in cron", func(s *scheduler.Schedule) { s.Cron = "@every 10ms" }, "cron", "shorter"},
		{"bad timezone", func(s *scheduler.Schedule) { s.Timezone = "Europe/Atlantis" }, "timezone", "Europe/Atlantis"},
		{"bad catchup", func(s *scheduler.Schedule) { s.Catchup = "all" }, "catchup", "skip or once"},
		{"bad overlap", func(s *scheduler.Schedule) { s.Overlap = "cancel" }, "overlap", "skip or queue"},
		{"unknown queue", func(s *scheduler.Schedule) { s.Queue = "gpu" }, "queue", "gpu"},
		{"unknown param", func(s *scheduler.Schedule) { s.Params = map[string]any{"x": 1.0} }, "params.x", "unknown parameter"},
		{"mistyped param", func(s *scheduler.Schedule) { s.Params = map[string]any{"n": "many"} }, "params.n", "integer"},
		{"enum param", func(s *scheduler.Schedule) { s.Params = map[string]any{"mode": "c"} }, "params.mode", "a, b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			_, err := e.CreateSchedule(ctx, s)
			wantField(t, err, tc.field, tc.msg)
		})
	}
	s, err := e.CreateSchedule(ctx, ok)
	must(t, err)
	if s.Catchup != scheduler.CatchupSkip || s.Overlap != scheduler.OverlapSkip || s.ID == "" {
		t.Fatalf("defaults: %+v", s)
	}
	bad := "nope"
	_, err = e.UpdateSchedule(ctx, s.ID, scheduler.SchedulePatch{Cron: &bad})
	wantField(t, err, "cron", "nope")
	_, err = e.UpdateSchedule(ctx, "404", scheduler.SchedulePatch{})
	wantErr(t, err, scheduler.ErrNotFound)
	// Params are stored as given (typed, JSON-friendly), without the defaults.
	params := map[string]any{"n": "7"}
	s, err = e.UpdateSchedule(ctx, s.ID, scheduler.SchedulePatch{Params: &params})
	must(t, err)
	if len(s.Params) != 1 || s.Params["n"] != int64(7) {
		t.Fatalf("stored params %#v", s.Params)
	}
}
