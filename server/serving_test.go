package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"driftd/stream"

	"golang.org/x/net/html"
)

// predictAnswer is the JSON answer of the scoring routes.
type predictAnswer struct {
	Predictions []any     `json:"predictions"`
	Model       string    `json:"model"`
	Version     string    `json:"version"`
	Scores      []float64 `json:"scores"`
	Labels      []string  `json:"labels"`
	IDs         []string  `json:"ids"`
}

// servingConfig is testConfig with a scoring token and the given settings.
func servingConfig(tb testing.TB, env map[string]string) Config {
	tb.Helper()
	vars := map[string]string{
		"DRIFTD_ADDR": "127.0.0.1:0", "DRIFTD_KAFKA_LISTEN": "127.0.0.1:0",
		"DRIFTD_DATA_DIR": tb.TempDir(), "DRIFTD_ADMIN_PASSWORD": "correct-horse",
		"DRIFTD_KAFKA_PARTITIONS": "1", "DRIFTD_SCORING_TOKEN": "score-only-token",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := LoadConfig(nil, lookupMap(vars), "", io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// mustServingApp starts an App with drift-model 1.0.0 (and 1.1.0)
// registered and 1.0.0 deployed to production and scoring.
func mustServingApp(tb testing.TB, env map[string]string) *testApp {
	tb.Helper()
	a := mustStartApp(tb, servingConfig(tb, env))
	mustRegisterModel(tb, a.store, "1.0.0", 1)
	mustRegisterModel(tb, a.store, "1.1.0", 2)
	if err := a.store.Deploy(context.Background(), "drift-model", "1.0.0", "production", "test"); err != nil {
		tb.Fatal(err)
	}
	uiWaitFor(tb, "1.0.0 scoring", 10*time.Second, func() bool { return a.pipeline.scoringVersion() == "1.0.0" })
	return a
}

// post sends body to path with token and returns the status and answer.
func (t *testApp) post(tb testing.TB, path, token, body string) (int, []byte) {
	tb.Helper()
	return t.do(tb, http.MethodPost, path, token, "application/json", strings.NewReader(body))
}

// wantScores scores records with the version's model directly, through the
// stream decoder: what the endpoint must answer.
func wantScores(tb testing.TB, a *testApp, version string, records ...string) ([]float64, []string) {
	tb.Helper()
	art, err := a.store.Artifact(context.Background(), "drift-model", version)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := newScoringModel("drift-model", version, art)
	if err != nil {
		tb.Fatal(err)
	}
	dec := stream.NewDecoder(m.Schema())
	var scores []float64
	var labels []string
	for _, r := range records {
		var rec stream.Decoded
		if err := dec.Decode([]byte(r), &rec); err != nil {
			tb.Fatal(err)
		}
		s, l := m.Score(&rec)
		scores, labels = append(scores, s), append(labels, l)
	}
	return scores, labels
}

const (
	recA = `{"id":"a","x1":0.5,"x2":3,"plan":"pro"}`
	recB = `{"id":"b","x1":-1.25,"x2":9.5,"plan":"basic"}`
	recC = `{"x1":2,"x2":null,"plan":null}`
)

// TestServingPredict checks the answers of POST /api/v1/models/{name}/predict:
// scores equal to the model's own, the version each selector picks, and
// errors that name the record and field with the right status.
func TestServingPredict(t *testing.T) {
	a := mustServingApp(t, map[string]string{"DRIFTD_SERVING_MAX_ROWS": "5", "DRIFTD_SERVING_MAX_BODY_BYTES": "2048"})
	ctx := context.Background()
	if err := a.store.SetAlias(ctx, "drift-model", "champion", "1.1.0", "test"); err != nil {
		t.Fatal(err)
	}
	big := "[" + strings.Repeat(recA+",", 60) + recA + "]"
	cases := []struct {
		name, query, body string
		status            int
		version           string
		records           []string
		field, errPart    string
	}{
		{"one object", "", recA, 200, "1.0.0", []string{recA}, "", ""},
		{"array with nulls", "", "[" + recA + "," + recB + "," + recC + "]", 200, "1.0.0", []string{recA, recB, recC}, "", ""},
		{"environment", "?environment=production", recB, 200, "1.0.0", []string{recB}, "", ""},
		{"version", "?version=1.1.0", recB, 200, "1.1.0", []string{recB}, "", ""},
		{"alias", "?alias=champion", recA, 200, "1.1.0", []string{recA}, "", ""},
		{"missing feature", "", "[" + recA + `,{"x1":1,"plan":"pro"}]`, 400, "", nil, "x2", "record 1"},
		{"wrong type", "", `[{"x1":"high","x2":1,"plan":"pro"}]`, 400, "", nil, "x1", "record 0"},
		{"not an object", "", `[` + recA + `,7]`, 400, "", nil, "", "record 1: not a JSON object"},
		{"malformed", "", `[` + recA + `,{"x1":`, 400, "", nil, "", "record 1"},
		{"not json", "", `hello`, 400, "", nil, "", "neither a JSON object"},
		{"empty array", "", `[]`, 400, "", nil, "", "no records"},
		{"too many rows", "", "[" + strings.Repeat(recC+",", 5) + recC + "]", 413, "", nil, "", "at most 5"},
		{"body too large", "", big, 413, "", nil, "", "at most 2 KiB (2048 bytes)"},
		{"nothing deployed", "?environment=staging", recA, 404, "", nil, "", "deployed to staging"},
		{"unknown environment", "?environment=moon", recA, 400, "", nil, "environment", "not one of"},
		{"two selectors", "?alias=champion&version=1.0.0", recA, 400, "", nil, "", "at most one"},
		{"unknown version", "?version=9.9.9", recA, 404, "", nil, "", "9.9.9"},
		{"unknown alias", "?alias=nobody", recA, 404, "", nil, "", "nobody"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, b := a.post(t, "/api/v1/models/drift-model/predict"+tc.query, a.token, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, b)
			}
			if tc.status != 200 {
				var e apiError
				if err := json.Unmarshal(b, &e); err != nil {
					t.Fatalf("error body is not JSON: %s", b)
				}
				if e.Field != tc.field || !strings.Contains(e.Error, tc.errPart) {
					t.Errorf("error %+v, want field %q and %q in the message", e, tc.field, tc.errPart)
				}
				return
			}
			var got predictAnswer
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			scores, labels := wantScores(t, a, tc.version, tc.records...)
			if got.Model != "drift-model" || got.Version != tc.version || fmt.Sprint(got.Scores) != fmt.Sprint(scores) || fmt.Sprint(got.Labels) != fmt.Sprint(labels) {
				t.Errorf("answer %s, want version %s scores %v labels %v", b, tc.version, scores, labels)
			}
		})
	}
	status, b := a.post(t, "/api/v1/models/no-such-model/predict?version=1.0.0", a.token, recA)
	if status != 404 {
		t.Errorf("unknown model: %d %s", status, b)
	}
	page := a.scrape(t)
	for _, series := range []string{`driftd_serving_requests_total{model="drift-model",status="200"}`, `driftd_serving_requests_total{model="drift-model",status="400"}`, `driftd_serving_rows_total{model="drift-model"}`} {
		if metricValue(t, page, series) <= 0 {
			t.Errorf("%s not counted", series)
		}
	}
	if got := metricValue(t, page, `driftd_serving_rows_total{model="drift-model"}`); got != 7 {
		t.Errorf("rows_total = %v, want 7 (the rows of the 200 answers)", got)
	}
	if !strings.Contains(page, "driftd_serving_request_duration_seconds_bucket") {
		t.Error("no driftd_serving_request_duration_seconds histogram")
	}
}

// TestServingScoringToken checks that the scoring token scores and is
// refused everywhere else, and that scoring needs a token.
func TestServingScoringToken(t *testing.T) {
	a := mustServingApp(t, nil)
	const tok = "score-only-token"
	for _, path := range []string{"/api/v1/models/drift-model/predict", "/invocations"} {
		body := recA
		if path == "/invocations" {
			body = `{"dataframe_records":[` + recA + `]}`
		}
		for _, c := range []struct {
			token  string
			status int
		}{{tok, 200}, {a.token, 200}, {"", 401}, {"wrong", 401}} {
			if status, b := a.post(t, path, c.token, body); status != c.status {
				t.Errorf("%s with token %q: %d, want %d: %s", path, c.token, status, c.status, b)
			}
		}
	}
	refused := []struct{ method, path, body string }{
		{"GET", "/api/v1/models", ""},
		{"GET", "/api/v1/models/drift-model", ""},
		{"GET", "/api/v1/models/drift-model/versions/1.0.0/artifact", ""},
		{"POST", "/api/v1/models/drift-model/deploy", `{"version":"1.1.0","environment":"production"}`},
		{"POST", "/api/v1/models", `{"name":"x"}`},
		{"GET", "/api/v1/drift", ""},
		{"GET", "/api/v1/kafka/topics", ""},
		{"POST", "/api/v1/train", `{}`},
		{"GET", "/api/v1/backup", ""},
		{"GET", "/api/v1/users", ""},
		{"GET", "/api/v1/no-such-route", ""},
	}
	for _, r := range refused {
		status, b := a.do(t, r.method, r.path, tok, "application/json", strings.NewReader(r.body))
		if status != http.StatusUnauthorized {
			t.Errorf("scoring token on %s %s: %d, want 401: %s", r.method, r.path, status, b)
		}
	}
	// The UI does not take bearer tokens at all: a login page, not the page.
	req, _ := http.NewRequest("GET", a.base+"/settings", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := browser(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("GET /settings with the scoring token: %d to %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if v, ok := a.pipeline.Drift(); !ok || v.Version != "1.0.0" {
		t.Errorf("deployment changed by refused calls: %+v", v)
	}
}

// TestServingDrift checks that REST records feed the scorer's drift monitor
// with DRIFTD_SERVING_DRIFT=true and do not with false.
func TestServingDrift(t *testing.T) {
	batch := "[" + strings.Repeat(recA+","+recB+",", 49) + recA + "," + recB + "]" // 100 records
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			a := mustServingApp(t, map[string]string{"DRIFTD_SERVING_DRIFT": fmt.Sprint(on), "DRIFTD_SERVING_MAX_BODY_BYTES": "1048576"})
			for i := 0; i < 8; i++ {
				if status, b := a.post(t, "/api/v1/models/drift-model/predict", a.token, batch); status != 200 {
					t.Fatalf("%d %s", status, b)
				}
			}
			checked := func() bool { v, ok := a.pipeline.Drift(); return ok && v.Event.WindowRecords >= 100 }
			if on {
				uiWaitFor(t, "a drift check over the REST records", 10*time.Second, checked)
				// The stream's records feed the same monitor; the Drift page
				// says how many came from each source.
				produceShifted(t, a, 30)
				uiWaitFor(t, "the stream's records observed", 10*time.Second, func() bool {
					v, _ := a.pipeline.Drift()
					return v.FedByStream == 30
				})
				if v, _ := a.pipeline.Drift(); v.FedByHTTP != 800 {
					t.Errorf("HTTP rows fed to the monitor = %d, want 800", v.FedByHTTP)
				}
				s := uiLogin(t, a, "admin", "correct-horse")
				feeds := mustTestID(t, s.mustGet("/drift"), "drift-feeds")
				for field, want := range map[string]string{"fed-stream": "30", "fed-http": "800"} {
					if got := nodeText(findElem(feeds, func(n *html.Node) bool { return attrOf(n, "data-field") == field })); got != want {
						t.Errorf("Drift page %s = %q, want %q (%q)", field, got, want, nodeText(feeds))
					}
				}
				return
			}
			if v, _ := a.pipeline.Drift(); v.FedByHTTP != 0 {
				t.Errorf("HTTP rows fed to the monitor with DRIFTD_SERVING_DRIFT=false = %d", v.FedByHTTP)
			}
			// Requests observe their records before they answer, so the
			// window is final here: with the setting off it is still empty.
			if v, ok := a.pipeline.Drift(); !ok || !v.Event.Time.IsZero() || !strings.HasPrefix(v.Event.Status, "warming up: 0 of ") {
				t.Errorf("REST records reached the drift monitor with DRIFTD_SERVING_DRIFT=false: %+v", v.Event)
			}
		})
	}
}

