package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// scrape returns the App's /metrics page.
func (t *testApp) scrape(tb testing.TB) string {
	tb.Helper()
	status, b := t.do(tb, http.MethodGet, "/metrics", "", "", nil)
	if status != http.StatusOK {
		tb.Fatalf("/metrics: %d", status)
	}
	return string(b)
}

// metricValue returns the value of series on a /metrics page; it fails when absent.
func metricValue(tb testing.TB, page, series string) float64 {
	tb.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("/metrics lacks %s", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestCustomMetricsAPI(t *testing.T) {
	cfg := testConfig(t)
	cfg.CustomMetricsMaxSeries = 50 // DRIFTD_CUSTOM_METRICS_MAX_SERIES
	const maxCustomSeries = 50
	a := mustStartApp(t, cfg)
	body := `{"name":"drift","fields":{"psi_score":0.15},"labels":{"feature":"feature_1"}}`
	if status, b := a.do(t, http.MethodPost, "/api/v1/metrics", "", "application/json", strings.NewReader(body)); status != http.StatusUnauthorized {
		t.Fatalf("without the token: %d %s", status, b)
	}
	var resp customMetricsResponse
	a.apiJSON(t, http.MethodPost, "/api/v1/metrics", json.RawMessage(body), http.StatusOK, &resp)
	if resp != (customMetricsResponse{Recorded: 1, Series: 1, MaxSeries: maxCustomSeries}) {
		t.Errorf("response %+v", resp)
	}
	if v := metricValue(t, a.scrape(t), `driftd_custom_drift_psi_score{feature="feature_1"}`); v != 0.15 {
		t.Errorf("psi_score = %v", v)
	}

	var e apiError
	a.apiJSON(t, http.MethodPost, "/api/v1/metrics", json.RawMessage(`{"name":"drift","fields":{"psi score":1}}`), http.StatusBadRequest, &e)
	if e.Field != "[0].fields.psi score" {
		t.Errorf("400 names field %q: %s", e.Field, e.Error)
	}

	// Fill the bound in one call, then one more new series is refused with
	// 429 and nothing already recorded is lost; updates still pass.
	var batch bytes.Buffer
	batch.WriteString("[")
	for i := range maxCustomSeries - 1 {
		if i > 0 {
			batch.WriteString(",")
		}
		fmt.Fprintf(&batch, `{"name":"load","type":"counter","fields":{"requests":1},"labels":{"shard":"%d"}}`, i)
	}
	batch.WriteString("]")
	a.apiJSON(t, http.MethodPost, "/api/v1/metrics", json.RawMessage(batch.Bytes()), http.StatusOK, &resp)
	if resp.Series != maxCustomSeries {
		t.Fatalf("series after the batch = %d", resp.Series)
	}
	a.apiJSON(t, http.MethodPost, "/api/v1/metrics", json.RawMessage(`{"name":"drift","fields":{"psi_score":0.2},"labels":{"feature":"feature_2"}}`), http.StatusTooManyRequests, &e)
	if !strings.Contains(e.Error, "at most 50") {
		t.Errorf("429 message: %s", e.Error)
	}
	a.apiJSON(t, http.MethodPost, "/api/v1/metrics", json.RawMessage(`{"name":"load","type":"counter","fields":{"requests":2},"labels":{"shard":"7"}}`), http.StatusOK, nil)
	page := a.scrape(t)
	if v := metricValue(t, page, `driftd_custom_drift_psi_score{feature="feature_1"}`); v != 0.15 {
		t.Errorf("psi_score after the 429 = %v", v)
	}
	if v := metricValue(t, page, `driftd_custom_load_requests{shard="7"}`); v != 3 {
		t.Errorf("counter shard 7 = %v, want 3", v)
	}
	if strings.Contains(page, `feature="feature_2"`) {
		t.Error("the refused series is exported")
	}
	if n := strings.Count(page, "\n"+customPrefix); n != maxCustomSeries {
		t.Errorf("%d custom series exported, want %d", n, maxCustomSeries)
	}
}

func TestSystemMetricsExported(t *testing.T) {
	cfg := testConfig(t)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "ballast"), bytes.Repeat([]byte{1}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	a := mustStartApp(t, cfg)
	page := a.scrape(t)
	size := metricValue(t, page, "driftd_data_dir_bytes")
	free := metricValue(t, page, "driftd_data_dir_free_bytes")
	total := metricValue(t, page, "driftd_data_dir_filesystem_bytes")
	limit := metricValue(t, page, "driftd_memory_limit_bytes")
	if size < 1<<20 || free <= 0 || total < free || limit <= 0 {
		t.Errorf("data dir %v bytes, free %v of %v; memory limit %v", size, free, total, limit)
	}
	rss := metricValue(t, page, "process_resident_memory_bytes")
	if rss > limit {
		t.Errorf("RSS %v above the memory limit %v", rss, limit)
	}
	for _, f := range a.engine.Flows() {
		for _, m := range []string{"driftd_flow_expected_interval_seconds", "driftd_flow_next_fire_timestamp_seconds", "driftd_flow_last_run_failed"} {
			metricValue(t, page, m+`{flow="`+f.Name+`"}`)
		}
	}
}

func TestSystemMetricsDirSizeBounded(t *testing.T) {
	dir := t.TempDir()
	for i := range 10 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), make([]byte, 10000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	all, truncated := dirSize(dir, 100)
	if truncated || all < 10*10000 {
		t.Errorf("dirSize = %d, truncated %v", all, truncated)
	}
	some, truncated := dirSize(dir, 5)
	if !truncated || some >= all {
		t.Errorf("bounded dirSize = %d of %d, truncated %v", some, all, truncated)
	}
	if n, _ := dirSize(filepath.Join(dir, "missing"), 10); n != 0 {
		t.Errorf("missing dir size %d", n)
	}
}

func TestSystemMetricsMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meminfo := write("meminfo", "MemTotal:       2048 kB\nMemFree:  1 kB\n")
	none := filepath.Join(dir, "none")
	cases := []struct {
		name   string
		files  memoryFiles
		want   int64
		reason string
	}{
		{"v2 limit", memoryFiles{write("v2", "1024\n"), none, meminfo}, 1024, "cgroup v2 limit below the machine"},
		{"v2 max", memoryFiles{write("v2max", "max\n"), none, meminfo}, 2048 * 1024, "no limit: the machine"},
		{"v1 limit", memoryFiles{none, write("v1", "1536\n"), meminfo}, 1536, "cgroup v1 limit"},
		{"v1 unlimited", memoryFiles{none, write("v1max", "9223372036854771712\n"), meminfo}, 2048 * 1024, "v1's no-limit value"},
		{"limit above the machine", memoryFiles{write("v2big", "4194304000\n"), none, meminfo}, 2048 * 1024, "the smaller"},
		{"nothing readable", memoryFiles{none, none, none}, 0, "unknown"},
	}
	for _, tc := range cases {
		if got := memoryLimit(tc.files); got != tc.want {
			t.Errorf("%s (%s): %d, want %d", tc.name, tc.reason, got, tc.want)
		}
	}
}
