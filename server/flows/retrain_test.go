package flows

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"driftd/registry"
	"driftd/scheduler"
)

// retrainResult decodes a completed retrain run's result.
func retrainResult(t *testing.T, r scheduler.Run) RetrainResult {
	t.Helper()
	if r.State != scheduler.StateCompleted {
		t.Fatalf("retrain run %s: %s", r.State, r.Error)
	}
	var res RetrainResult
	if err := json.Unmarshal(r.Result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRetrainPromotesABetterChallenger(t *testing.T) {
	e := newEnv(t, mustBroker(t), nil)
	champ := e.mustChampion(conceptA.rows(1, 2000, "a"))
	window := conceptB.rows(2, 1000, "b")
	e.produceWindow(window, window)

	r := e.run(FlowRetrain, map[string]any{"min_labels": 500, "trigger_max_psi": 0.41, "trigger_features": "f0=0.41"})
	res := retrainResult(t, r)
	if res.Decision != DecisionPromoted || res.Metric != "auc" || res.Champion.Version != champ.Version || res.Challenger.Version == "" {
		t.Fatalf("result %+v", res)
	}
	if res.Challenger.Value <= res.Champion.Value+0.05 || !strings.HasPrefix(res.Reason, "challenger auc ") {
		t.Errorf("challenger %.3f vs champion %.3f: %s", res.Challenger.Value, res.Champion.Value, res.Reason)
	}
	if res.FeaturesRead != 1000 || res.LabelsRead != 1000 || res.Joined != 1000 || res.HoldoutRows != 200 || res.TrainRows != 800 ||
		res.OrphanLabels != 0 || res.BadRecords != 0 || res.TriggerMaxPSI != 0.41 || res.TriggerFeatures["f0"] != 0.41 {
		t.Errorf("counts %+v", res)
	}
	ctx := context.Background()
	v, err := e.store.Deployed(ctx, "m", "production")
	if err != nil || v.Version != res.Challenger.Version || v.Version == champ.Version {
		t.Fatalf("deployed %s (%v); want the challenger %s", v.Version, err, res.Challenger.Version)
	}
	if v.Tags["driftd.decision"] != DecisionPromoted || !strings.Contains(v.Description, res.Reason) || v.RunID != res.ExperimentRunID {
		t.Errorf("challenger version %+v", v)
	}
	hist, err := e.store.History(ctx, registry.HistoryQuery{Model: "m", Environment: "production"})
	if err != nil || len(hist) != 2 || hist[0].Action != registry.ActionDeploy || hist[0].To != v.Version ||
		hist[0].Reason != "retrain run "+r.ID+": "+res.Reason || hist[0].User != "tester" {
		t.Fatalf("history %+v, %v", hist, err)
	}
	run, err := e.store.GetRun(ctx, res.ExperimentRunID)
	if err != nil || run.Status != registry.RunFinished || run.Tags["driftd.decision"] != DecisionPromoted ||
		run.Params["champion_version"] != champ.Version || run.Params["trigger_features"] != "f0=0.41" {
		t.Fatalf("experiment run %+v, %v", run, err)
	}
	if run.Metrics["champion_auc"].Value != res.Champion.Value || run.Metrics["challenger_auc"].Value != res.Challenger.Value {
		t.Errorf("run metrics %+v", run.Metrics)
	}
	csv, err := e.store.RunArtifact(ctx, res.ExperimentRunID, "retrain_dataset.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 1001 || lines[0] != "id,f0,f1,f2,f3,label,split" || !strings.HasSuffix(lines[1000], ",holdout") || !strings.HasSuffix(lines[1], ",train") {
		t.Errorf("dataset csv: %d lines, header %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	logs := e.logs(r.ID)
	for _, want := range []string{"triggered by max PSI 0.410", "1000 joined", "held-out auc", "promoted: deployed m " + v.Version} {
		if !strings.Contains(logs, want) {
			t.Errorf("flow log lacks %q:\n%s", want, logs)
		}
	}

	// The promoted version's reference is its own training data: on data of
	// the new concept, drift is far lower than the champion's.
	cur := writeCSV(t, e.dir, "now.csv", conceptHeader, conceptB.rows(3, 1000, "c"))
	before := driftReport(t, e.run(FlowDriftCheck, map[string]any{"data": cur, "version": champ.Version}))
	after := driftReport(t, e.run(FlowDriftCheck, map[string]any{"data": cur}))
	t.Logf("held-out auc: champion %.3f, challenger %.3f; drift on the new concept: max PSI %.3f before the promotion, %.3f after",
		res.Champion.Value, res.Challenger.Value, before.MaxPSI, after.MaxPSI)
	if after.Version != v.Version || before.Features[0].Name != "f0" || after.MaxPSI >= before.MaxPSI/3 {
		t.Errorf("drift before the promotion %s %.3f (%s first), after %s %.3f", before.Version, before.MaxPSI, before.Features[0].Name, after.Version, after.MaxPSI)
	}
}

func TestRetrainRejectsAChallengerThatIsNotBetter(t *testing.T) {
	e := newEnv(t, mustBroker(t), nil)
	champ := e.mustChampion(conceptA.rows(1, 2000, "a"))
	window := conceptA.rows(4, 3000, "w")
	e.produceWindow(window, window)

	r := e.run(FlowRetrain, map[string]any{"min_labels": 500, "margin": 0.05})
	res := retrainResult(t, r)
	if res.Decision != DecisionRejected || !strings.Contains(res.Reason, " <= champion ") || !strings.HasSuffix(res.Reason, "+ 0.05") {
		t.Fatalf("result %+v", res)
	}
	t.Logf("%s", res.Reason)
	ctx := context.Background()
	if v, _ := e.store.Deployed(ctx, "m", "production"); v.Version != champ.Version {
		t.Fatalf("deployed %s, want the champion %s", v.Version, champ.Version)
	}
	cv, err := e.store.GetVersion(ctx, "m", res.Challenger.Version)
	if err != nil || cv.Status != registry.StatusArchived || cv.Tags["driftd.decision"] != DecisionRejected {
		t.Fatalf("challenger version %+v, %v; want archived and tagged rejected", cv, err)
	}
	run, err := e.store.GetRun(ctx, res.ExperimentRunID)
	if err != nil || run.Status != registry.RunFinished || run.Tags["driftd.decision"] != DecisionRejected {
		t.Fatalf("experiment run %+v, %v", run, err)
	}
}

func TestRetrainManualPromotionWaitsForApproval(t *testing.T) {
	e := newEnv(t, mustBroker(t), func(d *Deps) { d.Retrain.Promotion = PromotionManual })
	champ := e.mustChampion(conceptA.rows(1, 2000, "a"))
	window := conceptB.rows(2, 1000, "b")
	e.produceWindow(window, window)

	res := retrainResult(t, e.run(FlowRetrain, map[string]any{"min_labels": 500}))
	if res.Decision != DecisionPendingApproval {
		t.Fatalf("result %+v", res)
	}
	ctx := context.Background()
	if v, _ := e.store.Deployed(ctx, "m", "production"); v.Version != champ.Version {
		t.Fatalf("deployed %s before approval, want the champion %s", v.Version, champ.Version)
	}
	if a, err := e.store.AliasVersion(ctx, "m", ChallengerAlias); err != nil || a.Version != res.Challenger.Version {
		t.Fatalf("alias challenger: %s, %v", a.Version, err)
	}
	if err := Approve(ctx, e.store, "m", champ.Version, "production", "no"); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("approving the champion: %v, want ErrConflict", err)
	}
	uctx := registry.WithUser(ctx, "operator")
	if err := Approve(uctx, e.store, "m", res.Challenger.Version, "production", "looks good"); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.store.Deployed(ctx, "m", "production"); v.Version != res.Challenger.Version {
		t.Fatalf("deployed %s after approval, want %s", v.Version, res.Challenger.Version)
	}
	if _, err := e.store.AliasVersion(ctx, "m", ChallengerAlias); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("alias challenger after approval: %v, want it gone", err)
	}
	hist, _ := e.store.History(ctx, registry.HistoryQuery{Model: "m", Environment: "production", Limit: 1})
	if len(hist) != 1 || hist[0].Reason != "looks good" || hist[0].User != "operator" {
		t.Fatalf("history %+v", hist)
	}
	if err := Approve(ctx, e.store, "m", res.Challenger.Version, "production", "again"); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("approving twice: %v, want ErrConflict", err)
	}
}

func TestRetrainGuards(t *testing.T) {
	b := mustBroker(t)
	champRows := conceptA.rows(1, 2000, "a")
	oneClass := conceptA.rows(5, 300, "o")
	for _, r := range oneClass {
		r[5] = "1"
	}
	ghosts := conceptA.rows(6, 200, "ghost")
	tests := []struct {
		name             string
		features, labels [][]string
		params           map[string]any
		state, want      string
	}{
		{"too few labels", conceptB.rows(2, 300, "b"), conceptB.rows(2, 300, "b")[:120], map[string]any{"min_labels": 500},
			scheduler.StateCompleted, "only 120 labelled records in the last 1h0m0s (min 500)"},
		{"no labels at all", conceptB.rows(2, 300, "b"), nil, nil,
			scheduler.StateCompleted, "only 0 labelled records in the last 1h0m0s (min 100)"},
		{"one class", oneClass, oneClass, nil,
			scheduler.StateFailed, `the labels in the window have one class ("1"); a classifier needs two`},
		{"orphan labels", conceptB.rows(2, 300, "b"), ghosts, nil,
			scheduler.StateFailed, "200 labels matched no scored record (ids never seen on "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.mustChampion(champRows)
			e.produceWindow(tc.features, tc.labels)
			r := e.run(FlowRetrain, tc.params)
			if r.State != tc.state {
				t.Fatalf("run %s (%s), want %s", r.State, r.Error, tc.state)
			}
			if tc.state == scheduler.StateFailed {
				if !strings.Contains(r.Error, tc.want) {
					t.Fatalf("error %q, want %q", r.Error, tc.want)
				}
				return
			}
			res := retrainResult(t, r)
			if res.Decision != DecisionSkipped || res.Reason != tc.want || res.Challenger != (RetrainScore{}) {
				t.Fatalf("result %+v, want skipped: %s", res, tc.want)
			}
			if vs, _ := e.store.ListVersions(context.Background(), "m"); len(vs) != 1 {
				t.Errorf("%d versions after a skipped retrain, want the champion only", len(vs))
			}
		})
	}
}

