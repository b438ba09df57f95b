package server

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"driftd/web"
)

// Log levels of a flow run's log lines, least severe first. Lines are
// stored as text; logLevels reads each line's level from it.
const (
	levelDebug = "debug"
	levelInfo  = "info"
	levelWarn  = "warn"
	levelError = "error"
)

// levelRank orders the levels; a filter shows its level and those above.
var levelRank = map[string]int{levelDebug: 0, levelInfo: 1, levelWarn: 2, levelError: 3}

// logFilter is a flow run log's filter, as the URL carries it: ?level= (the
// least severe level shown; empty for every line) and ?q= (a substring,
// matched without regard to case).
type logFilter struct {
	Level string
	Query string
}

// parseLogFilter reads ?level= and ?q=; a level that is none of debug,
// info, warn and error is a 400 naming the field.
func parseLogFilter(c echo.Context) (logFilter, error) {
	f := logFilter{Level: strings.ToLower(strings.TrimSpace(c.QueryParam("level"))), Query: c.QueryParam("q")}
	if f.Level == "all" {
		f.Level = ""
	}
	if _, ok := levelRank[f.Level]; f.Level != "" && !ok {
		return f, badRequest("level", "%q: must be debug, info, warn or error", c.QueryParam("level"))
	}
	if utf8.RuneCountInString(f.Query) > 200 {
		return f, badRequest("q", "a search of %d characters: at most 200", utf8.RuneCountInString(f.Query))
	}
	return f, nil
}

// active reports whether the filter leaves lines out.
func (f logFilter) active() bool { return (f.Level != "" && f.Level != levelDebug) || f.Query != "" }

// values are the filter's URL parameters.
func (f logFilter) values() url.Values {
	v := url.Values{}
	if f.Level != "" {
		v.Set("level", f.Level)
	}
	if f.Query != "" {
		v.Set("q", f.Query)
	}
	return v
}

// keep reports whether a line of the given level passes the filter.
func (f logFilter) keep(line, level string) bool {
	if f.Level != "" && levelRank[level] < levelRank[f.Level] {
		return false
	}
	return f.Query == "" || len(matchSpans(line, f.Query)) > 0
}

// apply returns the indexes of the lines that pass the filter, with each
// line's level.
func (f logFilter) apply(lines []string) (kept []int, levels []string) {
	levels = logLevels(lines)
	for i, l := range lines {
		if f.keep(l, levels[i]) {
			kept = append(kept, i)
		}
	}
	return kept, levels
}

var (
	// levelPrefix is a level written at the start of a line: "WARN ...",
	// "[error] ...", "level=debug ...", "Warning: ...".
	levelPrefix = regexp.MustCompile(`^(?i)(?:level=)?\[?(trace|debug|dbg|info|notice|warn|warning|error|err|fatal|panic)\]?(?::|\s|$)`)
	// roundLine is the train flow's line per boosting round.
	roundLine = regexp.MustCompile(`^round\s+\d+\s+train_loss`)
	// stackStart begins a goroutine stack dump (a panic in a flow).
	stackStart = regexp.MustCompile(`^goroutine \d+ \[`)
)

// logLevels reads the level of every line of a run's log. A level written
// at the start of a line wins; otherwise the engine's own lines say it (a
// failed attempt is an error, a retry or a cancellation a warning), a panic's
// stack is an error, per-round training lines and indented detail lines are
// debug, and everything else is info. Lines are classified together because
// a stack dump spans many lines.
func logLevels(lines []string) []string {
	out := make([]string, len(lines))
	inStack := false
	for i, l := range lines {
		if stackStart.MatchString(l) {
			inStack = true
		} else if inStack && !strings.HasPrefix(l, "\t") && (i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "\t")) {
			inStack = false // a stack alternates function lines and tab-indented file lines
		}
		if inStack {
			out[i] = levelError
			continue
		}
		out[i] = lineLevel(l)
	}
	return out
}

