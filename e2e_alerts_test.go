package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"driftd/dashboards"
)

// amAlert is one alert of an Alertmanager webhook notification.
type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// amNotification is the body Alertmanager posts to a webhook receiver, with
// the path it was posted to.
type amNotification struct {
	Path     string    `json:"-"`
	Receiver string    `json:"receiver"`
	Status   string    `json:"status"`
	Alerts   []amAlert `json:"alerts"`
}

// alertSink is the test's webhook receiver: it keeps every notification and
// wakes waiters when one arrives.
type alertSink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []amNotification
	arrived chan struct{} // closed and replaced on every notification
}

func newAlertSink(tb testing.TB) *alertSink {
	tb.Helper()
	s := &alertSink{arrived: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n amNotification
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.Path = r.URL.Path
		s.mu.Lock()
		s.got = append(s.got, n)
		close(s.arrived)
		s.arrived = make(chan struct{})
		s.mu.Unlock()
	}))
	tb.Cleanup(s.srv.Close)
	return s
}

// alerts returns every (notification, alert) pair received so far.
func (s *alertSink) alerts() (ns []amNotification, wake <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]amNotification(nil), s.got...), s.arrived
}

// waitAlert waits until a notification (the from-th or a later one) carries
// an alert that match accepts, and returns both; it fails the test after d.
func (s *alertSink) waitAlert(tb testing.TB, what string, from int, d time.Duration, match func(amAlert) bool) (amNotification, amAlert) {
	tb.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		ns, wake := s.alerts()
		for _, n := range ns[min(from, len(ns)):] {
			for _, a := range n.Alerts {
				if match(a) {
					return n, a
				}
			}
		}
		select {
		case <-wake:
		case <-deadline.C:
			tb.Fatalf("no notification with %s within %s; received:\n%s", what, d, s.describe())
		}
	}
}

// describe lists what arrived, for failure messages.
func (s *alertSink) describe() string {
	ns, _ := s.alerts()
	var b strings.Builder
	for _, n := range ns {
		for _, a := range n.Alerts {
			fmt.Fprintf(&b, "  %s %s %s %s feature=%s\n", n.Path, n.Receiver, a.Status, a.Labels["alertname"], a.Labels["feature"])
		}
	}
	return b.String()
}

// isAlert matches an alert by name, status and feature of drift-model.
func isAlert(name, status, feature string) func(amAlert) bool {
	return func(a amAlert) bool {
		return a.Labels["alertname"] == name && a.Status == status && a.Labels["model"] == "drift-model" && a.Labels["feature"] == feature
	}
}

// testSizedRules rewrites every `for: Nm` of the bundled rules to N×200ms,
// keeping their ratios (a 30m alert waits twice as long as a 15m one).
func testSizedRules(tb testing.TB, src string) string {
	tb.Helper()
	re := regexp.MustCompile(`(?m)^(\s+for: )(\d+)m$`)
	n := 0
	out := re.ReplaceAllStringFunc(src, func(m string) string {
		sub := re.FindStringSubmatch(m)
		mins, _ := strconv.Atoi(sub[2])
		n++
		return fmt.Sprintf("%s%dms", sub[1], mins*200)
	})
	if n == 0 || strings.Contains(out, "for: 1h") {
		tb.Fatalf("rewrote %d for: durations; the rules use a form the test does not know", n)
	}
	return out
}

