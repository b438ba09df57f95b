package registry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// mustModelWithEverything registers two versions of name with a run link, a
// profile, an alias, a tag, an MLflow number and drift history.
func mustModelWithEverything(tb testing.TB, s *Store, name string) Run {
	tb.Helper()
	ctx := context.Background()
	exp, err := s.CreateExperiment(ctx, "e-"+name, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	run, err := s.CreateRun(ctx, exp.ID, RunOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Register(ctx, []byte("model one"), name, RegisterOptions{Profile: []byte("profile one"), RunID: run.ID}); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.RegisterMLflow(ctx, []byte("model two"), name, RegisterOptions{}, MLflowSource{Source: "runs:/" + run.ID + "/model"}); err != nil {
		tb.Fatal(err)
	}
	if err := s.SetAlias(ctx, name, "champion", "1.0.0", ""); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.SetModelTag(ctx, name, "team", "risk"); err != nil {
		tb.Fatal(err)
	}
	err = s.AppendDriftPoint(ctx, name, DriftPoint{Time: s.now(), Version: "1.0.0", MaxPSI: 0.3, Features: map[string]float64{"age": 0.3}}, DriftHistoryOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return run
}

func TestRenameModel(t *testing.T) {
	clock := newClock()
	s, _ := mustOpen(t, Options{Now: clock.Now})
	ctx := context.Background()
	run := mustModelWithEverything(t, s, "churn")
	if _, err := s.CreateModel(ctx, "taken", ModelOptions{}); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name, newName string
		want          error
	}{
		{"churn", "taken", ErrConflict},
		{"churn", "bad name", ErrInvalid},
		{"nope", "other", ErrNotFound},
	}
	for _, r := range refusals {
		if _, err := s.RenameModel(ctx, r.name, r.newName, ""); !errors.Is(err, r.want) {
			t.Errorf("rename %s to %s: %v, want %v", r.name, r.newName, err, r.want)
		}
	}
	if err := s.Deploy(ctx, "churn", "1.1.0", "staging", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenameModel(ctx, "churn", "churn2", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("rename of a deployed model: %v, want ErrConflict", err)
	}
	if err := s.Undeploy(ctx, "churn", "staging", ""); err != nil {
		t.Fatal(err)
	}

	m, err := s.RenameModel(ctx, "churn", "churn2", "new naming scheme")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "churn2" || m.VersionCount != 2 || m.Aliases["champion"] != "1.0.0" || m.Tags["team"] != "risk" {
		t.Fatalf("renamed model: %+v", m)
	}
	if _, err := s.GetModel(ctx, "churn"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old name: %v, want ErrNotFound", err)
	}
	vs, err := s.ListVersions(ctx, "churn2")
	if err != nil || len(vs) != 2 || vs[0].Name != "churn2" {
		t.Fatalf("versions after rename: %+v (%v)", vs, err)
	}
	if a, err := s.Artifact(ctx, "churn2", "1.1.0"); err != nil || string(a) != "model two" {
		t.Fatalf("artifact after rename: %q (%v)", a, err)
	}
	if p, err := s.Profile(ctx, "churn2", "1.0.0"); err != nil || string(p) != "profile one" {
		t.Fatalf("profile after rename: %q (%v)", p, err)
	}
	mv, err := s.MLflowVersionOf(ctx, "churn2", "2")
	if err != nil || mv.Version.Version != "1.1.0" || mv.Source != "runs:/"+run.ID+"/model" {
		t.Fatalf("MLflow number after rename: %+v (%v)", mv, err)
	}
	pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn2"})
	if err != nil || len(pts) != 1 {
		t.Fatalf("drift history after rename: %d points (%v)", len(pts), err)
	}
	r, err := s.GetRun(ctx, run.ID)
	if err != nil || !slices.Equal(r.Versions, []string{"churn2@1.0.0"}) {
		t.Fatalf("run links after rename: %v (%v)", r.Versions, err)
	}
	evs, err := s.History(ctx, HistoryQuery{Model: "churn2", Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Action != ActionModelRename || evs[0].Reason != "renamed from churn. new naming scheme" {
		t.Fatalf("history: %+v (%v)", evs, err)
	}
	// The new name takes versions as before.
	if v, err := s.Register(ctx, []byte("model three"), "churn2", RegisterOptions{}); err != nil || v.Version != "1.2.0" {
		t.Fatalf("register after rename: %+v (%v)", v, err)
	}
}

func TestDeleteModel(t *testing.T) {
	clock := newClock()
	s, _ := mustOpen(t, Options{Now: clock.Now})
	ctx := context.Background()
	run := mustModelWithEverything(t, s, "churn")
	if err := s.Deploy(ctx, "churn", "1.0.0", "production", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteModel(ctx, "churn", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete of a deployed model: %v, want ErrConflict", err)
	}
	if err := s.Undeploy(ctx, "churn", "production", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteModel(ctx, "churn", "retired"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteModel(ctx, "churn", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v, want ErrNotFound", err)
	}
	if _, err := s.Artifact(ctx, "churn", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("artifact of a deleted model: %v", err)
	}
	if pts, err := s.DriftHistory(ctx, DriftHistoryQuery{Model: "churn"}); err != nil || len(pts) != 0 {
		t.Fatalf("drift history of a deleted model: %d points (%v)", len(pts), err)
	}
	if r, err := s.GetRun(ctx, run.ID); err != nil || len(r.Versions) != 0 {
		t.Fatalf("run links of a deleted model: %v (%v)", r.Versions, err)
	}
	// A model of the same name starts again from version 1 (MLflow's numbers too).
	clock.Advance(time.Second)
	v, err := s.RegisterMLflow(ctx, []byte("again"), "churn", RegisterOptions{}, MLflowSource{})
	if err != nil || v.Version.Version != "1.0.0" || v.Number != 1 {
		t.Fatalf("register after delete: %+v (%v)", v, err)
	}
	evs, err := s.History(ctx, HistoryQuery{Limit: 2})
	if err != nil || len(evs) != 2 || evs[0].Action != ActionModelDelete || evs[0].Reason != "retired" {
		t.Fatalf("history: %+v (%v)", evs, err)
	}
}

func TestExperimentLifecycle(t *testing.T) {
	s, _ := mustOpen(t, Options{Now: newClock().Now})
	ctx := context.Background()
	a, _ := s.CreateExperiment(ctx, "a", "", nil)
	b, _ := s.CreateExperiment(ctx, "b", "", nil)
	r, _ := s.CreateRun(ctx, a.ID, RunOptions{})
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"rename to a taken name", func() error { return s.RenameExperiment(ctx, a.ID, "b") }, ErrConflict},
		{"rename", func() error { return s.RenameExperiment(ctx, a.ID, "a2") }, nil},
		{"old name is free", func() error { _, err := s.CreateExperiment(ctx, "a", "", nil); return err }, nil},
		{"delete", func() error { return s.DeleteExperiment(ctx, a.ID) }, nil},
		{"delete again", func() error { return s.DeleteExperiment(ctx, a.ID) }, ErrConflict},
		{"no runs in a deleted experiment", func() error { _, err := s.CreateRunAt(ctx, a.ID, RunStart{}); return err }, ErrConflict},
		{"no data on its runs", func() error { return s.LogRunBatch(ctx, r.ID, RunBatch{Tags: []KeyValue{{"k", "v"}}}) }, ErrConflict},
		{"restore", func() error { return s.RestoreExperiment(ctx, a.ID) }, nil},
		{"restore again", func() error { return s.RestoreExperiment(ctx, a.ID) }, ErrConflict},
		{"unknown experiment", func() error { return s.DeleteExperiment(ctx, "99") }, ErrNotFound},
		{"delete b", func() error { return s.DeleteExperiment(ctx, b.ID) }, nil},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
	}
	if e, err := s.ExperimentByName(ctx, "a2"); err != nil || e.ID != a.ID {
		t.Fatalf("renamed experiment: %+v (%v)", e, err)
	}
	l, err := s.Lifecycle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.Experiments[a.ID].Deleted || !l.Experiments[b.ID].Deleted || l.RunDeleted(&r) {
		t.Fatalf("lifecycle: %+v", l)
	}
}
