package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"driftd/web"
)

// mustRules returns the rules of the bundled alerts.yml.
func mustRules(tb testing.TB) []Rule {
	tb.Helper()
	rules, err := Rules()
	if err != nil {
		tb.Fatal(err)
	}
	return rules
}

func TestParseRules(t *testing.T) {
	cases := []struct {
		name    string
		src     string
		want    []Rule
		wantErr string
	}{
		{
			name: "inline, literal and folded expressions",
			src: `groups:
  - name: g
    rules:
      - record: a:b:c
        expr: sum(x)
      - alert: Block
        expr: |
          up == 0
            and on (instance)
          y > 1

        for: 5m
        labels: {severity: page, team: "ml"}
        annotations:
          summary: "a \"quoted\" {{ $value }}"
          runbook: 'it''s here'
      - alert: Folded
        expr: >-
          a
          > 1
        labels:
          severity: info
`,
			want: []Rule{
				{Group: "g", Record: "a:b:c", Expr: "sum(x)"},
				{Group: "g", Alert: "Block", Expr: "up == 0\n  and on (instance)\ny > 1", For: "5m",
					Labels:      map[string]string{"severity": "page", "team": "ml"},
					Annotations: map[string]string{"summary": `a "quoted" {{ $value }}`, "runbook": "it's here"}},
				{Group: "g", Alert: "Folded", Expr: "a > 1", Labels: map[string]string{"severity": "info"}},
			},
		},
		{name: "unknown key", src: "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x\n        exprr: y\n", wantErr: `unknown rule key "exprr"`},
		{name: "rule without expr", src: "groups:\n  - name: g\n    rules:\n      - alert: A\n        for: 1m\n", wantErr: "has no expr"},
		{name: "rule outside a group", src: "groups:\n      - alert: A\n        expr: x\n", wantErr: "outside a group"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseRules(c.src)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d rules, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				g := got[i]
				if g.Group != w.Group || g.Alert != w.Alert || g.Record != w.Record || g.Expr != w.Expr || g.For != w.For {
					t.Errorf("rule %d = %+v\nwant %+v", i, g, w)
				}
				for k, v := range w.Labels {
					if g.Labels[k] != v {
						t.Errorf("rule %d label %s = %q, want %q", i, k, g.Labels[k], v)
					}
				}
				for k, v := range w.Annotations {
					if g.Annotations[k] != v {
						t.Errorf("rule %d annotation %s = %q, want %q", i, k, g.Annotations[k], v)
					}
				}
			}
		})
	}
}

