package server

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"driftd/drift"
	"driftd/registry"
)

// mustSynthProducer builds a synthetic producer on a test app's broker and
// closes it when the test ends.
func mustSynthProducer(tb testing.TB, a *testApp, model string) *synthProducer {
	tb.Helper()
	p := newSynthProducer(synthConfig{Store: a.store, Kafka: a.pipeline.kafka, Topic: a.pipeline.Topics().Features,
		Model: model, Environment: a.cfg.ScoringEnvironment, Seed: 42})
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			tb.Error(err)
		}
	})
	return p
}

// waitSynthDone waits until the producer's run has ended and returns its status.
func waitSynthDone(tb testing.TB, p *synthProducer) SynthStatus {
	tb.Helper()
	uiWaitFor(tb, "the synthetic producer to finish", 20*time.Second, func() bool { return !p.Status().Running })
	return p.Status()
}

// synthRecords reads every record of the features topic whose id is synth-n
// with lo < n <= hi.
func synthRecords(tb testing.TB, a *testApp, lo, hi int) []map[string]any {
	tb.Helper()
	ctx := context.Background()
	topic := a.pipeline.Topics().Features
	var out []map[string]any
	for part := int32(0); part < int32(a.cfg.KafkaPartitions); part++ {
		for from := int64(0); ; {
			msgs, err := a.pipeline.Admin().Messages(ctx, topic, part, from, 1000)
			if err != nil {
				tb.Fatal(err)
			}
			for _, m := range msgs {
				var rec map[string]any
				if err := json.Unmarshal(m.Value, &rec); err != nil {
					tb.Fatalf("record %s is not JSON: %v", m.Value, err)
				}
				id, _ := rec["id"].(string)
				n, err := strconv.Atoi(strings.TrimPrefix(id, "synth-"))
				if err != nil || string(m.Key) != id {
					tb.Fatalf("record id %q, key %q: want synth-<n> as both", id, m.Key)
				}
				if n > lo && n <= hi {
					out = append(out, rec)
				}
			}
			if len(msgs) < 1000 {
				break
			}
			from = msgs[len(msgs)-1].Offset + 1
		}
	}
	return out
}

// meanOf is the mean of a numeric field over records (nulls skipped).
func meanOf(recs []map[string]any, field string) float64 {
	sum, n := 0.0, 0
	for _, r := range recs {
		if x, ok := r[field].(float64); ok {
			sum += x
			n++
		}
	}
	return sum / float64(n)
}

