package server

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// stepClock is a clock a test moves by hand.
type stepClock struct{ t time.Time }

func (c *stepClock) now() time.Time { return c.t }

func TestLoginLimiterWindowsAndKeys(t *testing.T) {
	clk := &stepClock{t: time.Unix(1_700_000_000, 0)}
	l := newLoginLimiter(3, time.Minute, 100, clk.now)
	allowed := func(client, user string, n int) int {
		ok := 0
		for range n {
			if l.allow(client, user) {
				ok++
			}
		}
		return ok
	}
	if got := allowed("10.0.0.1", "admin", 10); got != 3 {
		t.Fatalf("one client, one name: %d allowed, want 3", got)
	}
	// A new address does not give new guesses at the same name...
	if got := allowed("10.0.0.2", "admin", 5); got != 0 {
		t.Fatalf("new client, same name: %d allowed, want 0", got)
	}
	// ...and new names do not give an address new guesses.
	if got := allowed("10.0.0.1", "bob", 5); got != 0 {
		t.Fatalf("same client, new name: %d allowed, want 0", got)
	}
	if got := allowed("10.0.0.3", "carol", 5); got != 3 {
		t.Fatalf("unrelated client and name: %d allowed, want 3", got)
	}
	clk.t = clk.t.Add(time.Minute)
	if got := allowed("10.0.0.1", "admin", 5); got != 3 {
		t.Fatalf("after the window: %d allowed, want 3", got)
	}
}

func TestLoginLimiterMemoryIsBounded(t *testing.T) {
	clk := &stepClock{t: time.Unix(1_700_000_000, 0)}
	const size = 64
	l := newLoginLimiter(10, time.Minute, size, clk.now)
	long := strings.Repeat("x", 1<<10)
	for i := range 100_000 {
		l.allow(fmt.Sprintf("client-%d", i), fmt.Sprintf("%s-%d", long, i))
		if i%1000 == 0 {
			clk.t = clk.t.Add(time.Second)
		}
	}
	clients, users := l.entries()
	if clients > size || users > size {
		t.Fatalf("after 100,000 distinct clients and names: %d clients, %d names remembered, want at most %d", clients, users, size)
	}
	for _, k := range l.users.index {
		if n := len(k.Value.(*windowEntry).key); n > loginLimiterKeyAt {
			t.Fatalf("a 1 KiB user name is kept as %d bytes", n)
		}
	}
	// Expired windows are dropped: after a quiet window, one attempt leaves one entry.
	clk.t = clk.t.Add(2 * time.Minute)
	l.allow("late", "late")
	if clients, users := l.entries(); clients != 1 || users != 1 {
		t.Fatalf("after the window: %d clients, %d names, want 1 and 1", clients, users)
	}
}

// BenchmarkLoginLimiterFull measures one attempt against full tables of live
// windows, each attempt a new client and name (every one evicts the oldest).
func BenchmarkLoginLimiterFull(b *testing.B) {
	l := newLoginLimiter(10, time.Hour, loginLimiterSize, time.Now)
	keys := make([]string, 4*loginLimiterSize)
	for i := range keys {
		keys[i] = fmt.Sprintf("203.0.113.%d/%d", i%256, i)
	}
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		l.allow(k, k)
	}
}

func mustCIDRs(tb testing.TB, s ...string) []*net.IPNet {
	tb.Helper()
	var out []*net.IPNet
	for _, c := range s {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestClientAddressTrustsOnlyConfiguredProxies(t *testing.T) {
	cases := []struct {
		name    string
		trusted []string
		remote  string
		header  http.Header
		want    string
	}{
		{"no proxies: XFF ignored", nil, "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "127.0.0.1"},
		{"no proxies: X-Real-IP ignored", nil, "192.168.1.5:5000", http.Header{"X-Real-Ip": {"203.0.113.9"}}, "192.168.1.5"},
		{"untrusted private peer: XFF ignored", []string{"10.0.0.0/8"}, "192.168.1.5:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "192.168.1.5"},
		{"untrusted loopback peer: XFF ignored", []string{"10.0.0.0/8"}, "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "127.0.0.1"},
		{"trusted proxy: client from XFF", []string{"10.0.0.0/8"}, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"trusted proxy: spoofed left entry skipped", []string{"10.0.0.0/8"}, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"1.1.1.1, 203.0.113.9"}}, "203.0.113.9"},
		{"trusted proxy chain", []string{"10.0.0.0/8"}, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"203.0.113.9, 10.9.9.9"}}, "203.0.113.9"},
		{"trusted proxy: X-Real-IP", []string{"10.0.0.0/8"}, "10.1.2.3:5000", http.Header{"X-Real-Ip": {"203.0.113.7"}}, "203.0.113.7"},
		{"trusted proxy: no header", []string{"10.0.0.0/8"}, "10.1.2.3:5000", http.Header{}, "10.1.2.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr, r.Header = tc.remote, tc.header
			if got := ipExtractor(mustCIDRs(t, tc.trusted...))(r); got != tc.want {
				t.Fatalf("client address %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLoginRateLimitRotatingForwardedFor is the abuse case: 1,000
// login attempts, each with a new X-Forwarded-For (and, in one case, a new
// user name), get at most the limit through, and the limiter's tables stay
// small. The limit is 3 here rather than 10: every attempt let through costs
// a bcrypt check, seconds each under -race.
func TestLoginRateLimitRotatingForwardedFor(t *testing.T) {
	const limit = 3
	cases := []struct {
		name         string
		trusted      string // DRIFTD_TRUSTED_PROXIES
		rotateUser   bool
		maxClients   int
		maxUserNames int
	}{
		// The test client is a loopback peer that is not a trusted proxy
		// (echo would trust loopback by default): its headers are ignored
		// and it is one client.
		{"no trusted proxy, one user", "", false, 1, 1},
		{"no trusted proxy, new user each time", "", true, 1, limit},
		// Loopback is the trusted proxy: every header value is a real
		// client, and the per-user limit holds them back.
		{"trusted proxy, distinct clients, one user", "127.0.0.1/32", false, limit, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tc.trusted != "" {
				cfg.TrustedProxies = mustCIDRs(t, tc.trusted)
			}
			a := mustStartApp(t, cfg)
			a.auth.limiter = newLoginLimiter(limit, loginWindow, loginLimiterSize, time.Now)
			c := browser(t)
			csrf := loginForm(t, c, a.base)
			through := 0
			for i := range 1000 {
				user := "admin"
				if tc.rotateUser {
					user = fmt.Sprintf("user%d", i)
				}
				form := url.Values{"_csrf": {csrf}, "username": {user}, "password": {"nope"}}
				req, err := http.NewRequest(http.MethodPost, a.base+"/login", strings.NewReader(form.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/256, i%256))
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusTooManyRequests:
				case http.StatusUnauthorized:
					through++
				default:
					t.Fatalf("attempt %d: status %d", i, resp.StatusCode)
				}
			}
			if through > limit {
				t.Errorf("%d of 1,000 attempts had their password checked, want at most %d", through, limit)
			}
			if clients, users := a.auth.limiter.entries(); clients > tc.maxClients || users > tc.maxUserNames {
				t.Errorf("limiter remembers %d clients and %d names, want at most %d and %d", clients, users, tc.maxClients, tc.maxUserNames)
			}
		})
	}
}
