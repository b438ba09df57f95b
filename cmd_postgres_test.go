package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/internal/pgtest"
)

// samplesSQL makes a table of 2,000 rows with a learnable binary label:
// numbers, a numeric, a category, a date, a boolean, and a period that
// splits them into reference and current rows (the current ones shifted).
const samplesSQL = `create table samples as
select g as id,
  sin(g * 0.7) + case when g > 1500 then 0.8 else 0 end as x0,
  ((g * 37) % 101) / 10.0 as x1,
  (array['red', 'green', 'blue'])[1 + g % 3] as color,
  date '2024-01-01' + (g % 90) as day,
  g % 5 = 0 as promo,
  case when sin(g * 0.7) + ((g * 37) % 101) / 100.0 + case when g % 3 = 0 then 0.3 else 0 end > 0.4 then 'yes' else 'no' end as label,
  case when g > 1500 then 'current' else 'reference' end as period
from generate_series(1, 2000) g`

// samplesColumns are the columns of samples the commands read; as CSV,
// the date is Unix seconds and the boolean 0/1, as driftd reads them.
const (
	samplesColumns    = "id, x0, x1, color, day, promo, label"
	samplesCSVColumns = "id, x0, x1, color, extract(epoch from day)::bigint as day, promo::int as promo, label"
)

