package registry

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRegister measures one fsynced version registration with a 64 KiB artifact.
func BenchmarkRegister(b *testing.B) {
	s, _ := mustOpen(b, Options{})
	art := make([]byte, 64<<10)
	ctx := context.Background()
	b.SetBytes(int64(len(art)))
	for b.Loop() {
		if _, err := s.Register(ctx, art, "m", RegisterOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeploy measures one deploy (model record rewrite, history event, fsync).
func BenchmarkDeploy(b *testing.B) {
	s, _ := mustOpen(b, Options{})
	mustRegister(b, s, "m", "1.0.0")
	mustRegister(b, s, "m", "1.1.0")
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := s.Deploy(ctx, "m", []string{"1.0.0", "1.1.0"}[i%2], "production", ""); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLogMetrics measures logging one boosting round's metrics (4 keys) per call.
func BenchmarkLogMetrics(b *testing.B) {
	s, _ := mustOpen(b, Options{})
	ctx := context.Background()
	exp, err := s.CreateExperiment(ctx, "e", "", nil)
	must(b, err)
	run, err := s.CreateRun(ctx, exp.ID, RunOptions{})
	must(b, err)
	step := int64(0)
	for b.Loop() {
		pts := make([]MetricPoint, 4)
		for k := range pts {
			pts[k] = MetricPoint{Key: fmt.Sprint("m", k), Value: float64(step), Step: step, Time: time.Unix(step, 0)}
		}
		if err := s.LogMetrics(ctx, run.ID, pts); err != nil {
			b.Fatal(err)
		}
		step++
	}
}

// BenchmarkListVersions measures listing 200 versions (artifacts are not loaded).
func BenchmarkListVersions(b *testing.B) {
	s, _ := mustOpen(b, Options{})
	ctx := context.Background()
	art := make([]byte, 1<<20)
	for i := 0; i < 200; i++ {
		if _, err := s.Register(ctx, art, "m", RegisterOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		vs, err := s.ListVersions(ctx, "m")
		if err != nil || len(vs) != 200 {
			b.Fatal(len(vs), err)
		}
	}
}
