package flows

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"driftd/registry"
	"driftd/scheduler"
	"driftd/train"
)

// Retrain decisions.
const (
	DecisionPromoted        = "promoted"
	DecisionRejected        = "rejected"
	DecisionPendingApproval = "pending_approval"
	DecisionSkipped         = "skipped"
)

// RetrainScore is one model's metric on the held-out slice.
type RetrainScore struct {
	Version string  `json:"version"`
	Value   float64 `json:"value"`
}

// RetrainResult is the result of a retrain run: the decision and its
// reason, both models' metric on the same held-out slice, and what was read.
type RetrainResult struct {
	Model           string             `json:"model"`
	Environment     string             `json:"environment"`
	Decision        string             `json:"decision"` // promoted, rejected, pending_approval or skipped
	Reason          string             `json:"reason"`
	Metric          string             `json:"metric,omitempty"` // auc, accuracy or rmse
	Margin          float64            `json:"margin"`
	Champion        RetrainScore       `json:"champion"`
	Challenger      RetrainScore       `json:"challenger"` // zero when skipped
	Rows            int                `json:"rows"`       // training + held-out rows
	TrainRows       int                `json:"train_rows"`
	HoldoutRows     int                `json:"holdout_rows"`
	TrainingData    int                `json:"training_data_rows,omitempty"` // rows mixed in from training_data
	FeaturesRead    int64              `json:"features_read"`
	LabelsRead      int64              `json:"labels_read"`
	Joined          int                `json:"joined"`
	OrphanLabels    int                `json:"orphan_labels"` // labels with no feature record of their id in the window (never scored, or scored before it)
	BadRecords      int64              `json:"bad_records"`   // feature or label records that did not decode
	UnknownClass    int64              `json:"unknown_class"` // labels naming a class the champion does not know
	Lookback        string             `json:"lookback"`
	TriggerMaxPSI   float64            `json:"trigger_max_psi,omitempty"`
	TriggerFeatures map[string]float64 `json:"trigger_features,omitempty"`
	ExperimentRunID string             `json:"experiment_run_id,omitempty"`
}

// retrainOptions are the retrain flow's validated params.
type retrainOptions struct {
	model, env      string
	lookback        time.Duration
	minLabels       int
	margin          float64
	promotion       string
	holdout         float64
	trainingData    string
	target          string
	triggerMaxPSI   float64
	triggerFeatures map[string]float64
}

// retrainFlow is the retrain flow: a challenger trained on recent labelled
// records, promoted only when it beats the champion by the margin.
func retrainFlow(d Deps) scheduler.Flow {
	s := scheduler.TypeString
	return scheduler.Flow{
		Name: FlowRetrain,
		Description: "Train a challenger with the champion's parameters on recent labelled records read back from Kafka, " +
			"compare both on the most recent held-out records, and promote the challenger when it is better by the margin.",
		Params: []scheduler.Param{
			{Name: "model", Type: s, Default: d.ScoredModel, Help: "registered model to retrain"},
			{Name: "environment", Type: s, Default: d.ScoringEnvironment, Help: "environment whose deployed version is the champion, and where a winning challenger is deployed"},
			{Name: "lookback", Type: scheduler.TypeDuration, Default: d.Retrain.Lookback, Help: "how far back feature records and labels are read from Kafka"},
			{Name: "min_labels", Type: scheduler.TypeInt, Default: int64(d.Retrain.MinLabels), Help: "fewer labelled records than this skip the retrain"},
			{Name: "margin", Type: scheduler.TypeFloat, Default: d.Retrain.Margin, Help: "absolute margin: the challenger's AUC or accuracy must exceed the champion's by more than this, or its RMSE be lower by more than this"},
			{Name: "promotion", Type: s, Default: d.Retrain.Promotion, Enum: []string{PromotionAuto, PromotionManual}, Help: "auto: deploy a winning challenger; manual: give it the alias challenger and wait for approval"},
			{Name: "holdout_fraction", Type: scheduler.TypeFloat, Default: 0.2, Help: "share of the most recent labelled records held out to compare both models, in (0, 0.5]"},
			{Name: "training_data", Type: s, Help: "optional CSV file on the server mixed into the challenger's training rows (e.g. the champion's training data)"},
			{Name: "target", Type: s, Help: "label column of training_data (default: the target of the champion's training run, else label)"},
			{Name: "trigger_max_psi", Type: scheduler.TypeFloat, Help: "the largest feature PSI of the drift event that triggered the retrain (recorded)"},
			{Name: "trigger_features", Type: s, Help: "the drifted features of that event with their PSI, like f0=0.41,f3=0.22 (recorded)"},
		},
		Queue:    QueueTraining,
		Validate: d.validateRetrain,
		Run:      d.runRetrain,
	}
}

