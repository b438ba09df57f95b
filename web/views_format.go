package web

import (
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/a-h/templ"
)

// KV is one key and its display value (a parameter, tag, metric, alias or
// environment pointer).
type KV struct {
	Key, Value string
}

// fmtNum formats a metric with four significant digits; NaN and infinities
// (metrics that do not apply or are not known yet) show as "—".
func fmtNum(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// fmtFixed formats f with prec decimals, "—" for non-finite values.
func fmtFixed(f float64, prec int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', prec, 64)
}

// fmtPercent formats a share in [0, 1] as a percentage.
func fmtPercent(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

// itoa formats an int.
func itoa(n int) string { return strconv.Itoa(n) }

// i64 formats an int64.
func i64(n int64) string { return strconv.FormatInt(n, 10) }

// fmtSpan formats a run duration; a zero span is "—".
func fmtSpan(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// path joins URL path segments, escaping each one, into a safe URL.
func path(prefix string, segments ...string) templ.SafeURL {
	s := prefix
	for _, seg := range segments {
		s += "/" + url.PathEscape(seg)
	}
	return templ.SafeURL(s)
}

// yesNo shows a boolean.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// orDash shows "—" for an empty string.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// statusClass picks the badge colour of a version status.
func statusClass(status string) string {
	if status == "ready" {
		return "ok"
	}
	return ""
}

// runClass picks the badge colour of a run status.
func runClass(status string) string {
	switch status {
	case "finished":
		return "ok"
	case "running":
		return "warn"
	case "failed", "killed":
		return "bad"
	}
	return ""
}

// levelClass picks the badge colour of a PSI level.
func levelClass(level string) string {
	switch level {
	case "stable":
		return "ok"
	case "moderate":
		return "warn"
	case "major":
		return "bad"
	}
	return ""
}

// i32 formats an int32.
func i32(n int32) string { return strconv.FormatInt(int64(n), 10) }

// u64 formats a uint64.
func u64(n uint64) string { return strconv.FormatUint(n, 10) }

// scorerClass picks the badge colour of a scorer state.
func scorerClass(state string) string {
	switch state {
	case "running":
		return "ok"
	case "starting", "paused":
		return "warn"
	}
	return "bad"
}
