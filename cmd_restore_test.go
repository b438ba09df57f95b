package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/registry"
)

// mustBackupFile writes a registry with one version and returns a backup file of it.
func mustBackupFile(t *testing.T) string {
	t.Helper()
	s, err := registry.Open(filepath.Join(t.TempDir(), registry.FileName), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Register(context.Background(), []byte("artifact"), "churn", registry.RegisterOptions{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRestoreCLI(t *testing.T) {
	backup := mustBackupFile(t)
	dir := filepath.Join(t.TempDir(), "data")
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte("not a registry"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runRestore(context.Background(), args, &out, &errb)
		return code, out.String() + errb.String()
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no file", []string{"--data-dir", dir}, 2, "expected exactly one backup FILE"},
		{"not a registry", []string{"--data-dir", dir, junk}, 1, junk},
		{"missing file", []string{"--data-dir", dir, junk + ".missing"}, 1, "no such file"},
		{"into empty dir", []string{"--data-dir", dir, backup}, 0, "restored " + backup},
		{"refuses overwrite", []string{"--data-dir", dir, backup}, 1, "--force"},
		{"force", []string{"--data-dir", dir, "--force", backup}, 0, "restored"},
		{"help", []string{"--help"}, 0, "--force"},
	}
	for _, tc := range cases {
		code, out := run(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d %q, want %d containing %q", tc.name, code, out, tc.code, tc.want)
		}
	}
	s, err := registry.Open(filepath.Join(dir, registry.FileName), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetVersion(context.Background(), "churn", "1.0.0"); err != nil || v.ArtifactSize != int64(len("artifact")) {
		t.Fatalf("restored version = %+v, %v", v, err)
	}
}
