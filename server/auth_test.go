package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"driftd/registry"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGeneratedAdminPasswordGoesToAFileNotTheLog(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdminPassword = ""
	var logs syncBuffer
	a := mustStartAppLogger(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))

	path := filepath.Join(cfg.DataDir, "admin-password")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no admin password file: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("admin-password mode %v, want 0600", info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(b))
	if len(password) < 16 {
		t.Fatalf("generated password %q is short", password)
	}
	if strings.Contains(logs.String(), password) {
		t.Errorf("the log holds the generated password:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), path) {
		t.Errorf("the log does not name %s:\n%s", path, logs.String())
	}
	uiLogin(t, a, "admin", password) // fails the test unless the file's password works
}

// sessionCookie returns the session cookie a logged-in client holds.
func (s *uiSession) sessionCookie() *http.Cookie {
	s.tb.Helper()
	u, _ := url.Parse(s.app.base)
	for _, ck := range s.c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			return ck
		}
	}
	s.tb.Fatal("no session cookie")
	return nil
}

// pageWithCookie fetches path with only the given session cookie and returns
// the status: 200 for a live session, 303 to /login for an ended one.
func pageWithCookie(tb testing.TB, a *testApp, path string, ck *http.Cookie) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.AddCookie(ck)
	resp, err := browser(tb).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestLogoutAndPasswordChangeEndSessions(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	a.apiJSON(t, http.MethodPost, "/api/v1/users", map[string]string{"username": "carol", "password": "first-password", "role": "viewer"}, http.StatusCreated, nil)

	cases := []struct {
		name string
		// end ends carol's session s somehow.
		end func(t *testing.T, s *uiSession)
	}{
		{"logout", func(t *testing.T, s *uiSession) {
			if status, loc, _ := s.post("/logout", url.Values{}); status != http.StatusSeeOther || loc != "/login" {
				t.Fatalf("logout: %d %s", status, loc)
			}
		}},
		{"password changed by the API", func(t *testing.T, s *uiSession) {
			a.apiJSON(t, http.MethodPost, "/api/v1/users", map[string]string{"username": "carol", "password": "first-password", "role": "viewer"}, http.StatusCreated, nil)
		}},
		{"password changed on the Settings page", func(t *testing.T, s *uiSession) {
			admin := uiLogin(t, a, "admin", "correct-horse")
			if status, _, body := admin.post("/settings/users", url.Values{"username": {"carol"}, "password": {"first-password"}, "role": {"viewer"}}); status != http.StatusOK {
				t.Fatalf("settings: %d\n%s", status, body)
			}
		}},
	}
	admin := uiLogin(t, a, "admin", "correct-horse")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := uiLogin(t, a, "carol", "first-password")
			stolen := s.sessionCookie() // a copy, as an attacker or another tab holds it
			if status := pageWithCookie(t, a, "/", stolen); status != http.StatusOK {
				t.Fatalf("live session: GET / = %d", status)
			}
			tc.end(t, s)
			if status := pageWithCookie(t, a, "/", stolen); status != http.StatusSeeOther {
				t.Fatalf("after %s the old session cookie still works: GET / = %d", tc.name, status)
			}
			// Another user's session is untouched.
			if status := pageWithCookie(t, a, "/", admin.sessionCookie()); status != http.StatusOK {
				t.Fatalf("admin's session ended with carol's: GET / = %d", status)
			}
			// And carol can sign in again.
			if status := pageWithCookie(t, a, "/", uiLogin(t, a, "carol", "first-password").sessionCookie()); status != http.StatusOK {
				t.Fatalf("new session after %s: GET / = %d", tc.name, status)
			}
		})
	}
}

// apiRead sends GET path with a token or a session cookie (either may be empty).
func apiRead(tb testing.TB, a *testApp, path, token string, ck *http.Cookie) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// concretePath fills an echo route pattern with plausible values.
func concretePath(pattern string) string {
	r := strings.NewReplacer(":name", "churn", ":version", "1.0.0", ":id", "1", ":topic", "no-such-topic",
		":alias", "champion", ":flow", "train", "*", "model")
	return r.Replace(pattern)
}

