package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fuzzMethods are the methods FuzzAPI picks from (by a byte, so the fuzzer
// explores paths and bodies rather than method spellings).
var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodHead, http.MethodOptions, "PROPFIND"}

// Bits of FuzzAPI's flags argument.
const (
	fuzzToken   = 1 << iota // send the API token
	fuzzSession             // send an admin's session cookie
	fuzzAPI                 // the path is under /api/v1/ (else under /)
	fuzzHTML                // Accept: text/html, as a browser
)

// fuzzSkipped are paths the fuzzer must not call: runtime profiles run for
// seconds by design (and need the token).
func fuzzSkipped(path string) bool {
	return strings.HasPrefix(path, "/debug/pprof/profile") || strings.HasPrefix(path, "/debug/pprof/trace")
}

// FuzzAPI drives the real router (every middleware, the real registry,
// scheduler and embedded Kafka) with random methods, paths, queries, bodies
// and content types, with and without credentials: no request may panic or
// answer a 5xx other than 503 (a part that is legitimately unavailable).
//
//	go test ./server -run x -fuzz FuzzAPI -fuzztime 60s
func FuzzAPI(f *testing.F) {
	a := mustStartApp(f, testConfig(f))
	session := uiLogin(f, a, "admin", "correct-horse").sessionCookie()
	// Seeds: every route, filled in, with a body that fits it.
	model := mustModelFile(f, 1)
	for _, r := range a.echo.Routes() {
		m := -1
		for i, fm := range fuzzMethods {
			if fm == r.Method {
				m = i
			}
		}
		if m < 0 || fuzzSkipped(r.Path) {
			continue
		}
		p, flags := concretePath(r.Path), uint8(fuzzToken)
		if rest, ok := strings.CutPrefix(p, "/api/v1/"); ok {
			p, flags = rest, flags|fuzzAPI
		} else {
			p = strings.TrimPrefix(p, "/")
		}
		body, ct := []byte(`{"name":"churn","version":"1.0.0","environment":"staging","reason":"fuzz"}`), "application/json"
		switch {
		case strings.HasSuffix(r.Path, "/versions") && r.Method == http.MethodPost:
			body, ct = model, "application/octet-stream"
		case !strings.HasPrefix(r.Path, "/api/"):
			body, ct, flags = []byte("username=admin&password=x&_csrf=x"), "application/x-www-form-urlencoded", fuzzSession|fuzzHTML
		}
		f.Add(uint8(m), p, body, ct, flags)
		f.Add(uint8(m), p, []byte{}, "", uint8(0)) // without credentials
	}
	f.Add(uint8(0), "runs?filter=metrics.auc%20%3E%20&order_by=x&limit=-1", []byte{}, "", uint8(fuzzToken|fuzzAPI))
	f.Add(uint8(0), "kafka/topics/drift-data/messages?partition=99&offset=99999999", []byte{}, "", uint8(fuzzToken|fuzzAPI))
	f.Add(uint8(1), "models", []byte(`{"name":`), "application/json", uint8(fuzzToken|fuzzAPI))
	f.Add(uint8(1), "train", []byte("--x\r\n"), "multipart/form-data; boundary=x", uint8(fuzzToken|fuzzAPI))
	f.Add(uint8(0), "models/%2e%2e/versions", []byte{}, "", uint8(fuzzToken|fuzzAPI))

	f.Fuzz(func(t *testing.T, method uint8, path string, body []byte, contentType string, flags uint8) {
		target := "/" + path
		if flags&fuzzAPI != 0 {
			target = "/api/v1/" + path
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			u = &url.URL{Path: target}
		}
		if fuzzSkipped(u.Path) {
			return
		}
		req := &http.Request{
			Method: fuzzMethods[int(method)%len(fuzzMethods)], URL: u, RequestURI: u.RequestURI(),
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
			Host: "127.0.0.1", RemoteAddr: "192.0.2.1:1234",
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		req = req.WithContext(t.Context())
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if flags&fuzzToken != 0 {
			req.Header.Set("Authorization", "Bearer "+a.token)
		}
		if flags&fuzzSession != 0 {
			req.AddCookie(session)
		}
		if flags&fuzzHTML != 0 {
			req.Header.Set("Accept", "text/html")
		}
		rec := httptest.NewRecorder()
		a.echo.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s (%q, %d-byte body, flags %04b): %d\n%.500s", req.Method, target, contentType, len(body), flags, rec.Code, rec.Body.String())
		}
	})
}
