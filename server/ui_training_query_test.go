package server

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"driftd/internal/pgtest"
	"driftd/registry"
	"driftd/server/flows"
)

// TestTrainingFromQuery trains from a PostgreSQL query through the
// Training page and the API, on a real server set as the database: the
// form offers "PostgreSQL query", reads the query's columns, queues the
// job, and the page, the runs and the API answers never show the password.
func TestTrainingFromQuery(t *testing.T) {
	pg := pgtest.Start(t)
	pg.MustExec(t, `create table churn as
select 'r' || g as id, sin(g * 0.7) as x1, (g * 37) % 101 / 10.0 as x2, (array['basic', 'pro', 'team'])[1 + g % 3] as plan,
  (sin(g * 0.7) + (g * 37) % 101 / 100.0 > 0.4)::int as label
from generate_series(1, 800) g`)
	cfg := testConfig(t)
	cfg.DatabaseURL = pg.DSN()
	a := mustStartApp(t, cfg)
	s := uiLogin(t, a, "admin", "correct-horse")
	const query = "select id, x1, x2, plan, label from churn order by id"
	var pages []string

	t.Run("form", func(t *testing.T) {
		_, doc, text := s.get("/training")
		pages = append(pages, text)
		form := mustTestID(t, doc, "training-form")
		var sources []string
		for _, in := range elements(mustTestID(t, form, "data-source"), "input") {
			sources = append(sources, attrOf(in, "value"))
		}
		if !slices.Equal(sources, []string{"file", "query"}) || byTestID(form, "query-input") == nil {
			t.Fatalf("data source choice %q, query input %v", sources, byTestID(form, "query-input") != nil)
		}
		if hint := nodeText(mustTestID(t, form, "query-hint")); !strings.Contains(hint, ":xxxxx@127.0.0.1:") {
			t.Errorf("query hint %q does not name the database, password redacted", hint)
		}
		_, doc, text = s.get("/training?query=" + url.QueryEscape(query))
		pages = append(pages, text)
		var opts []string
		for _, o := range elements(mustTestID(t, doc, "target-select"), "option") {
			opts = append(opts, attrOf(o, "value"))
		}
		if !slices.Equal(opts, []string{"id", "x1", "x2", "plan", "label"}) ||
			!strings.Contains(nodeText(mustTestID(t, doc, "columns-status")), "5 columns returned by the query") {
			t.Errorf("target options %q, status %q", opts, nodeText(mustTestID(t, doc, "columns-status")))
		}
		_, doc, text = s.get("/training?query=" + url.QueryEscape("select nope"))
		pages = append(pages, text)
		if got := nodeText(mustTestID(t, doc, "columns-status")); !strings.Contains(got, `column "nope" does not exist`) {
			t.Errorf("columns status for a bad query: %q", got)
		}
		status, body := s.getRaw("/training/columns?query="+url.QueryEscape(query), "application/json")
		if status != http.StatusOK || !strings.Contains(string(body), `"columns":["id","x1","x2","plan","label"]`) {
			t.Errorf("columns endpoint: %d %s", status, body)
		}
	})

	var formRun string
	t.Run("form submission", func(t *testing.T) {
		// Without JavaScript both sources' fields are sent; "source" picks.
		status, loc, body := s.post("/training", url.Values{"source": {"query"}, "query": {query}, "data": {"ignored.csv"},
			"target": {"label"}, "id": {"id"}, "algo": {"gbdt"}, "rounds": {"8"}, "model": {"pg-model"},
			"register_present": {"1"}, "register": {"on"}, "deploy": {"none"}})
		if status != http.StatusSeeOther || loc != "/training" {
			t.Fatalf("POST /training: %d %q\n%s", status, loc, body)
		}
		var job TrainJobStatus
		uiWaitFor(t, "the job to end", 60*time.Second, func() bool {
			jobs, err := a.trainJobs(context.Background())
			if err != nil || len(jobs) != 1 {
				t.Fatalf("%d jobs: %v", len(jobs), err)
			}
			job = jobs[0]
			return job.State != JobQueued && job.State != JobRunning
		})
		if job.State != JobFinished || job.Version != "1.0.0" {
			t.Fatalf("job %+v", job)
		}
		formRun = job.RunID
		_, _, text := s.get("/training")
		pages = append(pages, text)
	})

	t.Run("api", func(t *testing.T) {
		status, resp := postTrain(t, a, map[string]any{"query": query, "target": "label", "model": "pg-api",
			"params": map[string]any{"rounds": 5}})
		if status != http.StatusAccepted {
			t.Fatalf("POST /api/v1/train: %d %v", status, resp)
		}
		run := waitRunEnded(t, a, resp["run_id"].(string))
		if run.Status != registry.RunFinished || run.Params["query"] != query || !strings.Contains(run.Params["database"], "xxxxx") {
			t.Fatalf("run %s params %v", run.Status, run.Params)
		}
		status, resp = postTrain(t, a, map[string]any{"query": "select x1 from churn", "target": "label"})
		if status != http.StatusBadRequest || resp["field"] != "query" || !strings.Contains(resp["error"].(string), `no column "label"`) {
			t.Errorf("a query without the target: %d %v", status, resp)
		}
	})

	if formRun != "" {
		_, _, text := s.get("/runs/" + formRun)
		pages = append(pages, text)
	}
	for i, p := range pages {
		if strings.Contains(p, pg.Password) {
			t.Errorf("page %d shows the database password", i)
		}
	}
}

// TestTrainingFormWithoutDatabase checks that without DRIFTD_DATABASE_URL
// the form offers files only and a query is refused naming the setting.
func TestTrainingFormWithoutDatabase(t *testing.T) {
	a := mustStartApp(t, testConfig(t)) // no DRIFTD_DATABASE_URL
	s := uiLogin(t, a, "admin", "correct-horse")
	doc := s.mustGet("/training?query=select+1")
	if byTestID(doc, "data-source") != nil || byTestID(doc, "query-input") != nil || byTestID(doc, "target-select") != nil {
		t.Error("the form offers a query without a database")
	}
	status, resp := postTrain(t, a, map[string]any{"query": "select 1 as label", "target": "label"})
	if status != http.StatusBadRequest || resp["field"] != "query" || !strings.Contains(resp["error"].(string), flows.DatabaseURLEnv) {
		t.Errorf("a query without a database: %d %v", status, resp)
	}
}
