package registry

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func TestDeployRollbackTwice(t *testing.T) {
	ctx := WithUser(context.Background(), "bob")
	s, _ := mustOpen(t, Options{})
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		mustRegister(t, s, "churn", v)
	}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		must(t, s.Deploy(ctx, "churn", v, "production", "release "+v))
	}
	must(t, s.Rollback(ctx, "churn", "production", "bad auc"))
	assertProduction(t, s, "1.1.0")
	must(t, s.Rollback(ctx, "churn", "production", "still bad"))
	assertProduction(t, s, "1.0.0")
	wantErr(t, s.Rollback(ctx, "churn", "production", ""), ErrConflict)

	// Undeploy keeps the version on the stack, so rollback restores it.
	must(t, s.Undeploy(ctx, "churn", "production", "incident"))
	_, err := s.Production(ctx, "churn")
	wantErr(t, err, ErrNotFound)
	must(t, s.Rollback(ctx, "churn", "production", "incident over"))
	assertProduction(t, s, "1.0.0")

	m, err := s.GetModel(ctx, "churn")
	must(t, err)
	if m.Environments["production"] != "1.0.0" || len(m.Environments) != 1 {
		t.Fatalf("environments = %v", m.Environments)
	}
	v, err := s.GetVersion(ctx, "churn", "1.0.0")
	must(t, err)
	if !equalStrings(v.Environments, []string{"production"}) {
		t.Fatalf("version environments = %v", v.Environments)
	}
}

func assertProduction(t *testing.T, s *Store, want string) {
	t.Helper()
	v, err := s.Production(context.Background(), "churn")
	must(t, err)
	if v.Version != want {
		t.Fatalf("production = %s, want %s", v.Version, want)
	}
}

func TestDeployErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{Environments: []string{"dev", "prod"}})
	mustRegister(t, s, "m", "1.0.0")
	wantField(t, s.Deploy(ctx, "m", "1.0.0", "production", ""), "environment")
	wantErr(t, s.Deploy(ctx, "m", "9.9.9", "prod", ""), ErrNotFound)
	wantErr(t, s.Deploy(ctx, "nope", "1.0.0", "prod", ""), ErrNotFound)
	wantField(t, s.Deploy(ctx, "m", "one", "prod", ""), "version")
	wantField(t, s.Deploy(ctx, "m", "1.0.0", "prod", strings.Repeat("r", 2000)), "reason")
	wantField(t, s.SetAlias(ctx, "m", "bad alias", "1.0.0", ""), "alias")
	wantErr(t, s.Undeploy(ctx, "m", "prod", ""), ErrConflict)
	wantErr(t, s.DeleteAlias(ctx, "m", "champion", ""), ErrNotFound)
	if got := s.Environments(); !equalStrings(got, []string{"dev", "prod"}) {
		t.Fatalf("environments = %v", got)
	}
}

func TestAliases(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	mustRegister(t, s, "m", "1.0.0")
	mustRegister(t, s, "m", "1.1.0")
	must(t, s.SetAlias(ctx, "m", "champion", "1.0.0", ""))
	must(t, s.SetAlias(ctx, "m", "challenger", "1.1.0", ""))
	must(t, s.SetAlias(ctx, "m", "champion", "1.1.0", "promote"))
	v, err := s.AliasVersion(ctx, "m", "champion")
	must(t, err)
	if v.Version != "1.1.0" || !equalStrings(v.Aliases, []string{"challenger", "champion"}) {
		t.Fatalf("champion = %s aliases %v", v.Version, v.Aliases)
	}
	must(t, s.RollbackAlias(ctx, "m", "champion", "demote"))
	m, err := s.GetModel(ctx, "m")
	must(t, err)
	if m.Aliases["champion"] != "1.0.0" || m.Aliases["challenger"] != "1.1.0" || len(m.Environments) != 0 {
		t.Fatalf("model aliases = %v envs = %v", m.Aliases, m.Environments)
	}
	hist, err := s.History(ctx, HistoryQuery{Model: "m", Alias: "champion"})
	must(t, err)
	if len(hist) != 3 || hist[0].Action != ActionRollback || hist[0].From != "1.1.0" || hist[0].To != "1.0.0" {
		t.Fatalf("alias history = %+v", hist)
	}
}

