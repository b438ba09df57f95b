package cluster

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"driftd/registry"
)

// TestClusterPrimaryPublishes runs a Primary on a real registry and a
// 3-broker cluster and reads what it publishes through a Follower: the
// deployed version's bundle (model file and profile, in several chunks)
// and its deployment record; a new deployment; an undeploy (a tombstone);
// and the tombstoning of an archived version's chunks.
func TestClusterPrimaryPublishes(t *testing.T) {
	ctx := context.Background()
	kafka := startCluster(t, 3)
	store, err := registry.Open(filepath.Join(t.TempDir(), registry.FileName), registry.Options{Environments: []string{"staging", "production"}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	files := map[string][]byte{"1.0.0": bytes.Repeat([]byte("one "), 3000), "1.1.0": bytes.Repeat([]byte("two "), 2000)}
	for v, f := range files {
		if _, err := store.Register(ctx, f, "m", registry.RegisterOptions{Version: v, Profile: []byte(`{"v":"` + v + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Deploy(ctx, "m", "1.0.0", "production", "test"); err != nil {
		t.Fatal(err)
	}
	p, err := NewPrimary(PrimaryConfig{Kafka: kafka, Registry: store, Model: "m", Environment: "production", Instance: "test/1",
		Replication: 3, ChunkBytes: 1000, Reconcile: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := NewFollower(FollowerConfig{Kafka: kafka})
	f.Start(ctx)
	defer f.Close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// waitVersion syncs the follower until its record names version.
	waitVersion := func(version string) Deployment {
		t.Helper()
		for {
			if err := f.Sync(lctx); err != nil {
				t.Fatalf("waiting for %q: %v", version, err)
			}
			d, ok := f.Deployment("m", "production")
			if (version == "" && !ok) || (ok && d.Version == version) {
				return d
			}
			select {
			case <-f.Changed():
			case <-lctx.Done():
				t.Fatalf("deployment record never named %q (last %+v)", version, d)
			}
		}
	}
	d := waitVersion("1.0.0")
	if d.Chunks < 12 || d.Primary != "test/1" || d.Time.IsZero() {
		t.Fatalf("deployment record %+v: want 12+ chunks of 1000 bytes, the primary's name and a time", d)
	}
	b, err := f.Load(lctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.ModelFile, files["1.0.0"]) || string(b.Profile) != `{"v":"1.0.0"}` {
		t.Fatal("bundle read back differs from the registry's artifact and profile")
	}

	if err := store.Deploy(ctx, "m", "1.1.0", "production", "test"); err != nil {
		t.Fatal(err)
	}
	d2 := waitVersion("1.1.0")
	if b, err := f.Load(lctx, d2); err != nil || !bytes.Equal(b.ModelFile, files["1.1.0"]) {
		t.Fatalf("load 1.1.0: %v", err)
	}
	// 1.0.0 is not deployed any more: archived, its chunks are tombstoned
	// on the registry's notification (the timer's sweep is an hour away).
	if err := store.Archive(ctx, "m", "1.0.0", "test"); err != nil {
		t.Fatal(err)
	}
	for {
		if err := f.Sync(lctx); err != nil {
			t.Fatal(err)
		}
		_, err := f.Load(lctx, d)
		if errors.Is(err, ErrArtifactMissing) {
			break
		}
		if lctx.Err() != nil {
			t.Fatalf("archived version's bundle: err = %v, want ErrArtifactMissing", err)
		}
		time.Sleep(20 * time.Millisecond) // polling, with lctx's deadline
	}
	if _, err := f.Load(lctx, d2); err != nil {
		t.Fatalf("the deployed version's bundle after tombstoning the archived one: %v", err)
	}
	if err := store.Undeploy(ctx, "m", "production", "test"); err != nil {
		t.Fatal(err)
	}
	waitVersion("")
}
