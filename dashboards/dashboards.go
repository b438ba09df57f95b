// Package dashboards bundles driftd's monitoring files: Grafana dashboards and
// provisioning, the Prometheus configuration, alert rules with their promtool
// unit tests, the Alertmanager configuration and a docker-compose file for the
// whole stack. `driftd dashboards export DIR` writes them out.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Files holds every bundled file, by its path under dashboards/.
//
//go:embed alerts.yml alerts_test.yml prometheus.yml alertmanager.yml docker-compose.yml grafana
var Files embed.FS

// Export writes every bundled file under dir, keeping the layout, and returns
// the paths written. Existing files are overwritten.
func Export(dir string) ([]string, error) {
	var written []string
	err := fs.WalkDir(Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := Files.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("export %s: %w", path, err)
		}
		written = append(written, dst)
		return nil
	})
	return written, err
}

// Query is one PromQL expression used by a dashboard panel or an alert rule.
type Query struct {
	// Source names where it is used: "grafana/driftd-drift.json: PSI per feature".
	Source string
	Expr   string
}

// Queries returns every PromQL expression of the dashboards and alert rules.
func Queries() ([]Query, error) {
	var out []Query
	entries, err := fs.Glob(Files, "grafana/*.json")
	if err != nil {
		return nil, err
	}
	for _, name := range entries {
		b, err := Files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				out = append(out, Query{Source: name + ": " + p.Title, Expr: t.Expr})
			}
		}
	}
	b, err := Files.ReadFile("alerts.yml")
	if err != nil {
		return nil, err
	}
	// The rules file is plain enough to read its expr lines without a YAML parser.
	alert := ""
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if a, ok := strings.CutPrefix(t, "- alert: "); ok {
			alert = a
		}
		if e, ok := strings.CutPrefix(t, "expr: "); ok {
			out = append(out, Query{Source: "alerts.yml: " + alert, Expr: e})
		}
	}
	return out, nil
}

var metricRe = regexp.MustCompile(`\b(driftd_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+)`)

// MetricNames returns the driftd, Go and process metric names the queries use,
// with histogram suffixes (_bucket, _sum, _count) removed, sorted.
func MetricNames() ([]string, error) {
	qs, err := Queries()
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, q := range qs {
		for _, m := range metricRe.FindAllString(q.Expr, -1) {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				m = strings.TrimSuffix(m, suf)
			}
			set[m] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