// testAlertmanagerConfig points the bundled routes at sink and shortens their
// timings: a second to group, two seconds to repeat.
func testAlertmanagerConfig(tb testing.TB, src, sink string) string {
	tb.Helper()
	const placeholder = "http://alert-sink.example.internal"
	if strings.Count(src, placeholder) != 2 {
		tb.Fatalf("alertmanager.yml has %d webhook URLs, the test expects 2 (team, on-call)", strings.Count(src, placeholder))
	}
	out := strings.ReplaceAll(src, placeholder, sink)
	re := regexp.MustCompile(`(?m)^(\s+)(group_wait|group_interval|repeat_interval): \S+$`)
	if len(re.FindAllString(out, -1)) < 3 {
		tb.Fatalf("alertmanager.yml lacks group_wait, group_interval or repeat_interval")
	}
	return re.ReplaceAllStringFunc(out, func(m string) string {
		sub := re.FindStringSubmatch(m)
		d := "1s"
		if sub[2] == "repeat_interval" {
			d = "2s"
		}
		return sub[1] + sub[2] + ": " + d
	})
}

// startAlertmanager runs Debian's Alertmanager with cfg on a free port,
// without clustering, and waits until it is ready.
func startAlertmanager(tb testing.TB, bin, dir, cfg string) (base string) {
	tb.Helper()
	cfgFile := filepath.Join(dir, "alertmanager-test.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	addr := freePort(tb)
	logPath := filepath.Join(dir, "alertmanager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			tb.Fatalf("alertmanager not ready within 30s:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// amActiveAlert is an alert as Alertmanager's API lists it.
type amActiveAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// amAlerts lists Alertmanager's alerts named name (inhibited ones included).
func amAlerts(tb testing.TB, base, name string) []amActiveAlert {
	tb.Helper()
	q := url.Values{"filter": {`alertname="` + name + `"`}}
	resp, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out []amActiveAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestE2EDriftAlertReachesWebhookThroughAlertmanager runs driftd with a
// deployed model, Debian's Prometheus scraping it with the bundled rules
// (test-sized `for:`), and Debian's Alertmanager with the bundled routes and
// inhibitions sending to the test's webhook. A major shift of f0 and a
// moderate one of f1 must reach the webhook as DriftdFeatureDriftMajor for f0
// (with model, feature and runbook) and DriftdFeatureDriftModerate for f1
// only: f0's moderate alert is inhibited by its major one. When the stream
// is clean again, the major alert resolves.
func TestE2EDriftAlertReachesWebhookThroughAlertmanager(t *testing.T) {
	prom := requireTool(t, "prometheus")
	amBin := requireTool(t, "prometheus-alertmanager")
	dir := t.TempDir()
	model := trainModel(t, dir, 3000)
	kafka := freePort(t)
	s := startServer(t, filepath.Join(dir, "data"), kafka, "DRIFTD_RETRAIN=off")
	s.waitScoring(t, s.registerAndDeploy(t, "drift-model", model), 30*time.Second)

	rules, err := dashboards.Rules()
	if err != nil {
		t.Fatal(err)
	}
	runbook := ""
	for _, r := range rules {
		if r.Alert == "DriftdFeatureDriftMajor" {
			runbook = r.Annotations["runbook"]
		}
	}
	if runbook == "" {
		t.Fatal("alerts.yml has no DriftdFeatureDriftMajor with a runbook")
	}

	cfgDir := t.TempDir()
	if _, err := dashboards.Export(cfgDir); err != nil {
		t.Fatal(err)
	}
	sink := newAlertSink(t)
	amSrc, err := os.ReadFile(filepath.Join(cfgDir, "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	amBase := startAlertmanager(t, amBin, cfgDir, testAlertmanagerConfig(t, string(amSrc), sink.srv.URL))

	rulesSrc, err := os.ReadFile(filepath.Join(cfgDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(cfgDir, "alerts-test.yml")
	if err := os.WriteFile(rulesFile, []byte(testSizedRules(t, string(rulesSrc))), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: driftd
    static_configs:
      - targets: [%q]
`, rulesFile, strings.TrimPrefix(amBase, "http://"), strings.TrimPrefix(s.base, "http://"))
	promBase, promLog := startPrometheus(t, prom, cfgDir, cfg, "--rules.alert.resend-delay=1s")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, n, _ := promQuery(t, promBase, `up{job="driftd"} == 1`); st == "success" && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(promLog)
			t.Fatalf("prometheus did not scrape driftd:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Drift: f0 shifts by two standard deviations (PSI far above 0.25), f1
	// by 0.35 (PSI about 0.15: moderate).
	cur := filepath.Join(dir, "drifted.csv")
	mustRun(t, "gen", "--rows", "3000", "--seed", "5", "--out", cur)
	mustRun(t, "produce", "--data", cur, "--brokers", kafka, "--drift", "f0:shift=2,f1:shift=0.35")

	n, major := sink.waitAlert(t, "DriftdFeatureDriftMajor firing for f0", 0, 90*time.Second, isAlert("DriftdFeatureDriftMajor", "firing", "f0"))
	if major.Annotations["runbook"] != runbook || !strings.Contains(major.Annotations["summary"], "f0") ||
		major.Labels["severity"] != "ticket" || n.Receiver != "team" || n.Path != "/driftd/team" {
		t.Errorf("major drift notification: receiver %q at %s, labels %v, annotations %v; want the team receiver and runbook %q",
			n.Receiver, n.Path, major.Labels, major.Annotations, runbook)
	}
	// f1's moderate alert is not inhibited (another feature) and arrives; the
	// notification of that group does not carry f0's, which is inhibited.
	n, _ = sink.waitAlert(t, "DriftdFeatureDriftModerate firing for f1", 0, 60*time.Second, isAlert("DriftdFeatureDriftModerate", "firing", "f1"))
	for _, a := range n.Alerts {
		if a.Labels["feature"] == "f0" {
			t.Errorf("the moderate-drift notification carries f0, whose major alert should inhibit it: %+v", n)
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		inhibited, f1Active := false, false
		for _, a := range amAlerts(t, amBase, "DriftdFeatureDriftModerate") {
			switch a.Labels["feature"] {
			case "f0":
				inhibited = a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0
			case "f1":
				f1Active = a.Status.State == "active"
			}
		}
		if inhibited && f1Active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager does not show f0's moderate alert inhibited and f1's active: %+v", amAlerts(t, amBase, "DriftdFeatureDriftModerate"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Repeats come every 2s: wait for one more notification of the moderate
	// group, then check that none ever carried f0 while its major alert fired.
	ns, _ := sink.alerts()
	seen := len(ns)
	sink.waitAlert(t, "a repeated moderate notification", seen, 30*time.Second, isAlert("DriftdFeatureDriftModerate", "firing", "f1"))
	ns, _ = sink.alerts()
	for _, n := range ns {
		for _, a := range n.Alerts {
			if isAlert("DriftdFeatureDriftModerate", "firing", "f0")(a) {
				t.Errorf("f0's moderate alert reached the webhook while its major alert fired: %+v", n)
			}
		}
	}

	// The drift stops: a clean stream replaces the window, and the major alert resolves.
	clean := filepath.Join(dir, "clean.csv")
	mustRun(t, "gen", "--rows", "3000", "--seed", "8", "--out", clean)
	mustRun(t, "produce", "--data", clean, "--brokers", kafka)
	n, resolved := sink.waitAlert(t, "DriftdFeatureDriftMajor resolved for f0", 0, 90*time.Second, isAlert("DriftdFeatureDriftMajor", "resolved", "f0"))
	if resolved.Annotations["runbook"] != runbook || n.Receiver != "team" {
		t.Errorf("resolved notification: receiver %q, annotations %v", n.Receiver, resolved.Annotations)
	}
	if st, vals, _ := promValues(t, promBase, `driftd_feature_psi{feature="f0"}`); st != "success" || len(vals) != 1 {
		t.Errorf("f0's PSI after the clean stream: %s %v", st, vals)
	} else if psi, _ := strconv.ParseFloat(vals[0], 64); psi >= 0.25 {
		t.Errorf("f0's PSI after the clean stream is %v, yet the alert resolved", psi)
	}
}
