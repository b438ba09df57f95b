package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// externalOpts registers a version driftd cannot score.
func externalOpts(source, reason string) RegisterOptions {
	return RegisterOptions{Description: "a pickle", Tags: map[string]string{"flavor": "sklearn"},
		External: &External{Source: source, Reason: reason}}
}

// wantNotScorable asserts err refuses version of model as not scorable: it is
// ErrNotScorable, a *NotScorableError and a *FieldError for "version" whose
// message names the version, its source and its reason.
func wantNotScorable(tb testing.TB, err error, model, version string, ext External) {
	tb.Helper()
	var ne *NotScorableError
	if !errors.Is(err, ErrNotScorable) || !errors.As(err, &ne) || ne.Model != model || ne.Version != version {
		tb.Fatalf("got error %v, want NotScorableError for %s %s", err, model, version)
	}
	wantField(tb, err, "version")
	for _, s := range []string{version, model, ext.Source, ext.Reason} {
		if !strings.Contains(err.Error(), s) {
			tb.Fatalf("error %q does not say %q", err, s)
		}
	}
}

// TestExternalVersion registers a version driftd cannot score and checks it
// is kept with its source and reason (across a reopen and a rename), can be
// aliased, archived and deleted, but not deployed, rolled back to or loaded.
func TestExternalVersion(t *testing.T) {
	ctx := context.Background()
	s, path := mustOpen(t, Options{Now: newClock().Now})
	mustRegister(t, s, "churn", "1.0.0")
	ext := External{Source: "s3://bucket/model", Reason: "not a driftd model: a pickle"}
	v, err := s.Register(ctx, nil, "churn", externalOpts(ext.Source, ext.Reason))
	must(t, err)
	if v.Version != "1.1.0" || v.Scorable || v.External == nil || *v.External != ext || v.ArtifactSize != 0 || v.ArtifactSHA256 != "" {
		t.Fatalf("registered %+v", v)
	}
	must(t, s.Close())
	s, err = Open(path, Options{Now: newClock().Now})
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	vs, err := s.ListVersions(ctx, "churn")
	must(t, err)
	if len(vs) != 2 || !vs[0].Scorable || vs[0].External != nil || vs[1].Scorable || vs[1].External == nil || *vs[1].External != ext ||
		vs[1].Tags["flavor"] != "sklearn" || vs[1].Status != StatusReady {
		t.Fatalf("versions after reopen: %+v", vs)
	}

	m, err := s.GetModel(ctx, "churn")
	if err != nil || m.VersionCount != 2 || m.UnscorableCount != 1 || m.LatestVersion != "1.1.0" || m.LatestExternal == nil || *m.LatestExternal != ext {
		t.Fatalf("model stats %+v (%v)", m, err)
	}

	wantNotScorable(t, s.Deploy(ctx, "churn", "1.1.0", "production", "try"), "churn", "1.1.0", ext)
	_, err = s.Artifact(ctx, "churn", "1.1.0")
	wantNotScorable(t, err, "churn", "1.1.0", ext)
	_, err = s.Profile(ctx, "churn", "1.1.0")
	wantNotScorable(t, err, "churn", "1.1.0", ext)
	if _, err := s.Deployed(ctx, "churn", "production"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused deploy left production at a version: %v", err)
	}

	must(t, s.SetAlias(ctx, "churn", "candidate", "1.1.0", "MLflow alias"))
	got, err := s.AliasVersion(ctx, "churn", "candidate")
	if err != nil || got.Version != "1.1.0" || got.Scorable {
		t.Fatalf("alias points at %+v (%v)", got, err)
	}
	must(t, s.DeleteAlias(ctx, "churn", "candidate", ""))
	must(t, s.Archive(ctx, "churn", "1.1.0", ""))
	must(t, s.Unarchive(ctx, "churn", "1.1.0", ""))

	if _, err := s.RenameModel(ctx, "churn", "churn2", ""); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetVersion(ctx, "churn2", "1.1.0")
	if err != nil || got.Scorable || got.External == nil || *got.External != ext || got.Name != "churn2" {
		t.Fatalf("after rename: %+v (%v)", got, err)
	}
	wantNotScorable(t, s.Deploy(ctx, "churn2", "1.1.0", "staging", ""), "churn2", "1.1.0", ext)
	mustRegister(t, s, "churn2", "2.0.0")
	ms, err := s.ListModels(ctx)
	if err != nil || len(ms) != 1 || ms[0].UnscorableCount != 1 || ms[0].LatestExternal != nil || ms[0].LatestVersion != "2.0.0" {
		t.Fatalf("models after a scorable 2.0.0: %+v (%v)", ms, err)
	}
	must(t, s.DeleteVersion(ctx, "churn2", "1.1.0", ""))
	if _, err := s.GetVersion(ctx, "churn2", "1.1.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted external version: %v", err)
	}
}

