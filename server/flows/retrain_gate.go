package flows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"driftd/registry"
	"driftd/scheduler"
	"driftd/train"
)

// challenge trains the challenger on the window (plus the training data),
// compares it with the champion on the held-out slice, registers it, and
// promotes, parks or rejects it; res receives every figure.
func (d Deps) challenge(ctx context.Context, rc *scheduler.RunContext, o retrainOptions, ch champion, w *window, res *RetrainResult) error {
	all := windowDataset(ch.model, w)
	nh := max(1, int(math.Round(o.holdout*float64(all.Rows))))
	if all.Rows-nh < 1 {
		return fmt.Errorf("%d labelled records are too few to hold %d out and train on the rest", all.Rows, nh)
	}
	// The most recent records are held out: time-ordered, not random.
	tr, ho := all.Subset(seq(0, all.Rows-nh)), all.Subset(seq(all.Rows-nh, all.Rows))
	if !w.regression {
		if cls := classesOf(ho); ch.model.Objective() == "binary" && len(cls) < 2 {
			return fmt.Errorf("the %d held-out labels have one class (%q): AUC is not defined; widen lookback or holdout_fraction", ho.Rows, cls[0])
		}
	}
	if o.trainingData != "" {
		target := o.target
		if target == "" {
			target = d.championTarget(ctx, ch.version)
		}
		id, _ := ch.model.Params()["id"].(string)
		extra, err := readTrainingData(o.trainingData, ch.model, target, id)
		if err != nil {
			return fmt.Errorf("training_data: %w", err)
		}
		res.TrainingData = extra.Rows
		tr = appendDataset(tr, extra)
		rc.Logf("mixed %d rows of %s into the training rows", extra.Rows, o.trainingData)
	}
	res.Rows, res.TrainRows, res.HoldoutRows = tr.Rows+ho.Rows, tr.Rows, ho.Rows

	tp := paramsOf(ch.model)
	var valid *train.Dataset
	if tp.EarlyStopping > 0 {
		valid = ho // the champion stopped early on its validation data; the challenger does on the held-out slice
	}
	rc.Logf("training the challenger (%s %s, %d rounds) on %d rows, holding out the %d most recent", tp.Algo, tp.Objective, tp.Rounds, tr.Rows, ho.Rows)
	start := time.Now()
	every := max(1, tp.Rounds/flowLogSteps)
	chal, err := train.Train(ctx, tr, valid, tp, func(r train.Round) {
		rc.SetProgress(TrainProgress{Round: r.Round, Rounds: tp.Rounds, TrainLoss: finite(r.TrainLoss), ValidLoss: finite(r.ValidLoss),
			MetricName: r.MetricName, ValidMetric: finite(r.ValidMetric), ElapsedSeconds: r.Elapsed.Seconds()})
		if r.Round == 1 || r.Round%every == 0 {
			rc.Logf("%s", RoundLine(r))
		}
	})
	if err != nil {
		return fmt.Errorf("train challenger: %w", err)
	}
	if id, ok := ch.model.Params()["id"]; ok {
		chal.Params()["id"] = id
	}
	rc.Logf("trained the challenger in %.2fs", time.Since(start).Seconds())

	champM, _, err := evaluate(ch.model, ho)
	if err != nil {
		return fmt.Errorf("evaluate champion %s: %w", ch.version.Version, err)
	}
	chalM, chalScores, err := evaluate(chal, ho)
	if err != nil {
		return fmt.Errorf("evaluate challenger: %w", err)
	}
	cv, xv := champM[res.Metric], chalM[res.Metric]
	if !isFinite(cv) || !isFinite(xv) {
		return fmt.Errorf("%s on the %d held-out records is not defined (champion %v, challenger %v)", res.Metric, ho.Rows, cv, xv)
	}
	res.Champion.Value = cv
	pass, reason := gate(res.Metric, cv, xv, o.margin)
	rc.Logf("held-out %s: champion %s %.4f, challenger %.4f: %s", res.Metric, ch.version.Version, cv, xv, reason)

	for k, v := range chalM {
		chal.SetMetric("holdout_"+k, v)
	}
	// The challenger's calibrator comes from the held-out records it was
	// judged on, so its estimates (CBPE) start from the new concept.
	note, err := attachScoredProfile(ctx, chal, tr, ho, chalScores, d.DriftBins)
	if err != nil {
		return err
	}
	rc.Logf("challenger calibration: %s", note)
	csvData, err := datasetCSV(tr, ho)
	if err != nil {
		return err
	}
	if err := attachRetrainFingerprint(chal, csvData, tr, ho); err != nil {
		return err
	}
	artifact, err := chal.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode challenger: %w", err)
	}

	decision := DecisionRejected
	switch {
	case pass && o.promotion == PromotionAuto:
		decision = DecisionPromoted
	case pass:
		decision = DecisionPendingApproval
	}
	res.Decision, res.Reason = decision, reason
	uctx := userContext(ctx, rc.Trigger)
	expID, err := d.recordRetrain(uctx, rc, o, ch, res, champM, chalM, csvData, chal, artifact)
	res.ExperimentRunID = expID
	if err != nil {
		return err
	}
	if err := d.decide(uctx, rc, o, res, chal, artifact); err != nil {
		d.finishRun(context.WithoutCancel(uctx), expID, registry.RunFailed, "error: "+err.Error())
		return err
	}
	return nil
}

