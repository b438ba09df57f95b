package scheduler

import (
	"errors"
	"testing"
	"time"
)

// FuzzScheduleSpec checks that no cron or interval spec crashes the parser,
// and that an accepted one fires after now.
func FuzzScheduleSpec(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, seed := range []struct{ cron, every, tz string }{
		{"0 9 * * *", "", "Europe/Paris"},
		{"CRON_TZ=America/New_York 30 7 * * MON-FRI", "", ""},
		{"TZ=UTC", "", ""},
		{"CRON_TZ=", "", ""},
		{"@daily", "", "Asia/Tokyo"},
		{"@every 1h", "", ""},
		{"@every -5s", "", ""},
		{"30 */5 * * * *", "", ""},
		{"*/0 * * * *", "", ""},
		{"0 0 30 2 *", "", ""},
		{"", "10m", ""},
		{"", "@every 1s", ""},
		{"", "1ns", ""},
		{"", "", "Local"},
		{"5-1 * * * *", "", ""},
		{"? ? ? ? ?", "", ""},
	} {
		f.Add(seed.cron, seed.every, seed.tz)
	}
	f.Fuzz(func(t *testing.T, cronExpr, every, tz string) {
		s, err := parseSpec(cronExpr, every, tz, now)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			switch pe.Field {
			case "cron", "every", "timezone":
			default:
				t.Fatalf("error on field %q", pe.Field)
			}
			return
		}
		next := s.Next(now)
		if !next.After(now) {
			t.Fatalf("cron %q every %q tz %q: next fire %s is not after %s", cronExpr, every, tz, next, now)
		}
		if every != "" && next.Sub(now) < minEvery {
			t.Fatalf("every %q fires after %s", every, next.Sub(now))
		}
	})
}
