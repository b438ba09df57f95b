package registry

import (
	"bytes"
	"context"
	"math"
	"testing"
)

func TestRegisterAssignsVersions(t *testing.T) {
	ctx := WithUser(context.Background(), "alice")
	s, _ := mustOpen(t, Options{Now: newClock().Now})
	for _, want := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		v, err := s.Register(ctx, []byte("model-"+want), "churn", RegisterOptions{Algo: "gbdt",
			Metrics: map[string]float64{"auc": 0.91, "bad": math.NaN()}})
		must(t, err)
		if v.Version != want || v.Name != "churn" || v.CreatedBy != "alice" || v.Status != StatusReady {
			t.Fatalf("got %+v, want version %s by alice", v, want)
		}
		if _, ok := v.Metrics["bad"]; ok || v.Metrics["auc"] != 0.91 {
			t.Fatalf("metrics = %v, want auc only", v.Metrics)
		}
	}
	// An explicit major bump, then auto-assignment continues from the highest.
	mustRegister(t, s, "churn", "2.0.0")
	v, err := s.Register(ctx, []byte("x"), "churn", RegisterOptions{})
	must(t, err)
	if v.Version != "2.1.0" {
		t.Fatalf("next version = %s, want 2.1.0", v.Version)
	}
	// Immutable: the same version again is a conflict.
	_, err = s.Register(ctx, []byte("y"), "churn", RegisterOptions{Version: "1.1.0"})
	wantErr(t, err, ErrConflict)

	vs, err := s.ListVersions(ctx, "churn")
	must(t, err)
	var got []string
	for _, v := range vs {
		got = append(got, v.Version)
	}
	if want := []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"}; !equalStrings(got, want) {
		t.Fatalf("versions = %v, want %v", got, want)
	}
	art, err := s.Artifact(ctx, "churn", "1.1.0")
	must(t, err)
	if !bytes.Equal(art, []byte("model-1.1.0")) {
		t.Fatalf("artifact = %q", art)
	}
	if vs[1].ArtifactSize != int64(len("model-1.1.0")) || len(vs[1].ArtifactSHA256) != 64 {
		t.Fatalf("artifact metadata = %d %q", vs[1].ArtifactSize, vs[1].ArtifactSHA256)
	}
	m, err := s.GetModel(ctx, "churn")
	must(t, err)
	if m.LatestVersion != "2.1.0" || m.VersionCount != 5 {
		t.Fatalf("model = %+v", m)
	}
}

func TestRegisterValidation(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	tests := []struct {
		name     string
		artifact []byte
		model    string
		opts     RegisterOptions
		field    string
	}{
		{"bad name", []byte("x"), "bad name", RegisterOptions{}, "name"},
		{"empty artifact", nil, "m", RegisterOptions{}, "artifact"},
		{"bad version", []byte("x"), "m", RegisterOptions{Version: "1.0"}, "version"},
		{"bad tag", []byte("x"), "m", RegisterOptions{Tags: map[string]string{"a b": "c"}}, "tags"},
		{"bad feature type", []byte("x"), "m", RegisterOptions{Schema: []Feature{{Name: "f", Type: "text"}}}, "schema"},
		{"dup feature", []byte("x"), "m", RegisterOptions{Schema: []Feature{{Name: "f", Type: FeatureNumeric}, {Name: "f", Type: FeatureNumeric}}}, "schema"},
		{"missing run", []byte("x"), "m", RegisterOptions{RunID: "42"}, "run_id"},
		{"bad run id", []byte("x"), "m", RegisterOptions{RunID: "abc"}, "run_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Register(ctx, tt.artifact, tt.model, tt.opts)
			wantField(t, err, tt.field)
		})
	}
	// Nothing was written by the failed calls.
	models, err := s.ListModels(ctx)
	must(t, err)
	if len(models) != 0 {
		t.Fatalf("failed registrations left models: %+v", models)
	}
}

func TestModelCRUD(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	_, err := s.CreateModel(ctx, "fraud", ModelOptions{Description: "card fraud", Tags: map[string]string{"team": "risk"}})
	must(t, err)
	_, err = s.CreateModel(ctx, "fraud", ModelOptions{})
	wantErr(t, err, ErrConflict)
	desc := "updated"
	m, err := s.UpdateModel(ctx, "fraud", ModelUpdate{Description: &desc})
	must(t, err)
	if m.Description != "updated" || m.Tags["team"] != "risk" {
		t.Fatalf("after update: %+v", m)
	}
	_, err = s.UpdateModel(ctx, "nope", ModelUpdate{Description: &desc})
	wantErr(t, err, ErrNotFound)
	_, err = s.GetModel(ctx, "nope")
	wantErr(t, err, ErrNotFound)
	_, err = s.GetVersion(ctx, "fraud", "1.0.0")
	wantErr(t, err, ErrNotFound)
	_, err = s.GetVersion(ctx, "fraud", "latest")
	wantField(t, err, "version")
	_, err = s.ListVersions(ctx, "nope")
	wantErr(t, err, ErrNotFound)
}

func TestArchiveAndDelete(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	ctx := context.Background()
	mustRegister(t, s, "m", "1.0.0")
	mustRegister(t, s, "m", "1.1.0")
	must(t, s.Deploy(ctx, "m", "1.0.0", "production", "first"))
	must(t, s.SetAlias(ctx, "m", "champion", "1.1.0", ""))

	wantErr(t, s.Archive(ctx, "m", "1.0.0", ""), ErrConflict)
	wantErr(t, s.DeleteVersion(ctx, "m", "1.0.0", ""), ErrConflict)
	wantErr(t, s.Archive(ctx, "m", "1.1.0", ""), ErrConflict) // aliased
	must(t, s.DeleteAlias(ctx, "m", "champion", "retire"))
	must(t, s.Archive(ctx, "m", "1.1.0", "old"))
	v, err := s.GetVersion(ctx, "m", "1.1.0")
	must(t, err)
	if v.Status != StatusArchived {
		t.Fatalf("status = %s", v.Status)
	}
	wantErr(t, s.Deploy(ctx, "m", "1.1.0", "staging", ""), ErrConflict)
	must(t, s.Unarchive(ctx, "m", "1.1.0", ""))
	must(t, s.Deploy(ctx, "m", "1.1.0", "staging", ""))
	must(t, s.Undeploy(ctx, "m", "staging", ""))
	must(t, s.DeleteVersion(ctx, "m", "1.1.0", "cleanup"))
	_, err = s.Artifact(ctx, "m", "1.1.0")
	wantErr(t, err, ErrNotFound)
	// The deleted version is gone from staging's rollback stack.
	wantErr(t, s.Rollback(ctx, "m", "staging", ""), ErrConflict)

	hist, err := s.History(ctx, HistoryQuery{Model: "m"})
	must(t, err)
	var actions []string
	for _, e := range hist {
		actions = append(actions, e.Action+":"+e.From+">"+e.To)
	}
	want := []string{"delete:1.1.0>", "undeploy:1.1.0>", "deploy:>1.1.0", "unarchive:1.1.0>", "archive:1.1.0>",
		"alias_delete:1.1.0>", "alias_set:>1.1.0", "deploy:>1.0.0"}
	if !equalStrings(actions, want) {
		t.Fatalf("history =\n%v\nwant\n%v", actions, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