// TestDataReadsNeedCredentials walks every GET route of the JSON API: only
// status is open; the others answer 401 without credentials, and let the
// token, a UI session or DRIFTD_OPEN_READS through (users and backup: the
// token only).
func TestDataReadsNeedCredentials(t *testing.T) {
	open := map[string]bool{"/api/v1/status": true}
	tokenOnly := map[string]bool{"/api/v1/users": true, "/api/v1/backup": true}
	for _, openReads := range []bool{false, true} {
		cfg := testConfig(t)
		cfg.OpenReads = openReads
		a := mustStartApp(t, cfg)
		a.apiJSON(t, http.MethodPost, "/api/v1/users", map[string]string{"username": "vic", "password": "viewer-password", "role": "viewer"}, http.StatusCreated, nil)
		session := uiLogin(t, a, "vic", "viewer-password").sessionCookie()
		n := 0
		for _, r := range a.echo.Routes() {
			if r.Method != http.MethodGet || !strings.HasPrefix(r.Path, "/api/v1/") {
				continue
			}
			n++
			p := concretePath(r.Path)
			creds := []struct {
				name    string
				token   string
				cookie  *http.Cookie
				allowed bool
			}{
				{"nothing", "", nil, open[r.Path] || openReads && !tokenOnly[r.Path]},
				{"wrong token", "wrong", nil, open[r.Path] || openReads && !tokenOnly[r.Path]},
				{"token", a.token, nil, true},
				{"viewer session", "", session, open[r.Path] || !tokenOnly[r.Path]},
			}
			for _, c := range creds {
				status, body := apiRead(t, a, p, c.token, c.cookie)
				if got := status != http.StatusUnauthorized; got != c.allowed {
					t.Errorf("open reads %v: GET %s with %s: %d, want allowed=%v: %.200s", openReads, p, c.name, status, c.allowed, body)
				}
				if status >= 500 && status != http.StatusServiceUnavailable {
					t.Errorf("GET %s with %s: %d %.200s", p, c.name, status, body)
				}
			}
		}
		if n < 20 {
			t.Fatalf("only %d GET routes under /api/v1/", n)
		}
	}
}

// TestSessionDoesNotAuthoriseAPIMutations: the API has no CSRF token, so a
// cookie must not be enough to change anything.
func TestSessionDoesNotAuthoriseAPIMutations(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	ck := uiLogin(t, a, "admin", "correct-horse").sessionCookie()
	req, err := http.NewRequest(http.MethodPost, a.base+"/api/v1/models", strings.NewReader(`{"name":"churn"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(ck)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /api/v1/models with only a session cookie: %d, want 401", resp.StatusCode)
	}
}

// TestAuthSharedSecretsFromFiles: two instances with their own registries
// and the same DRIFTD_API_TOKEN_FILE and DRIFTD_SESSION_KEY_FILE accept the
// same token and the same session cookie; one with its own generated key
// does not; bad files are refused naming the setting.
func TestAuthSharedSecretsFromFiles(t *testing.T) {
	ctx := context.Background()
	secrets, token := writeSecrets(t)
	newAuth := func(shared bool) *authenticator {
		t.Helper()
		cfg := testConfig(t)
		if shared {
			cfg.APITokenFile, cfg.SessionKeyFile = filepath.Join(secrets, "api-token"), filepath.Join(secrets, "session-key")
		}
		store, err := registry.Open(filepath.Join(cfg.DataDir, registry.FileName), registry.Options{Environments: cfg.Environments})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = store.Close() })
		a, err := newAuthenticator(ctx, cfg, store, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b, other := newAuth(true), newAuth(true), newAuth(false)
	for name, x := range map[string]*authenticator{"a": a, "b": b} {
		if !x.checkToken("Bearer " + token) {
			t.Errorf("instance %s refuses the shared token", name)
		}
	}
	if other.checkToken("Bearer " + token) {
		t.Error("an instance with its own token accepts the shared one")
	}
	u, err := a.login(ctx, "admin", "correct-horse")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(a.newSessionCookie(u))
	if _, ok := b.sessionUser(ctx, req); !ok {
		t.Error("instance b refuses a session cookie signed by instance a with the shared key")
	}
	if _, ok := other.sessionUser(ctx, req); ok {
		t.Error("an instance with its own session key accepts a's cookie")
	}

	for _, tc := range []struct {
		name, token, key, want string
	}{
		{"missing token file", filepath.Join(secrets, "nope"), "", "DRIFTD_API_TOKEN_FILE"},
		{"short key", "", writeFile(t, "short"), "DRIFTD_SESSION_KEY_FILE"},
		{"empty token", writeFile(t, " \n"), "", "DRIFTD_API_TOKEN_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.APITokenFile, cfg.SessionKeyFile = tc.token, tc.key
			store, err := registry.Open(filepath.Join(cfg.DataDir, registry.FileName), registry.Options{Environments: cfg.Environments})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			if _, err := newAuthenticator(ctx, cfg, store, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// writeFile writes s to a new file and returns its path.
func writeFile(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
