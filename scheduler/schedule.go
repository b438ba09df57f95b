package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxMissedCount bounds the count of missed fires in a catch-up reason.
const maxMissedCount = 1000

// CreateSchedule validates and stores a new schedule (catchup and overlap
// default to skip) and returns it with its ID and NextRunAt. Validation errors
// are *ParamError naming "name", "flow", "cron", "every", "timezone",
// "catchup", "overlap", "queue" or "params.<name>".
func (e *Engine) CreateSchedule(ctx context.Context, s Schedule) (Schedule, error) {
	e.schedMu.Lock()
	defer e.schedMu.Unlock()
	now := e.now().UTC()
	s.ID, s.CreatedAt, s.UpdatedAt, s.LastFiredAt, s.LastRunID, s.NextRunAt = "", now, now, time.Time{}, "", time.Time{}
	if err := e.checkSchedule(ctx, &s, now); err != nil {
		return Schedule{}, fmt.Errorf("create schedule: %w", err)
	}
	if err := e.store.CreateSchedule(ctx, &s); err != nil {
		return Schedule{}, fmt.Errorf("create schedule: %w", err)
	}
	e.log.Info("schedule created", attrSchedule, s.ID, "name", s.Name, attrFlow, s.Flow, "by", s.By)
	s.NextRunAt = e.nextRun(s, now)
	return s, nil
}

// UpdateSchedule changes the fields of p that are set and returns the schedule.
// An update restarts the count to the next fire from now. Errors are those of
// CreateSchedule, or wrap ErrNotFound.
func (e *Engine) UpdateSchedule(ctx context.Context, id string, p SchedulePatch) (Schedule, error) {
	e.schedMu.Lock()
	defer e.schedMu.Unlock()
	s, err := e.store.GetSchedule(ctx, id)
	if err != nil {
		return Schedule{}, fmt.Errorf("update schedule %s: %w", id, err)
	}
	set(&s.Name, p.Name)
	set(&s.Cron, p.Cron)
	set(&s.Every, p.Every)
	set(&s.Params, p.Params)
	set(&s.Timezone, p.Timezone)
	set(&s.Enabled, p.Enabled)
	set(&s.Catchup, p.Catchup)
	set(&s.Overlap, p.Overlap)
	set(&s.Queue, p.Queue)
	now := e.now().UTC()
	s.UpdatedAt = now
	if err := e.checkSchedule(ctx, &s, now); err != nil {
		return Schedule{}, fmt.Errorf("update schedule %s: %w", id, err)
	}
	if err := e.store.SaveSchedule(ctx, s); err != nil {
		return Schedule{}, fmt.Errorf("update schedule %s: %w", id, err)
	}
	e.log.Info("schedule updated", attrSchedule, s.ID, "name", s.Name, "enabled", s.Enabled)
	s.NextRunAt = e.nextRun(s, now)
	return s, nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// checkSchedule validates s and normalises its fields in place.
func (e *Engine) checkSchedule(ctx context.Context, s *Schedule, now time.Time) error {
	s.Name = strings.TrimSpace(s.Name)
	switch {
	case s.Name == "":
		return Errorf("name", "must not be empty")
	case len(s.Name) > 128:
		return Errorf("name", "longer than 128 characters")
	}
	f, ok := e.flow(s.Flow)
	if !ok {
		return Errorf("flow", "unknown flow %q (known: %s)", s.Flow, strings.Join(e.flowNames(), ", "))
	}
	s.Cron, s.Every, s.Timezone = strings.TrimSpace(s.Cron), strings.TrimSpace(s.Every), strings.TrimSpace(s.Timezone)
	if _, err := parseSpec(s.Cron, s.Every, s.Timezone, now); err != nil {
		return err
	}
	s.Catchup, s.Overlap = cmp.Or(s.Catchup, CatchupSkip), cmp.Or(s.Overlap, OverlapSkip)
	if s.Catchup != CatchupSkip && s.Catchup != CatchupOnce {
		return Errorf("catchup", "must be %s or %s", CatchupSkip, CatchupOnce)
	}
	if s.Overlap != OverlapSkip && s.Overlap != OverlapQueue {
		return Errorf("overlap", "must be %s or %s", OverlapSkip, OverlapQueue)
	}
	if _, ok := e.queues[s.Queue]; s.Queue != "" && !ok {
		return Errorf("queue", "unknown queue %q (known: %s)", s.Queue, strings.Join(slices.Sorted(maps.Keys(e.queues)), ", "))
	}
	p, err := validateParams(ctx, f, s.Params)
	if err != nil {
		return err
	}
	// Keep only the values given, so later changes of the flow's defaults apply.
	given := Params{}
	for k := range s.Params {
		if v, ok := p[k]; ok && s.Params[k] != nil && s.Params[k] != "" {
			given[k] = v
		}
	}
	s.Params = given.Stored()
	others, err := e.store.ListSchedules(ctx)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != s.ID && o.Name == s.Name {
			return Errorf("name", "a schedule named %q already exists", s.Name)
		}
	}
	return nil
}