func TestParseAlertTests(t *testing.T) {
	src := `tests:
  - interval: 1m
    input_series:
      - series: 'up'
        values: '1'
    alert_rule_test:
      - eval_time: 3m
        alertname: A
        exp_alerts: []
      - alertname: A
        eval_time: 5m
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations:
              summary: "x"
    promql_expr_test:
      - expr: up
        eval_time: 1m
        exp_samples: []
  - interval: 1m
    alert_rule_test:
      - eval_time: 1m
        alertname: B
        exp_alerts:
          - exp_labels: {a: b}
`
	got, err := parseAlertTests(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []AlertTest{{"A", "3m", false}, {"A", "5m", true}, {"B", "1m", true}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := parseAlertTests("tests:\n  - alert_rule_test:\n      - alertname: A\n        exp_alerts: nope\n"); err == nil {
		t.Error("exp_alerts that is neither [] nor a list was accepted")
	}
}

// TestAlertRules reads alerts.yml itself: every alert is complete, names are
// unique, and every expr of the file, inline or block, was read.
func TestAlertRules(t *testing.T) {
	rules := mustRules(t)
	src, err := Files.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	// An independent count of the file's expr keys, whatever their form.
	exprs := regexp.MustCompile(`(?m)^\s+expr:`).FindAll(src, -1)
	blocks := regexp.MustCompile(`(?m)^\s+expr: [|>]`).FindAll(src, -1)
	if len(rules) != len(exprs) || len(blocks) == 0 {
		t.Fatalf("read %d rules from alerts.yml, which has %d expr keys (%d blocks)", len(rules), len(exprs), len(blocks))
	}
	seen := map[string]bool{}
	alerts := 0
	for _, r := range rules {
		if seen[r.Name()] {
			t.Errorf("rule %s defined twice", r.Name())
		}
		seen[r.Name()] = true
		if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
			t.Errorf("%s: unbalanced expression %q", r.Name(), r.Expr)
		}
		if r.Record != "" {
			if strings.Count(r.Record, ":") != 2 {
				t.Errorf("recording rule %s: want level:metric:operation", r.Record)
			}
			continue
		}
		alerts++
		if !strings.HasPrefix(r.Alert, "Driftd") {
			t.Errorf("alert %s: want the Driftd prefix (the inhibition rules match it)", r.Alert)
		}
		if s := r.Labels["severity"]; s != "page" && s != "ticket" && s != "info" {
			t.Errorf("alert %s: severity %q, want page, ticket or info", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s annotation", r.Alert, a)
			}
		}
	}
	if alerts == 0 || alerts == len(rules) {
		t.Errorf("%d alerts among %d rules: want both alerts and recording rules", alerts, len(rules))
	}
	for _, name := range []string{"DriftdFeatureDriftMajor", "DriftdFlowFailed", "DriftdFlowOverdue", "DriftdRetrainStorm",
		"DriftdMemoryNearLimit", "DriftdFileDescriptorsNearLimit", "DriftdDataDirSpaceLow", "DriftdNoRecords", "DriftdLabelFeedStopped"} {
		if !seen[name] {
			t.Errorf("alerts.yml lacks %s", name)
		}
	}
}

// TestEveryAlertHasFiringAndSilentUnitTest reads alerts_test.yml: each alert
// of alerts.yml has a promtool case where it fires and one where it stays
// silent, and no case names an alert that does not exist (promtool would
// pass `exp_alerts: []` for a misspelt name).
func TestEveryAlertHasFiringAndSilentUnitTest(t *testing.T) {
	tests, err := AlertTests()
	if err != nil {
		t.Fatal(err)
	}
	firing, silent := map[string]int{}, map[string]int{}
	for _, c := range tests {
		if c.Firing {
			firing[c.Alert]++
		} else {
			silent[c.Alert]++
		}
	}
	alerts := map[string]bool{}
	for _, r := range mustRules(t) {
		if r.Alert == "" {
			continue
		}
		alerts[r.Alert] = true
		if firing[r.Alert] == 0 {
			t.Errorf("%s has no promtool case where it fires", r.Alert)
		}
		if silent[r.Alert] == 0 {
			t.Errorf("%s has no promtool case where it stays silent", r.Alert)
		}
	}
	for _, c := range tests {
		if !alerts[c.Alert] {
			t.Errorf("alerts_test.yml tests %s at %s, which alerts.yml does not define", c.Alert, c.EvalTime)
		}
	}
}

func TestQueriesAndMetricNames(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	rules := mustRules(t)
	recorded := map[string]bool{}
	for _, r := range rules {
		if r.Record != "" {
			recorded[r.Record] = true
		}
	}
	// An independent count of the dashboards' targets.
	files, err := filepath.Glob("grafana/*.json")
	if err != nil {
		t.Fatal(err)
	}
	targets := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		targets += strings.Count(string(b), `"expr":`)
	}
	ruleQueries, panelQueries := 0, 0
	for _, q := range qs {
		if strings.TrimSpace(q.Expr) == "" {
			t.Errorf("%s: empty expression", q.Source)
		}
		if strings.HasPrefix(q.Source, "alerts.yml") {
			ruleQueries++
		} else {
			panelQueries++
		}
		for _, name := range RecordedNames(q.Expr) {
			if !recorded[name] {
				t.Errorf("%s uses %s, which no recording rule defines", q.Source, name)
			}
		}
	}
	if ruleQueries != len(rules) || panelQueries != targets || len(files) < 3 {
		t.Errorf("found %d rule and %d panel queries in %d dashboards, want %d and %d", ruleQueries, panelQueries, len(files), len(rules), targets)
	}
	names, err := MetricNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"driftd_feature_psi", "driftd_end_to_end_latency_seconds", "driftd_consumer_lag_records",
		"driftd_data_dir_free_bytes", "driftd_memory_limit_bytes", "process_open_fds", "driftd_flow_last_run_failed",
		"driftd_retrains_total", "driftd_model_labels_total", "go_gc_duration_seconds"} {
		if !slices.Contains(names, want) {
			t.Errorf("MetricNames lacks %s: %v", want, names)
		}
	}
	for _, n := range names {
		if strings.HasSuffix(n, "_bucket") || strings.Contains(n, ":") {
			t.Errorf("MetricNames has %s: histogram suffix or recorded series", n)
		}
		if strings.HasPrefix(n, "driftd_memory_usage") || strings.HasPrefix(n, "driftd_records_consumed") && n != "driftd_records_consumed_total" {
			t.Errorf("MetricNames took part of a recording rule's name: %s", n)
		}
	}
}

