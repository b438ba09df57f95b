package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// minEvery is the shortest interval a schedule may have.
const minEvery = time.Second

// parseSpec parses the timing fields of a schedule: exactly one of cronExpr (5
// fields, optional seconds, CRON_TZ= or TZ= prefix, @daily and friends, @every)
// and every (an interval such as "10m" or "@every 10m"). A cron without a
// CRON_TZ= prefix is evaluated in tz ("" = UTC). now is used to reject a cron
// that never fires. Errors are *ParamError for "cron", "every" or "timezone".
func parseSpec(cronExpr, every, tz string, now time.Time) (cron.Schedule, error) {
	cronExpr, every = strings.TrimSpace(cronExpr), strings.TrimSpace(every)
	if (cronExpr == "") == (every == "") {
		return nil, Errorf("cron", "set exactly one of cron and every")
	}
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, Errorf("timezone", "unknown time zone %q (use an IANA name such as Europe/Paris)", tz)
		}
		loc = l
	}
	if every != "" {
		d, err := parseEvery(every)
		if err != nil {
			return nil, Errorf("every", "%s", err)
		}
		return cron.Every(d), nil
	}
	spec, rest := cronExpr, cronExpr
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		// cron's parser slices up to the first space and panics without one.
		_, after, ok := strings.Cut(spec, " ")
		if !ok {
			return nil, Errorf("cron", "%q: a time zone prefix must be followed by a space and the schedule", cronExpr)
		}
		rest = strings.TrimSpace(after)
	} else {
		spec = "CRON_TZ=" + loc.String() + " " + spec
	}
	if strings.HasPrefix(rest, "@every") {
		// cron rounds a short interval up to 1s silently: say so instead.
		if _, err := parseEvery(rest); err != nil {
			return nil, Errorf("cron", "%s", err)
		}
	}
	sched, err := parseCron(spec)
	if err != nil {
		return nil, Errorf("cron", "%q: %s", cronExpr, err)
	}
	if sched.Next(now).IsZero() {
		return nil, Errorf("cron", "%q never fires", cronExpr)
	}
	return sched, nil
}

// parseCron parses a cron spec with the accepted fields, turning a panic of the
// parser into an error.
func parseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("invalid schedule: %v", r)
		}
	}()
	p := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	return p.Parse(spec)
}

// parseEvery parses an interval "10m" or "@every 10m": a whole number of seconds,
// at least one.
func parseEvery(s string) (time.Duration, error) {
	v := strings.TrimSpace(strings.TrimPrefix(s, "@every"))
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not an interval such as \"10m\" or \"@every 1h30m\"", s)
	}
	if d < minEvery {
		return 0, fmt.Errorf("%q is shorter than %s", s, minEvery)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	return d, nil
}

// scheduleBase is the time a schedule's next fire is counted from: its last
// fire, or its last edit (an edit, a resume included, restarts the count), or
// its creation.
func scheduleBase(s Schedule) time.Time {
	b := s.CreatedAt
	if s.UpdatedAt.After(b) {
		b = s.UpdatedAt
	}
	if s.LastFiredAt.After(b) {
		b = s.LastFiredAt
	}
	return b
}

// countMissed counts the fires of sched after base up to now, stopping at limit.
func countMissed(sched cron.Schedule, base, now time.Time, limit int) int {
	n := 0
	for t := sched.Next(base); !t.IsZero() && !t.After(now) && n < limit; t = sched.Next(t) {
		n++
	}
	return n
}

// maxCachedSpecs bounds the cache of parsed schedule timings.
const maxCachedSpecs = 256

// timing returns the parsed timing of s, cached: Tick needs it every second
// for every schedule, and parsing a time zone reads the zoneinfo files.
func (e *Engine) timing(s Schedule, now time.Time) (cron.Schedule, error) {
	key := s.Cron + "\x00" + s.Every + "\x00" + s.Timezone
	e.specMu.Lock()
	sched, ok := e.specs[key]
	e.specMu.Unlock()
	if ok {
		return sched, nil
	}
	sched, err := parseSpec(s.Cron, s.Every, s.Timezone, now)
	if err != nil {
		return nil, err
	}
	e.specMu.Lock()
	if len(e.specs) >= maxCachedSpecs {
		clear(e.specs)
	}
	e.specs[key] = sched
	e.specMu.Unlock()
	return sched, nil
}