func TestHistoryAndDeployedAt(t *testing.T) {
	clk := newClock()
	s, _ := mustOpen(t, Options{Now: clk.Now})
	alice := WithUser(context.Background(), "alice")
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		mustRegister(t, s, "churn", v)
	}
	mustRegister(t, s, "other", "1.0.0")
	t0 := clk.Advance(time.Hour)
	must(t, s.Deploy(alice, "churn", "1.0.0", "production", "first release"))
	t1 := clk.Advance(time.Hour)
	must(t, s.Deploy(alice, "churn", "1.1.0", "production", "better auc"))
	must(t, s.Deploy(alice, "churn", "1.2.0", "staging", "try"))
	must(t, s.Deploy(alice, "other", "1.0.0", "production", ""))
	t2 := clk.Advance(time.Hour)
	must(t, s.Rollback(context.Background(), "churn", "production", "latency"))
	t3 := clk.Advance(time.Hour)
	must(t, s.Undeploy(alice, "churn", "production", "maintenance"))

	hist, err := s.History(context.Background(), HistoryQuery{Model: "churn", Environment: "production"})
	must(t, err)
	type row struct{ action, user, from, to, reason string }
	want := []row{
		{ActionUndeploy, "alice", "1.0.0", "", "maintenance"},
		{ActionRollback, "system", "1.1.0", "1.0.0", "latency"},
		{ActionDeploy, "alice", "1.0.0", "1.1.0", "better auc"},
		{ActionDeploy, "alice", "", "1.0.0", "first release"},
	}
	if len(hist) != len(want) {
		t.Fatalf("history has %d events: %+v", len(hist), hist)
	}
	for i, w := range want {
		h := hist[i]
		if (row{h.Action, h.User, h.From, h.To, h.Reason}) != w {
			t.Errorf("event %d = %+v, want %+v", i, h, w)
		}
	}
	if !hist[0].Time.Equal(t3) || !hist[3].Time.Equal(t0) {
		t.Errorf("times = %v .. %v, want %v .. %v", hist[0].Time, hist[3].Time, t3, t0)
	}
	all, err := s.History(context.Background(), HistoryQuery{Limit: 2})
	must(t, err)
	if len(all) != 2 || all[0].ID <= all[1].ID {
		t.Fatalf("limited history = %+v", all)
	}
	page, err := s.History(context.Background(), HistoryQuery{Before: all[1].ID})
	must(t, err)
	if len(page) == 0 || page[0].ID != all[1].ID-1 {
		t.Fatalf("paged history starts at %+v", page)
	}
	_, err = s.History(context.Background(), HistoryQuery{Model: "nope"})
	wantErr(t, err, ErrNotFound)

	at := func(tm time.Time) string {
		v, err := s.DeployedAt(context.Background(), "churn", "production", tm)
		if err != nil {
			wantErr(t, err, ErrNotFound)
			return ""
		}
		return v
	}
	cases := []struct {
		t    time.Time
		want string
	}{
		{t0.Add(-time.Second), ""},
		{t0, "1.0.0"},
		{t0.Add(30 * time.Minute), "1.0.0"},
		{t1, "1.1.0"},
		{t2.Add(-time.Second), "1.1.0"},
		{t2, "1.0.0"},
		{t3, ""},
		{t3.Add(time.Hour), ""},
	}
	for _, c := range cases {
		if got := at(c.t); got != c.want {
			t.Errorf("DeployedAt(%v) = %q, want %q", c.t, got, c.want)
		}
	}
	if v, err := s.DeployedAt(context.Background(), "churn", "staging", t3); err != nil || v != "1.2.0" {
		t.Errorf("staging at t3 = %q, %v", v, err)
	}
}

