package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"driftd/scheduler"
	"driftd/server"
	"driftd/server/flows"
)

// pipelineFlags holds the parsed flags of `driftd pipeline`.
type pipelineFlags struct {
	data, target, id, algo, drift, dataDir string
	rounds, predictions                    int
	monitor                                time.Duration
	rate                                   float64
	jsonOut                                bool
}

// runPipeline implements `driftd pipeline`: it starts driftd in-process (its
// own embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set), runs the
// pipeline flow (train → register → deploy → produce → monitor) and prints
// its report; the flow's log goes to stderr as it runs.
func runPipeline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pipeline", stderr, "Train, register and deploy a model, replay held-out rows through Kafka, watch them scored, and report what was measured.")
	var f pipelineFlags
	fs.StringVar(&f.data, "data", "", "training CSV file (required)")
	fs.StringVar(&f.target, "target", "", "target column (required)")
	fs.StringVar(&f.id, "id", "", "id column (default: ids row-<n>)")
	fs.StringVar(&f.algo, "algo", "gbdt", "algorithm: gbdt or logistic")
	fs.IntVar(&f.rounds, "rounds", 100, "boosting rounds")
	fs.IntVar(&f.predictions, "predictions", 1000, "records to produce: the held-out rows of --data, cycled")
	fs.DurationVar(&f.monitor, "monitor", 10*time.Second, "how long to wait for the records to be scored")
	fs.Float64Var(&f.rate, "rate", 0, "records per second (0 = as fast as possible)")
	fs.StringVar(&f.drift, "drift", "", "drift applied to the replayed rows, like x0:shift=1.5,color:swap=red>blue")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory of the in-process server (default: a temporary one, removed at the end)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the report as one JSON object")
	// serve's settings for the model it scores and an external cluster; the
	// in-process server takes every other setting from the environment.
	sf := server.RegisterSettings(fs, append(server.KafkaClientSettings(), "DRIFTD_MODEL")...)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if f.data == "" || f.target == "" {
		fmt.Fprintln(stderr, "driftd pipeline: --data and --target are required")
		fs.Usage()
		return 2
	}
	rep, err := pipelineCommand(ctx, sf, &f, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "driftd pipeline: %v\n", err)
		return 1
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "driftd pipeline: %v\n", err)
			return 1
		}
		return 0
	}
	writePipelineReport(stdout, rep)
	return 0
}

// pipelineCommand starts the server, runs the pipeline flow to its end and
// returns its report.
func pipelineCommand(ctx context.Context, sf *server.SettingFlags, f *pipelineFlags, stderr io.Writer) (*flows.PipelineReport, error) {
	data, err := filepath.Abs(f.data)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	dir := f.dataDir
	args := []string{"--addr", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0", "--train-data-dirs", filepath.Dir(data)}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "driftd-pipeline-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		// Nobody logs into a throw-away server: no generated password to print.
		args = append(args, "--admin-password", "pipeline-"+filepath.Base(dir))
	}
	args = append(args, "--data-dir", dir)
	args = append(args, sf.Args()...)
	dotenv, err := readDotEnv()
	if err != nil {
		return nil, err
	}
	cfg, err := server.LoadConfig(args, os.LookupEnv, dotenv, io.Discard)
	if err != nil {
		return nil, err
	}
	app := server.New(cfg, server.Options{Logger: newLogger(stderr, slog.LevelWarn, "text"), Build: buildInfo()})
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = app.Close(cctx)
	}()
	params := map[string]any{"data": data, "target": f.target, "id": f.id, "model": cfg.ModelName, "algo": f.algo,
		"rounds": f.rounds, "predictions": f.predictions, "monitor": f.monitor.String(), "rate": f.rate, "drift": f.drift}
	eng := app.Engine()
	run, err := eng.Submit(ctx, flows.FlowPipeline, params, scheduler.SubmitOptions{
		Trigger: scheduler.Trigger{Kind: scheduler.TriggerManual, By: "driftd pipeline"}})
	if err != nil {
		return nil, err
	}
	run, err = followRun(ctx, eng, run.ID, stderr)
	if err != nil {
		return nil, err
	}
	if run.State != scheduler.StateCompleted {
		return nil, fmt.Errorf("pipeline run %s %s: %s", run.ID, run.State, run.Error)
	}
	var rep flows.PipelineReport
	if err := json.Unmarshal(run.Result, &rep); err != nil {
		return nil, fmt.Errorf("pipeline report: %w", err)
	}
	return &rep, nil
}

// followRun copies a run's new log lines to w until the run ends, and
// returns the ended run.
func followRun(ctx context.Context, eng *scheduler.Engine, id string, w io.Writer) (scheduler.Run, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	printed := 0
	for {
		run, err := eng.Get(ctx, id)
		if err != nil {
			return run, err
		}
		// Read the state before the log, so the last lines are not missed.
		if lines, err := eng.Logs(ctx, id, 0); err == nil && len(lines) > printed {
			for _, l := range lines[printed:] {
				fmt.Fprintln(w, l)
			}
			printed = len(lines)
		}
		if scheduler.Terminal(run.State) {
			return run, nil
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-tick.C:
		}
	}
}

// writePipelineReport prints a report for people.
func writePipelineReport(w io.Writer, r *flows.PipelineReport) {
	fmt.Fprintf(w, "model      %s %s, deployed to %s (experiment run %s), trained in %.2fs\n", r.Model, r.Version, r.Environment, r.RunID, r.TrainSeconds)
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		fmt.Fprintf(w, "           %s %s %.4f\n", r.MetricsOn, k, r.Metrics[k])
	}
	fmt.Fprintf(w, "produced   %d records in %.2fs\n", r.Produced, r.ProduceSeconds)
	fmt.Fprintf(w, "scored     %d records (%d dead-lettered), the last %.2fs after the first was produced: %.0f records/s\n",
		r.Scored, r.DeadLettered, r.ScoredWallSeconds, r.RecordsPerSecond)
	fmt.Fprintf(w, "latency    %.3f ms of wall time per record; the last record scored within %.3fs of its acknowledgement\n",
		r.WallSecondsPerRecord*1000, r.DrainSeconds)
	if r.Drift == nil {
		fmt.Fprintln(w, "drift      no drift check ran (too few records scored for the drift window)")
		return
	}
	verdict := "no dataset drift"
	if r.Drift.DatasetDrift {
		verdict = "DATASET DRIFT"
	}
	fmt.Fprintf(w, "drift      max PSI %.4f over the last %d records, drifted share %.2f: %s\n\n", r.Drift.MaxPSI, r.Drift.Rows, r.Drift.DriftShare, verdict)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tPSI\tDRIFTED")
	for _, f := range r.Drift.Features {
		drifted := "no"
		if f.Drifted {
			drifted = "yes"
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%s\n", f.Name, f.PSI, drifted)
	}
	tw.Flush()
}
