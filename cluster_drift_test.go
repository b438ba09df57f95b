package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"driftd/server"
	"driftd/stream"
)

// fakeClock is a clock the test moves by hand, shared by every process of
// the test cluster so that their tumbling windows close together.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// TestClusterMergedDrift runs a primary and a worker on a 3-broker embedded
// cluster with a one-minute tumbling drift window: the records of one
// window are scored by both processes, the primary merges their counts,
// and the merged window's PSI of every feature equals what `driftd drift
// --test psi` computes over the same records against the training data.
// The labels of every record are then produced: the primary joins those of
// the records the worker scored too.
func TestClusterMergedDrift(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ref, valid, cur := filepath.Join(dir, "ref.csv"), filepath.Join(dir, "valid.csv"), filepath.Join(dir, "cur.csv")
	const rows = 3000
	for _, g := range [][]string{
		{"--rows", strconv.Itoa(rows), "--features", "4", "--categorical", "1", "--seed", "1", "--out", ref},
		{"--rows", "600", "--features", "4", "--categorical", "1", "--seed", "2", "--out", valid},
		{"--rows", strconv.Itoa(rows), "--features", "4", "--categorical", "1", "--seed", "3", "--drift", "f0:shift=1,c0:swap=a>b", "--out", cur},
	} {
		var errb bytes.Buffer
		if code := runGen(ctx, g, io.Discard, &errb); code != 0 {
			t.Fatalf("driftd gen %v: exit %d: %s", g, code, errb.String())
		}
	}
	model := filepath.Join(dir, "model.drift")
	if _, stderr, code := runTrainArgs(t, "--data", ref, "--test", valid, "--target", "label", "--id", "id", "--rounds", "20", "--out", model); code != 0 {
		t.Fatalf("driftd train: exit %d: %s", code, stderr)
	}

	b, err := stream.NewBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", Brokers: 3, Partitions: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	brokers := strings.Join(b.Addrs(), ",")
	secrets := t.TempDir()
	token := "merged-drift-token"
	if err := os.WriteFile(filepath.Join(secrets, "api-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "session-key"), []byte(strings.Repeat("k3y", 16)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The window is [start, start+1m): the clock stays inside it until
	// every record is scored.
	start := time.Now().UTC().Truncate(time.Minute)
	clock := &fakeClock{now: start.Add(20 * time.Second)}
	env := func(extra ...string) map[string]string {
		m := map[string]string{
			"DRIFTD_ADDR": "127.0.0.1:0", "DRIFTD_DATA_DIR": t.TempDir(), "DRIFTD_ADMIN_PASSWORD": "correct-horse",
			"KAFKA_BOOTSTRAP_SERVERS": brokers, "DRIFTD_KAFKA_PARTITIONS": "6", "DRIFTD_KAFKA_REPLICATION": "3",
			"DRIFTD_API_TOKEN_FILE": filepath.Join(secrets, "api-token"), "DRIFTD_SESSION_KEY_FILE": filepath.Join(secrets, "session-key"),
			"DRIFTD_RETRAIN": "off", "DRIFTD_DRIFT_WINDOW": "1m",
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	primary := startInProcess(t, env("DRIFTD_CLUSTER", "true"), clock)
	worker := startInProcess(t, env("DRIFTD_ROLE", "worker"), clock)
	pBase, wBase := "http://"+primary.Addr(), "http://"+worker.Addr()

	upload, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	apiCall(t, pBase, token, http.MethodPost, "/api/v1/models/drift-model/versions?version=1.0.0", "application/octet-stream", upload, http.StatusCreated)
	apiCall(t, pBase, token, http.MethodPost, "/api/v1/models/drift-model/deploy", "application/json",
		[]byte(`{"version":"1.0.0","environment":"production","reason":"merged drift test"}`), http.StatusOK)
	pollFor(t, 60*time.Second, "the worker ready with 1.0.0", func() bool {
		resp, err := http.Get(wBase + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// Both hold partitions of the features topic before any record is
	// produced, as the primary's instance table shows.
	pollFor(t, 60*time.Second, "two live instances holding partitions", func() bool {
		var st struct {
			Instances []struct {
				Role       string  `json:"role"`
				Version    string  `json:"version"`
				Partitions []int32 `json:"partitions"`
			} `json:"instances"`
		}
		if err := json.Unmarshal(apiCall(t, pBase, token, http.MethodGet, "/api/v1/status", "", nil, http.StatusOK), &st); err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, in := range st.Instances {
			if in.Version == "1.0.0" && len(in.Partitions) > 0 {
				held += len(in.Partitions)
			}
		}
		return len(st.Instances) == 2 && held == 6 && st.Instances[0].Role == "primary"
	})
	var errb bytes.Buffer
	if code := runProduce(ctx, []string{"--data", cur, "--kafka-bootstrap-servers", brokers, "--kafka-topic", "drift-data", "--id-column", "id"}, io.Discard, &errb); code != 0 {
		t.Fatalf("driftd produce: exit %d: %s", code, errb.String())
	}
	consumed := `driftd_records_produced_total{topic="predictions"}`
	pollFor(t, 120*time.Second, "both processes to score every record", func() bool {
		p, w := scrape(t, pBase, consumed), scrape(t, wBase, consumed)
		return p+w >= rows && p > 0 && w > 0
	})
	pScored, wScored := scrape(t, pBase, consumed), scrape(t, wBase, consumed)
	t.Logf("primary scored %.0f records, the worker %.0f", pScored, wScored)

	// Close the window: each process contributes its counts once it sees
	// the window's end; the merger waits a grace period for them.
	clock.Advance(41 * time.Second)
	published := "driftd_cluster_drift_counts_published_total"
	pollFor(t, 30*time.Second, "both processes to publish their window's counts", func() bool {
		return scrape(t, pBase, published) >= 1 && scrape(t, wBase, published) >= 1
	})
	clock.Advance(time.Minute)
	var view struct {
		WindowRecords int    `json:"window_records"`
		Processes     int    `json:"processes"`
		Window        string `json:"window"`
		Estimated     *struct {
			Records  int      `json:"records"`
			Accuracy *float64 `json:"accuracy"`
			AUC      *float64 `json:"auc"`
		} `json:"estimated"`
		Features []struct {
			Feature string  `json:"name"`
			PSI     float64 `json:"psi"`
			Test    string  `json:"test"`
		} `json:"features"`
	}
	wantWindow := start.Format(time.RFC3339Nano)
	pollFor(t, 60*time.Second, "the merged window "+wantWindow, func() bool {
		body := apiCall(t, pBase, token, http.MethodGet, "/api/v1/drift", "", nil, http.StatusOK)
		if err := json.Unmarshal(body, &view); err != nil {
			t.Fatal(err)
		}
		return view.Window == wantWindow
	})
	if view.Processes != 2 || view.WindowRecords != rows {
		t.Fatalf("merged window: %d processes, %d records; want 2 and %d", view.Processes, view.WindowRecords, rows)
	}
	// Performance estimated without labels (CBPE) merges too: each process
	// estimates from the first DRIFT_WINDOW_SIZE (1,000) records of the window.
	wantEstimated := min(int(pScored), 1000) + min(int(wScored), 1000)
	if e := view.Estimated; e == nil || e.Records != wantEstimated || e.Accuracy == nil || e.AUC == nil {
		t.Fatalf("merged estimate %+v, want one over %d records with accuracy and AUC", e, wantEstimated)
	}
	t.Logf("estimated without labels over %d records: accuracy %.4f, AUC %.4f", view.Estimated.Records, *view.Estimated.Accuracy, *view.Estimated.AUC)

	// The same records through `driftd drift`.
	var out bytes.Buffer
	errb.Reset()
	if code := runDrift(ctx, []string{"--reference", ref, "--current", cur, "--exclude", "id,label", "--test", "psi", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("driftd drift: exit %d: %s", code, errb.String())
	}
	var cli struct {
		Features []struct {
			Feature string  `json:"name"`
			PSI     float64 `json:"psi"`
		} `json:"features"`
	}
	if err := json.Unmarshal(out.Bytes(), &cli); err != nil {
		t.Fatalf("driftd drift --json: %v\n%s", err, out.String())
	}
	want := map[string]float64{}
	for _, f := range cli.Features {
		want[f.Feature] = f.PSI
	}
	if len(view.Features) != len(want) || len(want) != 5 {
		t.Fatalf("merged window has %d features, driftd drift %d; want 5 each", len(view.Features), len(want))
	}
	for _, f := range view.Features {
		w, ok := want[f.Feature]
		if !ok || math.Abs(f.PSI-w) > 1e-9 {
			t.Errorf("feature %s: merged PSI %.12f, driftd drift %.12f", f.Feature, f.PSI, w)
		}
		t.Logf("%s: merged PSI %.6f (%s), driftd drift %.6f", f.Feature, f.PSI, f.Test, w)
	}

	// Labels: every record's, to the labels topic; the primary joins all
	// of them, the worker's records too.
	labels := readLabels(t, cur)
	cl, err := stream.NewClient(stream.Config{Brokers: b.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, len(labels))
	for id, label := range labels {
		recs = append(recs, &kgo.Record{Topic: "labels", Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"label":%q}`, id, label)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pollFor(t, 60*time.Second, "every label joined on the primary", func() bool {
		return scrape(t, pBase, `driftd_labels_joined_total{topic="labels"}`) >= rows
	})
	if n := scrape(t, pBase, `driftd_labels_unmatched_total{topic="labels"}`); n != 0 {
		t.Errorf("%.0f labels unmatched", n)
	}
}

// startInProcess starts an App with env and clock; it is closed at test end.
func startInProcess(t *testing.T, env map[string]string, clock *fakeClock) *server.App {
	t.Helper()
	cfg, err := server.LoadConfig(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a := server.New(cfg, server.Options{Logger: logger, Now: clock.Now})
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("start %s: %v", cfg.Role, err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Close(cctx); err != nil {
			t.Errorf("close %s: %v", cfg.Role, err)
		}
	})
	return a
}

// apiCall sends a request with the API token and checks the status.
func apiCall(t *testing.T, base, token, method, path, contentType string, body []byte, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return b
}

// scrape reads one series from base's /metrics (0 when absent).
func scrape(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// pollFor polls cond until it holds, failing the test after within.
func pollFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readLabels returns the id → label of a CSV written by driftd gen.
func readLabels(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head := strings.Split(lines[0], ",")
	idCol, labelCol := -1, -1
	for i, h := range head {
		switch h {
		case "id":
			idCol = i
		case "label":
			labelCol = i
		}
	}
	if idCol < 0 || labelCol < 0 {
		t.Fatalf("%s: no id or label column in %q", path, lines[0])
	}
	out := make(map[string]string, len(lines)-1)
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		out[f[idCol]] = f[labelCol]
	}
	return out
}
