package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"driftd/internal/pgtest"
)

// mustEveryType starts a cluster holding testdata/pg_every_type.sql.
func mustEveryType(tb testing.TB) *pgtest.Server {
	tb.Helper()
	s := pgtest.Start(tb)
	sql, err := os.ReadFile("testdata/pg_every_type.sql")
	if err != nil {
		tb.Fatal(err)
	}
	s.MustExec(tb, string(sql))
	return s
}

// TestReadQuery reads a table of every mapped type, with NULLs, from a
// real server and checks that it gives the dataset the same data gives as
// CSV (testdata/pg_every_type.csv): numbers, 0/1 booleans, Unix seconds,
// strings and enums as categories, NULL as missing, the options' roles.
// Its subtests on the same server check errors and cancellation.
func TestReadQuery(t *testing.T) {
	s := mustEveryType(t)
	const all = "select * from every_type order by id"
	cases := []struct {
		name  string
		query string
		opts  CSVOptions
	}{
		{"classification", all, CSVOptions{Target: "label", Exclude: []string{"numtext"}}},
		{"id column", all, CSVOptions{Target: "label", ID: "id", Exclude: []string{"numtext"}}},
		{"forced types", all, CSVOptions{Target: "label", Categorical: []string{"i2", "i4"}, Numeric: []string{"numtext"}}},
		{"regression", all, CSVOptions{Target: "amount", Regression: true, Exclude: []string{"label", "numtext"}}},
		{"fixed classes", all, CSVOptions{Target: "label", TargetLevels: []string{"yes", "no"}, Exclude: []string{"numtext"}}},
		{"boolean target", "select * from every_type where flag is not null order by id", CSVOptions{Target: "flag", Exclude: []string{"numtext"}}},
		{"no target", all, CSVOptions{Exclude: []string{"numtext", "label"}}},
	}
	csvData, err := os.ReadFile("testdata/pg_every_type.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadQuery(context.Background(), s.DSN(), tc.query, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			data := string(csvData)
			if strings.Contains(tc.query, "flag is not null") {
				data = csvRowsWhere(t, data, "flag", func(v string) bool { return v != "" })
			}
			want, err := ReadCSV(strings.NewReader(data), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := pgDatasetDiff(got, want); d != "" {
				t.Error(d)
			}
			if got.Rows < 30 {
				t.Errorf("%d rows", got.Rows)
			}
		})
	}
	t.Run("columns", func(t *testing.T) {
		got, err := QueryColumns(context.Background(), s.DSN(), "select id, label as y from every_type where false")
		if err != nil || !slices.Equal(got, []string{"id", "y"}) {
			t.Fatalf("QueryColumns: %q, %v", got, err)
		}
	})
	t.Run("empty result", func(t *testing.T) {
		ds, err := ReadQuery(context.Background(), s.DSN(), "select f8, name from every_type where false", CSVOptions{})
		if err != nil || ds.Rows != 0 || !slices.Equal(ds.Names, []string{"f8", "name"}) || ds.Kinds[1] != Categorical {
			t.Fatalf("%+v, %v", ds, err)
		}
	})
	t.Run("excluded unsupported", func(t *testing.T) { testReadQueryExcludedUnsupported(t, s) })
	t.Run("errors", func(t *testing.T) { testReadQueryErrors(t, s) })
	t.Run("cancel", func(t *testing.T) { testReadQueryCancel(t, s) })
}

