package flows

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"driftd/scheduler"
	"driftd/stream"
)

// pollEvery is how often the pipeline flow reads the scorer's counters.
const pollEvery = 50 * time.Millisecond

// PipelineDriftFeature is one feature's drift in a pipeline report.
type PipelineDriftFeature struct {
	Name    string  `json:"name"`
	PSI     float64 `json:"psi"`
	Drifted bool    `json:"drifted"`
}

// PipelineDrift is the live drift of the deployed version after the
// records were scored, features by PSI, largest first.
type PipelineDrift struct {
	Rows         int                    `json:"rows"` // records in the checked window
	MaxPSI       float64                `json:"max_psi"`
	DriftShare   float64                `json:"drift_share"`
	DatasetDrift bool                   `json:"dataset_drift"`
	Features     []PipelineDriftFeature `json:"features"`
}

// PipelineReport is what a pipeline run measured.
type PipelineReport struct {
	Model          string             `json:"model"`
	Version        string             `json:"version"`
	Environment    string             `json:"environment"`
	RunID          string             `json:"run_id"` // the experiment run of the training
	Metrics        map[string]float64 `json:"metrics"`
	MetricsOn      string             `json:"metrics_on,omitempty"`
	TrainSeconds   float64            `json:"train_seconds"`
	Produced       int64              `json:"produced"` // records acknowledged by Kafka
	Scored         int64              `json:"scored"`   // records the scorer consumed meanwhile (scored or dead-lettered)
	DeadLettered   int64              `json:"dead_lettered"`
	ProduceSeconds float64            `json:"produce_seconds"`
	// The scorer's latency histogram has no accessor, so latency is measured
	// from outside: ScoredWallSeconds runs from the first record produced to
	// the last one scored, WallSecondsPerRecord divides it by Scored, and
	// DrainSeconds runs from the last acknowledgement to the last record
	// scored (an upper bound of that record's end-to-end latency, to the
	// 50 ms of the polling).
	ScoredWallSeconds    float64        `json:"scored_wall_seconds"`
	WallSecondsPerRecord float64        `json:"wall_seconds_per_record"`
	DrainSeconds         float64        `json:"drain_seconds"`
	RecordsPerSecond     float64        `json:"records_per_second"` // Scored / ScoredWallSeconds
	Drift                *PipelineDrift `json:"drift,omitempty"`    // nil when no drift check ran
	// DriftStatus says why Drift is nil: the monitor's warm-up ("warming up:
	// n of m records": the window cannot yet tell drift from noise).
	DriftStatus string `json:"drift_status,omitempty"`
}

// pipelineFlow is the pipeline flow: train → register → deploy → produce
// records through Kafka → monitor → report.
func pipelineFlow(d Deps) scheduler.Flow {
	s := scheduler.TypeString
	return scheduler.Flow{
		Name: FlowPipeline,
		Description: "The complete pipeline: train a model, register it, deploy it to the scoring environment, replay held-out rows " +
			"through Kafka, watch them being scored and report metrics, throughput, latency and drift.",
		Params: []scheduler.Param{
			{Name: "data", Type: s, Required: true, Help: "CSV file on the server: trained on, and its held-out rows replayed"},
			{Name: "target", Type: s, Required: true, Help: "the column to learn"},
			{Name: "id", Type: s, Help: "id column (default: ids row-<n>)"},
			{Name: "model", Type: s, Default: d.ScoredModel, Help: "model name; must be the one the scorer scores (DRIFTD_MODEL)"},
			{Name: "algo", Type: s, Default: "gbdt", Enum: []string{"gbdt", "logistic"}, Help: "algorithm"},
			{Name: "rounds", Type: scheduler.TypeInt, Default: int64(100), Help: "boosting rounds"},
			{Name: "predictions", Type: scheduler.TypeInt, Default: int64(1000), Help: "records to produce (the held-out rows, cycled)"},
			{Name: "monitor", Type: scheduler.TypeDuration, Default: 10 * time.Second, Help: "how long to wait for the records to be scored after producing them"},
			{Name: "rate", Type: scheduler.TypeFloat, Default: 0.0, Help: "records per second (0 = as fast as possible)"},
			{Name: "drift", Type: s, Help: "drift applied to the replayed rows, like f0:shift=1.5,f1:scale=2,city:swap=a>b"},
			{Name: "run_id", Type: s, Hidden: true, Help: "the experiment run to record the training into"},
		},
		Queue:    QueueDefault,
		Validate: d.validatePipeline,
		Prepare: func(ctx context.Context, p scheduler.Params, t scheduler.Trigger) error {
			if p.String("run_id") != "" {
				return nil
			}
			j, err := d.pipelineJob(p)
			if err != nil {
				return err
			}
			id, err := d.createRun(ctx, j.Experiment, "pipeline "+j.Model, j.Model, "pipeline", j.runParams(), t, "")
			if err != nil {
				return err
			}
			p["run_id"] = id
			return nil
		},
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			rep, err := d.runPipeline(ctx, rc)
			if err != nil {
				return nil, err
			}
			return rep, nil
		},
		OnEnd: func(ctx context.Context, r scheduler.Run) { d.endExperimentRun(ctx, r) },
	}
}

