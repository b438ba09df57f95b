package flows

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
)

func TestTrainFlowRegistersAndDeploys(t *testing.T) {
	e := newEnv(t, nil, nil)
	r := e.run(FlowTrain, map[string]any{"data": "testdata/binary.csv", "target": "label", "id": "id",
		"rounds": 20, "deploy": "production", "experiment": "exp1"})
	if r.State != scheduler.StateCompleted {
		t.Fatalf("run %s: %s", r.State, r.Error)
	}
	var res TrainResult
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.Model != "m" || res.Version != "1.0.0" || res.DeployedTo != "production" || res.Rounds != 20 || res.MetricsOn != "validation" {
		t.Fatalf("result %+v", res)
	}
	if auc := res.Metrics["auc"]; auc < 0.6 || auc > 1 {
		t.Errorf("validation auc %v", auc)
	}
	ctx := context.Background()
	v, err := e.store.Deployed(ctx, "m", "production")
	if err != nil || v.Version != "1.0.0" || v.RunID != res.RunID || v.ProfileSize == 0 {
		t.Fatalf("deployed %+v, %v", v, err)
	}
	run, err := e.store.GetRun(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != registry.RunFinished || run.Params["rounds"] != "20" || run.Params["objective"] != "binary" ||
		run.Tags["driftd.model"] != "m" || run.Artifacts["model"] == 0 || run.Artifacts["feature_importance.json"] == 0 {
		t.Fatalf("experiment run %+v", run)
	}
	if _, ok := run.Metrics["valid_auc"]; !ok {
		t.Errorf("experiment run has no per-round valid_auc: %v", run.Metrics)
	}
	var prog TrainProgress
	if err := json.Unmarshal(r.Progress, &prog); err != nil || prog.Round != 20 || prog.Rounds != 20 || prog.RunID != res.RunID {
		t.Fatalf("progress %s: %+v, %v", r.Progress, prog, err)
	}
	logs := e.logs(r.ID)
	for _, want := range []string{"round    1", "round   20", "registered m version 1.0.0", "deployed m version 1.0.0 to production"} {
		if !strings.Contains(logs, want) {
			t.Errorf("flow log lacks %q:\n%s", want, logs)
		}
	}
	elog, _ := e.store.RunLogs(ctx, res.RunID, 0)
	if len(elog) < 22 || !strings.HasPrefix(elog[0], "queued by tester") || !strings.HasPrefix(elog[len(elog)-1], "finished: 20 rounds") {
		t.Errorf("experiment run log:\n%s", strings.Join(elog, "\n"))
	}
}

func TestTrainFlowBadCSVFails(t *testing.T) {
	e := newEnv(t, nil, nil)
	r := e.run(FlowTrain, map[string]any{"data": "testdata/bad.csv", "target": "label", "id": "id", "rounds": 5})
	if r.State != scheduler.StateFailed || !strings.Contains(r.Error, "testdata/bad.csv:41:") {
		t.Fatalf("run %s with error %q, want failed naming testdata/bad.csv:41", r.State, r.Error)
	}
	var res struct {
		RunID string `json:"run_id"`
	}
	id, _ := r.Params["run_id"].(string)
	if id == "" {
		t.Fatalf("run params %v carry no run_id (%v)", r.Params, res)
	}
	run, err := e.store.GetRun(context.Background(), id)
	if err != nil || run.Status != registry.RunFailed {
		t.Fatalf("experiment run %+v, %v; want failed", run, err)
	}
}

func TestTrainFlowValidate(t *testing.T) {
	e := newEnv(t, nil, nil)
	outside := filepath.Join(t.TempDir(), "outside.csv")
	if err := os.WriteFile(outside, []byte("a,label\n1,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := map[string]any{"data": "testdata/binary.csv", "target": "label"}
	with := func(kv ...any) map[string]any {
		p := map[string]any{}
		for k, v := range ok {
			p[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(p, kv[i].(string))
			} else {
				p[kv[i].(string)] = kv[i+1]
			}
		}
		return p
	}
	tests := []struct {
		name   string
		params map[string]any
		field  string
	}{
		{"no target", with("target", nil), "params.target"},
		{"no data", with("data", nil), "params.data"},
		{"missing file", with("data", "testdata/nope.csv"), "params.data"},
		{"directory", with("data", "testdata"), "params.data"},
		{"outside the data dirs", with("data", outside), "params.data"},
		{"test outside", with("test", outside), "params.test"},
		{"rounds 0", with("rounds", 0), "params.rounds"},
		{"learning rate 0", with("learning_rate", 0), "params.learning_rate"},
		{"max bins 300", with("max_bins", 300), "params.max_bins"},
		{"subsample 0", with("subsample", 0.0), "params.subsample"},
		{"grow", with("grow", "sideways"), "params.grow"},
		{"algo", with("algo", "xgboost"), "params.algo"},
		{"valid fraction 1", with("valid_fraction", 1.0), "params.valid_fraction"},
		{"model name", with("model", "bad name"), "params.model"},
		{"unknown environment", with("deploy", "moon"), "params.deploy"},
		{"deploy without register", with("deploy", "production", "register", false), "params.deploy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.engine.Submit(context.Background(), FlowTrain, tc.params, scheduler.SubmitOptions{})
			wantParamError(t, err, tc.field)
		})
	}
}

func TestTrainParamsDefaults(t *testing.T) {
	spec, err := TrainParams(scheduler.Params{"data": "d.csv", "target": "y", "categorical": "a, b,,c", "max_depth": int64(4)})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Params.Rounds != 100 || spec.Params.MaxDepth != 4 || spec.Params.Algo != "gbdt" || spec.ValidFraction != 0.2 ||
		strings.Join(spec.CSV.Categorical, "|") != "a|b|c" || spec.CSV.Name != "d.csv" {
		t.Fatalf("spec %+v", spec)
	}
	for _, h := range hyperparams() {
		p := h.param()
		if (h.name == "max_depth" || h.name == "threads" || h.name == "early_stopping" || h.name == "min_split_gain") != (p.Default == nil) {
			t.Errorf("param %s default %v: want one exactly where train.DefaultParams has a non-zero value", h.name, p.Default)
		}
	}
}

// TestTrainFlowUsesDriftBins checks that DRIFTD_DRIFT_BINS (Deps.DriftBins)
// shapes the reference profile of a model the train flow registers.
func TestTrainFlowUsesDriftBins(t *testing.T) {
	cases := []struct {
		name string
		bins int
		want int
	}{
		{"default", 0, drift.DefaultBins},
		{"setting", 4, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(d *Deps) { d.DriftBins = tc.bins })
			r := e.run(FlowTrain, map[string]any{"data": "testdata/binary.csv", "target": "label", "id": "id", "rounds": 3})
			if r.State != scheduler.StateCompleted {
				t.Fatalf("run %s: %s", r.State, r.Error)
			}
			raw, err := e.store.Profile(context.Background(), "m", "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			prof, err := drift.DecodeProfile(raw)
			if err != nil {
				t.Fatal(err)
			}
			if prof.Bins != tc.want {
				t.Fatalf("profile has %d bins, want %d", prof.Bins, tc.want)
			}
		})
	}
}
