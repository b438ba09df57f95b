package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"driftd/stream"
)

// TestBrowserClusterPages drives headless Chromium over a primary and a
// worker sharing an embedded broker: the Kafka page lists both live
// instances with their partitions, and the Drift page says its window is
// merged from two scoring processes; both fit 1400 px and 390 px without
// console errors.
func TestBrowserClusterPages(t *testing.T) {
	b := mustBrowser(t, 180*time.Second)
	ctx := context.Background()
	br, err := stream.NewBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", Partitions: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = br.Close(context.Background()) })
	brokers := br.Addrs()
	secrets, token := writeSecrets(t)
	extra := map[string]string{"DRIFTD_KAFKA_REPLICATION": "1", "DRIFT_WINDOW_SIZE": "400", "DRIFT_CHECK_INTERVAL": "50"}
	penv := clusterEnv(t, brokers, secrets, extra)
	penv["DRIFTD_CLUSTER"] = "true"
	primary := startClusterApp(t, penv)
	wenv := clusterEnv(t, brokers, secrets, extra)
	wenv["DRIFTD_ROLE"] = "worker"
	worker := startClusterApp(t, wenv)
	pBase, wBase := "http://"+primary.Addr(), "http://"+worker.Addr()
	mustRegisterModel(t, primary.store, "1.0.0", 1)
	if err := primary.store.Deploy(ctx, "drift-model", "1.0.0", "production", "cluster pages"); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 60*time.Second, "both instances hold partitions", func() bool {
		st := clusterStatus(t, pBase, token)
		held := 0
		for _, in := range st.Instances {
			if in.Version == "1.0.0" {
				held += len(in.Partitions)
			}
		}
		return len(st.Instances) == 2 && held == 6
	})
	if err := produceFeatures(ctx, t, stream.Config{Brokers: brokers}, "drift-data", 0, 2000); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 60*time.Second, "the worker scores", func() bool { return clusterMetric(t, wBase, scoredSeries) > 0 })
	pollUntil(t, 60*time.Second, "a drift check merged from both processes", func() bool {
		v, ok := primary.pipeline.Drift()
		return ok && v.Event.Processes == 2
	})

	b.signIn(pBase, "build-version")
	console := watchConsole(b)
	dir := screenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range []int64{1400, 390} {
		b.step("resize to "+itoa64(w), viewport(w))
		b.step("open the Kafka page at "+itoa64(w), chromedp.Navigate(pBase+"/kafka"), chromedp.WaitVisible(tid("instances")))
		if got := b.text(tid("instances")); !strings.Contains(got, "primary") || !strings.Contains(got, "worker") {
			t.Errorf("instances at %d px: %q, want the primary and the worker", w, got)
		}
		rows := b.text(tid("instances"))
		if strings.Count(rows, "1.0.0") != 2 {
			t.Errorf("instances at %d px: %q, want both scoring with 1.0.0", w, rows)
		}
		checkPageFits(b, "kafka (cluster) at "+itoa64(w)+" px", w)
		shot(b, dir, "cluster-kafka-"+itoa64(w))
		b.step("open the Drift page at "+itoa64(w), chromedp.Navigate(pBase+"/drift"), chromedp.WaitVisible(tid("merged-window")))
		if got := b.text(tid("merged-window")); !strings.Contains(got, "merged from 2 scoring processes") {
			t.Errorf("drift at %d px: %q, want it merged from 2 processes", w, got)
		}
		checkPageFits(b, "drift (cluster) at "+itoa64(w)+" px", w)
		shot(b, dir, "cluster-drift-"+itoa64(w))
		if errs := console.take(); len(errs) > 0 {
			t.Errorf("at %d px: console errors: %q", w, errs)
		}
	}
}

// clusterStatusView is the part of the primary's /api/v1/status the
// cluster tests read.
type clusterStatusView struct {
	Instances []struct {
		ID         string  `json:"id"`
		Role       string  `json:"role"`
		Version    string  `json:"version"`
		Partitions []int32 `json:"partitions"`
		Lag        int64   `json:"lag"`
	} `json:"instances"`
}

// clusterStatus reads the primary's status with the API token.
func clusterStatus(t *testing.T, base, token string) clusterStatusView {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v clusterStatusView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("status: %v: %s", err, body)
	}
	return v
}
