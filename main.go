// Command driftd is one binary that trains models, keeps them in a registry,
// scores a Kafka stream with the deployed model, watches every feature for
// drift and exposes it all to a browser, to Prometheus and to Grafana.
//
// main only parses the command line, wires the parts and runs them; every
// subcommand lives in a cmd_*.go file and calls into the packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"syscall"
	"time"

	"driftd/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() { os.Exit(run()) }

// command is one subcommand: what it does and the function that runs it.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand of driftd.
func commands() map[string]command {
	return map[string]command{
		"serve":       {"run the server: UI, API, metrics, embedded Kafka broker, scorer", runServe},
		"version":     {"print the version", runVersion},
		"healthcheck": {"exit 0 when a running server answers /healthz (for container health checks)", runHealthcheck},
		"train":       {"train a GBDT or logistic model from a CSV file and write the model file", runTrain},
		"import":      {"convert an XGBoost or LightGBM model into a driftd model file with its drift reference", runImport},
		"predict":     {"score a CSV file with a model file", runPredict},
		"drift":       {"compare a current CSV with a reference CSV: PSI and tests per feature", runDrift},
		"gen":         {"write synthetic feature data as CSV, optionally drifted", runGen},
		"produce":     {"replay a CSV file into Kafka as JSON feature records", runProduce},
		"pipeline":    {"train, deploy, stream held-out rows through Kafka and report what was measured", runPipeline},
		"broker":      {"run the embedded Kafka-protocol broker alone", runBroker},
		"restore":     {"restore a registry backup into a data directory", runRestore},
		"dashboards":  {"export the bundled Grafana dashboards, Prometheus config and alert rules", runDashboards},
	}
}

// run parses the subcommand and runs it with a context cancelled by SIGINT or
// SIGTERM. No other package touches signals.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "driftd: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintf(w, "driftd %s: train, register, deploy and monitor models on a Kafka stream, in one binary.\n\nUsage: driftd <command> [flags]\n\nCommands:\n", buildInfo().Version)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'driftd <command> --help' for the flags of a command.\n")
}

// buildInfo names this binary: the -ldflags version, else the module version
// or VCS revision recorded by the Go toolchain.
func buildInfo() server.BuildInfo {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "" {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && (v == "" || v == "(devel)") {
				v = "dev-" + s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return server.BuildInfo{Version: v, GoVersion: runtime.Version()}
}

// runServe loads the configuration and runs the server until a signal.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	dotenv, err := readDotEnv()
	if err != nil {
		fmt.Fprintf(stderr, "driftd: %v\n", err)
		return 2
	}
	cfg, err := server.LoadConfig(args, os.LookupEnv, dotenv, stderr)
	if errors.Is(err, server.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "driftd: %v\n", err)
		return 2
	}
	logger := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	app := server.New(cfg, server.Options{Logger: logger, Build: buildInfo()})
	if err := app.Start(ctx); err != nil {
		logger.Error("driftd stopped with an error", "err", err)
		return 1
	}
	if cfg.LogLevel > slog.LevelWarn {
		announceAdminPassword(stderr, cfg.DataDir)
	}
	<-ctx.Done()
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := app.Close(sctx); err != nil {
		logger.Error("driftd stopped with an error", "err", err)
		return 1
	}
	logger.Info("driftd stopped")
	return 0
}

// announceAdminPassword says on stderr where the generated password of the
// UI user admin is, while the file is there: the log's warning about it is
// hidden by a log level above warn. It never prints the password.
func announceAdminPassword(stderr io.Writer, dataDir string) {
	p := filepath.Join(dataDir, "admin-password")
	if _, err := os.Stat(p); err == nil {
		fmt.Fprintf(stderr, "driftd: the generated password of the UI user admin is in %s: sign in, change it on the Settings page, then delete the file\n", p)
	}
}

// newLogger builds the one logger of the process.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runVersion prints the version.
func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	bi := buildInfo()
	fmt.Fprintf(stdout, "driftd %s (%s)\n", bi.Version, bi.GoVersion)
	return 0
}

// runHealthcheck asks a running server's /healthz and exits 0 when it answers 200.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("healthcheck", stderr, "Exit 0 when a running driftd answers /healthz with 200.")
	sf := server.RegisterSettings(fs, "DRIFTD_ADDR")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, code := resolveSettings("healthcheck", sf, stderr)
	if code != 0 {
		return code
	}
	host := cfg.Addr
	if len(host) > 0 && host[0] == ':' {
		host = "127.0.0.1" + host
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/healthz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s answered %s\n", host, resp.Status)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
