package flows

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
	"driftd/stream"
	"driftd/train"
)

// env is one test's world: a real registry in a temp dir, the shared real
// embedded broker, topics of its own, and a started engine with the flows.
type env struct {
	t      testing.TB
	dir    string // data directory; flows may read its files
	store  *registry.Store
	broker *stream.Broker
	deps   Deps
	engine *scheduler.Engine
}

// fakeLive is a Live whose answers the test sets.
type fakeLive struct {
	DriftFn  func() (drift.Event, drift.Performance, bool)
	StatusFn func() stream.Status
}

func (f fakeLive) Drift() (drift.Event, drift.Performance, bool) { return f.DriftFn() }
func (f fakeLive) ScorerStatus() stream.Status                   { return f.StatusFn() }

// mustBroker starts an embedded broker on a free port, closed at test end.
func mustBroker(tb testing.TB) *stream.Broker {
	tb.Helper()
	b, err := stream.NewBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", Partitions: 3}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// newEnv builds an env; edit changes the deps before the flows are registered.
func newEnv(tb testing.TB, b *stream.Broker, edit func(*Deps)) *env {
	tb.Helper()
	dir := tb.TempDir()
	store, err := registry.Open(filepath.Join(dir, registry.FileName), registry.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	abs, _ := filepath.Abs("testdata")
	topic := strings.NewReplacer("/", "-", " ", "-").Replace(tb.Name())
	d := Deps{
		Store: store, Logger: slog.New(slog.DiscardHandler), ScoredModel: "m", ScoringEnvironment: "production",
		DataDir: dir, TrainDataDirs: []string{abs},
		Topics:  stream.Topics{Features: topic + "-features", Labels: topic + "-labels"},
		Retrain: RetrainDefaults{Lookback: time.Hour, MinLabels: 100, Margin: 0.005, Promotion: PromotionAuto},
	}
	if b != nil {
		addr := b.Addr()
		d.Kafka = func() stream.Config { return stream.Config{Brokers: []string{addr}} }
	} else {
		d.Kafka = func() stream.Config { return stream.Config{Brokers: []string{"127.0.0.1:1"}} }
	}
	if edit != nil {
		edit(&d)
	}
	e, err := scheduler.New(scheduler.Options{Store: store})
	if err != nil {
		tb.Fatal(err)
	}
	if err := Register(e, d); err != nil {
		tb.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return &env{t: tb, dir: dir, store: store, broker: b, deps: d.withDefaults(), engine: e}
}

// run submits a flow run and waits for its end.
func (e *env) run(flow string, params map[string]any) scheduler.Run {
	e.t.Helper()
	r, err := e.engine.Submit(context.Background(), flow, params, scheduler.SubmitOptions{
		Trigger: scheduler.Trigger{Kind: scheduler.TriggerManual, By: "tester"}})
	if err != nil {
		e.t.Fatalf("submit %s: %v", flow, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err = e.engine.Wait(ctx, r.ID)
	if err != nil {
		e.t.Fatalf("wait for %s run %s: %v", flow, r.ID, err)
	}
	return r
}

// logs returns a run's log lines joined.
func (e *env) logs(id string) string {
	e.t.Helper()
	lines, err := e.engine.Logs(context.Background(), id, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// wantParamError asserts err is a *scheduler.ParamError naming field.
func wantParamError(tb testing.TB, err error, field string) {
	tb.Helper()
	var pe *scheduler.ParamError
	if !errors.As(err, &pe) {
		tb.Fatalf("error %v is not a *scheduler.ParamError", err)
	}
	if pe.Field != field {
		tb.Fatalf("error %v names %q, want %q", err, pe.Field, field)
	}
}

// concept is a logistic labelling rule over features f0..f3: P(label 1) =
// sigmoid(weights · f), with f0 drawn around shift.
type concept struct {
	weights [4]float64
	shift   float64
}

var (
	conceptA = concept{weights: [4]float64{2, 1, -1, 0}}
	conceptB = concept{weights: [4]float64{-2, 0, 1, 2}, shift: 1.5}
)

// rows returns n deterministic rows id,f0..f3,label of the concept, with
// ids prefix-1..prefix-n.
func (c concept) rows(seed uint64, n int, prefix string) [][]string {
	r := rand.New(rand.NewPCG(seed, 99))
	out := make([][]string, n)
	for i := range out {
		row := []string{fmt.Sprintf("%s-%d", prefix, i+1)}
		z := 0.0
		for k := range 4 {
			v := r.NormFloat64()
			if k == 0 {
				v += c.shift
			}
			z += c.weights[k] * v
			row = append(row, fmt.Sprintf("%.5f", v))
		}
		label := "0"
		if r.Float64() < 1/(1+math.Exp(-z)) {
			label = "1"
		}
		out[i] = append(row, label)
	}
	return out
}

// writeCSV writes a header and rows to dir/name and returns the path.
func writeCSV(tb testing.TB, dir, name string, header []string, rows [][]string) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(header, ",") + "\n")
	for _, r := range rows {
		b.WriteString(strings.Join(r, ",") + "\n")
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

var conceptHeader = []string{"id", "f0", "f1", "f2", "f3", "label"}

// mustChampion trains a model on rows, registers it as the first version of
// e's scored model and deploys it to production.
func (e *env) mustChampion(rows [][]string) registry.Version {
	e.t.Helper()
	path := writeCSV(e.t, e.dir, "champion.csv", conceptHeader, rows)
	p := train.DefaultParams()
	p.Rounds = 40
	out, err := TrainModel(context.Background(), TrainSpec{Data: path, ValidFraction: 0.2, Seed: 1, Params: p,
		CSV: train.CSVOptions{Delimiter: ',', Target: "label", ID: "id"}}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	opts, err := RegisterOptions(out.Model)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	v, err := e.store.Register(ctx, out.Artifact, e.deps.ScoredModel, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.Deploy(ctx, e.deps.ScoredModel, v.Version, "production", "first"); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// produceWindow produces rows to the env's topics: the features of every
// row (without its label), and the labels of labelled rows (all when nil).
func (e *env) produceWindow(features [][]string, labels [][]string) {
	e.t.Helper()
	cfg := e.deps.Kafka()
	produce := func(topic string, header []string, rows [][]string) {
		var b bytes.Buffer
		b.WriteString(strings.Join(header, ",") + "\n")
		for _, r := range rows {
			b.WriteString(strings.Join(r, ",") + "\n")
		}
		src, err := stream.NewCSVRecords(&b, topic, "id", nil)
		if err != nil {
			e.t.Fatal(err)
		}
		st, err := stream.ProduceCSV(context.Background(), src, stream.ProduceOptions{Client: cfg, Topic: topic, Progress: io.Discard})
		if err != nil || st.Acked != int64(len(rows)) {
			e.t.Fatalf("produce %d rows to %s: %+v, %v", len(rows), topic, st, err)
		}
	}
	feats := make([][]string, len(features))
	for i, r := range features {
		feats[i] = r[:5]
	}
	produce(e.deps.Topics.Features, conceptHeader[:5], feats)
	labs := make([][]string, len(labels))
	for i, r := range labels {
		labs[i] = []string{r[0], r[5]}
	}
	produce(e.deps.Topics.Labels, []string{"id", "label"}, labs)
}