// pipelineJob is the training part of a pipeline run.
func (d Deps) pipelineJob(p scheduler.Params) (TrainJob, error) {
	tp := scheduler.Params{"data": p.String("data"), "target": p.String("target"), "id": p.String("id"), "algo": p.String("algo")}
	if v, ok := p["rounds"]; ok {
		tp["rounds"] = v
	}
	spec, err := TrainParams(tp)
	if err != nil {
		return TrainJob{}, err
	}
	return TrainJob{Spec: spec, Model: cmp.Or(p.String("model"), d.ScoredModel), Experiment: "pipeline", Register: true,
		Deploy: d.ScoringEnvironment}, nil
}

// validatePipeline checks the pipeline's params.
func (d Deps) validatePipeline(_ context.Context, p scheduler.Params) error {
	j, err := d.pipelineJob(p)
	if err != nil {
		return err
	}
	if j.Model != d.ScoredModel {
		return scheduler.Errorf("params.model", "the scorer scores %s (DRIFTD_MODEL): the pipeline deploys to %s and must train that model, not %s", d.ScoredModel, d.ScoringEnvironment, j.Model)
	}
	if err := checkModel("model", j.Model); err != nil {
		return err
	}
	if err := d.checkDataFile("data", j.Spec.Data); err != nil {
		return err
	}
	switch n := p.Int("predictions"); {
	case n < 1 || n > 100_000_000:
		return scheduler.Errorf("params.predictions", "%d: must be in [1, 100000000]", n)
	case p.Duration("monitor") <= 0:
		return scheduler.Errorf("params.monitor", "%v: must be positive", p.Duration("monitor"))
	case p.Float("rate") < 0:
		return scheduler.Errorf("params.rate", "%v: must be 0 (as fast as possible) or positive", p.Float("rate"))
	}
	spec, err := stream.ParseDriftSpec(p.String("drift"))
	if err != nil {
		return scheduler.Errorf("params.drift", "%v", err)
	}
	header, err := CSVHeader(j.Spec.Data)
	if err != nil {
		return scheduler.Errorf("params.data", "%v", err)
	}
	for _, op := range spec {
		if op.Feature == j.Spec.CSV.Target || !slices.Contains(header, op.Feature) {
			return scheduler.Errorf("params.drift", "%q is not a feature column of %s", op.Feature, j.Spec.Data)
		}
	}
	return nil
}