func (e *Engine) flowNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.flows))
}

// nextRun is when s fires next: zero when paused; now when a fire is overdue
// (the loop fires it at its next tick).
func (e *Engine) nextRun(s Schedule, now time.Time) time.Time {
	if !s.Enabled {
		return time.Time{}
	}
	sched, err := e.timing(s, now)
	if err != nil {
		return time.Time{}
	}
	next := sched.Next(scheduleBase(s))
	if !next.IsZero() && next.Before(now) {
		return now
	}
	return next
}

// DeleteSchedule deletes a schedule; its runs stay. Errors wrap ErrNotFound.
func (e *Engine) DeleteSchedule(ctx context.Context, id string) error {
	e.schedMu.Lock()
	defer e.schedMu.Unlock()
	if err := e.store.DeleteSchedule(ctx, id); err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	e.log.Info("schedule deleted", attrSchedule, id)
	return nil
}

// GetSchedule returns a schedule with its NextRunAt. Errors wrap ErrNotFound.
func (e *Engine) GetSchedule(ctx context.Context, id string) (Schedule, error) {
	s, err := e.store.GetSchedule(ctx, id)
	if err != nil {
		return Schedule{}, fmt.Errorf("get schedule %s: %w", id, err)
	}
	s.NextRunAt = e.nextRun(s, e.now())
	return s, nil
}