// TestExternalRollbackRefused checks that a rollback stack never returns an
// environment to an external version, even if one got onto it (a file
// written by another build).
func TestExternalRollbackRefused(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{Now: newClock().Now})
	mustRegister(t, s, "churn", "1.0.0")
	ext := External{Source: "runs:/7/model", Reason: "none of the files is a model driftd can score"}
	_, err := s.Register(ctx, nil, "churn", externalOpts(ext.Source, ext.Reason))
	must(t, err)
	mustRegister(t, s, "churn", "2.0.0")
	must(t, s.Deploy(ctx, "churn", "2.0.0", "production", ""))
	must(t, s.db.Update(func(tx *bbolt.Tx) error {
		m, err := getModel(tx, "churn")
		if err != nil {
			return err
		}
		m.Environments["production"].Previous = []string{"1.1.0"}
		return putJSON(tx.Bucket(bucketModels), []byte("churn"), m)
	}))
	wantNotScorable(t, s.Rollback(ctx, "churn", "production", ""), "churn", "1.1.0", ext)
	if v, err := s.Deployed(ctx, "churn", "production"); err != nil || v.Version != "2.0.0" {
		t.Fatalf("production after the refused rollback: %q (%v)", v.Version, err)
	}
}

func TestExternalVersionValidation(t *testing.T) {
	long := strings.Repeat("x", maxExternalLen+1)
	tests := []struct {
		name      string
		artifact  []byte
		opts      RegisterOptions
		wantField string
	}{
		{"a model file too", []byte("model"), externalOpts("s3://b/m", "pickle"), "artifact"},
		{"a profile", nil, RegisterOptions{Profile: []byte("p"), External: &External{Source: "s3://b/m", Reason: "pickle"}}, "profile"},
		{"no source", nil, externalOpts("", "pickle"), "source"},
		{"no reason", nil, externalOpts("s3://b/m", ""), "reason"},
		{"source too long", nil, externalOpts(long, "pickle"), "source"},
		{"reason too long", nil, externalOpts("s3://b/m", long), "reason"},
		{"neither model file nor external", nil, RegisterOptions{}, "artifact"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustOpen(t, Options{})
			_, err := s.Register(context.Background(), tt.artifact, "churn", tt.opts)
			wantField(t, err, tt.wantField)
			if _, err := s.GetModel(context.Background(), "churn"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a refused registration created the model: %v", err)
			}
		})
	}
}

// TestStoredVersionBeforeExternal reads a version record as stored before
// versions could be external (testdata/compat/version_v1.json): it is
// scorable, deployable and its model file loads.
func TestStoredVersionBeforeExternal(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join("testdata", "compat", "version_v1.json"))
	must(t, err)
	s, _ := mustOpen(t, Options{})
	_, err = s.CreateModel(ctx, "churn", ModelOptions{})
	must(t, err)
	must(t, s.db.Update(func(tx *bbolt.Tx) error {
		key := SemVer{Major: 1}.key()
		vb, err := tx.Bucket(bucketVersions).CreateBucketIfNotExists([]byte("churn"))
		if err != nil {
			return err
		}
		if err := vb.Put(key, raw); err != nil {
			return err
		}
		ab, err := tx.Bucket(bucketArtifacts).CreateBucketIfNotExists([]byte("churn"))
		if err != nil {
			return err
		}
		return ab.Put(key, []byte("model"))
	}))
	v, err := s.GetVersion(ctx, "churn", "1.0.0")
	if err != nil || !v.Scorable || v.External != nil || v.Tags["team"] != "risk" {
		t.Fatalf("old record reads as %+v (%v)", v, err)
	}
	mv, err := s.MLflowVersionOf(ctx, "churn", "1")
	if err != nil || !mv.Scorable {
		t.Fatalf("old record through MLflow: %+v (%v)", mv, err)
	}
	must(t, s.Deploy(ctx, "churn", "1.0.0", "production", ""))
	if b, err := s.Artifact(ctx, "churn", "1.0.0"); err != nil || string(b) != "model" {
		t.Fatalf("artifact of the old record: %q (%v)", b, err)
	}
	if d, err := s.Deployed(ctx, "churn", "production"); err != nil || !d.Scorable {
		t.Fatalf("deployed old record: %+v (%v)", d, err)
	}
}

// TestRegisterMLflowExternal numbers an external version like any other and
// records its MLflow source.
func TestRegisterMLflowExternal(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpen(t, Options{})
	mustRegister(t, s, "churn", "1.0.0")
	v, err := s.RegisterMLflow(ctx, nil, "churn", externalOpts("s3://b/m", "pickle"), MLflowSource{Source: "s3://b/m"})
	must(t, err)
	if v.Number != 2 || v.Source != "s3://b/m" || v.Scorable {
		t.Fatalf("MLflow version %+v", v)
	}
	vs, err := s.MLflowVersions(ctx, "churn")
	must(t, err)
	if len(vs) != 2 || !vs[0].Scorable || vs[1].Scorable || vs[1].External.Reason != "pickle" {
		t.Fatalf("MLflow versions %+v", vs)
	}
}
