package cluster

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"driftd/stream"
)

// startCluster starts an embedded cluster of n brokers for one test.
func startCluster(t *testing.T, n int) stream.Config {
	t.Helper()
	b, err := stream.NewBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", Brokers: n}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return stream.Config{Brokers: b.Addrs()}
}

// publish writes a bundle's chunks (all of them, or those keep allows)
// then its deployment record, as the primary does.
func publish(t *testing.T, kl *kafkaLog, b Bundle, chunkBytes int, edit func(i int, c *Chunk) bool) Deployment {
	t.Helper()
	ctx := context.Background()
	raw := EncodeBundle(b)
	digest := Digest(raw)
	chunks := SplitBundle(b.Model, b.Version, raw, chunkBytes)
	for i := range chunks {
		c := chunks[i]
		if edit != nil && !edit(i, &c) {
			continue
		}
		if err := kl.produce(ctx, logRecord{Topic: ArtifactsTopic, Key: []byte(ChunkKey(digest, i)), Value: EncodeChunk(c)}); err != nil {
			t.Fatal(err)
		}
	}
	d := Deployment{Model: b.Model, Environment: "production", Version: b.Version, Digest: digest, Chunks: len(chunks), Size: int64(len(raw)), Time: time.Now()}
	if err := kl.produce(ctx, logRecord{Topic: DeploymentsTopic, Key: []byte(DeploymentKey(b.Model, "production")), Value: EncodeDeployment(d)}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFollowerLoad publishes bundles in chunks on a 3-broker cluster and
// reads them back through a follower: a whole one loads byte for byte, one
// with a chunk missing fails with ErrArtifactMissing, one with a chunk's
// bytes changed fails with ErrArtifactCorrupt (digest mismatch), and a
// tombstoned bundle is forgotten.
func TestClusterFollowerLoad(t *testing.T) {
	ctx := context.Background()
	kafka := startCluster(t, 3)
	f := NewFollower(FollowerConfig{Kafka: kafka, Retry: 50 * time.Millisecond})
	f.Start(ctx)
	defer f.Close()
	// The topics do not exist yet: the follower waits and says why.
	if ok, why := f.Ready(); ok || why == "" {
		t.Fatalf("Ready() = %v %q before any topic exists, want false with a reason", ok, why)
	}
	if err := ensureTopics(ctx, kafka, 3); err != nil {
		t.Fatal(err)
	}
	kl, err := newKafkaLog(kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer kl.close()
	deadline := time.Now().Add(20 * time.Second)
	for ok, _ := f.Ready(); !ok; ok, _ = f.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("follower not caught up 20s after the topics were created")
		}
		time.Sleep(20 * time.Millisecond) // polling the follower's state, not synchronising on time
	}
	model := bytes.Repeat([]byte("model-file "), 5000)
	good := Bundle{Model: "m", Version: "1.0.0", ModelFile: model, Profile: []byte(`{"profile":true}`)}
	d := publish(t, kl, good, 4096, nil)
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err := f.Load(lctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.ModelFile, model) || string(got.Profile) != `{"profile":true}` || got.Version != "1.0.0" {
		t.Fatal("bundle read back differs from the one published")
	}
	if dd, ok := f.Deployment("m", "production"); !ok || dd.Digest != d.Digest {
		t.Fatalf("Deployment() = %+v %v, want digest %s", dd, ok, d.Digest)
	}

	missing := publish(t, kl, Bundle{Model: "m", Version: "1.1.0", ModelFile: model[:20000]}, 4096, func(i int, _ *Chunk) bool { return i != 2 })
	if _, err := f.Load(lctx, missing); !errors.Is(err, ErrArtifactMissing) {
		t.Fatalf("load with chunk 2 missing: err = %v, want ErrArtifactMissing", err)
	}
	corrupt := publish(t, kl, Bundle{Model: "m", Version: "1.2.0", ModelFile: model[:30000]}, 4096, func(i int, c *Chunk) bool {
		if i == 1 {
			c.Data = append([]byte("X"), c.Data[1:]...)
		}
		return true
	})
	if _, err := f.Load(lctx, corrupt); !errors.Is(err, ErrArtifactCorrupt) {
		t.Fatalf("load with chunk 1 changed: err = %v, want ErrArtifactCorrupt", err)
	}

	// Tombstones remove the bundle from the index.
	for i := range d.Chunks {
		if err := kl.produce(ctx, logRecord{Topic: ArtifactsTopic, Key: []byte(ChunkKey(d.Digest, i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Load(lctx, d); !errors.Is(err, ErrArtifactMissing) {
		t.Fatalf("load of a tombstoned bundle: err = %v, want ErrArtifactMissing", err)
	}
}
