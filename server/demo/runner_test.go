package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"driftd/scheduler"
	"driftd/stream"
)

// startBroker starts an in-memory embedded broker on a free port.
func startBroker(tb testing.TB) stream.Config {
	tb.Helper()
	b, err := stream.NewBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", Partitions: 2}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close(context.Background()) })
	return stream.Config{Brokers: []string{b.Addr()}}
}

// submission is one call of the fake Submit.
type submission struct {
	flow    string
	params  map[string]any
	trigger scheduler.Trigger
}

// fakeFlows stands in for the run engine and the registry. By default a
// submitted train run completes at once and deploys version "1".
type fakeFlows struct {
	mu      sync.Mutex
	version string
	calls   []submission

	SubmitFn func(flow string) error                                     // nil accepts
	WaitFn   func(ctx context.Context, id string) (scheduler.Run, error) // nil completes and deploys "1"
	ErrFn    func() error                                                // an error Deployed returns, nil for none
}

func (f *fakeFlows) setDeployed(v string) { f.mu.Lock(); f.version = v; f.mu.Unlock() }

func (f *fakeFlows) submissions() []submission {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]submission(nil), f.calls...)
}

func (f *fakeFlows) deps(kafka stream.Config, logger *slog.Logger) Deps {
	return Deps{
		Kafka:  func() stream.Config { return kafka },
		Topics: stream.Topics{Features: "features", Labels: "labels"},
		Submit: func(_ context.Context, flow string, params map[string]any, t scheduler.Trigger) (scheduler.Run, error) {
			if f.SubmitFn != nil {
				if err := f.SubmitFn(flow); err != nil {
					return scheduler.Run{}, err
				}
			}
			f.mu.Lock()
			f.calls = append(f.calls, submission{flow, params, t})
			id := fmt.Sprintf("run-%d", len(f.calls))
			f.mu.Unlock()
			return scheduler.Run{ID: id, Flow: flow, State: scheduler.StatePending}, nil
		},
		Wait: func(ctx context.Context, id string) (scheduler.Run, error) {
			if f.WaitFn != nil {
				return f.WaitFn(ctx, id)
			}
			f.setDeployed("1")
			return scheduler.Run{ID: id, Flow: TrainFlow, State: scheduler.StateCompleted}, nil
		},
		Deployed: func(context.Context, string, string) (string, error) {
			if f.ErrFn != nil {
				if err := f.ErrFn(); err != nil {
					return "", err
				}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.version, nil
		},
		Logger: logger,
	}
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// mustStartRunner starts a runner with test timings and closes it at the end.
func mustStartRunner(tb testing.TB, cfg Config, d Deps) *Runner {
	tb.Helper()
	r, err := New(cfg, d)
	if err != nil {
		tb.Fatal(err)
	}
	r.tick, r.poll, r.retry, r.save = 20*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return r
}

// waitFor polls cond until it holds or fails the test after within.
func waitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// feature is a features record read back from Kafka.
type feature struct {
	ID string  `json:"id"`
	TS string  `json:"ts"`
	F0 float64 `json:"f0"`
	C0 string  `json:"c0"`
	at time.Time
}

// readTopic reads every record of topic on every partition.
func readTopic(tb testing.TB, kafka stream.Config, topic string) []stream.Message {
	tb.Helper()
	adm, err := stream.NewAdmin(kafka)
	if err != nil {
		tb.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics, err := adm.Topics(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []stream.Message
	for _, ti := range topics {
		if ti.Name != topic {
			continue
		}
		for _, p := range ti.Partitions {
			for off := p.Low; off < p.High; {
				msgs, err := adm.Messages(ctx, topic, p.ID, off, 1000)
				if err != nil {
					tb.Fatal(err)
				}
				if len(msgs) == 0 {
					break
				}
				out = append(out, msgs...)
				off = msgs[len(msgs)-1].Offset + 1
			}
		}
	}
	return out
}

func readFeatures(tb testing.TB, kafka stream.Config) map[string]feature {
	tb.Helper()
	out := map[string]feature{}
	for _, m := range readTopic(tb, kafka, "features") {
		var f feature
		if err := json.Unmarshal(m.Value, &f); err != nil {
			tb.Fatalf("features record %s: %v", m.Value, err)
		}
		if string(m.Key) != f.ID {
			tb.Fatalf("record key %q, id %q", m.Key, f.ID)
		}
		ts, err := time.Parse(time.RFC3339Nano, f.TS)
		if err != nil {
			tb.Fatalf("ts of %s: %v", m.Value, err)
		}
		f.at = ts
		if _, dup := out[f.ID]; dup {
			tb.Fatalf("id %s produced twice", f.ID)
		}
		out[f.ID] = f
	}
	return out
}

func TestRunnerTrainsStreamsAndShifts(t *testing.T) {
	kafka := startBroker(t)
	fake := &fakeFlows{}
	cfg := Config{Model: "m", Environment: "production", DataDir: t.TempDir(), Rate: 200,
		LabelDelay: 300 * time.Millisecond, ShiftAfter: time.Second, Repeat: 800 * time.Millisecond, Seed: 3}
	r := mustStartRunner(t, cfg, fake.deps(kafka, testLogger(t)))

	waitFor(t, 10*time.Second, "the first shift", func() bool { return r.Status().Shifts == 1 })
	st := r.Status()
	if st.Phase != "shifted: concept 1" || st.Concept != 1 || !st.NextShiftAt.IsZero() || st.TrainRun != "run-1" || st.Deployed != "1" {
		t.Fatalf("status after the shift = %+v", st)
	}

	// The train flow was submitted once, on a written file, as asked.
	subs := fake.submissions()
	if len(subs) != 1 || subs[0].flow != "train" || subs[0].trigger.Kind != scheduler.TriggerDemo || subs[0].trigger.By != "demo" {
		t.Fatalf("submissions = %+v", subs)
	}
	p := subs[0].params
	want := map[string]any{"data": filepath.Join(cfg.DataDir, "demo", "train.csv"), "target": "label", "id": "id",
		"model": "m", "deploy": "production", "experiment": "demo", "rounds": trainRounds}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("param %s = %v, want %v", k, p[k], v)
		}
	}
	data, err := os.ReadFile(filepath.Join(cfg.DataDir, "demo", "train.csv"))
	if err != nil || strings.Count(string(data), "\n") != trainRows+1 {
		t.Fatalf("train.csv: %d lines, err %v", strings.Count(string(data), "\n"), err)
	}

	// No promotion yet: the demo stays on concept 1.
	var shiftedAt time.Time
	waitFor(t, 5*time.Second, "labels of concept 1", func() bool { return r.Status().Labels > 300 })
	if st := r.Status(); st.Shifts != 1 {
		t.Fatalf("shifted again without a promotion: %+v", st)
	}

	// A promotion schedules the next shift Repeat later.
	fake.setDeployed("2")
	waitFor(t, 5*time.Second, "the promotion", func() bool { return r.Status().LastPromotion == "2" })
	st = r.Status()
	if st.Phase != PhaseStreaming || st.NextShiftAt.IsZero() || time.Until(st.NextShiftAt) > cfg.Repeat {
		t.Fatalf("status after the promotion = %+v", st)
	}
	// A second promotion in the same cycle moves the next shift.
	fake.setDeployed("3")
	waitFor(t, 5*time.Second, "the second promotion", func() bool { return r.Status().LastPromotion == "3" })
	if next := r.Status().NextShiftAt; !next.After(st.NextShiftAt) {
		t.Fatalf("next shift %v not moved after the second promotion (was %v)", next, st.NextShiftAt)
	}
	shiftedAt = time.Now()
	waitFor(t, 5*time.Second, "the second shift", func() bool { return r.Status().Shifts == 2 })
	if st := r.Status(); st.Concept != 2 || st.Phase != "shifted: concept 2" {
		t.Fatalf("status after the second shift = %+v", st)
	}
	if time.Since(shiftedAt) < cfg.Repeat-100*time.Millisecond {
		t.Fatal("the second shift came sooner than Repeat after the last promotion")
	}

	// Records: concept 0 then 1 then 2, the first shift ShiftAfter after the first record.
	waitFor(t, 5*time.Second, "records of concept 2 in Kafka", func() bool {
		for id := range readFeatures(t, kafka) {
			if strings.HasPrefix(id, "demo-2-") {
				return true
			}
		}
		return false
	})
	feats := readFeatures(t, kafka)
	var first [3]time.Time
	var f0sum [3]float64
	var count [3]int
	for id, f := range feats {
		var k int
		if _, err := fmt.Sscanf(id, "demo-%d-", &k); err != nil || k > 2 {
			t.Fatalf("unexpected id %q", id)
		}
		if first[k].IsZero() || f.at.Before(first[k]) {
			first[k] = f.at
		}
		f0sum[k] += f.F0
		count[k]++
	}
	if d := first[1].Sub(first[0]); d < cfg.ShiftAfter-50*time.Millisecond || d > cfg.ShiftAfter+300*time.Millisecond {
		t.Errorf("first shift %v after the first record, want %v", d, cfg.ShiftAfter)
	}
	if m0, m1 := f0sum[0]/float64(count[0]), f0sum[1]/float64(count[1]); m1-m0 < 1 {
		t.Errorf("mean f0 %.2f under concept 0, %.2f under concept 1: want about +1.5", m0, m1)
	}
	if rate := float64(count[0]) / cfg.ShiftAfter.Seconds(); rate < 150 || rate > 250 {
		t.Errorf("%.0f records/s under concept 0, want about %v", rate, cfg.Rate)
	}

	// Labels: each for a produced record, LabelDelay after its features.
	labels := readTopic(t, kafka, "labels")
	if len(labels) < 300 {
		t.Fatalf("%d labels", len(labels))
	}
	for _, m := range labels {
		var l struct{ ID, Label string }
		if err := json.Unmarshal(m.Value, &l); err != nil || (l.Label != "0" && l.Label != "1") {
			t.Fatalf("label record %s: %v", m.Value, err)
		}
		f, ok := feats[l.ID]
		if !ok {
			t.Fatalf("label for unknown id %s", l.ID)
		}
		if d := m.Timestamp.Sub(f.at); d < cfg.LabelDelay-time.Millisecond {
			t.Fatalf("label of %s came %v after its features, want at least %v", l.ID, d, cfg.LabelDelay)
		}
	}
}

func TestRunnerSkipsTrainingWhenDeployed(t *testing.T) {
	kafka := startBroker(t)
	fake := &fakeFlows{version: "7"}
	r := mustStartRunner(t, Config{Model: "m", Environment: "production", DataDir: t.TempDir(), Rate: 100}, fake.deps(kafka, testLogger(t)))
	waitFor(t, 5*time.Second, "records", func() bool { return r.Status().Sent > 20 })
	if subs := fake.submissions(); len(subs) != 0 {
		t.Fatalf("trained although a version was deployed: %+v", subs)
	}
	st := r.Status()
	if st.Phase != PhaseStreaming || st.Deployed != "7" || st.Concept != 0 || st.NextShiftAt.Before(time.Now().Add(DefaultShiftAfter-10*time.Second)) {
		t.Fatalf("status = %+v", st)
	}
}

func TestRunnerRetriesTraining(t *testing.T) {
	kafka := startBroker(t)
	fake := &fakeFlows{}
	var mu sync.Mutex
	attempts := 0
	fake.WaitFn = func(_ context.Context, id string) (scheduler.Run, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			return scheduler.Run{ID: id, State: scheduler.StateFailed, Error: "data: no such file"}, nil
		}
		fake.setDeployed("1")
		return scheduler.Run{ID: id, State: scheduler.StateCompleted}, nil
	}
	r, err := New(Config{Model: "m", Environment: "production", DataDir: t.TempDir()}, fake.deps(kafka, testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	r.tick, r.poll, r.retry = 20*time.Millisecond, 50*time.Millisecond, 300*time.Millisecond
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	waitFor(t, 5*time.Second, "the failure in the status", func() bool { return r.Status().Phase == PhaseRetrying })
	if st := r.Status(); !strings.Contains(st.Error, "run-1 ended failed: data: no such file") {
		t.Fatalf("status = %+v", st)
	}
	waitFor(t, 5*time.Second, "streaming after the retry", func() bool { return r.Status().Phase == PhaseStreaming })
	if st := r.Status(); st.Error != "" || st.TrainRun != "run-2" || len(fake.submissions()) != 2 {
		t.Fatalf("status = %+v, %d submissions", st, len(fake.submissions()))
	}
}

func TestRunnerCloseWhileTraining(t *testing.T) {
	kafka := startBroker(t)
	fake := &fakeFlows{}
	waiting := make(chan struct{})
	fake.WaitFn = func(ctx context.Context, _ string) (scheduler.Run, error) {
		close(waiting)
		<-ctx.Done() // training takes forever
		return scheduler.Run{}, ctx.Err()
	}
	r, err := New(Config{Model: "m", Environment: "production", DataDir: t.TempDir()}, fake.deps(kafka, testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Start waited for training")
	}
	<-waiting
	if st := r.Status(); st.Phase != PhaseTraining {
		t.Fatalf("status = %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	default:
		t.Fatal("the demo's goroutine is still running after Close")
	}
	if st := r.Status(); st.Phase != PhaseStopped {
		t.Fatalf("status after close = %+v", st)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestRunnerResumesAfterRestart(t *testing.T) {
	kafka := startBroker(t)
	fake := &fakeFlows{version: "1"}
	cfg := Config{Model: "m", Environment: "production", DataDir: t.TempDir(), Rate: 200, ShiftAfter: 300 * time.Millisecond, LabelDelay: 100 * time.Millisecond}
	r1, err := New(cfg, fake.deps(kafka, testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	r1.tick, r1.poll = 20*time.Millisecond, 50*time.Millisecond
	if err := r1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the shift", func() bool { return r1.Status().Shifts == 1 && r1.Status().Sent > 100 })
	if err := r1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Same data directory, same deployment: still waiting for a promotion
	// after shift 1, with fresh ids.
	r2 := mustStartRunner(t, cfg, fake.deps(kafka, testLogger(t)))
	waitFor(t, 5*time.Second, "records after the restart", func() bool { return r2.Status().Sent > 50 })
	if st := r2.Status(); st.Phase != "shifted: concept 1" || st.Shifts != 1 {
		t.Fatalf("status after restart = %+v", st)
	}
	if err := r2.Close(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}
	readFeatures(t, kafka) // fails on a repeated id
	// A promotion while the demo was down schedules the next shift at start.
	fake.setDeployed("2")
	r3 := mustStartRunner(t, cfg, fake.deps(kafka, testLogger(t)))
	waitFor(t, 5*time.Second, "streaming", func() bool { return r3.Status().Phase == PhaseStreaming })
	if st := r3.Status(); st.LastPromotion != "2" || st.NextShiftAt.IsZero() {
		t.Fatalf("status after a promotion while down = %+v", st)
	}
}

func TestRunnerDeployedErrorsAreRetried(t *testing.T) {
	kafka := startBroker(t)
	fake := &fakeFlows{}
	var calls int
	var mu sync.Mutex
	fake.ErrFn = func() error {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 1 {
			return errors.New("registry closed")
		}
		return nil
	}
	r := mustStartRunner(t, Config{Model: "m", Environment: "production", DataDir: t.TempDir()}, fake.deps(kafka, testLogger(t)))
	waitFor(t, 5*time.Second, "streaming", func() bool { return r.Status().Phase == PhaseStreaming })
	if subs := fake.submissions(); len(subs) != 1 {
		t.Fatalf("%d submissions, want 1 after the registry answered", len(subs))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{Model: "m", Environment: "production", DataDir: "/tmp/x"}
	d := (&fakeFlows{}).deps(stream.Config{Brokers: []string{"127.0.0.1:1"}}, nil)
	cases := []struct {
		name string
		edit func(*Config, *Deps)
		want string
	}{
		{"no model", func(c *Config, _ *Deps) { c.Model = "" }, "model name"},
		{"no data dir", func(c *Config, _ *Deps) { c.DataDir = "" }, "data directory"},
		{"negative rate", func(c *Config, _ *Deps) { c.Rate = -1 }, "rate"},
		{"huge rate", func(c *Config, _ *Deps) { c.Rate = 1e9 }, "rate"},
		{"negative delay", func(c *Config, _ *Deps) { c.LabelDelay = -time.Second }, "negative"},
		{"no submit", func(_ *Config, d *Deps) { d.Submit = nil }, "Submit"},
		{"no labels topic", func(_ *Config, d *Deps) { d.Topics.Labels = "" }, "topics"},
	}
	for _, tc := range cases {
		c, dd := good, d
		tc.edit(&c, &dd)
		if _, err := New(c, dd); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	r, err := New(good, d)
	if err != nil {
		t.Fatal(err)
	}
	if r.cfg.Rate != DefaultRate || r.cfg.LabelDelay != DefaultLabelDelay || r.cfg.ShiftAfter != DefaultShiftAfter || r.cfg.Repeat != DefaultRepeat {
		t.Fatalf("defaults not applied: %+v", r.cfg)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("close of a runner never started: %v", err)
	}
}

func TestLabelQueue(t *testing.T) {
	var q labelQueue
	t0 := time.Unix(1000, 0)
	for i := range 5000 {
		q.push(pendingLabel{due: t0.Add(time.Duration(i) * time.Millisecond), id: fmt.Sprint(i)})
	}
	var got []string
	q.popDue(t0.Add(2999*time.Millisecond), func(p pendingLabel) { got = append(got, p.id) })
	if len(got) != 3000 || got[0] != "0" || got[2999] != "2999" || q.len() != 2000 {
		t.Fatalf("popped %d (first %v), %d left", len(got), got[:1], q.len())
	}
	if q.head != 0 || len(q.items) != 2000 {
		t.Fatalf("not compacted: head %d, %d items", q.head, len(q.items))
	}
	got = got[:0]
	q.popDue(t0.Add(time.Hour), func(p pendingLabel) { got = append(got, p.id) })
	if len(got) != 2000 || got[0] != "3000" || q.len() != 0 {
		t.Fatalf("popped %d (first %v), %d left", len(got), got[0], q.len())
	}
}
