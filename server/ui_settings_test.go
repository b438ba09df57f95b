package server

import (
	"strings"
	"testing"
)

// TestUISettingsHidesSecrets: the Settings page shows every setting, with
// secrets hidden and the database DSN's password redacted.
func TestUISettingsHidesSecrets(t *testing.T) {
	cfg := testConfig(t)
	cfg.DatabaseURL = "postgres://driftd:s3cret-pw@db.example:5432/sales"
	a := mustStartApp(t, cfg)
	s := uiLogin(t, a, "admin", "correct-horse")
	_, _, body := s.get("/settings")
	for _, secret := range []string{"s3cret-pw", "correct-horse"} {
		if strings.Contains(body, secret) {
			t.Errorf("the Settings page shows %q", secret)
		}
	}
	if !strings.Contains(body, "postgres://driftd:xxxxx@db.example:5432/sales") {
		t.Error("the Settings page does not show the database, redacted")
	}
}