// TestServingPublish checks that with DRIFTD_SERVING_PUBLISH=true records
// with an id are produced to predictions (in the scorer's format) and wait
// in the label joiner.
func TestServingPublish(t *testing.T) {
	a := mustServingApp(t, map[string]string{"DRIFTD_SERVING_PUBLISH": "true"})
	before := a.pipeline.labels.Len()
	if status, b := a.post(t, "/api/v1/models/drift-model/predict", "score-only-token", "["+recA+","+recB+","+recC+"]"); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	if got := a.pipeline.labels.Len() - before; got != 2 {
		t.Errorf("label joiner holds %d new predictions, want 2 (the records with an id)", got)
	}
	var page string
	uiWaitFor(t, "the predictions of a and b on the predictions topic", 15*time.Second, func() bool {
		_, b := a.do(t, "GET", "/api/v1/kafka/topics/predictions/messages?limit=50", a.token, "", nil)
		page = string(b)
		return strings.Contains(page, `"id":"a"`) && strings.Contains(page, `"id":"b"`)
	})
	if !strings.Contains(page, `"model":"drift-model","version":"1.0.0"`) {
		t.Errorf("published predictions lack the version: %s", page)
	}
}

// TestServingSwapUnderLoad deploys two versions back and forth while
// clients score: no request may fail, and both versions must answer.
// DRIFTD_INTEGRATION runs it for the ten seconds.
func TestServingSwapUnderLoad(t *testing.T) {
	a := mustServingApp(t, nil)
	dur := 2 * time.Second
	if os.Getenv("DRIFTD_INTEGRATION") != "" {
		dur = 10 * time.Second
	}
	stop := make(chan struct{})
	var failed, ok atomic.Int64
	var mu sync.Mutex
	versions := map[string]int{}
	var firstErr atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	body := []byte("[" + recA + "," + recB + "]")
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", a.base+"/invocations", bytes.NewReader([]byte(`{"dataframe_records":`+string(body)+`}`)))
				req.Header.Set("Authorization", "Bearer score-only-token")
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				var ans predictAnswer
				derr := json.NewDecoder(resp.Body).Decode(&ans)
				resp.Body.Close()
				if resp.StatusCode != 200 || derr != nil || len(ans.Scores) != 2 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d: %+v %v", resp.StatusCode, ans, derr))
					continue
				}
				ok.Add(1)
				mu.Lock()
				versions[ans.Version]++
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(dur)
	deploys := 0
	for time.Now().Before(deadline) {
		v := []string{"1.1.0", "1.0.0"}[deploys%2]
		if err := a.store.Deploy(context.Background(), "drift-model", v, "production", "swap under load"); err != nil {
			t.Fatal(err)
		}
		deploys++
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during %d deploys; first: %v", failed.Load(), failed.Load()+ok.Load(), deploys, firstErr.Load())
	}
	if versions["1.0.0"] == 0 || versions["1.1.0"] == 0 {
		t.Errorf("answers by version %v: both versions should have scored during the swaps", versions)
	}
	t.Logf("%d requests, %d deploys, by version %v", ok.Load(), deploys, versions)
}
