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
	"slices"
	"strings"
	"testing"
	"time"

	"driftd/dashboards"
)

// promQuery runs an instant query against a Prometheus server.
func promQuery(tb testing.TB, base, expr string) (status string, results int, errMsg string) {
	tb.Helper()
	status, values, errMsg := promValues(tb, base, expr)
	return status, len(values), errMsg
}

// promValues runs an instant query and returns the value of each sample
// ("NaN" included).
func promValues(tb testing.TB, base, expr string) (status string, values []string, errMsg string) {
	tb.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return "unreachable", nil, err.Error() // still starting: callers poll
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		if resp.StatusCode == http.StatusServiceUnavailable {
			return "unavailable", nil, string(b) // not ready yet: callers poll
		}
		tb.Fatalf("prometheus answered %d %s", resp.StatusCode, b)
	}
	for _, r := range body.Data.Result {
		v, _ := r.Value[1].(string)
		values = append(values, v)
	}
	return body.Status, values, body.Error
}

// startPrometheus runs Debian's Prometheus on a free port with cfg (a
// prometheus.yml) written into dir, and returns its base URL and log path.
// extra are further flags.
func startPrometheus(tb testing.TB, prom, dir, cfg string, extra ...string) (base, logPath string) {
	tb.Helper()
	cfgFile := filepath.Join(dir, "prometheus-test.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	addr := freePort(tb)
	args := append([]string{"--config.file=" + cfgFile, "--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--web.listen-address=" + addr}, extra...)
	cmd := exec.Command(prom, args...)
	logPath = filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { logFile.Close() })
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return "http://" + addr, logPath
}

// TestE2EPrometheusScrapesEveryDashboardMetric runs driftd with a deployed
// model and a drifted stream, checks that every metric the bundled dashboards
// and alerts use is exported, then has Debian's Prometheus scrape driftd, load
// the alert and recording rules (exactly those of alerts.yml) and evaluate
// every dashboard and rule query; every query of the pipeline and system
// dashboard must return a number, after a schedule and a flow run.
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

	// A schedule, so the pipeline panels have next fires and expected
	// intervals to show (a flow run follows once Prometheus scrapes).
	body := `{"name":"hourly-check","flow":"drift-check","every":"1h","params":{"live":true},"enabled":true}`
	if status, b := s.call(t, http.MethodPost, "/api/v1/schedules", "application/json", []byte(body)); status != http.StatusCreated {
		t.Fatalf("create schedule: %d %s", status, b)
	}

	// Debian's Prometheus scrapes driftd every second with the bundled rules.
	cfgDir := t.TempDir()
	if _, err := dashboards.Export(cfgDir); err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(s.base, "http://")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %s\nscrape_configs:\n  - job_name: driftd\n    static_configs:\n      - targets: [%q]\n",
		filepath.Join(cfgDir, "alerts.yml"), target)
	base, logPath := startPrometheus(t, prom, cfgDir, cfg)

	// Wait until at least three scrapes are in, so rate() over [1m] has data.
	deadline = time.Now().Add(60 * time.Second)
	for {
		st, n, _ := promQuery(t, base, `count_over_time(up{job="driftd"}[1m]) >= 3`)
		if st == "success" && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("prometheus did not scrape driftd three times:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A flow run that ends while Prometheus watches: its duration and state
	// show in rates and increases.
	status, b := s.call(t, http.MethodPost, "/api/v1/flows/drift-check/runs", "application/json", []byte(`{"params":{"live":true}}`))
	var run flowRun
	if status != http.StatusAccepted || json.Unmarshal(b, &run) != nil || run.ID == "" {
		t.Fatalf("start drift-check run: %d %s", status, b)
	}
	deadline = time.Now().Add(60 * time.Second)
	for r := s.getRun(t, run.ID); r.State != "completed"; r = s.getRun(t, run.ID) {
		if time.Now().After(deadline) || r.State == "failed" || r.State == "crashed" {
			t.Fatalf("drift-check run did not complete: %+v", r)
		}
		time.Sleep(50 * time.Millisecond)
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
	// Every query of the pipeline and system dashboard returns samples, at
	// least one of them a number (a quantile of no observations is NaN);
	// recording rules need an evaluation or two after the scrapes.
	for _, q := range qs {
		if !strings.HasPrefix(q.Source, "grafana/driftd-system.json") {
			continue
		}
		expr := vars.Replace(q.Expr)
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, values, msg := promValues(t, base, expr)
			if st == "success" && slices.ContainsFunc(values, func(v string) bool { return v != "NaN" }) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %s returns no data: status %s, values %v %s", q.Source, expr, st, values, msg)
				break
			}
			time.Sleep(200 * time.Millisecond)
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
	bundled, err := dashboards.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var loaded, want []string
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			loaded = append(loaded, g.Name+"/"+r.Name)
			if r.Health != "ok" && r.Health != "unknown" {
				t.Errorf("rule %s/%s health %s", g.Name, r.Name, r.Health)
			}
		}
	}
	for _, r := range bundled {
		want = append(want, r.Group+"/"+r.Name())
	}
	slices.Sort(loaded)
	slices.Sort(want)
	if !slices.Equal(loaded, want) {
		t.Errorf("prometheus loaded rules\n%v\nalerts.yml has\n%v", loaded, want)
	}
}