// gate compares the challenger's metric x with the champion's c: higher is
// better for AUC and accuracy, lower for RMSE; the margin is absolute.
func gate(metric string, c, x, margin float64) (bool, string) {
	m := strconv.FormatFloat(margin, 'g', -1, 64)
	if metric == "rmse" {
		if x < c-margin {
			return true, fmt.Sprintf("challenger rmse %.3f < champion %.3f - %s", x, c, m)
		}
		return false, fmt.Sprintf("challenger rmse %.3f >= champion %.3f - %s", x, c, m)
	}
	if x > c+margin {
		return true, fmt.Sprintf("challenger %s %.3f > champion %.3f + %s", metric, x, c, m)
	}
	return false, fmt.Sprintf("challenger %s %.3f <= champion %.3f + %s", metric, x, c, m)
}

// evaluate scores ds with m and returns its metrics and scores.
func evaluate(m *train.Model, ds *train.Dataset) (map[string]float64, []float64, error) {
	pr, err := train.Predict(m, ds)
	if err != nil {
		return nil, nil, err
	}
	met, err := train.EvaluatePredictions(m, ds, pr)
	if err != nil {
		return nil, nil, err
	}
	return met, pr.Score, nil
}

// decide registers the challenger and acts on the decision: deploy it,
// give it the challenger alias, or archive it.
func (d Deps) decide(ctx context.Context, rc *scheduler.RunContext, o retrainOptions, res *RetrainResult, chal *train.Model, artifact []byte) error {
	opts, err := RegisterOptions(chal)
	if err != nil {
		return err
	}
	opts.RunID = res.ExperimentRunID
	opts.Description = fmt.Sprintf("retrain run %s: %s: %s", rc.ID, res.Decision, res.Reason)
	opts.Tags = map[string]string{"driftd.decision": res.Decision, "driftd.retrain_run": rc.ID, "driftd.champion": res.Champion.Version}
	v, err := d.Store.Register(ctx, artifact, o.model, opts)
	if err != nil {
		return fmt.Errorf("register the challenger of %s: %w", o.model, err)
	}
	res.Challenger.Version = v.Version
	rc.Logf("registered the challenger as %s %s", o.model, v.Version)
	reason := fmt.Sprintf("retrain run %s: %s", rc.ID, res.Reason)
	switch res.Decision {
	case DecisionPromoted:
		if err := d.Store.Deploy(ctx, o.model, v.Version, o.env, reason); err != nil {
			return fmt.Errorf("promote the challenger: %w", err)
		}
		rc.Logf("promoted: deployed %s %s to %s", o.model, v.Version, o.env)
	case DecisionPendingApproval:
		if err := d.Store.SetAlias(ctx, o.model, ChallengerAlias, v.Version, reason); err != nil {
			return fmt.Errorf("park the challenger: %w", err)
		}
		rc.Logf("pending approval: %s %s holds the alias %s until an operator approves it", o.model, v.Version, ChallengerAlias)
	default:
		if err := d.Store.Archive(ctx, o.model, v.Version, "rejected by "+reason); err != nil {
			return fmt.Errorf("archive the rejected challenger: %w", err)
		}
		rc.Logf("rejected: %s %s is archived", o.model, v.Version)
	}
	if res.ExperimentRunID != "" {
		_ = d.Store.SetRunTag(ctx, res.ExperimentRunID, "driftd.challenger_version", v.Version)
		d.finishRun(context.WithoutCancel(ctx), res.ExperimentRunID, registry.RunFinished,
			fmt.Sprintf("%s: %s (challenger %s)", res.Decision, res.Reason, v.Version))
	}
	return nil
}

