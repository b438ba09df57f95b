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

// errorHint says what to do about an error page's status.
func errorHint(status int, user string) string {
	switch {
	case status == http.StatusNotFound:
		return "Nothing lives at this address: it may have been deleted or mistyped. The navigation above leads to every section."
	case status == http.StatusForbidden && user != "":
		return "Your role does not allow this. An admin can change roles on the Settings page."
	case status == http.StatusForbidden:
		return "This request was refused: its form may have expired. Go back, reload the page and try again."
	case status == http.StatusUnauthorized:
		return "Sign in to continue."
	case status >= 500:
		return "driftd failed to answer. The server log has the details; try again in a moment."
	}
	return "Go back, correct the request and try again."
}
