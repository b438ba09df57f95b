package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"driftd/server"
	"driftd/server/flows"
	"driftd/train"
)

// trainFlags holds the parsed flags of `driftd train`.
type trainFlags struct {
	data, test, target, out, id, delimiter     string
	query, testQuery, dsn                      string // a PostgreSQL source instead of the files
	categorical, numeric                       string
	validFraction                              float64
	jsonOut                                    bool
	p                                          train.Params
	algo, objective, grow                      string
	rounds, maxLeaves, maxDepth, maxBins       int
	early, threads                             int
	lr, minChildWeight, lambda, sub, colsample float64
	seed                                       int64
	minSamplesLeaf, logisticMaxIter            int
	minSplitGain, logisticC                    float64
	driftBins                                  int
}

// runTrain implements `driftd train`: read a CSV or Parquet file or a
// PostgreSQL query, train a GBDT or logistic model, print per-round progress on stderr, evaluate on --test or a
// validation split, and write the model (with its drift reference profile
// and dataset fingerprint attached) to --out.
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("train", stderr, "Train a model from a CSV or Parquet file or a PostgreSQL query and write it to --out.")
	var f trainFlags
	def := train.DefaultParams()
	fs.StringVar(&f.data, "data", "", "training CSV or Parquet file (required unless --query)")
	fs.StringVar(&f.query, "query", "", "PostgreSQL query whose rows are the training data, instead of --data (needs --dsn or $"+dsnEnv+")")
	fs.StringVar(&f.testQuery, "test-query", "", "PostgreSQL query of the test set, instead of --test")
	dsn := dsnFlag(fs)
	fs.StringVar(&f.target, "target", "", "target column (required)")
	fs.StringVar(&f.test, "test", "", "test CSV file: validation set and reported metrics (default: a --valid-fraction split of --data)")
	fs.Float64Var(&f.validFraction, "valid-fraction", 0.2, "share of --data held out for validation when --test is not given (0 = none)")
	fs.StringVar(&f.algo, "algo", "gbdt", "algorithm: gbdt or logistic")
	fs.StringVar(&f.objective, "objective", "", "binary, multiclass or regression (default: inferred from the target's classes)")
	fs.IntVar(&f.rounds, "rounds", def.Rounds, "boosting rounds")
	fs.Float64Var(&f.lr, "learning-rate", def.LearningRate, "learning rate (shrinkage)")
	fs.IntVar(&f.maxLeaves, "max-leaves", def.MaxLeaves, "maximum leaves per tree")
	fs.IntVar(&f.maxDepth, "max-depth", def.MaxDepth, "maximum tree depth (0 = unlimited)")
	fs.IntVar(&f.maxBins, "max-bins", def.MaxBins, "maximum histogram bins per feature (at most 255)")
	fs.Float64Var(&f.minChildWeight, "min-child-weight", def.MinChildWeight, "minimum hessian sum in a leaf")
	fs.Float64Var(&f.lambda, "lambda", def.Lambda, "L2 regularisation of leaf values")
	fs.Float64Var(&f.sub, "subsample", def.Subsample, "row subsampling ratio per tree")
	fs.Float64Var(&f.colsample, "colsample", def.Colsample, "feature subsampling ratio per tree")
	fs.StringVar(&f.grow, "grow", def.Grow, "tree growth: leafwise or depthwise")
	fs.IntVar(&f.early, "early-stopping", def.EarlyStopping, "stop after this many rounds without validation improvement (0 = off)")
	fs.IntVar(&f.minSamplesLeaf, "min-samples-leaf", def.MinSamplesLeaf, "minimum rows in a leaf (-1 = from the training rows: rows/200, between 1 and 20)")
	fs.Float64Var(&f.minSplitGain, "min-split-gain", def.MinSplitGain, "minimum gain to split a node (0 = any positive gain)")
	fs.Float64Var(&f.logisticC, "logistic-c", def.LogisticC, "logistic regression: inverse L2 strength C (as scikit-learn)")
	fs.IntVar(&f.logisticMaxIter, "logistic-max-iter", def.LogisticMaxIter, "logistic regression: maximum L-BFGS iterations")
	fs.Int64Var(&f.seed, "seed", def.Seed, "random seed (validation split, subsampling)")
	fs.IntVar(&f.threads, "threads", def.Threads, "worker threads (0 = all cores)")
	fs.StringVar(&f.delimiter, "delimiter", ",", "CSV field delimiter (one character)")
	fs.StringVar(&f.id, "id", "", "id column carried to predictions, not learned")
	fs.StringVar(&f.categorical, "categorical", "", "comma-separated columns forced categorical")
	fs.StringVar(&f.numeric, "numeric", "", "comma-separated columns forced numeric")
	fs.StringVar(&f.out, "out", "", "model file to write (required)")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON summary object on stdout")
	// The reference profile's bins, as the server's training flows make it.
	sf := server.RegisterSettings(fs, "DRIFTD_DRIFT_BINS")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, code := resolveSettings("train", sf, stderr)
	if code != 0 {
		return code
	}
	f.driftBins = cfg.DriftBins
	f.dsn = dsnOrEnv(*dsn)
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "driftd train: %v\n", err)
		return 2
	}
	if err := trainCommand(ctx, &f, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "driftd train: %v\n", err)
		return 1
	}
	return 0
}

