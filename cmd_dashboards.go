package main

import (
	"context"
	"fmt"
	"io"

	"driftd/dashboards"
)

// runDashboards handles `driftd dashboards export DIR`: it writes the bundled
// Grafana dashboards, Prometheus configuration, alert rules and their tests,
// Alertmanager configuration and docker-compose file.
func runDashboards(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("dashboards export", stderr, "Write the bundled Grafana dashboards, prometheus.yml, alert rules (with promtool tests), alertmanager.yml and docker-compose.yml into DIR.\n\nUsage: driftd dashboards export [--dir DIR]")
	dir := fs.String("dir", "./driftd-monitoring", "directory to write into (created when missing)")
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fs.Usage()
			return 0
		}
		fmt.Fprintln(stderr, "usage: driftd dashboards export [--dir DIR]")
		return 2
	}
	if code, done := parseFlags(fs, args[1:]); done {
		return code
	}
	files, err := dashboards.Export(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "driftd dashboards export: %v\n", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	fmt.Fprintf(stderr, "wrote %d files to %s\n", len(files), *dir)
	return 0
}