// csvRowsWhere keeps the header and the rows whose column col passes keep.
func csvRowsWhere(tb testing.TB, data, col string, keep func(string) bool) string {
	tb.Helper()
	lines := strings.Split(strings.TrimSpace(data), "\n")
	j := slices.Index(strings.Split(lines[0], ","), col)
	if j < 0 {
		tb.Fatalf("no column %s", col)
	}
	out := []string{lines[0]}
	for _, l := range lines[1:] {
		if keep(strings.Split(l, ",")[j]) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// pgDatasetDiff describes how two datasets differ, "" when they are equal
// (NaN equal to NaN).
func pgDatasetDiff(got, want *Dataset) string {
	same := func(a, b any) bool { return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b) }
	switch {
	case got.Rows != want.Rows:
		return fmt.Sprintf("%d rows, want %d", got.Rows, want.Rows)
	case !same(got.Names, want.Names) || !same(got.Kinds, want.Kinds):
		return fmt.Sprintf("columns %v %v, want %v %v", got.Names, got.Kinds, want.Names, want.Kinds)
	case !same(got.TargetLevels, want.TargetLevels) || !same(got.IDs, want.IDs):
		return fmt.Sprintf("classes %q ids %q, want %q %q", got.TargetLevels, got.IDs, want.TargetLevels, want.IDs)
	case !pgSameFloats(got.Target, want.Target):
		return fmt.Sprintf("target %v, want %v", got.Target, want.Target)
	}
	for i, name := range got.Names {
		if !same(got.Levels[i], want.Levels[i]) || !same(got.Codes[i], want.Codes[i]) {
			return fmt.Sprintf("column %s: levels %q codes %v, want %q %v", name, got.Levels[i], got.Codes[i], want.Levels[i], want.Codes[i])
		}
		if !pgSameFloats(got.Num[i], want.Num[i]) {
			return fmt.Sprintf("column %s: %v, want %v", name, got.Num[i], want.Num[i])
		}
	}
	return ""
}

// pgSameFloats reports whether a and b hold the same numbers (NaN = NaN).
func pgSameFloats(a, b []float64) bool {
	return len(a) == len(b) && (a == nil) == (b == nil) && slices.EqualFunc(a, b, func(x, y float64) bool {
		return x == y || math.IsNaN(x) && math.IsNaN(y)
	})
}

// testReadQueryErrors checks that errors name the place (the query's line
// and column, the column and row) and never hold the password.
func testReadQueryErrors(t *testing.T, s *pgtest.Server) {
	wrongPassword := strings.Replace(s.DSN(), s.Password, s.Password+"-wrong", 1)
	badURL := strings.Replace(s.DSN(), strconv.Itoa(s.Port), "port", 1)
	target := CSVOptions{Target: "y"}
	cases := []struct {
		name, dsn, query string
		opts             CSVOptions
		want             []string
	}{
		{"syntax", s.DSN(), "select 1 as x,\n  2 as y frm every_type", target,
			[]string{`syntax error at or near "frm"`, "SQLSTATE 42601", "line 2, column 10"}},
		{"unknown column", s.DSN(), "select nope from every_type", target,
			[]string{`column "nope" does not exist`, "line 1, column 8"}},
		{"error while running", s.DSN(), "select 1 / (i2 - i2) as x, label as y from every_type", target,
			[]string{"division by zero", "SQLSTATE 22012"}},
		{"read-only", s.DSN(), "insert into every_type (id, amount, label) values (1, 1, 'yes') returning id as x, label as y", target,
			[]string{"cannot execute INSERT in a read-only transaction"}},
		{"no result columns", s.DSN(), "create table t (a int)", target, []string{"returns no columns"}},
		{"parameters", s.DSN(), "select $1::int as x", target, []string{"1 parameters ($1...)"}},
		{"empty", s.DSN(), "  ", target, []string{"the query is empty"}},
		{"json", s.DSN(), "select '{}'::jsonb as meta, 1 as y", target,
			[]string{`column "meta" has type jsonb`, `"meta"->>'key'`}},
		{"array", s.DSN(), "select array[i4] as arr, label as y from every_type", target,
			[]string{`column "arr" has type integer[]`, `"arr"[1]`}},
		{"bytea", s.DSN(), "select 'a'::bytea as b, 1 as y", target, []string{`column "b" has type bytea`, "encode"}},
		{"interval", s.DSN(), "select interval '1 day' as span, 1 as y", target,
			[]string{`column "span" has type interval`, `extract(epoch from "span")`}},
		{"domain over json", s.DSN(), "select null::meta as m, 1 as y", target, []string{`column "m" has type jsonb`}},
		{"infinity", s.DSN(), "select x::float8 as x, 1 as y from (values ('1'), ('infinity')) v(x)", target,
			[]string{`row 2, column "x"`, "infinite value"}},
		{"infinite date", s.DSN(), "select 'infinity'::date as d, 1 as y", target, []string{`row 1, column "d"`, "infinite value"}},
		{"missing target", s.DSN(), "select i4, f8 from every_type", target, []string{`no column "y"`}},
		{"target null", s.DSN(), "select i4, f8 as y from every_type order by id", target, []string{`column "y"`, "missing value"}},
		{"named source", s.DSN(), "select nope", CSVOptions{Name: "training query"}, []string{"training query on 127.0.0.1:", `column "nope"`}},
		{"wrong password", wrongPassword, "select 1 as y", target, []string{"password authentication failed", s.User}},
		{"bad DSN", badURL, "select 1 as y", target, []string{"invalid PostgreSQL DSN", "xxxxx"}},
	}
	s.MustExec(t, "create domain meta as jsonb")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := ReadQuery(context.Background(), tc.dsn, tc.query, tc.opts)
			if err == nil {
				t.Fatalf("no error; read %d rows", ds.Rows)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), s.Password) {
				t.Errorf("error %q holds the password", err)
			}
			t.Log(err)
		})
	}
	if n := s.MustExec(t, "select count(*) from every_type where id = 1"); n != "0" {
		t.Errorf("the refused insert wrote %s rows", n)
	}
}

