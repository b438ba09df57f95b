package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"driftd/dashboards"
)

// promQuery runs an instant query against a Prometheus server.
func promQuery(tb testing.TB, base, expr string) (status string, results int, errMsg string) {
	tb.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return "unreachable", 0, err.Error() // still starting: callers poll
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		tb.Fatalf("prometheus answered %s", b)
	}
	return body.Status, len(body.Data.Result), body.Error
}

// TestE2EPrometheusScrapesEveryDashboardMetric runs driftd with a deployed
// model and a drifted stream, checks that every metric the bundled dashboards
// and alerts use is exported, then has Debian's Prometheus scrape driftd, load
// the alert rules and evaluate every dashboard and alert query.
func TestE2EPrometheusScrapesEveryDashboardMetric(t *testing.T) {
	prom := requireTool(t, "prometheus")
	s, dir, kafka := startScoringServer(t)
	cur := filepath.Join(dir, "cur.csv")
	mustRun(t, "gen", "--rows", "3000", "--seed", "5", "--out", cur)
	mustRun(t, "produce", "--data", cur, "--brokers", kafka, "--drift", "f0:shift=2")
	if status, b := s.call(t, http.MethodPost, "/api/v1/kafka/topics/labels/messages", "application/json", []byte(`{"key":"row-1","value":{"id":"row-1","label":"1"}}`)); status != http.StatusCreated {
		t.Fatalf("produce label: %d %s", status, b)
	}

	names, err := dashboards.MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var missing []string
	for {
		resp, err := http.Get(s.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing = missing[:0]
		for _, n := range names {
			if !regexp.MustCompile(`(?m)^` + n + `(_bucket|_sum|_count)?[{ ]`).Match(b) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("metrics used by dashboards or alerts but not exported: %v", missing)
	}

	// Debian's Prometheus scrapes driftd every second with the bundled rules.
	cfgDir := t.TempDir()
	if _, err := dashboards.Export(cfgDir); err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(s.base, "http://")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %s\nscrape_configs:\n  - job_name: driftd\n    static_configs:\n      - targets: [%q]\n",
		filepath.Join(cfgDir, "alerts.yml"), target)
	cfgFile := filepath.Join(cfgDir, "prometheus-test.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	cmd := exec.Command(prom, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(cfgDir, "tsdb"),
		"--web.listen-address="+promAddr)
	logFile, err := os.Create(filepath.Join(cfgDir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + promAddr

	// Wait until at least three scrapes are in, so rate() over [1m] has data.
	deadline = time.Now().Add(60 * time.Second)
	for {
		st, n, _ := promQuery(t, base, `count_over_time(up{job="driftd"}[1m]) >= 3`)
		if st == "success" && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(cfgDir, "prometheus.log"))
			t.Fatalf("prometheus did not scrape driftd three times:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer(`"$instance"`, `".*"`, `"$model"`, `".*"`)
	for _, q := range qs {
		expr := vars.Replace(q.Expr)
		st, _, msg := promQuery(t, base, expr)
		if st != "success" {
			t.Errorf("%s: %s: %s", q.Source, expr, msg)
		}
	}
	for _, expr := range []string{
		`driftd_feature_psi{model="drift-model",feature="f0"} > 0.25`,
		`histogram_quantile(0.99, sum by (le) (rate(driftd_http_request_duration_seconds_bucket[1m])))`,
		`driftd_build_info`,
	} {
		if st, n, msg := promQuery(t, base, expr); st != "success" || n == 0 {
			t.Errorf("%s: status %s, %d results %s", expr, st, n, msg)
		}
	}
	// The rules loaded and evaluate without errors.
	resp, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rules struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rules); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			count++
			if r.Health != "ok" && r.Health != "unknown" {
				t.Errorf("rule %s/%s health %s", g.Name, r.Name, r.Health)
			}
		}
	}
	if count != 11 {
		t.Errorf("prometheus loaded %d rules, want 11", count)
	}
}
