package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestUIExternalVersion checks the Models list, the model page and the
// version page of a version registered through MLflow that driftd cannot
// score: a "not scorable" badge with the reason, no deploy option, no file.
func TestUIExternalVersion(t *testing.T) {
	app := mustStartApp(t, testConfig(t))
	const source = "s3://bucket/churn/model.pkl"
	for _, step := range []struct{ path, body string }{
		{"/api/2.0/mlflow/registered-models/create", `{"name":"churn"}`},
		{"/api/2.0/mlflow/model-versions/create", `{"name":"churn","source":"` + source + `"}`},
	} {
		if st, b := app.do(t, http.MethodPost, step.path, app.token, "application/json", strings.NewReader(step.body)); st != http.StatusOK {
			t.Fatalf("POST %s: %d %s", step.path, st, b)
		}
	}
	s := uiLogin(t, app, "admin", "correct-horse")
	row := mustTestID(t, s.mustGet("/models"), "model-churn")
	if got := nodeText(row); !strings.Contains(got, "not scorable") || !strings.Contains(got, "driftd does not read models from s3: URIs") {
		t.Fatalf("models list row: %q", got)
	}
	page := s.mustGet("/models/churn")
	if got := nodeText(mustTestID(t, page, "version-1.0.0")); !strings.Contains(got, "not scorable") || !strings.Contains(got, source) ||
		!strings.Contains(got, "driftd does not read models from s3: URIs") {
		t.Fatalf("model page version row: %q", got)
	}
	if byTestID(page, "deploy-form") != nil || !strings.Contains(nodeText(page), "every version is archived or not scorable") {
		t.Fatalf("the deploy form offers a version driftd cannot score")
	}
	if got := nodeText(mustTestID(t, s.mustGet("/models/churn/versions/1.0.0"), "version-facts")); !strings.Contains(got, "not scorable") ||
		!strings.Contains(got, "driftd holds no model file") {
		t.Fatalf("version page facts: %q", got)
	}
}