// check validates flag combinations and fills f.p.
func (f *trainFlags) check() error {
	if _, err := newSource("data", f.data, "", "query", f.query, f.dsn); err != nil {
		return err
	}
	if f.test != "" || f.testQuery != "" {
		if _, err := newSource("test", f.test, "", "test-query", f.testQuery, f.dsn); err != nil {
			return err
		}
	}
	switch {
	case f.target == "":
		return fmt.Errorf("--target is required")
	case f.out == "":
		return fmt.Errorf("--out is required")
	case f.algo != "gbdt" && f.algo != "logistic":
		return fmt.Errorf("--algo %q: must be gbdt or logistic", f.algo)
	case f.objective != "" && f.objective != "binary" && f.objective != "multiclass" && f.objective != "regression":
		return fmt.Errorf("--objective %q: must be binary, multiclass or regression", f.objective)
	case f.validFraction < 0 || f.validFraction >= 1:
		return fmt.Errorf("--valid-fraction %v: must be in [0, 1)", f.validFraction)
	case len([]rune(f.delimiter)) != 1:
		return fmt.Errorf("--delimiter %q: must be one character", f.delimiter)
	}
	p := train.DefaultParams()
	p.Algo, p.Objective, p.Grow = f.algo, f.objective, f.grow
	p.Rounds, p.MaxLeaves, p.MaxDepth, p.MaxBins = f.rounds, f.maxLeaves, f.maxDepth, f.maxBins
	p.LearningRate, p.MinChildWeight, p.Lambda = f.lr, f.minChildWeight, f.lambda
	p.Subsample, p.Colsample = f.sub, f.colsample
	p.EarlyStopping, p.Seed, p.Threads = f.early, f.seed, f.threads
	p.MinSamplesLeaf, p.MinSplitGain = f.minSamplesLeaf, f.minSplitGain
	p.LogisticC, p.LogisticMaxIter = f.logisticC, f.logisticMaxIter
	f.p = p
	return nil
}

// trainSummary is the --json output of `driftd train`.
type trainSummary struct {
	Algo              string                        `json:"algo"`
	Objective         string                        `json:"objective"`
	Rows              int                           `json:"rows"`
	ValidRows         int                           `json:"valid_rows"`
	Features          int                           `json:"features"`
	Rounds            int                           `json:"rounds"`
	FitSeconds        float64                       `json:"fit_seconds"`
	LoadSeconds       float64                       `json:"load_seconds"`
	MetricsOn         string                        `json:"metrics_on"`
	Metrics           map[string]float64            `json:"metrics"`
	FeatureImportance map[string]map[string]float64 `json:"feature_importance"`
	Out               string                        `json:"out"`
	// Calibration says whether the drift profile carries a score calibrator
	// for estimating performance without labels, and if not, why.
	Calibration string `json:"calibration"`
}

// trainCommand runs the shared training pipeline (flows.TrainModel), prints
// one progress line per round on stderr and writes the model file.
func trainCommand(ctx context.Context, f *trainFlags, stdout, stderr io.Writer) error {
	spec := flows.TrainSpec{
		Data: f.data, Test: f.test, ValidFraction: f.validFraction, Seed: f.seed, Params: f.p, DriftBins: f.driftBins,
		DSN: f.dsn, Query: f.query, TestQuery: f.testQuery,
		CSV: train.CSVOptions{
			Delimiter:   []rune(f.delimiter)[0],
			Target:      f.target,
			ID:          f.id,
			Categorical: splitList(f.categorical),
			Numeric:     splitList(f.numeric),
			Name:        f.data,
		},
	}
	if f.query != "" {
		spec.CSV.Name = "--query"
	}
	out, err := flows.TrainModel(ctx, spec, func(r train.Round) {
		fmt.Fprintln(stderr, flows.RoundLine(r))
	})
	if err != nil {
		return err
	}
	sum := trainSummary{
		Algo: out.Model.Algo(), Objective: out.Model.Objective(), Rows: out.Rows, ValidRows: out.ValidRows,
		Features: out.Features, Rounds: out.Rounds, FitSeconds: out.FitSeconds, LoadSeconds: out.LoadSeconds,
		MetricsOn: out.MetricsOn, Metrics: out.Metrics, FeatureImportance: out.FeatureImportance, Out: f.out,
		Calibration: out.Calibration,
	}
	if err := writeFileAtomic(f.out, out.Artifact); err != nil {
		return err
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonSafe(sum))
	}
	fmt.Fprintf(stdout, "trained %s %s on %d rows × %d features: %d rounds in %.2fs (load %.2fs)\n",
		sum.Algo, sum.Objective, sum.Rows, sum.Features, sum.Rounds, sum.FitSeconds, sum.LoadSeconds)
	for _, k := range slices.Sorted(maps.Keys(sum.Metrics)) {
		fmt.Fprintf(stdout, "  %s %s %.6f\n", sum.MetricsOn, k, sum.Metrics[k])
	}
	fmt.Fprintf(stdout, "  calibration for estimates without labels: %s\n", sum.Calibration)
	fmt.Fprintf(stdout, "model written to %s (%d bytes)\n", f.out, len(out.Artifact))
	return nil
}

// datasetFingerprint is the "dataset.json" attachment written by the pipeline.
type datasetFingerprint = flows.DatasetFingerprint

// splitDataset is flows.SplitDataset, the one validation split of driftd.
func splitDataset(ds *train.Dataset, frac float64, seed int64) (tr, va *train.Dataset) {
	return flows.SplitDataset(ds, frac, seed)
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// jsonSafe replaces NaN and infinite metrics (not representable in JSON)
// with nothing: they are dropped from the maps.
func jsonSafe(s trainSummary) trainSummary {
	clean := func(m map[string]float64) map[string]float64 {
		out := make(map[string]float64, len(m))
		for k, v := range m {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				out[k] = v
			}
		}
		return out
	}
	s.Metrics = clean(s.Metrics)
	for k, v := range s.FeatureImportance {
		s.FeatureImportance[k] = clean(v)
	}
	if math.IsNaN(s.FitSeconds) {
		s.FitSeconds = 0
	}
	return s
}
