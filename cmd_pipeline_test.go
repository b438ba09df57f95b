package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"driftd/server/flows"
)

// TestPipelineCommandEndToEnd runs `driftd pipeline` in-process with its
// own embedded broker: train, register, deploy, 1500 records through Kafka
// (more than the drift monitor's warm-up),
// scored, with drift per feature in the JSON report.
func TestPipelineCommandEndToEnd(t *testing.T) {
	t.Setenv("KAFKA_BOOTSTRAP_SERVERS", "") // the embedded broker, even on a machine with a cluster configured
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := dispatch(ctx, []string{"pipeline", "--data", "testdata/train_binary.csv", "--target", "label", "--id", "id",
		"--model", "production_model", "--rounds", "20", "--predictions", "1500", "--monitor", "20s", "--json",
		"--data-dir", t.TempDir()}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errb.String())
	}
	var rep flows.PipelineReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	t.Logf("produced %d in %.3fs, scored %d, %.0f records/s, %.3f ms wall per record, drain %.3fs, max PSI %v",
		rep.Produced, rep.ProduceSeconds, rep.Scored, rep.RecordsPerSecond, rep.WallSecondsPerRecord*1000, rep.DrainSeconds, rep.Drift)
	if rep.Model != "production_model" || rep.Version != "1.0.0" || rep.Environment != "production" || rep.RunID == "" {
		t.Errorf("report %+v", rep)
	}
	if rep.Produced != 1500 || rep.Scored < 1500 || rep.DeadLettered != 0 || rep.Metrics["auc"] <= 0.5 {
		t.Errorf("produced %d, scored %d, dead-lettered %d, metrics %v", rep.Produced, rep.Scored, rep.DeadLettered, rep.Metrics)
	}
	if rep.Drift == nil || len(rep.Drift.Features) != 4 || rep.Drift.Rows == 0 {
		t.Fatalf("drift %+v (status %q)", rep.Drift, rep.DriftStatus)
	}
	for _, want := range []string{"round    1", "registered production_model version 1.0.0", "producing 1500 records", "dead-lettered)"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestPipelineCommandUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no data", []string{"pipeline", "--target", "label"}, 2, "--data and --target are required"},
		{"bad flag", []string{"pipeline", "--nope"}, 2, "flag provided but not defined"},
		{"help", []string{"pipeline", "--help"}, 0, "Usage: driftd pipeline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := dispatch(context.Background(), tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), tc.code, tc.want)
			}
		})
	}
}