// TestReadQueryRefused connects to a port nothing listens on: the error
// names host:port and the database, and not the password. It needs no
// server.
func TestReadQueryRefused(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(pgFreePort(t)))
	for _, dsn := range []string{
		"postgres://someone:s3cret-pw@" + addr + "/sales?sslmode=disable",
		"host=127.0.0.1 port=" + addr[strings.LastIndex(addr, ":")+1:] + " user=someone password='s3cret-pw' dbname=sales sslmode=disable",
	} {
		_, err := ReadQuery(context.Background(), dsn, "select 1 as y", CSVOptions{Target: "y"})
		if err == nil || !strings.Contains(err.Error(), "connect to PostgreSQL at "+addr+"/sales") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s: error %v, want one naming %s and the refusal", RedactDSN(dsn), err, addr)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q holds the password", err)
		}
		if _, err := QueryColumns(context.Background(), dsn, "select 1"); err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("QueryColumns: %v", err)
		}
	}
}

// testReadQueryExcludedUnsupported checks that an excluded column of a
// type driftd does not read is skipped, not refused.
func testReadQueryExcludedUnsupported(t *testing.T, s *pgtest.Server) {
	ds, err := ReadQuery(context.Background(), s.DSN(), "select '{\"a\":1}'::json as meta, 2.5::float8 as x", CSVOptions{Exclude: []string{"meta"}})
	if err != nil || ds.Rows != 1 || !slices.Equal(ds.Names, []string{"x"}) || ds.Num[0][0] != 2.5 {
		t.Fatalf("%+v, %v", ds, err)
	}
}

// testReadQueryCancel cancels a query while the server runs it (a sleep)
// and while rows stream (a billion of them): ReadQuery returns an error
// wrapping context.Canceled, and the server stops the query.
func testReadQueryCancel(t *testing.T, s *pgtest.Server) {
	cases := []struct{ name, query string }{
		{"running", "select pg_sleep(600)::text as x"},
		{"streaming", "select g::float8 as x from generate_series(1, 1000000000) g"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := ReadQuery(ctx, s.DSN(), tc.query, CSVOptions{})
				done <- err
			}()
			active := fmt.Sprintf("select count(*) from pg_stat_activity where state = 'active' and query = '%s'", tc.query)
			pgWaitFor(t, func() bool { return s.MustExec(t, active) == "1" }, "the query to run")
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("error %v, want context.Canceled", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("ReadQuery still running a minute after the cancel")
			}
			pgWaitFor(t, func() bool { return s.MustExec(t, active) == "0" }, "the server to stop the query")
		})
	}
}

// pgWaitFor polls cond until it holds, failing tb after a minute.
func pgWaitFor(tb testing.TB, cond func() bool, what string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
}

// pgFreePort returns a TCP port of 127.0.0.1 nothing listens on.
func pgFreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
