package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"driftd/drift"
	"driftd/server/flows"
	"driftd/stream"
	"driftd/train"
)

// estimationCSV writes a CSV of n rows of x1, x2 (numeric), plan
// (categorical) and a target: a value with noise growing with |x1| for
// regression, one of three classes for multiclass.
func estimationCSV(tb testing.TB, objective string, n int, seed uint64) string {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 9))
	var sb strings.Builder
	sb.WriteString("x1,x2,plan,y\n")
	for range n {
		x1, x2 := r.NormFloat64(), r.Float64()*10
		plan := []string{"basic", "pro", "max"}[r.IntN(3)]
		var y string
		if objective == "regression" {
			y = fmt.Sprintf("%.4f", 2*x1+0.3*x2+(0.2+math.Abs(x1))*r.NormFloat64())
		} else {
			z := x1 + 0.3*x2 - 1.5 + 0.7*r.NormFloat64()
			y = map[bool]string{true: "low", false: "mid"}[z < 0]
			if z > 1.5 {
				y = "high"
			}
		}
		fmt.Fprintf(&sb, "%.4f,%.4f,%s,%s\n", x1, x2, plan, y)
	}
	path := filepath.Join(tb.TempDir(), objective+".csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// trainEstimated trains a model through flows.TrainModel (as the server's
// training does) and registers it as version of drift-model.
func trainEstimated(tb testing.TB, p *pipeline, objective, version string) *flows.TrainOutcome {
	tb.Helper()
	params := train.DefaultParams()
	params.Objective, params.Rounds, params.Threads = objective, 30, 1
	out, err := flows.TrainModel(context.Background(), flows.TrainSpec{Data: estimationCSV(tb, objective, 2000, 1), ValidFraction: 0.3, Seed: 1,
		Params: params, CSV: train.CSVOptions{Delimiter: ',', Target: "y"}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	registerArtifact(tb, p, out.Artifact, version)
	return out
}

func registerArtifact(tb testing.TB, p *pipeline, art []byte, version string) {
	tb.Helper()
	opts, err := registerOptions(art)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Version = version
	if _, err := p.store.Register(context.Background(), art, p.cfg.ModelName, opts); err != nil {
		tb.Fatal(err)
	}
}

// scoreRecords scores n records drawn like estimationCSV's (x1 shifted by
// shift) and feeds them to the deployment's drift observer, as the
// scorer does.
func scoreRecords(d *deployment, n int, shift float64) {
	r := rand.New(rand.NewPCG(5, 5))
	names := d.model.Schema().Names
	rec := &stream.Decoded{Num: make([]float64, len(names)), Cat: make([]string, len(names))}
	for range n {
		for i, name := range names {
			switch name {
			case "x1":
				rec.Num[i] = shift + r.NormFloat64()
			case "x2":
				rec.Num[i] = r.Float64() * 10
			case "plan":
				rec.Cat[i] = []string{"basic", "pro", "max"}[r.IntN(3)]
			}
		}
		score, _ := d.model.Score(rec)
		d.obs.Observe(rec, score)
	}
}

// TestPipelineDLE loads a regression version trained with loss models:
// its monitor estimates the window's RMSE and MAE (exported), higher when
// the noisy feature shifts. A version trained before DLE (no loss models
// in its model file, no loss reference in its profile) still loads and
// scores, without the estimate.
func TestPipelineDLE(t *testing.T) {
	p, _ := mustStartPipeline(t, nil)
	trainEstimated(t, p, "regression", "1.0.0")
	d, err := p.load(context.Background(), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer d.cancel()
	defer d.monitor.Close()
	scoreRecords(d, 500, 0)
	ev := d.monitor.Check()
	l := ev.EstimatedLoss
	if l == nil || l.Records != 500 || !(l.RMSE > 0) || l.Band == nil || ev.Estimated != nil {
		t.Fatalf("estimated loss %+v, estimated %+v", l, ev.Estimated)
	}
	if js, err := json.Marshal(toDriftJSON(DriftView{Event: ev})); err != nil || !strings.Contains(string(js), `"estimated_loss":{`) {
		t.Errorf("drift JSON %.300s: %v", js, err)
	}
	var buf bytes.Buffer
	p.metrics.WritePrometheus(&buf)
	for _, name := range []string{`driftd_model_estimated_rmse{model="drift-model"}`, `driftd_model_estimated_mae{model="drift-model"}`} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("%s not exported", name)
		}
	}
	// |x1| drives the noise: moving x1 out raises the estimated error.
	scoreRecords(d, int(p.cfg.DriftWindowSize), 2.5)
	if up := d.monitor.Check().EstimatedLoss; !(up.RMSE > 1.25*l.RMSE) || !up.Drop {
		t.Errorf("x1 shifted: estimated RMSE %v (drop %v), before %v", up.RMSE, up.Drop, l.RMSE)
	}

	// A version from before DLE.
	ds, err := train.ReadCSV(bytes.NewReader(mustRead(t, estimationCSV(t, "regression", 500, 2))), train.CSVOptions{Target: "y", Name: "old.csv"})
	if err != nil {
		t.Fatal(err)
	}
	params := train.DefaultParams()
	params.Objective, params.Rounds, params.Threads = "regression", 5, 1
	m, err := train.Train(context.Background(), ds, nil, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]drift.Column, len(ds.Names))
	for i, n := range ds.Names {
		cols[i] = drift.Column{Name: n, Categorical: ds.Kinds[i] == train.Categorical, Values: ds.Num[i], Codes: ds.Codes[i], Levels: ds.Levels[i]}
	}
	prof, err := drift.BuildProfile(cols, ds.Target, drift.ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := prof.MarshalBinary()
	m.Attach("drift.profile", pb)
	art, _ := m.MarshalBinary()
	registerArtifact(t, p, art, "0.9.0")
	old, err := p.load(context.Background(), "0.9.0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.cancel()
	defer old.monitor.Close()
	scoreRecords(old, 100, 0)
	if ev := old.monitor.Check(); ev.WindowRecords != 100 || ev.EstimatedLoss != nil {
		t.Fatalf("old version: %d records, estimated loss %+v", ev.WindowRecords, ev.EstimatedLoss)
	}
}
