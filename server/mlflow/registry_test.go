package mlflow

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"driftd/registry"
	"driftd/train"
)

// mustReadImport reads a model file of train's import fixtures.
func mustReadImport(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "train", "testdata", "import", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestModelVersionFromRunArtifact registers versions through MLflow from run
// artifacts of every kind and checks each lands in driftd's registry linked
// to its run: a scorable driftd model for what driftd scores, an external
// version marked not scorable, with the reason, for anything else.
func TestModelVersionFromRunArtifact(t *testing.T) {
	model := mustDriftdModel(t)
	damaged := append([]byte("DRIFTDMD"), bytes.Repeat([]byte{7}, 40)...)
	tests := []struct {
		name       string
		artifacts  map[string][]byte
		source     string // %s is the run id
		wantSource string // the model's Source(): "driftd", "xgboost", "lightgbm"; "" = not scorable
		wantMsg    string // part of the reason it is not scorable
	}{
		{"driftd model file", map[string][]byte{"model": model}, "runs:/%s/model", "driftd", ""},
		{"driftd model in a model directory", map[string][]byte{"model/MLmodel": []byte("flavors: {}\n"), "model/model.driftd": model}, "runs:/%s/model", "driftd", ""},
		{"XGBoost JSON", map[string][]byte{"m/MLmodel": []byte("flavors:\n  xgboost: {}\n"), "m/model.json": mustReadImport(t, "xgb_binary.json")}, "mlflow-artifacts:/1/%s/artifacts/m", "xgboost", ""},
		{"XGBoost UBJSON", map[string][]byte{"m/model.ubj": mustReadImport(t, "xgb_binary.ubj")}, "runs:/%s/m/", "xgboost", ""},
		{"LightGBM text", map[string][]byte{"lgb/model.lgb": mustReadImport(t, "lgb_binary.txt")}, "runs:/%s/lgb/model.lgb", "lightgbm", ""},
		{"a pickle", map[string][]byte{"model/MLmodel": []byte("flavors:\n  sklearn: {}\n"), "model/model.pkl": []byte("\x80\x04\x95 not a model")}, "runs:/%s/model", "", "driftd scores only driftd model files, XGBoost models saved as JSON or UBJSON"},
		{"a damaged driftd file", map[string][]byte{"model": damaged}, "runs:/%s/model", "", "is a damaged driftd model file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			ctx := context.Background()
			exp, err := s.store.CreateExperiment(ctx, "e", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			run, err := s.store.CreateRun(ctx, exp.ID, registry.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range tt.artifacts {
				if err := s.store.PutRunArtifact(ctx, run.ID, name, data); err != nil {
					t.Fatal(err)
				}
			}
			s.call(t, http.MethodPost, "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "churn"}, http.StatusOK)
			source := strings.Replace(tt.source, "%s", run.ID, 1)
			out := s.call(t, http.MethodPost, "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "churn", "source": source}, http.StatusOK)
			if tt.wantSource == "" {
				if msg, _ := dig(out, "model_version.status_message").(string); dig(out, "model_version.status") != "READY" ||
					dig(out, "model_version.source") != source || !strings.Contains(msg, tt.wantMsg) {
					t.Fatalf("external version %v, want READY with source %s, saying %q", out, source, tt.wantMsg)
				}
				vs, err := s.store.ListVersions(ctx, "churn")
				if err != nil || len(vs) != 1 {
					t.Fatalf("driftd's registry has %d versions (%v), want 1", len(vs), err)
				}
				v := vs[0]
				if v.Scorable || v.External == nil || v.External.Source != source || !strings.Contains(v.External.Reason, tt.wantMsg) || v.RunID != run.ID {
					t.Fatalf("external version in driftd's registry: %+v", v)
				}
				if _, err := s.store.Artifact(ctx, "churn", v.Version); !errors.Is(err, registry.ErrNotScorable) {
					t.Fatalf("artifact of an external version: %v", err)
				}
				return
			}
			if got := dig(out, "model_version.version"); got != "1" {
				t.Fatalf("version %v, want 1", got)
			}
			vs, err := s.store.ListVersions(ctx, "churn")
			if err != nil || len(vs) != 1 {
				t.Fatalf("driftd's registry has %d versions (%v), want 1", len(vs), err)
			}
			if vs[0].RunID != run.ID || len(vs[0].Schema) == 0 || vs[0].Algo == "" {
				t.Fatalf("version in driftd's registry: %+v", vs[0])
			}
			art, err := s.store.Artifact(ctx, "churn", vs[0].Version)
			if err != nil {
				t.Fatal(err)
			}
			m, err := train.Decode(art)
			if err != nil {
				t.Fatalf("registered artifact is not a driftd model: %v", err)
			}
			if m.Source() != tt.wantSource {
				t.Fatalf("model source %q, want %q", m.Source(), tt.wantSource)
			}
			r, err := s.store.GetRun(ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(r.Versions, "churn@"+vs[0].Version) {
				t.Fatalf("run links %v, want churn@%s", r.Versions, vs[0].Version)
			}
		})
	}
}

// TestStagesAreDeployments checks the mapping of MLflow's stages onto driftd's
// environments, archive and audit history.
func TestStagesAreDeployments(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	for range 2 {
		if _, err := s.store.Register(ctx, mustDriftdModel(t), "churn", registry.RegisterOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		version, stage string
		archive        bool
		wantProduction string // deployed in production after the step ("" = none)
		wantStaging    string
		wantStages     map[string]string // MLflow number -> stage
	}{
		{"1", "Production", false, "1.0.0", "", map[string]string{"1": "Production", "2": "None"}},
		{"2", "Staging", false, "1.0.0", "1.1.0", map[string]string{"1": "Production", "2": "Staging"}},
		{"2", "Production", true, "1.1.0", "1.1.0", map[string]string{"1": "Archived", "2": "Production"}},
		{"2", "None", false, "", "", map[string]string{"1": "Archived", "2": "None"}},
		{"1", "Staging", false, "", "1.0.0", map[string]string{"1": "Staging", "2": "None"}},
		{"1", "Archived", false, "", "", map[string]string{"1": "Archived", "2": "None"}},
	}
	for i, st := range steps {
		s.call(t, http.MethodPost, "/api/2.0/mlflow/model-versions/transition-stage",
			map[string]any{"name": "churn", "version": st.version, "stage": st.stage, "archive_existing_versions": st.archive}, http.StatusOK)
		for env, want := range map[string]string{"production": st.wantProduction, "staging": st.wantStaging} {
			v, err := s.store.Deployed(ctx, "churn", env)
			if got := v.Version; err != nil && want != "" || got != want {
				t.Fatalf("step %d: %s has %q (%v), want %q", i, env, got, err, want)
			}
		}
		for n, want := range st.wantStages {
			out := s.call(t, http.MethodGet, "/api/2.0/mlflow/model-versions/get?name=churn&version="+n, nil, http.StatusOK)
			if got := dig(out, "model_version.current_stage"); got != want {
				t.Fatalf("step %d: version %s is %v, want %s", i, n, got, want)
			}
		}
	}
	evs, err := s.store.History(ctx, registry.HistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for i := len(evs) - 1; i >= 0; i-- {
		if !strings.HasPrefix(evs[i].Reason, "MLflow transition-stage to ") {
			t.Fatalf("event %+v lacks the transition reason", evs[i])
		}
		actions = append(actions, evs[i].Action+" "+evs[i].Environment+evs[i].From+">"+evs[i].To)
	}
	want := []string{"deploy production>1.0.0", "deploy staging>1.1.0", "deploy production1.0.0>1.1.0", "archive 1.0.0>",
		"undeploy staging1.1.0>", "undeploy production1.1.0>", "unarchive 1.0.0>", "deploy staging>1.0.0", "undeploy staging1.0.0>", "archive 1.0.0>"}
	if !slices.Equal(actions, want) {
		t.Fatalf("history\n got %q\nwant %q", actions, want)
	}
}

// TestStageWithoutEnvironment checks a stage whose environment the server lacks.
func TestStageWithoutEnvironment(t *testing.T) {
	s := newTestServerWith(t, registry.Options{Environments: []string{"dev", "production"}})
	store := s.store
	if _, err := store.Register(context.Background(), mustDriftdModel(t), "churn", registry.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	out := s.call(t, http.MethodPost, "/api/2.0/mlflow/model-versions/transition-stage",
		map[string]any{"name": "churn", "version": "1", "stage": "Staging"}, http.StatusBadRequest)
	if msg, _ := out["message"].(string); !strings.Contains(msg, `driftd's environment "staging", which this server does not have`) {
		t.Fatalf("message %q", msg)
	}
}

// TestNativeVersionsNumbered checks MLflow's numbers for versions driftd
// registered itself: in semver order, never reused, and downloadable.
func TestNativeVersionsNumbered(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	model := mustDriftdModel(t)
	for _, v := range []string{"2.0.0", "1.0.0"} {
		if _, err := s.store.Register(ctx, model, "churn", registry.RegisterOptions{Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	exp, _ := s.store.CreateExperiment(ctx, "e", "", nil)
	run, _ := s.store.CreateRun(ctx, exp.ID, registry.RunOptions{})
	if err := s.store.PutRunArtifact(ctx, run.ID, "model", model); err != nil {
		t.Fatal(err)
	}
	created := s.call(t, http.MethodPost, "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "churn", "source": "runs:/" + run.ID + "/model"}, http.StatusOK)
	if got := dig(created, "model_version.version"); got != "3" {
		t.Fatalf("MLflow's version is %v, want 3 after driftd's two", got)
	}
	tests := []struct{ number, semver string }{{"1", "1.0.0"}, {"2", "2.0.0"}, {"3", "2.1.0"}}
	for _, tt := range tests {
		v, err := s.store.MLflowVersionOf(ctx, "churn", tt.number)
		if err != nil || v.Version.Version != tt.semver {
			t.Fatalf("version %s is %q (%v), want %s", tt.number, v.Version.Version, err, tt.semver)
		}
	}
	uri := s.call(t, http.MethodGet, "/api/2.0/mlflow/model-versions/get-download-uri?name=churn&version=1", nil, http.StatusOK)
	if got := uri["artifact_uri"]; got != "mlflow-artifacts:/registry/churn/1.0.0" {
		t.Fatalf("download uri %v", got)
	}
	list := s.call(t, http.MethodGet, "/api/2.0/mlflow-artifacts/artifacts?path=registry/churn/1.0.0", nil, http.StatusOK)
	if err := match(map[string]any{"files": []any{map[string]any{"path": versionFile, "is_dir": false, "file_size": float64(len(model))}}}, list, "$"); err != nil {
		t.Fatal(err)
	}
	status, body := s.do(t, http.MethodGet, "/api/2.0/mlflow-artifacts/artifacts/registry/churn/1/"+versionFile, nil, nil)
	if status != http.StatusOK || !bytes.Equal(body, model) {
		t.Fatalf("download: status %d, %d bytes", status, len(body))
	}
	// A version deleted and registered again under its semver gets a new number.
	if err := s.store.DeleteVersion(ctx, "churn", "2.0.0", ""); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(time.Millisecond)
	if _, err := s.store.Register(ctx, model, "churn", registry.RegisterOptions{Version: "2.0.0"}); err != nil {
		t.Fatal(err)
	}
	again, err := s.store.MLflowVersionOf(ctx, "churn", "2.0.0")
	if err != nil || again.Number != 4 {
		t.Fatalf("re-registered 2.0.0 is number %d (%v), want 4", again.Number, err)
	}
	if _, err := s.store.MLflowVersionOf(ctx, "churn", "2"); err == nil {
		t.Fatal("number 2 still resolves after its version was deleted")
	}
}

func TestArtifactBound(t *testing.T) {
	s := newTestServer(t)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/experiments/create", map[string]any{"name": "e"}, http.StatusOK)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": "1"}, http.StatusOK)
	tests := []struct {
		name       string
		size       int
		wantStatus int
	}{
		{"at the bound", 1 << 20, http.StatusOK},
		{"one byte over", 1<<20 + 1, http.StatusBadRequest},
	}
	for _, tt := range tests {
		status, out := s.do(t, http.MethodPut, "/api/2.0/mlflow-artifacts/artifacts/1/1/artifacts/"+strings.ReplaceAll(tt.name, " ", "_"),
			bytes.NewReader(bytes.Repeat([]byte{'x'}, tt.size)), nil)
		if status != tt.wantStatus {
			t.Fatalf("%s: status %d, want %d: %s", tt.name, status, tt.wantStatus, out)
		}
		r, err := s.store.GetRun(context.Background(), "1")
		if err != nil {
			t.Fatal(err)
		}
		_, stored := r.Artifacts[strings.ReplaceAll(tt.name, " ", "_")]
		if stored != (tt.wantStatus == http.StatusOK) {
			t.Fatalf("%s: stored %v", tt.name, stored)
		}
		if tt.wantStatus != http.StatusOK && !strings.Contains(string(out), codeInvalidParameter) {
			t.Fatalf("%s: %s", tt.name, out)
		}
	}
}

// TestExternalVersionStages checks that Staging and Production refuse a
// version driftd cannot score before changing anything (an archived one stays
// archived, nothing is deployed or recorded), saying which version and why.
func TestExternalVersionStages(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	s.call(t, http.MethodPost, "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "churn"}, http.StatusOK)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/model-versions/create", map[string]any{"name": "churn", "source": "gs://models/churn"}, http.StatusOK)
	s.call(t, http.MethodPost, "/api/2.0/mlflow/model-versions/transition-stage", map[string]any{"name": "churn", "version": "1", "stage": "Archived"}, http.StatusOK)
	before, err := s.store.History(ctx, registry.HistoryQuery{Model: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"Production", "staging"} {
		out := s.call(t, http.MethodPost, "/api/2.0/mlflow/model-versions/transition-stage",
			map[string]any{"name": "churn", "version": "1", "stage": stage, "archive_existing_versions": true}, http.StatusBadRequest)
		msg, _ := out["message"].(string)
		for _, want := range []string{"Version 1 of registered model churn", "driftd cannot score it", "gs://models/churn", "driftd does not read models from gs: URIs", "models:/churn@<alias>"} {
			if out["error_code"] != codeInvalidParameter || !strings.Contains(msg, want) {
				t.Fatalf("%s: refusal %v does not say %q", stage, out, want)
			}
		}
	}
	v, err := s.store.GetVersion(ctx, "churn", "1.0.0")
	if err != nil || v.Status != registry.StatusArchived || len(v.Environments) != 0 {
		t.Fatalf("after the refusals: %+v (%v)", v, err)
	}
	after, err := s.store.History(ctx, registry.HistoryQuery{Model: "churn"})
	if err != nil || len(after) != len(before) {
		t.Fatalf("refused transitions recorded %d events (%v)", len(after)-len(before), err)
	}
}