func TestRetrainWithoutChampionFails(t *testing.T) {
	e := newEnv(t, mustBroker(t), nil)
	r := e.run(FlowRetrain, nil)
	if r.State != scheduler.StateFailed || !strings.Contains(r.Error, "no version of m is deployed to production") {
		t.Fatalf("run %s: %s", r.State, r.Error)
	}
}

func TestRetrainMixesTrainingData(t *testing.T) {
	e := newEnv(t, mustBroker(t), nil)
	e.mustChampion(conceptA.rows(1, 2000, "a"))
	window := conceptB.rows(2, 600, "b")
	e.produceWindow(window, window)
	extra := writeCSV(t, e.dir, "extra.csv", append(conceptHeader, "ignored"), appendColumn(conceptB.rows(7, 400, "x"), "zz"))
	res := retrainResult(t, e.run(FlowRetrain, map[string]any{"min_labels": 500, "training_data": extra, "target": "label"}))
	if res.TrainingData != 400 || res.TrainRows != 480+400 || res.HoldoutRows != 120 {
		t.Fatalf("result %+v", res)
	}
}

func appendColumn(rows [][]string, v string) [][]string {
	for i := range rows {
		rows[i] = append(rows[i], v)
	}
	return rows
}

func TestRetrainValidate(t *testing.T) {
	e := newEnv(t, nil, nil)
	tests := []struct {
		params map[string]any
		field  string
	}{
		{map[string]any{"model": "a b"}, "params.model"},
		{map[string]any{"environment": "moon"}, "params.environment"},
		{map[string]any{"lookback": "-1h"}, "params.lookback"},
		{map[string]any{"min_labels": 0}, "params.min_labels"},
		{map[string]any{"margin": -0.1}, "params.margin"},
		{map[string]any{"promotion": "sometimes"}, "params.promotion"},
		{map[string]any{"holdout_fraction": 0.6}, "params.holdout_fraction"},
		{map[string]any{"holdout_fraction": 0.0}, "params.holdout_fraction"},
		{map[string]any{"training_data": "testdata/none.csv"}, "params.training_data"},
		{map[string]any{"trigger_features": "f0:0.4"}, "params.trigger_features"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			_, err := e.engine.Submit(context.Background(), FlowRetrain, tc.params, scheduler.SubmitOptions{})
			wantParamError(t, err, tc.field)
		})
	}
}

func TestGate(t *testing.T) {
	tests := []struct {
		metric      string
		champ, chal float64
		pass        bool
		reason      string
	}{
		{"auc", 0.771, 0.842, true, "challenger auc 0.842 > champion 0.771 + 0.005"},
		{"auc", 0.771, 0.760, false, "challenger auc 0.760 <= champion 0.771 + 0.005"},
		{"auc", 0.771, 0.776, false, "challenger auc 0.776 <= champion 0.771 + 0.005"},
		{"accuracy", 0.5, 0.6, true, "challenger accuracy 0.600 > champion 0.500 + 0.005"},
		{"rmse", 1.0, 0.9, true, "challenger rmse 0.900 < champion 1.000 - 0.005"},
		{"rmse", 1.0, 0.999, false, "challenger rmse 0.999 >= champion 1.000 - 0.005"},
	}
	for _, tc := range tests {
		pass, reason := gate(tc.metric, tc.champ, tc.chal, 0.005)
		if pass != tc.pass || reason != tc.reason {
			t.Errorf("gate(%s, %v, %v) = %v %q, want %v %q", tc.metric, tc.champ, tc.chal, pass, reason, tc.pass, tc.reason)
		}
	}
}
