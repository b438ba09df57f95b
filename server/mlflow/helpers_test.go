package mlflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/train"
)

// Test credentials: the API token, a writer and a read-only Basic user.
const (
	testToken  = "test-token"
	testViewer = "viewer"
)

// testClock is a settable clock; fixtures advance it explicitly so every
// timestamp in an answer is known.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// startMillis is the test clock's start, 2026-03-01T12:00:00Z, in milliseconds.
const startMillis = 1772366400000

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testServer is the MLflow API on a bare echo with a real registry file.
type testServer struct {
	e     *echo.Echo
	store *registry.Store
	clock *testClock
}

// testAuth accepts the bearer token (user "api-token") and Basic users whose
// password is their name reversed; anything else is a 401.
func testAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok && tok == testToken {
			c.Set("user", "api-token")
			return next(c)
		}
		if user, pass, ok := c.Request().BasicAuth(); ok && pass == reverse(user) {
			c.Set("user", user)
			return next(c)
		}
		return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong credentials")
	}
}

// testWriter refuses writes to the read-only user.
func testWriter(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Get("user") == testViewer {
			return echo.NewHTTPError(http.StatusForbidden, "viewer may only read")
		}
		return next(c)
	}
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// newTestServer opens a registry in a temp dir and mounts the API on echo.
func newTestServer(tb testing.TB) *testServer {
	tb.Helper()
	return newTestServerWith(tb, registry.Options{})
}

// newTestServerWith is newTestServer with registry options (the clock is the test's).
func newTestServerWith(tb testing.TB, opts registry.Options) *testServer {
	tb.Helper()
	clock := &testClock{t: time.UnixMilli(startMillis).UTC()}
	opts.Now = clock.Now
	store, err := registry.Open(filepath.Join(tb.TempDir(), registry.FileName), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	e := echo.New()
	Register(e, Deps{Store: store, Auth: testAuth, Writer: testWriter, MaxArtifactBytes: 1 << 20,
		User: func(c echo.Context) string { s, _ := c.Get("user").(string); return s }})
	return &testServer{e: e, store: store, clock: clock}
}

// do sends a request with the API token (unless headers set Authorization) and
// returns the status and body.
func (s *testServer) do(tb testing.TB, method, target string, body io.Reader, headers map[string]string) (int, []byte) {
	tb.Helper()
	req := httptest.NewRequest(method, target, body)
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+testToken)
	if body != nil {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// call sends a JSON body (nil: none), checks the status and decodes the answer.
func (s *testServer) call(tb testing.TB, method, target string, body any, want int) map[string]any {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	status, out := s.do(tb, method, target, rd, nil)
	if status != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, target, status, want, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		tb.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, target, err, out)
	}
	return m
}

// basic is an Authorization header for a Basic user of testAuth.
func basic(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+reverse(user)))
}

// dig follows a dotted path ("run.info.run_id", "runs.0.info") into decoded JSON.
func dig(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// mustDriftdModel trains a tiny GBDT and returns its driftd model file.
func mustDriftdModel(tb testing.TB) []byte {
	tb.Helper()
	var csv strings.Builder
	csv.WriteString("age,plan,churn\n")
	for i := 0; i < 200; i++ {
		plan := []string{"basic", "pro", "max"}[i%3]
		churn := 0
		if (i*7)%10 < 4 || plan == "basic" && i%2 == 0 {
			churn = 1
		}
		fmt.Fprintf(&csv, "%d,%s,%d\n", 18+(i*13)%60, plan, churn)
	}
	ds, err := train.ReadCSV(strings.NewReader(csv.String()), train.CSVOptions{Target: "churn", Name: "churn.csv"})
	if err != nil {
		tb.Fatal(err)
	}
	p := train.DefaultParams()
	p.Rounds, p.MinSamplesLeaf, p.Threads = 3, 5, 1
	m, err := train.Train(context.Background(), ds, nil, p, nil)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
