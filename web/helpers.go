package web

import "net/http"

// statusText names an HTTP status for the error page.
func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// stateClass picks the badge colour of a component state.
func stateClass(state string) string {
	switch state {
	case "ready":
		return "ok"
	case "starting", "degraded", "waiting":
		return "warn"
	default:
		return "bad"
	}
}