// recordRetrain records the retrain as a run of experiment "retrain": its
// params, both models' metrics, the counts, the assembled dataset and the
// challenger's files; it returns the run id. The run is finished by decide,
// or here as failed when recording fails.
func (d Deps) recordRetrain(ctx context.Context, rc *scheduler.RunContext, o retrainOptions, ch champion, res *RetrainResult,
	champM, chalM map[string]float64, csvData []byte, chal *train.Model, artifact []byte) (string, error) {
	res.Challenger = RetrainScore{Value: chalM[res.Metric]}
	params := map[string]string{
		"model": o.model, "environment": o.env, "champion_version": ch.version.Version, "lookback": o.lookback.String(),
		"min_labels": strconv.Itoa(o.minLabels), "margin": strconv.FormatFloat(o.margin, 'g', -1, 64), "promotion": o.promotion,
		"holdout_fraction": strconv.FormatFloat(o.holdout, 'g', -1, 64), "algo": chal.Algo(), "objective": chal.Objective(),
		"metric": res.Metric, "flow_run": rc.ID,
	}
	if o.trainingData != "" {
		params["training_data"] = o.trainingData
	}
	if o.triggerMaxPSI > 0 {
		params["trigger_max_psi"] = strconv.FormatFloat(o.triggerMaxPSI, 'g', -1, 64)
	}
	if s := rc.Params.String("trigger_features"); s != "" {
		params["trigger_features"] = s
	}
	id, err := d.createRun(ctx, "retrain", "retrain "+o.model, o.model, "retrain", params, rc.Trigger, "flow run "+rc.ID)
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		d.finishRun(context.WithoutCancel(ctx), id, registry.RunFailed, "error: "+err.Error())
		return id, err
	}
	now := d.Now()
	var pts []registry.MetricPoint
	add := func(k string, v float64) {
		if isFinite(v) {
			pts = append(pts, registry.MetricPoint{Key: k, Value: v, Time: now})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(champM)) {
		add("champion_"+k, champM[k])
		add("challenger_"+k, chalM[k])
	}
	for k, v := range map[string]float64{"rows": float64(res.Rows), "train_rows": float64(res.TrainRows), "holdout_rows": float64(res.HoldoutRows),
		"features_read": float64(res.FeaturesRead), "labels_read": float64(res.LabelsRead), "joined": float64(res.Joined),
		"orphan_labels": float64(res.OrphanLabels), "bad_records": float64(res.BadRecords), "unknown_class": float64(res.UnknownClass)} {
		add(k, v)
	}
	if err := d.Store.LogMetrics(ctx, id, pts); err != nil {
		return fail(fmt.Errorf("log retrain metrics: %w", err))
	}
	if err := d.Store.SetRunTag(ctx, id, "driftd.decision", res.Decision); err != nil {
		return fail(fmt.Errorf("tag retrain run: %w", err))
	}
	if err := d.Store.PutRunArtifact(ctx, id, "retrain_dataset.csv", csvData); err != nil {
		return fail(fmt.Errorf("store retrain dataset: %w", err))
	}
	if err := d.storeModelArtifacts(ctx, id, chal, artifact); err != nil {
		return fail(err)
	}
	_ = d.Store.AppendLog(ctx, id, fmt.Sprintf("%s on %d held-out records: champion %s %.4f, challenger %.4f", res.Metric, res.HoldoutRows,
		ch.version.Version, champM[res.Metric], chalM[res.Metric]), res.Decision+": "+res.Reason)
	return id, nil
}

// championTarget is the target column of the champion's training run, or "label".
func (d Deps) championTarget(ctx context.Context, v registry.Version) string {
	if v.RunID != "" {
		if r, err := d.Store.GetRun(ctx, v.RunID); err == nil && r.Params["target"] != "" {
			return r.Params["target"]
		}
	}
	return "label"
}

// attachRetrainFingerprint attaches the "dataset.json" of a challenger: the
// hash of its assembled dataset CSV and the row counts.
func attachRetrainFingerprint(m *train.Model, csvData []byte, tr, ho *train.Dataset) error {
	sum := sha256.Sum256(csvData)
	fp := DatasetFingerprint{File: "retrain_dataset.csv", SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(csvData)),
		Rows: tr.Rows + ho.Rows, Columns: len(tr.Names) + 3, Names: tr.Names, TrainRows: tr.Rows, ValidRows: ho.Rows}
	b, err := json.Marshal(fp)
	if err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	m.Attach("dataset.json", b)
	return nil
}

// seq returns lo, lo+1, ..., hi-1.
func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// classesOf returns the class names present in a classification dataset.
func classesOf(ds *train.Dataset) []string {
	seen := make([]bool, len(ds.TargetLevels))
	for _, t := range ds.Target {
		seen[int(t)] = true
	}
	var out []string
	for i, ok := range seen {
		if ok {
			out = append(out, ds.TargetLevels[i])
		}
	}
	return out
}