// TestDashboards checks the three dashboards: unique uids, the driftd_url
// variable, and a link on every panel to the UI page that explains it.
func TestDashboards(t *testing.T) {
	ds, err := Dashboards()
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]bool{}
	for _, s := range web.Sections() {
		pages[s.Path] = true
	}
	uids := map[string]bool{}
	var system *Dashboard
	for i, d := range ds {
		if d.UID == "" || uids[d.UID] {
			t.Errorf("%s: uid %q missing or taken", d.File, d.UID)
		}
		uids[d.UID] = true
		if d.UID == "driftd-system" {
			system = &ds[i]
		}
		hasURL := false
		for _, v := range d.Templating.List {
			hasURL = hasURL || v.Name == "driftd_url" && strings.HasPrefix(v.Query, "http")
		}
		if !hasURL {
			t.Errorf("%s: no driftd_url variable for the panel links", d.File)
		}
		for _, p := range d.Panels {
			if len(p.Links) == 0 {
				t.Errorf("%s: panel %q links to no driftd page", d.File, p.Title)
			}
			for _, l := range p.Links {
				path, ok := strings.CutPrefix(l.URL, "${driftd_url}")
				if !ok || !pages[path] || l.Title == "" {
					t.Errorf("%s: panel %q links to %q (%q), not a driftd UI page", d.File, p.Title, l.URL, l.Title)
				}
			}
		}
	}
	if system == nil {
		t.Fatal("no dashboard with uid driftd-system")
	}
	var exprs []string
	links := map[string]string{}
	for _, p := range system.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
		if len(p.Links) > 0 {
			links[p.Title] = strings.TrimPrefix(p.Links[0].URL, "${driftd_url}")
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{"driftd_flow_runs", "driftd_flow_run_duration_seconds", "driftd_retrains", "driftd_flow_next_fire_timestamp_seconds",
		"driftd_scheduler_queue_depth", "go_goroutines", "go_gc_duration_seconds", "go_memstats_heap_inuse_bytes", "process_cpu_seconds_total",
		"process_resident_memory_bytes", "process_open_fds", "driftd_data_dir_bytes", "driftd_data_dir_free_bytes"} {
		if !strings.Contains(all, want) {
			t.Errorf("the system dashboard does not show %s", want)
		}
	}
	for title, want := range map[string]string{"Flow runs per hour by state": "/pipeline", "Next scheduled fire": "/schedules", "Retrain outcomes per hour": "/drift"} {
		if links[title] != want {
			t.Errorf("system panel %q links to %q, want %q", title, links[title], want)
		}
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	files, err := Export(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alerts.yml", "alerts_test.yml", "prometheus.yml", "alertmanager.yml", "docker-compose.yml", "docker-compose.kafka.yml",
		"grafana/driftd-drift.json", "grafana/driftd-overview.json", "grafana/driftd-system.json", "grafana/provisioning/dashboards/driftd.yml"} {
		b, err := os.ReadFile(filepath.Join(dir, want))
		if err != nil || len(b) == 0 {
			t.Errorf("export lacks %s: %v", want, err)
		}
		if !slices.Contains(files, filepath.Join(dir, filepath.FromSlash(want))) {
			t.Errorf("Export did not report %s", want)
		}
	}
	// Grafana's provisioning reads dashboards where compose mounts grafana/.
	prov, _ := os.ReadFile(filepath.Join(dir, "grafana/provisioning/dashboards/driftd.yml"))
	compose, _ := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	m := regexp.MustCompile(`path: (\S+)`).FindSubmatch(prov)
	if m == nil || !strings.Contains(string(compose), "./grafana:"+string(m[1])) {
		t.Errorf("provisioning path %q is not where docker-compose.yml mounts grafana/", m)
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
// exported files. promtool's rule count must match what Rules reads.
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
		if c[2] == "rules" && c[1] == "check" {
			m := regexp.MustCompile(`SUCCESS: (\d+) rules found`).FindSubmatch(out)
			if m == nil {
				t.Errorf("promtool check rules printed no rule count:\n%s", out)
			} else if n, _ := strconv.Atoi(string(m[1])); n != len(mustRules(t)) {
				t.Errorf("promtool found %d rules, Rules read %d", n, len(mustRules(t)))
			}
		}
	}
}

// TestDockerComposeConfig validates both compose files with Debian's
// docker-compose, and that the Kafka file points driftd at the KRaft broker.
func TestDockerComposeConfig(t *testing.T) {
	compose := requireTool(t, "docker-compose")
	dir := t.TempDir()
	if _, err := Export(dir); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		cmd := exec.Command(compose, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("-f", "docker-compose.yml", "config", "-q")
	run("-f", "docker-compose.yml", "-f", "docker-compose.kafka.yml", "config", "-q")
	merged := run("-f", "docker-compose.yml", "-f", "docker-compose.kafka.yml", "config")
	for _, want := range []string{"image: apache/kafka:", "KAFKA_PROCESS_ROLES: broker,controller", "KAFKA_BOOTSTRAP_SERVERS: kafka:9092",
		"condition: service_healthy", "prom/prometheus:", "prom/alertmanager:", "grafana/grafana:"} {
		if !strings.Contains(merged, want) {
			t.Errorf("merged compose config lacks %q:\n%s", want, merged)
		}
	}
	if base := run("-f", "docker-compose.yml", "config"); strings.Contains(base, "kafka:9092") {
		t.Errorf("the base compose file already uses an external Kafka:\n%s", base)
	}
}

// TestDockerfileHealthcheck checks that the image's HEALTHCHECK runs
// `driftd healthcheck` on the port the image exposes and compose publishes.
func TestDockerfileHealthcheck(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.ReplaceAll(string(b), "\\\n", " ")
	hc := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["/usr/local/bin/driftd", "healthcheck", "--addr", "127\.0\.0\.1:(\d+)"\]`).FindStringSubmatch(src)
	expose := regexp.MustCompile(`(?m)^EXPOSE (\d+)`).FindStringSubmatch(src)
	if hc == nil || expose == nil || hc[1] != expose[1] || !strings.Contains(src, "DRIFTD_ADDR=:"+expose[1]) {
		t.Fatalf("Dockerfile: HEALTHCHECK %q, EXPOSE %q: want driftd healthcheck on the exposed port", hc, expose)
	}
	compose, err := Files.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), `"8080:`+expose[1]+`"`) {
		t.Errorf("docker-compose.yml does not publish the image's port %s", expose[1])
	}
}
