package flows

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"driftd/registry"
	"driftd/scheduler"
)

func TestPipelineValidate(t *testing.T) {
	e := newEnv(t, nil, nil)
	tests := []struct {
		name   string
		params map[string]any
		field  string
		msg    string
	}{
		{"another model", map[string]any{"model": "other"}, "params.model", "the scorer scores m"},
		{"no target", map[string]any{"target": ""}, "params.target", ""},
		{"predictions 0", map[string]any{"predictions": 0}, "params.predictions", ""},
		{"monitor 0", map[string]any{"monitor": "0s"}, "params.monitor", ""},
		{"negative rate", map[string]any{"rate": -1.0}, "params.rate", ""},
		{"bad drift spec", map[string]any{"drift": "x0"}, "params.drift", ""},
		{"drift on the target", map[string]any{"drift": "label:shift=1"}, "params.drift", "not a feature column"},
		{"drift on no column", map[string]any{"drift": "nope:shift=1"}, "params.drift", "not a feature column"},
		{"rounds 0", map[string]any{"rounds": 0}, "params.rounds", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := map[string]any{"data": "testdata/binary.csv", "target": "label"}
			for k, v := range tc.params {
				p[k] = v
			}
			_, err := e.engine.Submit(context.Background(), FlowPipeline, p, scheduler.SubmitOptions{})
			wantParamError(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestPipelineWithoutScorerFails(t *testing.T) {
	e := newEnv(t, nil, nil)
	r := e.run(FlowPipeline, map[string]any{"data": "testdata/binary.csv", "target": "label"})
	if r.State != scheduler.StateFailed || !strings.Contains(r.Error, "the pipeline needs the scorer") {
		t.Fatalf("run %s: %s", r.State, r.Error)
	}
	id, _ := r.Params["run_id"].(string)
	if run, err := e.store.GetRun(context.Background(), id); err != nil || run.Status != registry.RunFailed {
		t.Fatalf("experiment run %q: %+v, %v; want failed", id, run, err)
	}
}

func TestHeldOutCSV(t *testing.T) {
	b, err := heldOutCSV("testdata/binary.csv", "label", 300, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 61 || lines[0] != "id,x0,x1,x2,color" {
		t.Fatalf("%d lines, header %q; want the 60 held-out rows without the label", len(lines), lines[0])
	}
	_, vIdx := splitRows(300, 0.2, 1)
	if want := "r" + itoa(vIdx[0]+1) + ","; !strings.HasPrefix(lines[1], want) {
		t.Errorf("first held-out row %q, want row %s", lines[1], want)
	}
	// A row count that is not the trained one replays every row.
	if b, err = heldOutCSV("testdata/binary.csv", "label", 299, 0.2, 1); err != nil || strings.Count(string(b), "\n") != 301 {
		t.Fatalf("mismatched row count: %d lines, %v", strings.Count(string(b), "\n"), err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestEndExperimentRun(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	tests := []struct {
		state, status, line string
	}{
		{scheduler.StateCompleted, registry.RunFinished, "finished: 7 rounds in 1.50s"},
		{scheduler.StateFailed, registry.RunFailed, "error: boom"},
		{scheduler.StateCancelled, registry.RunKilled, "killed: flow run 9 cancelled: boom"},
		{scheduler.StateCrashed, registry.RunKilled, "killed: flow run 9 crashed: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.state, func(t *testing.T) {
			id, err := e.deps.createRun(ctx, "x", "train m", "m", "server", map[string]string{"a": "1"}, scheduler.Trigger{Kind: scheduler.TriggerManual, By: "u"}, "")
			if err != nil {
				t.Fatal(err)
			}
			r := scheduler.Run{ID: "9", State: tc.state, Params: map[string]any{"run_id": id}, Result: json.RawMessage(`{"rounds":7,"fit_seconds":1.5}`)}
			if tc.state != scheduler.StateCompleted {
				r.Error, r.Result = "boom", nil
			}
			e.deps.endExperimentRun(ctx, r)
			run, err := e.store.GetRun(ctx, id)
			logs, _ := e.store.RunLogs(ctx, id, 1)
			if err != nil || run.Status != tc.status || len(logs) != 1 || logs[0] != tc.line {
				t.Fatalf("run %s %v, last log %q; want %s %q", run.Status, err, logs, tc.status, tc.line)
			}
		})
	}
}