// Schedules returns every schedule with its NextRunAt, sorted by name.
func (e *Engine) Schedules(ctx context.Context) ([]Schedule, error) {
	list, err := e.store.ListSchedules(ctx)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	now := e.now()
	for i := range list {
		list[i].NextRunAt = e.nextRun(list[i], now)
	}
	slices.SortFunc(list, func(a, b Schedule) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// RunSchedule starts a run of a schedule now, whether it is enabled or not,
// as a manual run by by; it does not move the schedule's next fire. Errors are
// those of Submit, or wrap ErrNotFound.
func (e *Engine) RunSchedule(ctx context.Context, id, by string) (Run, error) {
	s, err := e.store.GetSchedule(ctx, id)
	if err != nil {
		return Run{}, fmt.Errorf("run schedule %s: %w", id, err)
	}
	r, err := e.Submit(ctx, s.Flow, s.Params, SubmitOptions{
		Trigger: Trigger{Kind: TriggerManual, By: by, ScheduleID: s.ID, Reason: "run now of schedule " + s.Name},
		Queue:   s.Queue, ScheduleID: s.ID})
	if err != nil {
		return Run{}, fmt.Errorf("run schedule %s: %w", id, err)
	}
	e.schedMu.Lock()
	defer e.schedMu.Unlock()
	if s, err = e.store.GetSchedule(ctx, id); err == nil {
		s.LastRunID = r.ID
		err = e.store.SaveSchedule(ctx, s)
	}
	if err != nil {
		e.log.Warn("record schedule run", attrSchedule, id, attrRun, r.ID, attrErr, err)
	}
	return r, nil
}

// Tick fires every enabled schedule whose next fire after its base (last fire,
// last edit or creation) is at or before now, and moves runs whose retry is
// due to pending. The engine's loop calls it every TickEvery with Now(); tests
// call it with chosen times. It does nothing before Start or after Close.
func (e *Engine) Tick(now time.Time) {
	e.mu.Lock()
	live := e.started && !e.closed
	e.mu.Unlock()
	if !live {
		return
	}
	e.promoteDue(now)
	e.schedMu.Lock()
	defer e.schedMu.Unlock()
	ctx := context.Background()
	list, err := e.store.ListSchedules(ctx)
	if err != nil {
		e.log.Error("list schedules", attrErr, err)
		return
	}
	for _, s := range list {
		if !s.Enabled {
			continue
		}
		sched, err := e.timing(s, now)
		if err != nil {
			e.log.Warn("schedule has an invalid timing", attrSchedule, s.ID, attrErr, err)
			continue
		}
		if next := sched.Next(scheduleBase(s)); next.IsZero() || next.After(now) {
			continue
		}
		e.fire(ctx, s, now, "")
	}
}

// catchUp applies each enabled schedule's catch-up policy to the fires it
// missed while the process was down.
func (e *Engine) catchUp(ctx context.Context) error {
	e.schedMu.Lock()
	defer e.schedMu.Unlock()
	list, err := e.store.ListSchedules(ctx)
	if err != nil {
		return err
	}
	now := e.now().UTC()
	for _, s := range list {
		if !s.Enabled {
			continue
		}
		sched, err := e.timing(s, now)
		if err != nil {
			e.log.Warn("schedule has an invalid timing", attrSchedule, s.ID, attrErr, err)
			continue
		}
		n := countMissed(sched, scheduleBase(s), now, maxMissedCount)
		if n == 0 {
			continue
		}
		count := fmt.Sprint(n)
		if n >= maxMissedCount {
			count = fmt.Sprintf("%d or more", n)
		}
		if s.Catchup == CatchupOnce {
			e.fire(ctx, s, now, "catch-up: "+count+" missed fires")
			continue
		}
		e.log.Info("skipped missed fires", attrSchedule, s.ID, "name", s.Name, "missed", count)
		s.LastFiredAt = now
		if err := e.store.SaveSchedule(ctx, s); err != nil {
			e.log.Error("save schedule", attrSchedule, s.ID, attrErr, err)
		}
	}
	return nil
}

// fire submits a run of s unless its overlap policy says otherwise, and
// records the fire at now. A fire refused because the engine is closing is
// not recorded, so the catch-up policy decides at the next start.
func (e *Engine) fire(ctx context.Context, s Schedule, now time.Time, reason string) {
	if s.Overlap != OverlapQueue && e.scheduleBusy(s.ID) {
		e.log.Info("schedule fire skipped: a run of it is still going", attrSchedule, s.ID, "name", s.Name)
	} else {
		r, err := e.Submit(ctx, s.Flow, s.Params, SubmitOptions{
			Trigger: Trigger{Kind: TriggerSchedule, By: s.Name, ScheduleID: s.ID, Reason: reason},
			Queue:   s.Queue, ScheduleID: s.ID})
		switch {
		case errors.Is(err, ErrClosed):
			return
		case errors.Is(err, ErrQueueFull):
			e.log.Warn("schedule fire dropped: its queue is full", attrSchedule, s.ID, "name", s.Name, attrErr, err)
		case err != nil:
			e.log.Error("schedule fire failed", attrSchedule, s.ID, "name", s.Name, attrErr, err)
		default:
			s.LastRunID = r.ID
			e.log.Info("schedule fired", attrSchedule, s.ID, "name", s.Name, attrRun, r.ID)
		}
	}
	s.LastFiredAt = now.UTC()
	if err := e.store.SaveSchedule(ctx, s); err != nil {
		e.log.Error("save schedule", attrSchedule, s.ID, attrErr, err)
	}
}

// scheduleBusy reports whether a run of schedule id is scheduled, pending or
// running.
func (e *Engine) scheduleBusy(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, lr := range e.runs {
		if lr.run.ScheduleID == id && !lr.ended {
			return true
		}
	}
	return false
}