// retrainParams reads the retrain flow's params, checking the values that
// need no file system; errors name the field.
func (d Deps) retrainParams(p scheduler.Params) (retrainOptions, error) {
	o := retrainOptions{model: p.String("model"), env: p.String("environment"), lookback: p.Duration("lookback"),
		minLabels: int(p.Int("min_labels")), margin: p.Float("margin"), promotion: p.String("promotion"),
		holdout: p.Float("holdout_fraction"), trainingData: p.String("training_data"), target: p.String("target"),
		triggerMaxPSI: p.Float("trigger_max_psi")}
	if o.model == "" {
		o.model = d.ScoredModel
	}
	if o.env == "" {
		o.env = d.ScoringEnvironment
	}
	if _, ok := p["lookback"]; !ok {
		o.lookback = d.Retrain.Lookback
	}
	if _, ok := p["min_labels"]; !ok {
		o.minLabels = d.Retrain.MinLabels
	}
	if _, ok := p["margin"]; !ok {
		o.margin = d.Retrain.Margin
	}
	if o.promotion == "" {
		o.promotion = d.Retrain.Promotion
	}
	if _, ok := p["holdout_fraction"]; !ok {
		o.holdout = 0.2
	}
	if err := checkModel("model", o.model); err != nil {
		return o, err
	}
	switch {
	case o.lookback <= 0:
		return o, scheduler.Errorf("params.lookback", "%v: must be positive", o.lookback)
	case o.minLabels < 1:
		return o, scheduler.Errorf("params.min_labels", "%d: must be at least 1", o.minLabels)
	case o.margin < 0 || math.IsNaN(o.margin) || math.IsInf(o.margin, 0):
		return o, scheduler.Errorf("params.margin", "%v: must be a number >= 0", o.margin)
	case o.promotion != PromotionAuto && o.promotion != PromotionManual:
		return o, scheduler.Errorf("params.promotion", "%q: must be auto or manual", o.promotion)
	case !(o.holdout > 0 && o.holdout <= 0.5):
		return o, scheduler.Errorf("params.holdout_fraction", "%v: must be in (0, 0.5]", o.holdout)
	case o.triggerMaxPSI < 0 || math.IsNaN(o.triggerMaxPSI):
		return o, scheduler.Errorf("params.trigger_max_psi", "%v: must be a number >= 0", o.triggerMaxPSI)
	}
	tf, err := parseTriggerFeatures(p.String("trigger_features"))
	if err != nil {
		return o, scheduler.Errorf("params.trigger_features", "%v", err)
	}
	o.triggerFeatures = tf
	return o, nil
}

// parseTriggerFeatures parses "f0=0.41,f3=0.22".
func parseTriggerFeatures(s string) (map[string]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]float64{}
	for _, item := range splitList(s) {
		i := strings.LastIndex(item, "=")
		if i < 0 {
			return nil, fmt.Errorf("%q: want feature=psi items like f0=0.41,f3=0.22", item)
		}
		name := strings.TrimSpace(item[:i])
		f, err := strconv.ParseFloat(strings.TrimSpace(item[i+1:]), 64)
		if name == "" || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q: want feature=psi items like f0=0.41,f3=0.22", item)
		}
		out[name] = f
	}
	return out, nil
}

// validateRetrain checks the retrain flow's params.
func (d Deps) validateRetrain(_ context.Context, p scheduler.Params) error {
	o, err := d.retrainParams(p)
	if err != nil {
		return err
	}
	if err := d.checkEnvironment("environment", o.env); err != nil {
		return err
	}
	if o.trainingData != "" {
		return d.checkDataFile("training_data", o.trainingData)
	}
	return nil
}

