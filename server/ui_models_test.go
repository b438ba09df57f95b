package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"driftd/registry"
)

// TestUIModelsConfirmDeployAndRollback: deploy and rollback go through a
// confirmation naming from → to; production needs a reason; rollback is
// offered only where there is a version to return to; refusals come back
// on the model page in words.
func TestUIModelsConfirmDeployAndRollback(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	name := a.cfg.ModelName
	registerUIModel(t, a, name, "1.0.0", 1)
	registerUIModel(t, a, name, "1.1.0", 2)
	if err := a.store.Deploy(registry.WithUser(context.Background(), "admin"), name, "1.0.0", "production", "first"); err != nil {
		t.Fatal(err)
	}
	s := uiLogin(t, a, "admin", "correct-horse")
	page := "/models/" + name

	// One deployment: nothing to roll back to anywhere.
	doc := s.mustGet(page)
	for _, env := range []string{"dev", "staging", "production"} {
		if byTestID(doc, "rollback-form-"+env) != nil {
			t.Errorf("rollback offered in %s, which has no previous version", env)
		}
	}
	if byTestID(doc, "confirm-form") != nil {
		t.Error("a confirmation shows before anything was asked")
	}

	cases := []struct {
		name, query, change string
		reasonRequired      bool
		errWant             string
	}{
		{"deploy to production", "confirm=deploy&version=1.1.0&environment=production&reason=better", "Deploy to production: 1.0.0 → 1.1.0", true, ""},
		{"deploy to staging", "confirm=deploy&version=1.1.0&environment=staging", "Deploy to staging: nothing → 1.1.0", false, ""},
		{"same version", "confirm=deploy&version=1.0.0&environment=production", "", false, "already serves production"},
		{"unknown version", "confirm=deploy&version=9.9.9&environment=production", "", false, "version"},
		{"rollback without a previous version", "confirm=rollback&environment=production", "", false, "no previous version"},
	}
	for _, tc := range cases {
		doc := s.mustGet(page + "?" + tc.query)
		if tc.errWant != "" {
			if got := nodeText(mustTestID(t, doc, "flash-error")); !strings.Contains(got, tc.errWant) {
				t.Errorf("%s: error %q, want %q", tc.name, got, tc.errWant)
			}
			if byTestID(doc, "confirm-form") != nil {
				t.Errorf("%s: a confirmation shows", tc.name)
			}
			continue
		}
		if got := nodeText(mustTestID(t, doc, "confirm-change")); got != tc.change {
			t.Errorf("%s: change = %q, want %q", tc.name, got, tc.change)
		}
		if got := hasAttr(mustTestID(t, doc, "confirm-reason"), "required"); got != tc.reasonRequired {
			t.Errorf("%s: reason required = %v", tc.name, got)
		}
	}

	// Confirming without a reason for production: back to the confirmation
	// with the error, nothing deployed.
	status, loc, _ := s.post(page+"/deploy", url.Values{"version": {"1.1.0"}, "environment": {"production"}, "reason": {" "}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "err=") || !strings.Contains(loc, "confirm=deploy") {
		t.Fatalf("deploy without a reason: %d %q", status, loc)
	}
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "flash-error")); !strings.Contains(got, "needs a reason") {
		t.Errorf("error = %q", got)
	}
	mustTestID(t, doc, "confirm-form")
	if v, _ := a.store.Deployed(context.Background(), name, "production"); v.Version != "1.0.0" {
		t.Fatalf("a deploy without a reason changed production to %s", v.Version)
	}
	status, loc, _ = s.post(page+"/deploy", url.Values{"version": {"1.1.0"}, "environment": {"production"}, "reason": {"better auc"}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "msg=") {
		t.Fatalf("deploy: %d %q", status, loc)
	}

	// Now production has a previous version, and only production.
	doc = s.mustGet(loc)
	if got := nodeText(mustTestID(t, doc, "rollback-form-production")); !strings.Contains(got, "Roll back to 1.0.0") {
		t.Errorf("rollback form = %q", got)
	}
	if byTestID(doc, "rollback-form-staging") != nil {
		t.Error("rollback offered in staging")
	}
	doc = s.mustGet(page + "?confirm=rollback&environment=production")
	if got := nodeText(mustTestID(t, doc, "confirm-change")); got != "Roll back production: 1.1.0 → 1.0.0" {
		t.Errorf("rollback change = %q", got)
	}
	// A rollback where there is nothing to return to, posted anyway, is a
	// sentence on the page, not a raw "...: conflict".
	status, loc, _ = s.post(page+"/rollback", url.Values{"environment": {"staging"}, "reason": {"x"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, page+"?err=") {
		t.Fatalf("rollback in staging: %d %q", status, loc)
	}
	if got := nodeText(mustTestID(t, s.mustGet(loc), "flash-error")); strings.HasSuffix(got, "conflict") || !strings.Contains(got, "no previous version") {
		t.Errorf("rollback error = %q", got)
	}
	status, loc, _ = s.post(page+"/rollback", url.Values{"environment": {"production"}, "reason": {"revert"}})
	if status != http.StatusSeeOther || !strings.Contains(loc, "msg=") {
		t.Fatalf("rollback: %d %q", status, loc)
	}
	if v, _ := a.store.Deployed(context.Background(), name, "production"); v.Version != "1.0.0" {
		t.Errorf("production after the rollback = %s", v.Version)
	}
	// Back at the start: nothing more to roll back to.
	if byTestID(s.mustGet(page), "rollback-form-production") != nil {
		t.Error("rollback still offered after returning to the first version")
	}
	if status, _, _ := s.get(page + "?confirm=deploy&version=1.1.0&environment=production"); status != http.StatusOK {
		t.Errorf("confirmation page: %d", status)
	}
}

// TestPreviousVersions replays deployment histories into rollback targets.
func TestPreviousVersions(t *testing.T) {
	ev := func(action, env, from, to string) registry.Event {
		return registry.Event{Action: action, Environment: env, From: from, To: to}
	}
	// Histories are newest first, as the registry returns them.
	cases := []struct {
		name    string
		history []registry.Event
		want    map[string]string
	}{
		{"first deploy", []registry.Event{ev("deploy", "production", "", "1")}, map[string]string{}},
		{"two deploys", []registry.Event{ev("deploy", "production", "1", "2"), ev("deploy", "production", "", "1")}, map[string]string{"production": "1"}},
		{"rolled back", []registry.Event{ev("rollback", "production", "2", "1"), ev("deploy", "production", "1", "2"), ev("deploy", "production", "", "1")}, map[string]string{}},
		{"three deep", []registry.Event{ev("rollback", "production", "3", "2"), ev("deploy", "production", "2", "3"), ev("deploy", "production", "1", "2"), ev("deploy", "production", "", "1")}, map[string]string{"production": "1"}},
		{"undeployed", []registry.Event{ev("undeploy", "staging", "1", ""), ev("deploy", "staging", "", "1")}, map[string]string{"staging": "1"}},
		{"aliases ignored", []registry.Event{{Action: "alias_set", Alias: "champion", From: "1", To: "2"}}, map[string]string{}},
	}
	for _, tc := range cases {
		got := previousVersions(tc.history)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}
