// Package dashboards bundles driftd's monitoring files: Grafana dashboards and
// provisioning, the Prometheus configuration, alert rules with their promtool
// unit tests, the Alertmanager configuration and docker-compose files for the
// whole stack (with the embedded broker, or a real Kafka).
// `driftd dashboards export --dir DIR` writes them out.
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
//go:embed alerts.yml alerts_test.yml prometheus.yml alertmanager.yml docker-compose.yml docker-compose.kafka.yml grafana
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

// Query is one PromQL expression used by a dashboard panel or a rule.
type Query struct {
	// Source names where it is used: "grafana/driftd-drift.json: PSI per feature"
	// or "alerts.yml: DriftdDown".
	Source string
	Expr   string
}

// Panel is one Grafana panel of a bundled dashboard, rows flattened.
type Panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Links []struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"links"`
	Panels []Panel `json:"panels"` // of a row
}

// Dashboard is the part of a bundled Grafana dashboard the tests and the
// query list read.
type Dashboard struct {
	File       string  `json:"-"`
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"-"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Dashboards returns every bundled Grafana dashboard, by file name, with the
// panels of rows listed after their row.
func Dashboards() ([]Dashboard, error) {
	entries, err := fs.Glob(Files, "grafana/*.json")
	if err != nil {
		return nil, err
	}
	var out []Dashboard
	for _, name := range entries {
		b, err := Files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d struct {
			Dashboard
			Panels []Panel `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		d.Dashboard.File = name
		var flat func(ps []Panel)
		flat = func(ps []Panel) {
			for _, p := range ps {
				d.Dashboard.Panels = append(d.Dashboard.Panels, p)
				flat(p.Panels)
			}
		}
		flat(d.Panels)
		out = append(out, d.Dashboard)
	}
	return out, nil
}

// Queries returns every PromQL expression of the dashboards and of the
// alerting and recording rules.
func Queries() ([]Query, error) {
	ds, err := Dashboards()
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, d := range ds {
		for _, p := range d.Panels {
			for _, t := range p.Targets {
				out = append(out, Query{Source: d.File + ": " + p.Title, Expr: t.Expr})
			}
		}
	}
	rules, err := Rules()
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		out = append(out, Query{Source: "alerts.yml: " + r.Name(), Expr: r.Expr})
	}
	return out, nil
}

var (
	metricRe = regexp.MustCompile(`\b(driftd_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+)`)
	// recordedRe matches names with a colon: only recording rules have them.
	recordedRe = regexp.MustCompile(`[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]*`)
)

// RecordedNames returns the recording-rule series (level:metric:operation)
// that expr reads.
func RecordedNames(expr string) []string {
	var out []string
	for _, m := range recordedRe.FindAllString(expr, -1) {
		if strings.Count(m, ":") >= 2 { // not a subquery's [5m:1m]
			out = append(out, m)
		}
	}
	return out
}

// MetricNames returns the driftd, Go and process metric names the queries use,
// with histogram suffixes (_bucket, _sum, _count) removed, sorted. Series of
// recording rules are not among them: their rules' expressions are.
func MetricNames() ([]string, error) {
	qs, err := Queries()
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, q := range qs {
		expr := recordedRe.ReplaceAllString(q.Expr, " ")
		for _, m := range metricRe.FindAllString(expr, -1) {
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