func TestSynthProducerSamplesTheDeployedProfileAndDrifts(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	name := a.cfg.ModelName
	registerUIModel(t, a, name, "1.0.0", 1)
	ctx := context.Background()
	if err := a.store.Deploy(registry.WithUser(ctx, "admin"), name, "1.0.0", a.cfg.ScoringEnvironment, "synth test"); err != nil {
		t.Fatal(err)
	}
	raw, err := a.store.Profile(ctx, name, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	prof, err := drift.DecodeProfile(raw)
	if err != nil {
		t.Fatal(err)
	}
	var x1 *drift.Feature
	for i := range prof.Features {
		if prof.Features[i].Name == "x1" {
			x1 = &prof.Features[i]
		}
	}
	p := mustSynthProducer(t, a, name)

	const rows = 400
	if err := p.Start(ctx, SynthSpec{Rate: 4000, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	st := waitSynthDone(t, p)
	if st.Sent != rows || st.Acked != rows || st.Failed != 0 || st.LastError != "" || st.Version != "1.0.0" {
		t.Fatalf("status after the first run = %+v", st)
	}
	plain := synthRecords(t, a, 0, rows)
	if len(plain) != rows {
		t.Fatalf("%d records synth-1..%d on the topic, want %d", len(plain), rows, rows)
	}
	plans := map[string]int{}
	for _, r := range plain {
		for _, k := range []string{"x1", "x2", "plan"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("record %v lacks feature %s", r, k)
			}
		}
		if x, ok := r["x1"].(float64); ok && (x < x1.Min-1e-6 || x > x1.Max+1e-6) {
			t.Fatalf("x1 = %v outside the reference range [%v, %v]", x, x1.Min, x1.Max)
		}
		plans[r["plan"].(string)]++
	}
	for _, want := range []string{"basic", "pro", "max"} {
		if plans[want] < rows/6 {
			t.Errorf("plan %s drawn %d times in %d records; the reference has it about a third of the time", want, plans[want], rows)
		}
	}
	if m := meanOf(plain, "x1"); math.Abs(m-x1.Mean) > 0.25 {
		t.Errorf("mean x1 = %.3f, reference mean %.3f", m, x1.Mean)
	}

	// The drift spec shifts x1 and swaps a category; ids go on from the last run.
	if err := p.Start(ctx, SynthSpec{Rate: 4000, Rows: rows, Drift: "x1:shift=3,plan:swap=basic>gold"}); err != nil {
		t.Fatal(err)
	}
	if st := waitSynthDone(t, p); st.Acked != rows || st.Spec.Drift == "" {
		t.Fatalf("status after the drifted run = %+v", st)
	}
	drifted := synthRecords(t, a, rows, 2*rows)
	if len(drifted) != rows {
		t.Fatalf("%d drifted records, want %d", len(drifted), rows)
	}
	if d := meanOf(drifted, "x1") - meanOf(plain, "x1"); math.Abs(d-3) > 0.4 {
		t.Errorf("x1 mean moved by %.3f, want about 3", d)
	}
	for _, r := range drifted {
		if r["plan"] == "basic" {
			t.Fatal("a basic plan survived the swap to gold")
		}
	}
}

func TestSynthProducerRefusals(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	name := a.cfg.ModelName
	ctx := context.Background()
	p := mustSynthProducer(t, a, name)

	// Nothing deployed yet.
	if err := p.Start(ctx, SynthSpec{Rate: 10}); !errors.Is(err, registry.ErrConflict) || !strings.Contains(err.Error(), "deploy one first") {
		t.Fatalf("start with nothing deployed: %v", err)
	}
	registerUIModel(t, a, name, "1.0.0", 1)
	if err := a.store.Deploy(registry.WithUser(ctx, "admin"), name, "1.0.0", a.cfg.ScoringEnvironment, "synth test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec  SynthSpec
		field string
	}{
		{SynthSpec{Rate: 0}, "rate"},
		{SynthSpec{Rate: math.NaN()}, "rate"},
		{SynthSpec{Rate: synthMaxRate + 1}, "rate"},
		{SynthSpec{Rate: 10, Rows: -1}, "rows"},
		{SynthSpec{Rate: 10, Drift: "x1:tilt=2"}, "drift"},
		{SynthSpec{Rate: 10, Drift: "nope:shift=1"}, "drift"},
	} {
		err := p.Start(ctx, tc.spec)
		var fe *fieldErr
		if !errors.As(err, &fe) || fe.field != tc.field {
			t.Errorf("Start(%+v) = %v, want a field error on %s", tc.spec, err, tc.field)
		}
	}

	// One run at a time; Stop ends an endless run.
	if err := p.Start(ctx, SynthSpec{Rate: 50}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx, SynthSpec{Rate: 50}); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("second start while running: %v", err)
	}
	if status, _ := a.classify(p.Start(ctx, SynthSpec{Rate: 50})); status != 409 {
		t.Fatalf("a second start classifies as %d, want 409", status)
	}
	uiWaitFor(t, "a few records", 10*time.Second, func() bool { return p.Status().Acked >= 3 })
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	st := p.Status()
	if st.Running || st.Sent == 0 || st.Acked != st.Sent || st.EndedAt.IsZero() {
		t.Fatalf("status after Stop = %+v", st)
	}
	// The next run's ids follow the stopped run's.
	if err := p.Start(ctx, SynthSpec{Rate: 1000, Rows: 1}); err != nil {
		t.Fatal(err)
	}
	waitSynthDone(t, p)
	if recs := synthRecords(t, a, int(st.Sent), int(st.Sent)+1); len(recs) != 1 {
		t.Fatalf("the next run's first record synth-%d: found %d", st.Sent+1, len(recs))
	}
}
