// Package web holds the templ components and static assets of the driftd UI.
// It renders the view models that server/ hands it and knows nothing else.
package web

import (
	"embed"
	"time"
)

// Static holds the CSS and JavaScript served under /static/.
//
//go:embed static
var Static embed.FS

// Section is one entry of the navigation bar.
type Section struct {
	// Key identifies the section in URLs and tests (overview, models, ...).
	Key string
	// Title is what the navigation shows.
	Title string
	// Path is the section's URL.
	Path string
}

// Sections lists every section of the product, in navigation order.
func Sections() []Section {
	return []Section{
		{"overview", "Overview", "/"},
		{"pipeline", "Pipeline", "/pipeline"},
		{"training", "Training", "/training"},
		{"experiments", "Experiments", "/experiments"},
		{"models", "Models", "/models"},
		{"drift", "Drift", "/drift"},
		{"kafka", "Kafka", "/kafka"},
		{"schedules", "Schedules", "/schedules"},
		{"settings", "Settings", "/settings"},
	}
}

// Page is what the layout needs to know about the page being rendered.
type Page struct {
	// Active is the Key of the current section.
	Active string
	Title  string
	User   string
	Role   string
	// CSRF is the token every form on the page must carry.
	CSRF    string
	Version string
	// Demo is set while demo mode runs: every page shows its banner.
	Demo *DemoBanner
	// BaseURL is the address the browser reached driftd at
	// (scheme://host), for the examples the empty states give.
	BaseURL string
	// TokenRef is how a shell reads the API token: $(cat <data-dir>/api-token),
	// or $DRIFTD_API_TOKEN when the token is configured.
	TokenRef string
}

// Setting is one row of the configuration table on the Settings page.
type Setting struct {
	Env, Flag, Value, Default, Help string
}

// UserRow is one user on the Settings page.
type UserRow struct {
	Name, Role string
	Created    time.Time
}

// SettingsView is the view model of the Settings page.
type SettingsView struct {
	Settings []Setting
	Users    []UserRow
	IsAdmin  bool
	Message  string
	Error    string
}

// fmtTime formats a time for tables.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// fmtDuration rounds a duration to whole seconds.
func fmtDuration(d time.Duration) string { return d.Round(time.Second).String() }
