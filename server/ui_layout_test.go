package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestUIErrorPages: a browser gets 404, 403 and 400 pages inside the layout
// (navigation, the signed-in user, what to do next); the API answers the
// same failures in its JSON shape {"error","field"}.
func TestUIErrorPages(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	registerUIModel(t, a, a.cfg.ModelName, "1.0.0", 1)
	a.apiJSON(t, http.MethodPost, "/api/v1/users", map[string]string{"username": "vic", "password": "viewer-password", "role": "viewer"}, http.StatusCreated, nil)
	admin := uiLogin(t, a, "admin", "correct-horse")
	viewer := uiLogin(t, a, "vic", "viewer-password")

	html404 := []struct {
		name     string
		s        *uiSession
		method   string
		path     string
		status   int
		user     string
		message  string
		hintWord string
	}{
		{"unknown path", admin, http.MethodGet, "/no/such/page", http.StatusNotFound, "admin", "There is no page at /no/such/page.", "mistyped"},
		{"unknown model", admin, http.MethodGet, "/models/nope", http.StatusNotFound, "admin", `model "nope"`, "mistyped"},
		{"bad run id", admin, http.MethodGet, "/runs/nope", http.StatusBadRequest, "admin", "", "correct the request"},
		{"viewer deploys", viewer, http.MethodPost, "/models/" + a.cfg.ModelName + "/deploy", http.StatusForbidden, "vic", "needs the operator role", "Settings"},
		{"viewer produces", viewer, http.MethodPost, "/kafka/topics/drift-data/produce", http.StatusForbidden, "vic", "needs the operator role", "Settings"},
		{"viewer adds a user", viewer, http.MethodPost, "/settings/users", http.StatusForbidden, "vic", "needs the admin role", "Settings"},
	}
	for _, tc := range html404 {
		t.Run(tc.name, func(t *testing.T) {
			var status int
			var doc *html.Node
			var body string
			if tc.method == http.MethodGet {
				status, doc, body = tc.s.get(tc.path)
			} else {
				status, _, body = tc.s.post(tc.path, url.Values{"version": {"1.0.0"}, "environment": {"production"}, "value": {"{}"}})
				var err error
				if doc, err = html.Parse(strings.NewReader(body)); err != nil {
					t.Fatal(err)
				}
			}
			if status != tc.status {
				t.Fatalf("%s %s: %d, want %d\n%s", tc.method, tc.path, status, tc.status, body)
			}
			if got := nodeText(mustTestID(t, doc, "error-status")); !strings.Contains(got, itoa64(int64(tc.status))) || !strings.Contains(got, http.StatusText(tc.status)) {
				t.Errorf("heading = %q", got)
			}
			if got := nodeText(mustTestID(t, doc, "error-message")); !strings.Contains(got, tc.message) {
				t.Errorf("message = %q, want it to contain %q", got, tc.message)
			}
			if got := nodeText(mustTestID(t, doc, "error-hint")); !strings.Contains(got, tc.hintWord) {
				t.Errorf("hint = %q, want it to contain %q", got, tc.hintWord)
			}
			mustTestID(t, doc, "nav-drift")
			if got := nodeText(mustTestID(t, doc, "current-user")); !strings.Contains(got, tc.user) {
				t.Errorf("header user = %q, want %s", got, tc.user)
			}
			if !strings.Contains(body, `rel="icon"`) {
				t.Error("the error page links no favicon")
			}
		})
	}

	// The API keeps its JSON error shape, whatever the client accepts.
	api := []struct {
		name, method, path, token, accept string
		status                            int
	}{
		{"unknown API path", http.MethodGet, "/api/v1/nope", a.token, "text/html", http.StatusNotFound},
		{"unknown model", http.MethodGet, "/api/v1/models/nope", a.token, "text/html", http.StatusNotFound},
		{"no token", http.MethodPost, "/api/v1/models/" + a.cfg.ModelName + "/deploy", "", "text/html", http.StatusUnauthorized},
		{"bad history query", http.MethodGet, "/api/v1/drift/history?since=yesterday", a.token, "", http.StatusBadRequest},
	}
	for _, tc := range api {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, a.base+tc.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			req.Header.Set("Accept", tc.accept)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var body map[string]any
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &body) != nil {
				t.Fatalf("%s %s: %d %s %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if msg, _ := body["error"].(string); msg == "" {
				t.Errorf("no error message: %s", b)
			}
			for k := range body {
				if k != "error" && k != "field" {
					t.Errorf("unexpected key %q in %s", k, b)
				}
			}
		})
	}
}