// runPipeline is the pipeline flow's Run.
func (d Deps) runPipeline(ctx context.Context, rc *scheduler.RunContext) (*PipelineReport, error) {
	if d.Live == nil {
		return nil, errors.New("the pipeline needs the scorer, and none runs in this process")
	}
	p := rc.Params
	j, err := d.pipelineJob(p)
	if err != nil {
		return nil, err
	}
	spec, err := stream.ParseDriftSpec(p.String("drift"))
	if err != nil {
		return nil, scheduler.Errorf("params.drift", "%v", err)
	}
	runID := p.String("run_id")
	if runID == "" {
		if runID, err = d.createRun(ctx, j.Experiment, "pipeline "+j.Model, j.Model, "pipeline", j.runParams(), rc.Trigger, ""); err != nil {
			return nil, err
		}
		rc.Params["run_id"] = runID
	}
	tr, out, err := d.runTrain(ctx, rc, j, runID)
	if err != nil {
		return nil, err
	}
	rep := &PipelineReport{Model: j.Model, Version: tr.Version, Environment: d.ScoringEnvironment, RunID: runID,
		Metrics: finiteMetrics(out.Metrics), MetricsOn: out.MetricsOn, TrainSeconds: out.LoadSeconds + out.FitSeconds}
	if err := d.waitScoring(ctx, tr.Version, max(p.Duration("monitor"), 10*time.Second)); err != nil {
		return nil, err
	}
	rows, err := heldOutCSV(j.Spec.Data, j.Spec.CSV.Target, out.Rows+out.ValidRows, j.Spec.ValidFraction, j.Spec.Seed)
	if err != nil {
		return nil, err
	}
	n := p.Int("predictions")
	base := d.Live.ScorerStatus()
	rc.Logf("producing %d records to %s (the held-out rows of %s, cycled)", n, d.Topics.Features, j.Spec.CSV.Name)
	start := time.Now()
	for rep.Produced < n {
		src, err := stream.NewCSVRecords(bytes.NewReader(rows), j.Spec.CSV.Name, j.Spec.CSV.ID, spec)
		if err != nil {
			return nil, err
		}
		st, err := stream.ProduceCSV(ctx, src, stream.ProduceOptions{Client: d.Kafka(), Topic: d.Topics.Features,
			Rate: p.Float("rate"), Limit: int(n - rep.Produced)})
		rep.Produced += st.Acked
		if err != nil {
			return nil, fmt.Errorf("produce: %w", err)
		}
		if st.Sent == 0 {
			return nil, fmt.Errorf("produce: %s has no held-out rows to replay", j.Spec.CSV.Name)
		}
	}
	acked := time.Now()
	rep.ProduceSeconds = acked.Sub(start).Seconds()
	rc.Logf("produced %d records in %.2fs; waiting up to %v for them to be scored", rep.Produced, rep.ProduceSeconds, p.Duration("monitor"))
	last, err := d.awaitScored(ctx, base, rep.Produced, p.Duration("monitor"), func(st stream.Status) {
		rep.Scored, rep.DeadLettered = int64(st.Consumed-base.Consumed), int64(st.DeadLettered-base.DeadLettered)
	})
	if err != nil {
		return nil, err
	}
	rep.ScoredWallSeconds = last.Sub(start).Seconds()
	rep.DrainSeconds = max(0, last.Sub(acked).Seconds())
	if rep.Scored > 0 {
		rep.WallSecondsPerRecord = rep.ScoredWallSeconds / float64(rep.Scored)
		rep.RecordsPerSecond = float64(rep.Scored) / max(rep.ScoredWallSeconds, 1e-9)
	}
	if rep.Scored < rep.Produced {
		rc.Logf("only %d of %d records were scored within %v", rep.Scored, rep.Produced, p.Duration("monitor"))
	} else {
		rc.Logf("scored %d records (%d dead-lettered) in %.2fs from the first produced: %.0f records/s", rep.Scored, rep.DeadLettered, rep.ScoredWallSeconds, rep.RecordsPerSecond)
	}
	if ev, _, ok := d.Live.Drift(); ok && ev.Version == tr.Version && len(ev.Features) > 0 {
		dr := reportOf(ev.Model, ev.Version, "live window", ev)
		rep.Drift = &PipelineDrift{Rows: ev.WindowRecords, MaxPSI: ev.MaxPSI, DriftShare: ev.DriftShare, DatasetDrift: ev.DatasetDrift}
		for _, f := range dr.Features {
			rep.Drift.Features = append(rep.Drift.Features, PipelineDriftFeature{Name: f.Name, PSI: f.PSI, Drifted: f.Drifted})
		}
		rc.Logf("drift on the last %d records: max PSI %.3f, share %.2f, dataset drift %v", ev.WindowRecords, ev.MaxPSI, ev.DriftShare, ev.DatasetDrift)
	} else {
		rep.DriftStatus = cmp.Or(ev.Status, "no drift check has run yet")
		rc.Logf("no drift check of %s has run yet: %s (produce more records with --predictions)", tr.Version, rep.DriftStatus)
	}
	return rep, nil
}

// waitScoring waits until the scorer scores with version (it switches when
// the deployment changes), at most within.
func (d Deps) waitScoring(ctx context.Context, version string, within time.Duration) error {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for d.Live.ScorerStatus().Version != version {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			st := d.Live.ScorerStatus()
			return fmt.Errorf("the scorer did not switch to version %s within %v (it scores %q, state %s %s)", version, within, st.Version, st.State, st.Reason)
		case <-tick.C:
		}
	}
	return nil
}

// awaitScored polls the scorer's counters until n records more than base
// were consumed or within passed, calling update with every reading; it
// returns when the last reading showed progress.
func (d Deps) awaitScored(ctx context.Context, base stream.Status, n int64, within time.Duration, update func(stream.Status)) (time.Time, error) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	last, prev := time.Now(), base.Consumed
	for {
		st := d.Live.ScorerStatus()
		update(st)
		if st.Consumed != prev {
			last, prev = time.Now(), st.Consumed
		}
		if int64(st.Consumed-base.Consumed) >= n {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-deadline.C:
			return last, nil
		case <-tick.C:
		}
	}
}

// heldOutCSV returns the rows of a CSV file that SplitDataset held out for
// validation (all rows when none were held out, or when the file's row count
// is not the trained one), without the target column.
func heldOutCSV(path, target string, rows int, frac float64, seed int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("replay %s: read header: %w", path, err)
	}
	drop := slices.Index(header, target)
	var recs [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", path, err)
		}
		recs = append(recs, rec)
	}
	keep := func(int) bool { return true }
	if _, vIdx := splitRows(rows, frac, seed); vIdx != nil && len(recs) == rows {
		held := make([]bool, rows)
		for _, i := range vIdx {
			held[i] = true
		}
		keep = func(i int) bool { return held[i] }
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	without := func(rec []string) []string {
		if drop < 0 || drop >= len(rec) {
			return rec
		}
		return slices.Delete(slices.Clone(rec), drop, drop+1)
	}
	_ = w.Write(without(header))
	for i, rec := range recs {
		if keep(i) {
			_ = w.Write(without(rec))
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	return buf.Bytes(), nil
}