// lineLevel is the level of one line outside a stack dump.
func lineLevel(l string) string {
	if m := levelPrefix.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
		switch strings.ToLower(m[1]) {
		case "trace", "debug", "dbg":
			return levelDebug
		case "info", "notice":
			return levelInfo
		case "warn", "warning":
			return levelWarn
		}
		return levelError
	}
	switch {
	case strings.HasPrefix(l, "failed") && strings.Contains(l, "; retrying in "):
		return levelWarn
	case strings.HasPrefix(l, "failed"), strings.HasPrefix(l, "not retried:"), strings.HasPrefix(l, "the flow did not return within"):
		return levelError
	case strings.HasPrefix(l, "cancelled"), strings.HasPrefix(l, "cancel requested"),
		strings.HasPrefix(l, "progress is not JSON"), strings.HasPrefix(l, "the result could not be stored"):
		return levelWarn
	case roundLine.MatchString(l), strings.HasPrefix(l, "  "):
		return levelDebug
	}
	return levelInfo
}

// matchSpans returns the byte ranges [start, end) of the non-overlapping
// matches of q in s, compared rune by rune with Unicode case folding.
func matchSpans(s, q string) [][2]int {
	if q == "" {
		return nil
	}
	n := utf8.RuneCountInString(q)
	var out [][2]int
	for i := 0; i < len(s); {
		end, runes := i, 0
		for end < len(s) && runes < n {
			_, w := utf8.DecodeRuneInString(s[end:])
			end += w
			runes++
		}
		if runes < n {
			break
		}
		if strings.EqualFold(s[i:end], q) {
			out = append(out, [2]int{i, end})
			i = end
			continue
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return out
}

// logLine splits a line into the parts the page shows, the matches of q
// marked.
func logLine(line, level, q string) web.LogLine {
	out := web.LogLine{Level: level}
	at := 0
	for _, sp := range matchSpans(line, q) {
		if sp[0] > at {
			out.Parts = append(out.Parts, web.LogPart{Text: line[at:sp[0]]})
		}
		out.Parts = append(out.Parts, web.LogPart{Text: line[sp[0]:sp[1]], Match: true})
		at = sp[1]
	}
	if at < len(line) || len(out.Parts) == 0 {
		out.Parts = append(out.Parts, web.LogPart{Text: line[at:]})
	}
	return out
}

// flowRunLogs reads run id's log for the page: without a filter the last
// flowRunLogTail lines; with one, every kept line is read and the last
// flowRunLogTail that pass are shown, with how many passed.
func (a *App) flowRunLogs(c echo.Context, id string, f logFilter) (web.FlowRunLogsView, error) {
	v := web.FlowRunLogsView{Level: f.Level, Query: f.Query, Filtered: f.active(), Tail: flowRunLogTail,
		DownloadURL: "/flow-runs/" + url.PathEscape(id) + "/logs.txt"}
	if q := f.values().Encode(); q != "" {
		v.DownloadURL += "?" + q
	}
	tail := flowRunLogTail
	if f.active() {
		tail = 0
	}
	lines, err := a.engine.Logs(c.Request().Context(), id, tail)
	if err != nil {
		return v, err
	}
	kept, levels := f.apply(lines)
	v.Read, v.Matched = len(lines), len(kept)
	if len(kept) > flowRunLogTail {
		kept = kept[len(kept)-flowRunLogTail:]
	}
	for _, i := range kept {
		v.Lines = append(v.Lines, logLine(lines[i], levels[i], f.Query))
	}
	return v, nil
}

// uiFlowRunLogsText downloads a run's whole kept log as a text file, the
// page's ?level= and ?q= filter applied.
func (a *App) uiFlowRunLogsText(c echo.Context) error {
	if a.engine == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the run engine is not running")
	}
	f, err := parseLogFilter(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if _, err := a.engine.Get(c.Request().Context(), id); err != nil {
		return err
	}
	lines, err := a.engine.Logs(c.Request().Context(), id, 0)
	if err != nil {
		return err
	}
	kept, _ := f.apply(lines)
	var b strings.Builder
	for _, i := range kept {
		b.WriteString(lines[i])
		b.WriteByte('\n')
	}
	name := "flow-run-" + id + "-logs.txt"
	if f.active() {
		name = "flow-run-" + id + "-logs-filtered.txt"
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", safeFileName(name)))
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
}
