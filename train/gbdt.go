package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"time"
)

// Params configures training.
type Params struct {
	// Algo is "gbdt" or "logistic".
	Algo string
	// Objective is "binary", "multiclass" or "regression" ("" = from the target).
	Objective string
	// Rounds is the number of boosting rounds.
	Rounds int
	// LearningRate shrinks each tree.
	LearningRate float64
	// MaxLeaves bounds leaves per tree; MaxDepth bounds depth (0 = none).
	MaxLeaves, MaxDepth int
	// MaxBins bounds value bins per feature (at most 255; plus a missing bin).
	MaxBins int
	// MinChildWeight is the minimum hessian sum in a child.
	MinChildWeight float64
	// MinSamplesLeaf is the minimum number of rows in a child, or
	// AutoMinSamplesLeaf (the default) to scale it with the training rows.
	MinSamplesLeaf int
	// autoLeaf records that MinSamplesLeaf was resolved from
	// AutoMinSamplesLeaf (the model's params say "auto").
	autoLeaf bool
	// Lambda is the L2 penalty on leaf values; MinSplitGain the minimum gain to split.
	Lambda, MinSplitGain float64
	// Subsample and Colsample are the row and feature fractions per tree.
	Subsample, Colsample float64
	// Grow is "leafwise" or "depthwise".
	Grow string
	// EarlyStopping stops after this many rounds without validation loss improvement (0 = off).
	EarlyStopping int
	// Seed drives subsampling.
	Seed int64
	// Threads is the number of worker goroutines (0 = all cores).
	Threads int
	// LogisticC is the inverse L2 strength of logistic regression.
	LogisticC float64
	// LogisticMaxIter bounds L-BFGS iterations.
	LogisticMaxIter int
}

// DefaultParams returns the default parameters.
func DefaultParams() Params {
	return Params{Algo: "gbdt", Rounds: 100, LearningRate: 0.1, MaxLeaves: 31, MaxBins: 255,
		MinChildWeight: 1, MinSamplesLeaf: AutoMinSamplesLeaf, Lambda: 1, Subsample: 1, Colsample: 1,
		Grow: "leafwise", Seed: 1, LogisticC: 1, LogisticMaxIter: 200}
}

// Round reports the progress of one training round.
type Round struct {
	// Round is the 1-based round number.
	Round int
	// TrainLoss and ValidLoss are the objective's loss (ValidLoss is NaN without
	// validation data). The binary training loss is taken on evenly spaced
	// rows, at most about 50,000 (the validation loss uses every row).
	TrainLoss, ValidLoss float64
	// ValidMetric is MetricName on the validation data.
	ValidMetric float64
	// MetricName is "auc", "accuracy" or "rmse".
	MetricName string
	// Elapsed is the time since training started.
	Elapsed time.Duration
}

// Train fits a model on train (valid may be nil) and calls progress once per round.
func Train(ctx context.Context, train, valid *Dataset, p Params, progress func(Round)) (*Model, error) {
	if train == nil || train.Rows == 0 {
		return nil, errors.New("train: no training rows")
	}
	if train.Target == nil {
		return nil, errors.New("train: the training data has no target column")
	}
	switch p.Algo {
	case "", "gbdt":
		return trainGBDT(ctx, train, valid, p, progress)
	case "logistic":
		return trainLogistic(ctx, train, valid, p, progress)
	}
	return nil, fmt.Errorf("train: unknown algo %q (gbdt or logistic)", p.Algo)
}

// objectiveOf resolves the objective from params and target.
func objectiveOf(p Params, ds *Dataset) (string, int, error) {
	obj := p.Objective
	k := len(ds.TargetLevels)
	if obj == "" {
		switch {
		case ds.TargetLevels == nil:
			obj = "regression"
		case k == 2:
			obj = "binary"
		default:
			obj = "multiclass"
		}
	}
	switch obj {
	case "regression":
		return obj, 1, nil
	case "binary":
		if k != 2 {
			return "", 0, fmt.Errorf("binary objective needs 2 classes, the target has %d", k)
		}
		return obj, 1, nil
	case "multiclass":
		if k < 3 {
			return "", 0, fmt.Errorf("multiclass objective needs at least 3 classes, the target has %d", k)
		}
		return obj, k, nil
	}
	return "", 0, fmt.Errorf("unknown objective %q (binary, multiclass or regression)", obj)
}