// TestFavicon: /favicon.ico answers the SVG icon every page links to.
func TestFavicon(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	for _, p := range []string{"/favicon.ico", "/static/favicon.svg"} {
		status, body := a.do(t, http.MethodGet, p, "", "", nil)
		if status != http.StatusOK || !strings.HasPrefix(string(body), "<svg") {
			t.Errorf("GET %s: %d %.60s", p, status, body)
		}
	}
	resp, err := http.Get(a.base + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "image/svg+xml" {
		t.Errorf("favicon content type %q", ct)
	}
	s := uiLogin(t, a, "admin", "correct-horse")
	for _, p := range []string{"/", "/models", "/login"} {
		_, _, body := s.get(p)
		if !strings.Contains(body, `<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">`) {
			t.Errorf("%s links no favicon", p)
		}
	}
}

// TestUIEmptyStatesUseTheRealAddress: the upload example of the Models page
// names the address the browser used and this server's token file.
func TestUIEmptyStatesUseTheRealAddress(t *testing.T) {
	cfg := testConfig(t)
	a := mustStartApp(t, cfg)
	s := uiLogin(t, a, "admin", "correct-horse")
	got := nodeText(mustTestID(t, s.mustGet("/models"), "upload-example"))
	for _, want := range []string{a.base + "/api/v1/models/NAME/versions", "$(cat " + filepath.Join(cfg.DataDir, "api-token") + ")"} {
		if !strings.Contains(got, want) {
			t.Errorf("example %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "127.0.0.1:8080") || strings.Contains(got, "data/api-token") {
		t.Errorf("example %q still hard-codes the default address or data directory", got)
	}
}

// TestTokenRef: the shell examples read a generated token from its file
// (quoted when the path needs it) and never show a configured one.
func TestTokenRef(t *testing.T) {
	cases := []struct {
		dataDir, token, want string
	}{
		{"/var/lib/driftd", "", "$(cat /var/lib/driftd/api-token)"},
		{"/srv/my data", "", "$(cat '/srv/my data/api-token')"},
		{"/srv/it's", "", `$(cat '/srv/it'\''s/api-token')`},
		{"/var/lib/driftd", "s3cret", "$DRIFTD_API_TOKEN"},
	}
	for _, tc := range cases {
		a := &App{cfg: Config{DataDir: tc.dataDir, APIToken: tc.token}}
		if got := a.tokenRef(); got != tc.want {
			t.Errorf("data dir %q, token %q: %q, want %q", tc.dataDir, tc.token, got, tc.want)
		}
	}
}

// TestUIInputsHaveLabels walks the pages with forms on them and checks that
// every visible input, select and textarea has a label: a wrapping <label>,
// a <label for=id>, or aria-label.
func TestUIInputsHaveLabels(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	registerUIModel(t, a, a.cfg.ModelName, "1.0.0", 1)
	s := uiLogin(t, a, "admin", "correct-horse")
	pages := []string{"/", "/pipeline", "/training", "/experiments", "/models", "/models/" + a.cfg.ModelName, "/drift",
		"/kafka", "/kafka/topics/drift-data", "/schedules", "/settings"}
	checked := 0
	for _, p := range pages {
		doc := s.mustGet(p)
		labelFor := map[string]bool{}
		var controls []*html.Node
		var walk func(n *html.Node, inLabel bool)
		walk = func(n *html.Node, inLabel bool) {
			if n.Type == html.ElementNode {
				switch n.Data {
				case "label":
					inLabel = true
					if f := attrOf(n, "for"); f != "" {
						labelFor[f] = true
					}
				case "input", "select", "textarea":
					if attrOf(n, "type") != "hidden" && !inLabel && attrOf(n, "aria-label") == "" && attrOf(n, "aria-labelledby") == "" {
						controls = append(controls, n)
					}
					if attrOf(n, "type") != "hidden" {
						checked++
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, inLabel)
			}
		}
		walk(doc, false)
		for _, n := range controls {
			if id := attrOf(n, "id"); id == "" || !labelFor[id] {
				t.Errorf("%s: <%s name=%q> has no label", p, n.Data, attrOf(n, "name"))
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d form controls on %d pages: the walk found nothing to check", checked, len(pages))
	}
}
