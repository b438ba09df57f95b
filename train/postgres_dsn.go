package train

import (
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces a password wherever driftd shows a DSN or an error.
const redacted = "xxxxx"

var (
	// kvPassword finds password= and sslpassword= settings of a key=value
	// DSN, quoted (to the closing quote, or the end when there is none) or
	// not (to a space that no backslash escapes, as libpq reads it).
	kvPassword = regexp.MustCompile(`(?is)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.?)*)`)
	// urlPassword finds password and sslpassword query parameters of a URL DSN.
	urlPassword = regexp.MustCompile(`(?i)([?&](?:ssl)?password=)([^&#]*)`)
)

// RedactDSN returns a PostgreSQL connection string with every password
// replaced by "xxxxx": the password of a postgres:// URL's user, and the
// password and sslpassword settings (URL parameters or key=value pairs).
// It never fails: text it cannot parse is redacted generously, so that
// more than the password may go but never less. Use it wherever a DSN is
// logged, stored or shown.
func RedactDSN(dsn string) string {
	out, _ := redactDSN(dsn)
	return out
}

// redactDSN is RedactDSN that also returns the passwords it removed (as
// written in dsn), for scrubbing error texts.
func redactDSN(dsn string) (string, []string) {
	var secrets []string
	if rest, ok := cutScheme(dsn); ok {
		scheme := dsn[:len(dsn)-len(rest)]
		// The user info ends at the last '@' before the query (a password
		// may hold '/' or '?', so without an '@' there look in all of it).
		end := len(rest)
		if q := strings.IndexByte(rest, '?'); q >= 0 && strings.Contains(rest[:q], "@") {
			end = q
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			if user, pw, ok := strings.Cut(rest[:at], ":"); ok {
				secrets = append(secrets, pw)
				rest = user + ":" + redacted + rest[at:]
			}
		}
		rest = urlPassword.ReplaceAllStringFunc(rest, func(m string) string {
			k, v, _ := strings.Cut(m, "=")
			secrets = append(secrets, v)
			return k + "=" + redacted
		})
		return scheme + rest, secrets
	}
	out := kvPassword.ReplaceAllStringFunc(dsn, func(m string) string {
		sub := kvPassword.FindStringSubmatch(m)
		secrets = append(secrets, strings.Trim(sub[2], "'"))
		return sub[1] + redacted
	})
	return out, secrets
}

// cutScheme returns what follows postgres:// or postgresql:// (any case).
func cutScheme(dsn string) (string, bool) {
	for _, s := range []string{"postgres://", "postgresql://"} {
		if len(dsn) >= len(s) && strings.EqualFold(dsn[:len(s)], s) {
			return dsn[len(s):], true
		}
	}
	return "", false
}

// scrubber removes passwords from error texts.
type scrubber struct {
	secrets []string
}

// newScrubber returns a scrubber of the passwords of dsn and of the
// password the connection settings resolved (from the DSN, PGPASSWORD or a
// password file), in their written and URL-decoded and -encoded forms.
func newScrubber(dsn, resolved string) scrubber {
	_, found := redactDSN(dsn)
	var s scrubber
	for _, p := range append(found, resolved) {
		forms := []string{p, url.QueryEscape(p), url.PathEscape(p)}
		if u, err := url.PathUnescape(p); err == nil {
			forms = append(forms, u)
		}
		for _, f := range forms {
			// A password of one or two characters would scrub ordinary
			// words; no message driftd writes holds one (see scrub).
			if len(f) >= 3 {
				s.secrets = append(s.secrets, f)
			}
		}
	}
	return s
}

// scrub replaces the passwords in text.
func (s scrubber) scrub(text string) string {
	for _, p := range s.secrets {
		text = strings.ReplaceAll(text, p, redacted)
	}
	return text
}

// wrap returns err with the passwords scrubbed from its text; errors.Is
// and errors.As still see err.
func (s scrubber) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &textError{text: s.scrub(err.Error()), err: err}
}

// textError is an error with a text of its own (passwords scrubbed, or
// PostgreSQL's message with its place) that unwraps to the original.
type textError struct {
	text string
	err  error
}

func (e *textError) Error() string { return e.text }
func (e *textError) Unwrap() error { return e.err }