// AutoMinSamplesLeaf, as Params.MinSamplesLeaf, sets the minimum rows per
// leaf from the training rows: rows/200, between 1 and 20. At 4,000 rows and
// more it is LightGBM's and scikit-learn's 20; on a few hundred rows it lets
// leaves small enough to learn from (bench/train/small_data.py: against
// XGBoost's defaults on scikit-learn's small data sets, a fixed 20 lost 2.1
// points of accuracy on breast cancer).
const AutoMinSamplesLeaf = -1

// MinSamplesLeafFor is the minimum rows per leaf AutoMinSamplesLeaf picks
// for rows training rows.
func MinSamplesLeafFor(rows int) int { return min(20, max(1, rows/200)) }

func (p *Params) normalize() error {
	d := DefaultParams()
	if p.Rounds <= 0 {
		p.Rounds = d.Rounds
	}
	if p.LearningRate <= 0 {
		p.LearningRate = d.LearningRate
	}
	if p.MaxLeaves <= 1 {
		p.MaxLeaves = d.MaxLeaves
	}
	if p.MaxBins <= 1 || p.MaxBins > 255 {
		p.MaxBins = 255
	}
	if p.Subsample <= 0 || p.Subsample > 1 {
		p.Subsample = 1
	}
	if p.Colsample <= 0 || p.Colsample > 1 {
		p.Colsample = 1
	}
	if p.Lambda < 0 || p.MinChildWeight < 0 || p.MinSplitGain < 0 || p.MinSamplesLeaf < AutoMinSamplesLeaf {
		return errors.New("lambda, min_child_weight, min_split_gain and min_samples_leaf must not be negative (min_samples_leaf -1: from the training rows)")
	}
	if p.Threads <= 0 {
		p.Threads = runtime.GOMAXPROCS(0)
	}
	switch p.Grow {
	case "", "leafwise":
		p.Grow = "leafwise"
	case "depthwise":
		if p.MaxDepth <= 0 {
			p.MaxDepth = 6
		}
		p.MaxLeaves = 1 << min(p.MaxDepth, 16)
	default:
		return fmt.Errorf("unknown grow policy %q (leafwise or depthwise)", p.Grow)
	}
	return nil
}

func (p Params) asMap(obj string) map[string]any {
	rule := "fixed"
	if p.autoLeaf {
		rule = "auto"
	}
	return map[string]any{"min_samples_leaf_rule": rule, "algo": "gbdt", "objective": obj, "rounds": p.Rounds, "learning_rate": p.LearningRate,
		"max_leaves": p.MaxLeaves, "max_depth": p.MaxDepth, "max_bins": p.MaxBins,
		"min_child_weight": p.MinChildWeight, "min_samples_leaf": p.MinSamplesLeaf, "lambda": p.Lambda,
		"min_split_gain": p.MinSplitGain, "subsample": p.Subsample, "colsample": p.Colsample,
		"grow": p.Grow, "early_stopping": p.EarlyStopping, "seed": p.Seed, "threads": p.Threads}
}

// baseScores is the initial raw score per output group.
func baseScores(obj string, y []float64, k int) []float64 {
	switch obj {
	case "binary":
		s := 0.0
		for _, v := range y {
			s += v
		}
		p := math.Min(math.Max(s/float64(len(y)), 1e-6), 1-1e-6)
		return []float64{math.Log(p / (1 - p))}
	case "multiclass":
		cnt := make([]float64, k)
		for _, v := range y {
			cnt[int(v)]++
		}
		b := make([]float64, k)
		for c := range b {
			b[c] = math.Log(math.Max(cnt[c]/float64(len(y)), 1e-6))
		}
		return b
	}
	s := 0.0
	for _, v := range y {
		s += v
	}
	return []float64{s / float64(len(y))}
}