func TestSubscribeAndModelInfo(t *testing.T) {
	ctx := context.Background()
	set := metrics.NewSet()
	s, path := mustOpen(t, Options{Metrics: set})
	mustRegister(t, s, "m", "1.0.0")
	mustRegister(t, s, "m", "1.1.0")
	changes := make(chan DeploymentChange, 10)
	cancel := s.Subscribe(func(c DeploymentChange) { changes <- c })
	// next receives the one change op made and checks that it was delivered
	// after commit: the store already shows it.
	next := func(op error, want DeploymentChange) {
		t.Helper()
		must(t, op)
		got := recvChange(t, changes)
		if got != want {
			t.Fatalf("change = %+v, want %+v", got, want)
		}
		v, err := s.Deployed(ctx, got.Model, "production")
		if got.To != "" && (err != nil || v.Version != got.To) {
			t.Errorf("subscriber saw %v, store says %s %v", got, v.Version, err)
		}
	}
	next(s.Deploy(ctx, "m", "1.0.0", "production", ""), DeploymentChange{Model: "m", Environment: "production", To: "1.0.0"})
	must(t, s.Deploy(ctx, "m", "1.0.0", "production", "again")) // no change, no notification
	next(s.Deploy(ctx, "m", "1.1.0", "production", ""), DeploymentChange{Model: "m", Environment: "production", From: "1.0.0", To: "1.1.0"})
	text := promText(set)
	if !strings.Contains(text, `driftd_model_info{model="m",environment="production",version="1.1.0"} 1`) ||
		strings.Contains(text, `version="1.0.0"`) {
		t.Fatalf("metrics after deploy:\n%s", text)
	}
	next(s.Rollback(ctx, "m", "production", ""), DeploymentChange{Model: "m", Environment: "production", From: "1.1.0", To: "1.0.0"})
	next(s.Undeploy(ctx, "m", "production", ""), DeploymentChange{Model: "m", Environment: "production", From: "1.0.0"})
	// Archiving and deleting retire a version; unarchiving does not notify.
	next(s.Archive(ctx, "m", "1.1.0", "retire"), DeploymentChange{Model: "m", From: "1.1.0", Retired: true})
	must(t, s.Unarchive(ctx, "m", "1.1.0", "back"))
	next(s.DeleteVersion(ctx, "m", "1.1.0", "gone"), DeploymentChange{Model: "m", From: "1.1.0", Retired: true})
	cancel()
	must(t, s.Rollback(ctx, "m", "production", ""))
	if len(changes) != 0 {
		t.Fatalf("notified after cancel: %+v", <-changes)
	}
	if text := promText(set); !strings.Contains(text, `version="1.0.0"} 1`) || !strings.Contains(text, `driftd_registry_operations_total{op="deploy"} 3`) {
		t.Fatalf("metrics:\n%s", text)
	}
	// A reopened store publishes model_info for what is deployed.
	must(t, s.Close())
	set2 := metrics.NewSet()
	s2, err := Open(path, Options{Metrics: set2})
	must(t, err)
	defer s2.Close()
	if text := promText(set2); !strings.Contains(text, `driftd_model_info{model="m",environment="production",version="1.0.0"} 1`) {
		t.Fatalf("metrics after reopen:\n%s", text)
	}
}

// recvChange receives one notification; a missing one fails the test after
// a generous bound instead of hanging it.
func recvChange(tb testing.TB, changes <-chan DeploymentChange) DeploymentChange {
	tb.Helper()
	select {
	case c := <-changes:
		return c
	case <-time.After(10 * time.Second):
		tb.Fatal("no deployment change notified within 10s")
		return DeploymentChange{}
	}
}

// TestSlowSubscriberDoesNotBlockWriters holds a subscriber inside its first
// notification: writes that take the registry's order lock (deploys of this
// and other models, rollbacks, archives) and registrations all complete
// meanwhile, and once released the subscriber sees every change in commit
// order. Before notifications were queued, the first Deploy itself waited
// for the subscriber, and every model mutation behind it.
func TestSlowSubscriberDoesNotBlockWriters(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	mustRegister(t, s, "a", "1.0.0")
	mustRegister(t, s, "a", "1.1.0")
	mustRegister(t, s, "b", "1.0.0")
	entered, release := make(chan struct{}), make(chan struct{})
	changes := make(chan DeploymentChange, 10)
	var once sync.Once
	cancel := s.Subscribe(func(c DeploymentChange) {
		once.Do(func() { close(entered); <-release })
		changes <- c
	})
	released := sync.OnceFunc(func() { close(release) })
	t.Cleanup(func() { released(); cancel() })

	writes := make(chan error, 1)
	go func() {
		writes <- errors.Join(
			s.Deploy(ctx, "a", "1.0.0", "production", ""),
			s.Deploy(ctx, "a", "1.1.0", "production", ""),
			s.Deploy(ctx, "b", "1.0.0", "staging", ""),
			s.Rollback(ctx, "a", "production", ""),
			func() error { _, err := s.Register(ctx, []byte("x"), "a", RegisterOptions{}); return err }(),
			s.Archive(ctx, "a", "1.2.0", ""),
		)
	}()
	// Fault bound: the writes take milliseconds; 10s means they are stuck.
	select {
	case err := <-writes:
		must(t, err)
	case <-time.After(10 * time.Second):
		released()
		t.Fatal("registry writes were held up by a subscriber that had not returned")
	}
	<-entered
	released()
	want := []DeploymentChange{
		{Model: "a", Environment: "production", To: "1.0.0"},
		{Model: "a", Environment: "production", From: "1.0.0", To: "1.1.0"},
		{Model: "b", Environment: "staging", To: "1.0.0"},
		{Model: "a", Environment: "production", From: "1.1.0", To: "1.0.0"},
	}
	for i, w := range want {
		if got := recvChange(t, changes); got != w {
			t.Errorf("change %d = %+v, want %+v", i, got, w)
		}
	}
}

func promText(set *metrics.Set) string {
	var b bytes.Buffer
	set.WritePrometheus(&b)
	return b.String()
}
