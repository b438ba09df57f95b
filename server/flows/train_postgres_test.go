package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"driftd/internal/pgtest"
	"driftd/scheduler"
)

// pgSamples makes a table of 600 rows with a learnable binary label.
const pgSamples = `create table samples as
select g as id, sin(g * 0.7) as x0, (g * 37) % 101 as x1, (array['red', 'green', 'blue'])[1 + g % 3] as color,
  case when sin(g * 0.7) + ((g * 37) % 101) / 100.0 > 0.4 then 'yes' else 'no' end as label
from generate_series(1, 600) g`

// TestTrainFlowFromQuery trains from a PostgreSQL query on a real server:
// the job registers and deploys a version; the experiment run records the
// query and the database with its password redacted; no run, log or
// error holds the password; bad queries are refused at submit, naming
// params.query.
func TestTrainFlowFromQuery(t *testing.T) {
	s := pgtest.Start(t)
	s.MustExec(t, pgSamples)
	e := newEnv(t, nil, func(d *Deps) { d.DatabaseURL = s.DSN() })
	const query = "select id, x0, x1, color, label from samples order by id"
	r := e.run(FlowTrain, map[string]any{"query": query, "target": "label", "id": "id", "rounds": 10, "deploy": "production"})
	if r.State != scheduler.StateCompleted {
		t.Fatalf("run %s: %s", r.State, r.Error)
	}
	var res TrainResult
	if err := json.Unmarshal(r.Result, &res); err != nil || res.Version != "1.0.0" || res.DeployedTo != "production" || res.Metrics["auc"] < 0.7 {
		t.Fatalf("result %+v, %v", res, err)
	}
	ctx := context.Background()
	v, err := e.store.Deployed(ctx, "m", "production")
	if err != nil || v.Fingerprint.Rows != 600 || len(v.Fingerprint.SHA256) != 64 {
		t.Fatalf("deployed %+v, %v", v, err)
	}
	run, err := e.store.GetRun(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Params["query"] != query || run.Params["data"] != "query" || !strings.Contains(run.Params["database"], ":xxxxx@127.0.0.1:") {
		t.Errorf("experiment run params %v", run.Params)
	}
	logs, _ := e.store.RunLogs(ctx, res.RunID, 0)
	everything := fmt.Sprint(r.Params, run.Params, run.Tags, e.logs(r.ID), logs)
	if strings.Contains(everything, s.Password) {
		t.Errorf("the password is stored: %s", everything)
	}

	t.Run("fails at run time", func(t *testing.T) {
		r := e.run(FlowTrain, map[string]any{"query": "select id, x0, 1 / (x1 - x1) as x1, label from samples", "target": "label", "rounds": 5})
		if r.State != scheduler.StateFailed || !strings.Contains(r.Error, "division by zero") || strings.Contains(r.Error, s.Password) {
			t.Errorf("run %s: %q", r.State, r.Error)
		}
	})

	cases := []struct {
		name   string
		params map[string]any
		dsn    string
		field  string
		want   string
	}{
		{"syntax", map[string]any{"query": "selec 1", "target": "label"}, s.DSN(), "params.query", `syntax error at or near "selec"`},
		{"no target column", map[string]any{"query": "select x0 from samples", "target": "label"}, s.DSN(), "params.query", `no column "label"`},
		{"data and query", map[string]any{"query": query, "data": "testdata/binary.csv", "target": "label"}, s.DSN(), "params.query", "not both"},
		{"no database", map[string]any{"query": query, "target": "label"}, "", "params.query", DatabaseURLEnv},
		{"test query", map[string]any{"query": query, "test_query": "select nope", "target": "label"}, s.DSN(), "params.test_query", `"nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := e.engine
			if tc.dsn == "" {
				eng = newEnv(t, nil, nil).engine // a server without DRIFTD_DATABASE_URL
			}
			_, err := eng.Submit(ctx, FlowTrain, tc.params, scheduler.SubmitOptions{})
			wantParamError(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), s.Password) {
				t.Errorf("error %q, want one with %q", err, tc.want)
			}
		})
	}
}
