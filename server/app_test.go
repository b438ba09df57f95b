package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testApp is an App running on free loopback ports with a temp data dir.
type testApp struct {
	*App
	base  string
	token string
}

// testConfig is a valid Config for a test server.
func testConfig(tb testing.TB) Config {
	tb.Helper()
	cfg, err := LoadConfig(nil, lookupMap(map[string]string{
		"DRIFTD_ADDR": "127.0.0.1:0", "DRIFTD_KAFKA_LISTEN": "127.0.0.1:0",
		"DRIFTD_DATA_DIR": tb.TempDir(), "DRIFTD_ADMIN_PASSWORD": "correct-horse",
		"DRIFTD_KAFKA_PARTITIONS": "2", "DRIFTD_TRAIN_DATA_DIRS": os.TempDir(),
	}), "", io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// mustStartApp starts an App and stops it when the test ends.
func mustStartApp(tb testing.TB, cfg Config) *testApp {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return mustStartAppLogger(tb, cfg, logger)
}

// mustStartAppLogger is mustStartApp with the App logging to logger.
func mustStartAppLogger(tb testing.TB, cfg Config, logger *slog.Logger) *testApp {
	tb.Helper()
	a := New(cfg, Options{Logger: logger, Build: BuildInfo{Version: "test", GoVersion: "go"}})
	if err := a.Start(context.Background()); err != nil {
		tb.Fatalf("start app: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			tb.Errorf("close app: %v", err)
		}
	})
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, "api-token"))
	if err != nil {
		tb.Fatal(err)
	}
	return &testApp{App: a, base: "http://" + a.Addr(), token: strings.TrimSpace(string(tok))}
}

// do sends a request with an optional bearer token and returns status and body.
func (t *testApp) do(tb testing.TB, method, path, token, contentType string, body io.Reader) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, t.base+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAPITokenRequiredForMutations(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	body := `{"username":"carol","password":"longenough","role":"operator"}`
	cases := []struct {
		name   string
		token  string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "not-the-token", http.StatusUnauthorized},
		{"right token", a.token, http.StatusCreated},
	}
	for _, tc := range cases {
		status, b := a.do(t, http.MethodPost, "/api/v1/users", tc.token, "application/json", strings.NewReader(body))
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.status, b)
		}
		if status == http.StatusUnauthorized {
			var e apiError
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Errorf("%s: 401 body is not a JSON error: %s", tc.name, b)
			}
		}
	}
	status, b := a.do(t, http.MethodPost, "/api/v1/users", a.token, "application/json", strings.NewReader(`{"username":"dave","password":"short","role":"operator"}`))
	if status != http.StatusBadRequest || !strings.Contains(string(b), `"field":"password"`) {
		t.Errorf("short password: %d %s", status, b)
	}
}

func TestTokenFileMode(t *testing.T) {
	cfg := testConfig(t)
	mustStartApp(t, cfg)
	info, err := os.Stat(filepath.Join(cfg.DataDir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("api-token mode %v, want 0600", info.Mode().Perm())
	}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// browser is an HTTP client with a cookie jar that does not follow redirects.
func browser(tb testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loginForm fetches the login page and returns its CSRF token.
func loginForm(tb testing.TB, c *http.Client, base string) string {
	tb.Helper()
	resp, err := c.Get(base + "/login")
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindSubmatch(b)
	if m == nil {
		tb.Fatalf("login page has no CSRF field:\n%s", b)
	}
	return string(m[1])
}

func TestLoginAndCSRF(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	c := browser(t)

	// A page needs a session.
	resp, err := c.Get(a.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("GET / without session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	csrf := loginForm(t, c, a.base)
	// Wrong password.
	resp, err = c.PostForm(a.base+"/login", url.Values{"_csrf": {csrf}, "username": {"admin"}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401", resp.StatusCode)
	}
	// No CSRF token: rejected before the password is looked at.
	resp, err = c.PostForm(a.base+"/login", url.Values{"username": {"admin"}, "password": {"correct-horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without CSRF token: status %d, want 400 or 403", resp.StatusCode)
	}
	// Right password.
	resp, err = c.PostForm(a.base+"/login", url.Values{"_csrf": {csrf}, "username": {"admin"}, "password": {"correct-horse"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d, want 303", resp.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite == http.SameSiteDefaultMode || session.SameSite == 0 {
		t.Fatalf("session cookie missing or not HttpOnly+SameSite: %+v", session)
	}
	resp, err = c.Get(a.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `data-testid="build-version">test<`) {
		t.Fatalf("overview after login: %d\n%s", resp.StatusCode, b)
	}
	// A form post inside the UI without a CSRF token is rejected too.
	resp, err = c.PostForm(a.base+"/settings/users", url.Values{"username": {"eve"}, "password": {"longenough"}, "role": {"viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("settings form without CSRF: status %d", resp.StatusCode)
	}
	if _, err := a.store.GetUser(context.Background(), "eve"); err == nil {
		t.Fatal("user eve was created by a form without a CSRF token")
	}
}

func TestLoginRateLimited(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	c := browser(t)
	csrf := loginForm(t, c, a.base)
	limited := false
	for i := 0; i < 15 && !limited; i++ {
		resp, err := c.PostForm(a.base+"/login", url.Values{"_csrf": {csrf}, "username": {"admin"}, "password": {"nope"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		limited = resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("15 wrong passwords in a row were never rate-limited")
	}
}

func TestReadyzAndStatus(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	status, b := a.do(t, http.MethodGet, "/readyz", "", "", nil)
	// No model is deployed yet: driftd is ready (its API serves the first
	// deploy) and /readyz says the scorer waits.
	if status != http.StatusOK || !strings.Contains(string(b), "no model deployed") {
		t.Fatalf("/readyz = %d %s", status, b)
	}
	status, b = a.do(t, http.MethodGet, "/api/v1/status", "", "", nil)
	var st statusResponse
	if status != http.StatusOK || json.Unmarshal(b, &st) != nil {
		t.Fatalf("/api/v1/status = %d %s", status, b)
	}
	names := map[string]ComponentState{}
	for _, c := range st.Components {
		names[c.Name] = c.State
	}
	for _, want := range []string{"registry", "kafka", "scorer", "http"} {
		if _, ok := names[want]; !ok {
			t.Errorf("status lacks component %s: %v", want, names)
		}
	}
	if names["kafka"] != StateReady || names["registry"] != StateReady {
		t.Errorf("kafka/registry not ready: %v", names)
	}
}
