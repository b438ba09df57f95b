package registry

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestExperimentsAndRuns(t *testing.T) {
	clk := newClock()
	ctx := WithUser(context.Background(), "carol")
	s, _ := mustOpen(t, Options{Now: clk.Now, MaxLogLines: 3})
	exp, err := s.CreateExperiment(ctx, "Churn baseline", "first try", map[string]string{"team": "ds"})
	must(t, err)
	_, err = s.CreateExperiment(ctx, "Churn baseline", "", nil)
	wantErr(t, err, ErrConflict)
	again, err := s.EnsureExperiment(ctx, "Churn baseline")
	must(t, err)
	if again.ID != exp.ID {
		t.Fatalf("EnsureExperiment id %s, want %s", again.ID, exp.ID)
	}
	byName, err := s.ExperimentByName(ctx, "Churn baseline")
	must(t, err)
	if byName.Description != "first try" {
		t.Fatalf("by name = %+v", byName)
	}
	_, err = s.CreateRun(ctx, "999", RunOptions{})
	wantErr(t, err, ErrNotFound)

	run, err := s.CreateRun(ctx, exp.ID, RunOptions{Tags: map[string]string{"git": "abc"}})
	must(t, err)
	if run.Status != RunRunning || run.Name != "run-"+run.ID || run.CreatedBy != "carol" {
		t.Fatalf("run = %+v", run)
	}
	must(t, s.LogParams(ctx, run.ID, map[string]string{"algo": "gbdt", "eta": "0.1"}))
	must(t, s.LogParam(ctx, run.ID, "eta", "0.1")) // same value: fine
	wantErr(t, s.LogParam(ctx, run.ID, "eta", "0.2"), ErrConflict)
	wantField(t, s.LogParam(ctx, run.ID, "bad\x00key", "1"), "params")

	var batch []MetricPoint
	for round := 0; round < 5; round++ {
		batch = append(batch, MetricPoint{Key: "valid_auc", Value: 0.7 + float64(round)/100, Step: int64(round)})
	}
	must(t, s.LogMetrics(ctx, run.ID, batch))
	must(t, s.LogMetric(ctx, run.ID, "valid_auc", 0.5, 2, time.Time{})) // older step: history only
	nan := 0.0
	wantField(t, s.LogMetric(ctx, run.ID, "x", nan/nan, 0, time.Time{}), "value")
	wantField(t, s.LogMetrics(ctx, run.ID, []MetricPoint{{Key: "ok", Value: 1}, {Key: "a=b", Value: 1}}), "metrics")

	hist, err := s.MetricHistory(ctx, run.ID, "valid_auc")
	must(t, err)
	if len(hist) != 6 || hist[0].Step != 0 || hist[5].Step != 4 || hist[2].Step != 2 || hist[3].Value != 0.5 {
		t.Fatalf("history = %+v", hist)
	}
	_, err = s.MetricHistory(ctx, run.ID, "ok")
	wantErr(t, err, ErrNotFound) // the failed batch wrote nothing

	must(t, s.SetRunTag(ctx, run.ID, "note", "baseline"))
	must(t, s.AppendLog(ctx, run.ID, "round 1", "round 2"))
	must(t, s.AppendLog(ctx, run.ID, "round 3", "round 4", strings.Repeat("x", 5000)))
	logs, err := s.RunLogs(ctx, run.ID, 0)
	must(t, err)
	if len(logs) != 3 || logs[0] != "round 3" || !strings.HasSuffix(logs[2], "[truncated]") {
		t.Fatalf("logs = %q", logs)
	}
	tail, err := s.RunLogs(ctx, run.ID, 1)
	must(t, err)
	if len(tail) != 1 || tail[0] != logs[2] {
		t.Fatalf("tail = %q", tail)
	}
	must(t, s.PutRunArtifact(ctx, run.ID, "feature_importance.json", []byte(`{"age":0.4}`)))
	must(t, s.PutRunArtifact(ctx, run.ID, "empty", nil))
	art, err := s.RunArtifact(ctx, run.ID, "feature_importance.json")
	must(t, err)
	if string(art) != `{"age":0.4}` {
		t.Fatalf("artifact = %q", art)
	}
	if _, err := s.RunArtifact(ctx, run.ID, "empty"); err != nil {
		t.Fatalf("empty artifact: %v", err)
	}
	_, err = s.RunArtifact(ctx, run.ID, "missing")
	wantErr(t, err, ErrNotFound)

	v, err := s.Register(ctx, []byte("model"), "churn", RegisterOptions{RunID: run.ID})
	must(t, err)
	clk.Advance(time.Minute)
	_, err = s.FinishRun(ctx, run.ID, "done")
	wantField(t, err, "status")
	fin, err := s.FinishRun(ctx, run.ID, RunFinished)
	must(t, err)
	_, err = s.FinishRun(ctx, run.ID, RunFailed)
	wantErr(t, err, ErrConflict)

	got, err := s.GetRun(ctx, run.ID)
	must(t, err)
	if got.Status != RunFinished || got.End == nil || !got.End.Equal(fin.Start.Add(time.Minute)) ||
		got.Metrics["valid_auc"].Value != 0.74 || got.Metrics["valid_auc"].Step != 4 ||
		got.Params["algo"] != "gbdt" || got.Tags["note"] != "baseline" || got.Tags["git"] != "abc" ||
		got.LogLines != 3 || got.LogDropped != 2 || got.Artifacts["feature_importance.json"] != 11 ||
		len(got.Versions) != 1 || got.Versions[0] != "churn@"+v.Version {
		t.Fatalf("run = %+v", got)
	}
	_, err = s.GetRun(ctx, "77")
	wantErr(t, err, ErrNotFound)
	_, err = s.GetRun(ctx, "x")
	wantField(t, err, "run_id")
	exps, err := s.ListExperiments(ctx)
	must(t, err)
	if len(exps) != 1 {
		t.Fatalf("experiments = %+v", exps)
	}
}

