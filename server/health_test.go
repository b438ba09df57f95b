package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestReadyzMeansServingTheAPI: /readyz is 200 while the API serves, with
// or without a model (a degraded scorer is named in the body), and 503 only
// when a required component is starting, stopped or failed.
func TestReadyzMeansServingTheAPI(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	cases := []struct {
		name     string
		set      func()
		status   int
		contains string
	}{
		{"no model deployed", func() {}, http.StatusOK, `"degraded":"scorer is degraded: no model deployed`},
		{"scorer paused", func() { a.status.set("scorer", true, StateDegraded, "paused (maintenance)") }, http.StatusOK, "paused (maintenance)"},
		{"registry failed", func() { a.status.set("registry", true, StateFailed, "disk gone") }, http.StatusServiceUnavailable, "registry is failed: disk gone"},
		{"kafka starting", func() {
			a.status.set("registry", true, StateReady, "")
			a.status.set("kafka", true, StateStarting, "")
		}, http.StatusServiceUnavailable, "kafka is starting"},
		{"an optional component failed", func() {
			a.status.set("kafka", true, StateReady, "")
			a.status.set("extra", false, StateFailed, "optional")
		}, http.StatusOK, `"status":"ready"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.set()
			status, b := a.do(t, http.MethodGet, "/readyz", "", "", nil)
			if status != tc.status || !strings.Contains(string(b), tc.contains) {
				t.Fatalf("/readyz = %d %s, want %d with %q", status, b, tc.status, tc.contains)
			}
			var st statusResponse
			if status, b := a.do(t, http.MethodGet, "/api/v1/status", "", "", nil); status != http.StatusOK || json.Unmarshal(b, &st) != nil {
				t.Fatalf("/api/v1/status = %d %s", status, b)
			}
			if st.Ready != (tc.status == http.StatusOK) {
				t.Fatalf("/api/v1/status ready=%v while /readyz is %d", st.Ready, tc.status)
			}
		})
	}
}