// champion is the version deployed to the environment, decoded.
type champion struct {
	version registry.Version
	model   *train.Model
}

// loadChampion reads and decodes the version of model deployed to env.
func (d Deps) loadChampion(ctx context.Context, model, env string) (champion, error) {
	v, err := d.Store.Deployed(ctx, model, env)
	if errors.Is(err, registry.ErrNotFound) {
		return champion{}, fmt.Errorf("no version of %s is deployed to %s: nothing to retrain", model, env)
	}
	if err != nil {
		return champion{}, fmt.Errorf("champion of %s in %s: %w", model, env, err)
	}
	art, err := d.Store.Artifact(ctx, model, v.Version)
	if err != nil {
		return champion{}, fmt.Errorf("champion %s %s: %w", model, v.Version, err)
	}
	m, err := train.Decode(art)
	if err != nil {
		return champion{}, fmt.Errorf("champion %s %s: %w", model, v.Version, err)
	}
	return champion{version: v, model: m}, nil
}

// runRetrain is the retrain flow's Run.
func (d Deps) runRetrain(ctx context.Context, rc *scheduler.RunContext) (any, error) {
	o, err := d.retrainParams(rc.Params)
	if err != nil {
		return nil, err
	}
	res := &RetrainResult{Model: o.model, Environment: o.env, Margin: o.margin, Lookback: o.lookback.String(),
		TriggerMaxPSI: o.triggerMaxPSI, TriggerFeatures: o.triggerFeatures}
	if o.triggerMaxPSI > 0 {
		rc.Logf("triggered by max PSI %.3f (%s)", o.triggerMaxPSI, rc.Params.String("trigger_features"))
	}
	ch, err := d.loadChampion(ctx, o.model, o.env)
	if err != nil {
		return nil, err
	}
	res.Champion.Version, res.Metric = ch.version.Version, metricOf(ch.model.Objective())
	rc.Logf("champion: %s %s in %s (%s %s, %d features)", o.model, ch.version.Version, o.env,
		ch.model.Algo(), ch.model.Objective(), len(ch.model.Features()))

	since := d.Now().Add(-o.lookback)
	w, err := d.readWindow(ctx, ch.model, since)
	if err != nil {
		return nil, err
	}
	res.FeaturesRead, res.LabelsRead, res.Joined, res.OrphanLabels = w.featuresRead, w.labelsRead, len(w.rows), w.orphans
	res.BadRecords, res.UnknownClass = w.badFeatures+w.badLabels, w.unknownClass
	rc.Logf("read back %s: %d feature records (%d bad), %d labels (%d bad, %d of an unknown class): %d joined, %d orphan labels",
		o.lookback, w.featuresRead, w.badFeatures, w.labelsRead, w.badLabels, w.unknownClass, len(w.rows), w.orphans)

	// Guards: each a clear outcome, never a silent no-op.
	if len(w.rows) == 0 && w.orphans > 0 {
		return nil, fmt.Errorf("%d labels matched no scored record (ids never seen on %s in the last %s)", w.orphans, d.Topics.Features, o.lookback)
	}
	if len(w.rows) < o.minLabels {
		res.Decision = DecisionSkipped
		res.Reason = fmt.Sprintf("only %d labelled records in the last %s (min %d)", len(w.rows), o.lookback, o.minLabels)
		rc.Logf("skipped: %s", res.Reason)
		return res, nil
	}
	if classes := w.classes(); ch.model.Objective() != "regression" && len(classes) < 2 {
		return nil, fmt.Errorf("the labels in the window have one class (%q); a classifier needs two", classes[0])
	}
	if err := d.challenge(ctx, rc, o, ch, w, res); err != nil {
		return nil, err
	}
	return res, nil
}

// metricOf is the metric the gate compares for an objective.
func metricOf(objective string) string {
	switch objective {
	case "binary":
		return "auc"
	case "multiclass":
		return "accuracy"
	}
	return "rmse"
}