func TestSearchAndCompareRuns(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := mustOpen(t, Options{Now: clk.Now})
	e1, err := s.CreateExperiment(ctx, "e1", "", nil)
	must(t, err)
	e2, err := s.CreateExperiment(ctx, "e2", "", nil)
	must(t, err)
	mk := func(exp Experiment, algo string, auc float64, status string) string {
		clk.Advance(time.Second)
		r, err := s.CreateRun(ctx, exp.ID, RunOptions{})
		must(t, err)
		must(t, s.LogParams(ctx, r.ID, map[string]string{"algo": algo, "eta": "0.1"}))
		must(t, s.LogMetric(ctx, r.ID, "auc", auc, 0, time.Time{}))
		if status != RunRunning {
			_, err = s.FinishRun(ctx, r.ID, status)
			must(t, err)
		}
		return r.ID
	}
	a := mk(e1, "gbdt", 0.85, RunFinished)
	b := mk(e1, "logistic", 0.75, RunFinished)
	c := mk(e1, "gbdt", 0.95, RunFailed)
	d := mk(e2, "gbdt", 0.90, RunRunning)

	ids := func(q RunQuery) []string {
		t.Helper()
		runs, err := s.SearchRuns(ctx, q)
		must(t, err)
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		q    RunQuery
		want []string
	}{
		{RunQuery{}, []string{d, c, b, a}},
		{RunQuery{ExperimentID: e1.ID, OrderBy: "metrics.auc desc"}, []string{c, a, b}},
		{RunQuery{Filter: "metrics.auc > 0.8 and params.algo = 'gbdt'", OrderBy: "metrics.auc"}, []string{a, d, c}},
		{RunQuery{Filter: "metrics.auc > 0.8", Status: RunFinished}, []string{a}},
		{RunQuery{Filter: "status = running"}, []string{d}},
		{RunQuery{Filter: "params.eta <= 0.1 AND params.algo != gbdt"}, []string{b}},
		{RunQuery{Filter: "metrics.missing > 0"}, nil},
		{RunQuery{Limit: 1, OrderBy: "start asc"}, []string{a}},
	}
	for _, tt := range tests {
		if got := ids(tt.q); !equalStrings(got, tt.want) {
			t.Errorf("SearchRuns(%+v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	for _, q := range []RunQuery{{Filter: "metrics.auc >"}, {Status: "done"}, {OrderBy: "auc desc"}, {ExperimentID: "x"}} {
		_, err := s.SearchRuns(ctx, q)
		wantErr(t, err, ErrInvalid)
	}

	cmp, err := s.CompareRuns(ctx, []string{a, b})
	must(t, err)
	if len(cmp.Params) != 2 || cmp.Params[0].Key != "algo" || !cmp.Params[0].Differ || cmp.Params[1].Differ ||
		cmp.Params[0].Values[1] != "logistic" || len(cmp.Metrics) != 1 || *cmp.Metrics[0].Values[0] != 0.85 {
		t.Fatalf("comparison = %+v", cmp)
	}
	_, err = s.CompareRuns(ctx, []string{a, "999"})
	wantErr(t, err, ErrNotFound)
	_, err = s.CompareRuns(ctx, nil)
	wantField(t, err, "run_ids")
}

func TestUsersAndSettings(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	tests := []struct {
		u     User
		field string
	}{
		{User{Name: "alice", Role: RoleAdmin, PasswordHash: []byte("h")}, ""},
		{User{Name: "bob", Role: RoleViewer, PasswordHash: []byte("h")}, ""},
		{User{Name: "bad name", Role: RoleViewer, PasswordHash: []byte("h")}, "name"},
		{User{Name: "x", Role: "root", PasswordHash: []byte("h")}, "role"},
		{User{Name: "x", Role: RoleOperator}, "password_hash"},
	}
	for _, tt := range tests {
		err := s.PutUser(ctx, tt.u)
		if tt.field == "" {
			must(t, err)
		} else {
			wantField(t, err, tt.field)
		}
	}
	u, err := s.GetUser(ctx, "alice")
	must(t, err)
	if u.Role != RoleAdmin || string(u.PasswordHash) != "h" || u.Created.IsZero() {
		t.Fatalf("user = %+v", u)
	}
	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 2 || users[0].Name != "alice" {
		t.Fatalf("users = %+v", users)
	}
	must(t, s.DeleteUser(ctx, "bob"))
	wantErr(t, s.DeleteUser(ctx, "bob"), ErrNotFound)
	_, err = s.GetUser(ctx, "bob")
	wantErr(t, err, ErrNotFound)

	_, err = s.GetSetting(ctx, "session_key")
	wantErr(t, err, ErrNotFound)
	must(t, s.PutSetting(ctx, "session_key", []byte("secret")))
	v, err := s.GetSetting(ctx, "session_key")
	must(t, err)
	if string(v) != "secret" {
		t.Fatalf("setting = %q", v)
	}
	wantField(t, s.PutSetting(ctx, "", nil), "key")
}
