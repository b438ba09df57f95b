package registry

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// mustOpen opens a fresh store in a temp dir, closed at test end.
func mustOpen(tb testing.TB, opts Options) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), FileName)
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, path
}

// mustRegister registers a version with a small artifact.
func mustRegister(tb testing.TB, s *Store, name, version string) Version {
	tb.Helper()
	v, err := s.Register(context.Background(), []byte("artifact "+name+" "+version), name, RegisterOptions{
		Version: version, Algo: "gbdt", Params: map[string]any{"rounds": 10},
		Metrics: map[string]float64{"auc": 0.9}, Profile: []byte("profile"),
		Schema: []Feature{{Name: "age", Type: FeatureNumeric}, {Name: "plan", Type: FeatureCategorical, Levels: []string{"a", "b"}}},
	})
	if err != nil {
		tb.Fatalf("register %s %s: %v", name, version, err)
	}
	return v
}

// must fails the test on err.
func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// wantErr asserts errors.Is(err, target).
func wantErr(tb testing.TB, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("got error %v, want %v", err, target)
	}
}

// wantField asserts err is a *FieldError for field.
func wantField(tb testing.TB, err error, field string) {
	tb.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalid) {
		tb.Fatalf("got error %v, want FieldError for %q", err, field)
	}
}
