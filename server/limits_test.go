package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/registry"
)

// serve sends one request through the App's router in process and returns
// the recorded answer. chunked hides the length, as a streaming client does.
func (t *testApp) serve(tb testing.TB, method, path, token, contentType string, body []byte, chunked bool) *httptest.ResponseRecorder {
	tb.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // hides the length from httptest.NewRequest
	}
	req := httptest.NewRequest(method, path, rd)
	if chunked {
		req.ContentLength = -1
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	t.echo.ServeHTTP(rec, req)
	return rec
}

func TestBodyLimitsPerRoute(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxBodyBytes = 8 << 20
	a := mustStartApp(t, cfg)
	var run registry.Run
	a.apiJSON(t, http.MethodPost, "/api/v1/runs", map[string]string{"experiment": "limits"}, http.StatusCreated, &run)

	form := func(n int) []byte {
		return []byte(url.Values{"username": {"admin"}, "password": {strings.Repeat("p", n)}}.Encode())
	}
	jsonBody := func(n int) []byte { return []byte(`{"name":"churn","description":"` + strings.Repeat("d", n) + `"}`) }
	garbage := func(n int) []byte { return bytes.Repeat([]byte{0x5a}, n) }
	const formCT, jsonCT, octets = "application/x-www-form-urlencoded", "application/json", "application/octet-stream"
	cases := []struct {
		name        string
		method      string
		path        string
		token       bool
		contentType string
		body        []byte
		chunked     bool
		status      int
		contains    string
	}{
		// /login: unauthenticated, its CSRF check parses the form first.
		{"login small form", http.MethodPost, "/login", false, formCT, form(100), false, http.StatusBadRequest, "csrf"},
		{"login 20 KiB", http.MethodPost, "/login", false, formCT, form(20 << 10), false, http.StatusRequestEntityTooLarge, "16 KiB"},
		{"login 20 KiB streamed", http.MethodPost, "/login", false, formCT, form(20 << 10), true, http.StatusRequestEntityTooLarge, "16 KiB"},
		{"login 20 KiB multipart", http.MethodPost, "/login", false, "multipart/form-data; boundary=x", append(append([]byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"), garbage(20<<10)...), "\r\n--x--\r\n"...), true, http.StatusRequestEntityTooLarge, "16 KiB"},
		// JSON API calls.
		// Read and parsed in full: the registry, not the limit, refuses it.
		{"JSON 1 MiB", http.MethodPost, "/api/v1/models", true, jsonCT, jsonBody(1 << 20), false, http.StatusBadRequest, `"field":"description"`},
		{"JSON 5 MiB", http.MethodPost, "/api/v1/models", true, jsonCT, jsonBody(5 << 20), false, http.StatusRequestEntityTooLarge, "4 MiB"},
		{"JSON 5 MiB streamed", http.MethodPost, "/api/v1/models", true, jsonCT, jsonBody(5 << 20), true, http.StatusRequestEntityTooLarge, "4 MiB"},
		{"JSON 5 MiB without token", http.MethodPost, "/api/v1/experiments", false, jsonCT, jsonBody(5 << 20), false, http.StatusRequestEntityTooLarge, "4 MiB"},
		// Uploads: up to DRIFTD_MAX_BODY_BYTES (8 MiB here).
		{"model 6 MiB", http.MethodPost, "/api/v1/models/churn/versions", true, octets, garbage(6 << 20), true, http.StatusBadRequest, "not a driftd model file"},
		{"model 9 MiB", http.MethodPost, "/api/v1/models/churn/versions", true, octets, garbage(9 << 20), false, http.StatusRequestEntityTooLarge, "8 MiB"},
		{"model 9 MiB streamed", http.MethodPost, "/api/v1/models/churn/versions", true, octets, garbage(9 << 20), true, http.StatusRequestEntityTooLarge, "8 MiB"},
		{"run artifact 6 MiB", http.MethodPut, "/api/v1/runs/" + run.ID + "/artifacts/big.bin", true, octets, garbage(6 << 20), true, http.StatusOK, `"big.bin":6291456`},
		{"run artifact 9 MiB", http.MethodPut, "/api/v1/runs/" + run.ID + "/artifacts/big.bin", true, octets, garbage(9 << 20), true, http.StatusRequestEntityTooLarge, "8 MiB"},
		// A UI form behind the login.
		{"settings form 20 KiB", http.MethodPost, "/settings/users", false, formCT, form(20 << 10), false, http.StatusRequestEntityTooLarge, "16 KiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := ""
			if tc.token {
				token = a.token
			}
			rec := a.serve(t, tc.method, tc.path, token, tc.contentType, tc.body, tc.chunked)
			body := rec.Body.String()
			if rec.Code != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%s %s: %d %.300s, want %d with %q", tc.method, tc.path, rec.Code, body, tc.status, tc.contains)
			}
			if rec.Code == http.StatusRequestEntityTooLarge && strings.HasPrefix(tc.path, "/api/") {
				var e apiError
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e.Error, "at most") {
					t.Fatalf("413 is not a JSON error naming the limit: %s", body)
				}
			}
		})
	}
	// The stored artifact is the uploaded bytes, and no spooled file is left.
	rec := a.serve(t, http.MethodGet, "/api/v1/runs/"+run.ID+"/artifacts/big.bin", a.token, "", nil, false)
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), garbage(6<<20)) {
		t.Fatalf("artifact read back: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	left, err := os.ReadDir(filepath.Join(cfg.DataDir, "tmp"))
	if err != nil || len(left) != 0 {
		t.Fatalf("upload spool directory: %v, %d files left", err, len(left))
	}
}

// TestLoginBodyLimitOverTheWire checks the limit on a real connection, with
// the CSRF cookie and token a browser has.
func TestLoginBodyLimitOverTheWire(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	c := browser(t)
	csrf := loginForm(t, c, a.base)
	for _, tc := range []struct {
		password string
		status   int
	}{
		{"wrong", http.StatusUnauthorized},
		{strings.Repeat("p", 20<<10), http.StatusRequestEntityTooLarge},
	} {
		resp, err := c.PostForm(a.base+"/login", url.Values{"_csrf": {csrf}, "username": {"admin"}, "password": {tc.password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("login with a %d-byte password: %d, want %d", len(tc.password), resp.StatusCode, tc.status)
		}
	}
}

func TestBodyLimitTable(t *testing.T) {
	a := &App{cfg: Config{MaxBodyBytes: 256 << 20, ServingMaxBodyBytes: 8 << 20}}
	small := &App{cfg: Config{MaxBodyBytes: 1000}}
	cases := []struct {
		app           *App
		method, route string
		want          int64
	}{
		{a, http.MethodPost, "/login", 16 << 10},
		{a, http.MethodPost, "/settings/users", 16 << 10},
		{a, http.MethodPost, "/kafka/topics/:topic/produce", 4 << 20},
		{a, http.MethodPost, "/api/v1/models", 4 << 20},
		{a, http.MethodPost, "/api/v1/some/new/route", 4 << 20},
		{a, http.MethodPost, "/api/v1/models/:name/versions", 256 << 20},
		{a, http.MethodPut, "/api/v1/runs/:id/artifacts/*", 256 << 20},
		{a, http.MethodPost, "/api/v1/train", 256 << 20},
		{a, http.MethodPost, "/training", 256 << 20},
		{a, http.MethodPost, "/invocations", 8 << 20}, // DRIFTD_SERVING_MAX_BODY_BYTES
		{a, http.MethodPost, "/api/v1/models/:name/predict", 8 << 20},
		{a, http.MethodGet, "", 16 << 10}, // no route
		{small, http.MethodPost, "/api/v1/models", 1000},
		{small, http.MethodPost, "/login", 1000},
	}
	for _, tc := range cases {
		if got := tc.app.bodyLimit(tc.method, tc.route); got != tc.want {
			t.Errorf("%s %s (max %d): limit %d, want %d", tc.method, tc.route, tc.app.cfg.MaxBodyBytes, got, tc.want)
		}
	}
	// Every route named in the table exists, so a renamed upload route is
	// not silently cut to a small limit.
	app := mustStartApp(t, testConfig(t))
	routes := map[string]bool{}
	for _, r := range app.echo.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	for k := range routeBodyLimits {
		if !routes[k] {
			t.Errorf("routeBodyLimits names %q, which is not a route", k)
		}
	}
}