// TestPostgresCLI trains, predicts and measures drift from PostgreSQL
// queries on a real server and checks that each gives what the same rows
// give as CSV files; the DSN comes from --dsn or DRIFTD_DSN and its
// password appears in no output.
func TestPostgresCLI(t *testing.T) {
	s := pgtest.Start(t)
	s.MustExec(t, samplesSQL)
	dir := t.TempDir()
	query := func(period string) string {
		return "select " + samplesColumns + " from samples where period = '" + period + "' order by id"
	}
	csvFile := func(period string) string {
		p := filepath.Join(dir, period+".csv")
		out := s.MustExec(t, "copy (select "+samplesCSVColumns+" from samples where period = '"+period+"' order by id) to stdout with (format csv, header)")
		if err := os.WriteFile(p, []byte(out+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	refCSV, curCSV := csvFile("reference"), csvFile("current")
	run := func(t *testing.T, cmd pgCommand, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := cmd(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		if strings.Contains(out.String()+errb.String(), s.Password) {
			t.Fatalf("%v: the password is in the output:\n%s\n%s", args, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	train := []string{"--target", "label", "--id", "id", "--rounds", "20", "--threads", "1", "--json"}
	fromQuery, fromCSV := filepath.Join(dir, "query.drift"), filepath.Join(dir, "csv.drift")

	t.Run("train", func(t *testing.T) {
		qOut, _ := run(t, runTrain, append([]string{"--dsn", s.DSN(), "--query", query("reference"), "--out", fromQuery}, train...)...)
		cOut, _ := run(t, runTrain, append([]string{"--data", refCSV, "--out", fromCSV}, train...)...)
		var q, c trainSummary
		if err := json.Unmarshal([]byte(qOut), &q); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(cOut), &c); err != nil {
			t.Fatal(err)
		}
		if q.Rows != 1200 || q.ValidRows != 300 || q.Features != 5 || q.Metrics["auc"] < 0.7 {
			t.Fatalf("trained from the query: %+v", q)
		}
		if q.Metrics["auc"] != c.Metrics["auc"] || q.Metrics["logloss"] != c.Metrics["logloss"] {
			t.Errorf("metrics from the query %v, from the same rows as CSV %v", q.Metrics, c.Metrics)
		}
		fp := decodeModelFile(t, fromQuery)
		b, _ := fp.Attachment("dataset.json")
		var got datasetFingerprint
		if err := json.Unmarshal(b, &got); err != nil || got.Query != query("reference") || len(got.SHA256) != 64 || got.Rows != 1500 {
			t.Errorf("fingerprint %s: %v", b, err)
		}
	})

	t.Run("predict", func(t *testing.T) {
		qPreds, cPreds := filepath.Join(dir, "q.csv"), filepath.Join(dir, "c.csv")
		t.Setenv(dsnEnv, s.DSN()) // the DSN from the environment
		_, stderr := run(t, runPredict, "--model", fromQuery, "--query", query("current"), "--out", qPreds)
		run(t, runPredict, "--model", fromCSV, "--data", curCSV, "--out", cPreds)
		q, _ := os.ReadFile(qPreds)
		c, _ := os.ReadFile(cPreds)
		if !strings.HasPrefix(string(q), "id,score,label\n1501,") || strings.Count(string(q), "\n") != 501 || !strings.Contains(stderr, "scored 500 rows") {
			t.Fatalf("predictions from the query:\n%.200s\n%s", q, stderr)
		}
		if !bytes.Equal(q, c) {
			t.Errorf("predictions from the query differ from those of the same rows as CSV")
		}
	})

	t.Run("drift", func(t *testing.T) {
		common := []string{"--exclude", "id,label", "--json", "--test", "ks"}
		qOut, stderr := run(t, runDrift, append([]string{"--dsn", s.DSN(), "--reference-query", query("reference"), "--current-query", query("current")}, common...)...)
		mixed, _ := run(t, runDrift, append([]string{"--dsn", s.DSN(), "--reference-query", query("reference"), "--current", curCSV}, common...)...)
		cOut, _ := run(t, runDrift, append([]string{"--reference", refCSV, "--current", curCSV}, common...)...)
		if qOut != cOut || mixed != cOut {
			t.Errorf("drift from queries:\n%s\nfrom a query and a file:\n%s\nfrom files:\n%s", qOut, mixed, cOut)
		}
		var rep driftJSON
		if err := json.Unmarshal([]byte(qOut), &rep); err != nil || rep.RowsReference != 1500 || rep.RowsCurrent != 500 || len(rep.Features) != 5 {
			t.Fatalf("%+v, %v", rep, err)
		}
		if x0 := rep.Features[0]; x0.Name != "x0" || !x0.Drifted {
			t.Errorf("the shifted x0: %+v", x0)
		}
		if !strings.Contains(stderr, "read --reference-query (1500 rows) and --current-query (500 rows)") {
			t.Errorf("stderr %q", stderr)
		}
	})
}

// pgCommand is the signature of runTrain, runPredict and runDrift.
type pgCommand = func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// TestPostgresCLIErrors checks the flag rules of the query sources and
// that a failing query names its problem, not the password.
func TestPostgresCLIErrors(t *testing.T) {
	s := pgtest.Start(t)
	out := filepath.Join(t.TempDir(), "m.drift")
	cases := []struct {
		name string
		cmd  pgCommand
		args []string
		code int
		want string
	}{
		{"train without a DSN", runTrain, []string{"--query", "select 1", "--target", "y", "--out", out}, 2, "--query needs a PostgreSQL DSN: --dsn or $DRIFTD_DSN"},
		{"train with data and query", runTrain, []string{"--data", "x.csv", "--query", "select 1", "--dsn", s.DSN(), "--target", "y", "--out", out}, 2, "--data and --query: give one of them"},
		{"train with neither", runTrain, []string{"--target", "y", "--out", out}, 2, "--data or --query is required"},
		{"test query without a DSN", runTrain, []string{"--data", "testdata/train_binary.csv", "--test-query", "select 1", "--target", "label", "--out", out}, 2, "--test-query needs a PostgreSQL DSN"},
		{"train on a bad query", runTrain, []string{"--dsn", s.DSN(), "--query", "select nope", "--target", "y", "--out", out}, 1, `--query on 127.0.0.1:`},
		{"predict without a DSN", runPredict, []string{"--model", out, "--query", "select 1"}, 2, "--query needs a PostgreSQL DSN"},
		{"drift on a bad query", runDrift, []string{"--dsn", s.DSN(), "--reference-query", "select nope", "--current-query", "select 1"}, 1, `column "nope" does not exist`},
		{"drift without a DSN", runDrift, []string{"--reference-query", "select 1", "--current", "x.csv"}, 2, "--reference-query needs a PostgreSQL DSN"},
	}
	t.Setenv(dsnEnv, "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			code := tc.cmd(context.Background(), tc.args, &o, &e)
			if code != tc.code || !strings.Contains(e.String(), tc.want) {
				t.Errorf("exit %d (want %d), stderr %q lacks %q", code, tc.code, e.String(), tc.want)
			}
			if strings.Contains(o.String()+e.String(), s.Password) {
				t.Errorf("the password is in the output: %s", e.String())
			}
		})
	}
}
