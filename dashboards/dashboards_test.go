package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestQueriesAndMetricNames(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	alerts, panels := 0, 0
	for _, q := range qs {
		if strings.TrimSpace(q.Expr) == "" {
			t.Errorf("%s: empty expression", q.Source)
		}
		if strings.HasPrefix(q.Source, "alerts.yml") {
			alerts++
		} else {
			panels++
		}
	}
	if alerts != 11 || panels < 25 {
		t.Errorf("found %d alert and %d panel queries, want 11 and at least 25", alerts, panels)
	}
	names, err := MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"driftd_feature_psi", "driftd_end_to_end_latency_seconds", "driftd_consumer_lag_records"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("MetricNames lacks %s: %v", want, names)
		}
	}
	for _, n := range names {
		if strings.HasSuffix(n, "_bucket") {
			t.Errorf("histogram suffix kept: %s", n)
		}
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	files, err := Export(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alerts.yml", "prometheus.yml", "grafana/driftd-drift.json", "grafana/provisioning/dashboards/driftd.yml"} {
		b, err := os.ReadFile(filepath.Join(dir, want))
		if err != nil || len(b) == 0 {
			t.Errorf("export lacks %s: %v", want, err)
		}
	}
	if len(files) < 8 {
		t.Errorf("exported %d files", len(files))
	}
}

// requireTool finds an external tool; it skips without DRIFTD_INTEGRATION and
// fails with it when the tool is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if os.Getenv("DRIFTD_INTEGRATION") == "" {
		t.Skipf("needs %s: set DRIFTD_INTEGRATION=1", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("DRIFTD_INTEGRATION is set but %s is missing: %v", name, err)
	}
	return p
}

// TestPromtoolAndAmtool checks the rules, runs their unit tests, and checks
// the Prometheus and Alertmanager configurations with the real tools, on the
// exported files.
func TestPromtoolAndAmtool(t *testing.T) {
	promtool := requireTool(t, "promtool")
	amtool := requireTool(t, "amtool")
	dir := t.TempDir()
	if _, err := Export(dir); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		{promtool, "check", "rules", "alerts.yml"},
		{promtool, "test", "rules", "alerts_test.yml"},
		{promtool, "check", "config", "prometheus.yml"},
		{amtool, "check-config", "alertmanager.yml"},
	}
	for _, c := range cases {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("%s: %v\n%s", strings.Join(c[1:], " "), err, out)
		}
	}
}
