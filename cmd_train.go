package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"driftd/drift"
	"driftd/train"
)

// trainFlags holds the parsed flags of `driftd train`.
type trainFlags struct {
	data, test, target, out, id, delimiter     string
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
}

// runTrain implements `driftd train`: read a CSV, train a GBDT or logistic
// model, print per-round progress on stderr, evaluate on --test or a
// validation split, and write the model (with its drift reference profile
// and dataset fingerprint attached) to --out.
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("train", stderr, "Train a model from a CSV file and write it to --out.")
	var f trainFlags
	def := train.DefaultParams()
	fs.StringVar(&f.data, "data", "", "training CSV file (required)")
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
	fs.IntVar(&f.minSamplesLeaf, "min-samples-leaf", def.MinSamplesLeaf, "minimum rows in a leaf")
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
	if code, done := parseFlags(fs, args); done {
		return code
	}
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
	switch {
	case f.data == "":
		return fmt.Errorf("--data is required")
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
}

func trainCommand(ctx context.Context, f *trainFlags, stdout, stderr io.Writer) error {
	t0 := time.Now()
	opts := train.CSVOptions{
		Delimiter:   []rune(f.delimiter)[0],
		Target:      f.target,
		ID:          f.id,
		Categorical: splitList(f.categorical),
		Numeric:     splitList(f.numeric),
		Name:        f.data,
		Regression:  f.objective == "regression",
	}
	full, err := train.ReadCSVFile(f.data, opts)
	if err != nil {
		return err
	}
	if err := checkObjective(f.objective, full); err != nil {
		return fmt.Errorf("%s: %w", f.data, err)
	}
	var tr, va *train.Dataset
	metricsOn := "validation"
	if f.test != "" {
		topts := testOptions(opts, full)
		topts.Name = f.test
		if va, err = train.ReadCSVFile(f.test, topts); err != nil {
			return err
		}
		tr, metricsOn = full, "test"
	} else {
		tr, va = splitDataset(full, f.validFraction, f.seed)
	}
	full = nil
	loadSeconds := time.Since(t0).Seconds()

	var rounds int
	progress := func(r train.Round) {
		rounds = r.Round
		line := fmt.Sprintf("round %4d  train_loss %.6f", r.Round, r.TrainLoss)
		if !math.IsNaN(r.ValidLoss) {
			line += fmt.Sprintf("  valid_loss %.6f", r.ValidLoss)
		}
		if r.MetricName != "" && !math.IsNaN(r.ValidMetric) {
			line += fmt.Sprintf("  valid_%s %.6f", r.MetricName, r.ValidMetric)
		}
		fmt.Fprintf(stderr, "%s  elapsed %.2fs\n", line, r.Elapsed.Seconds())
	}
	t1 := time.Now()
	m, err := train.Train(ctx, tr, va, f.p, progress)
	if err != nil {
		return err
	}
	fitSeconds := time.Since(t1).Seconds()
	if f.id != "" {
		if p := m.Params(); p != nil {
			p["id"] = f.id
		}
	}

	sum := trainSummary{
		Algo: m.Algo(), Objective: m.Objective(), Rows: tr.Rows, Features: len(m.Features()),
		Rounds: rounds, FitSeconds: fitSeconds, LoadSeconds: loadSeconds, Out: f.out,
		FeatureImportance: importance(m),
	}
	// Scores of the validation (or test) rows: the metrics and the reference
	// distribution of the prediction for drift monitoring.
	var scores []float64
	if va != nil && va.Rows > 0 {
		sum.ValidRows = va.Rows
		pr, err := train.Predict(m, va)
		if err != nil {
			return fmt.Errorf("score validation data: %w", err)
		}
		scores = pr.Score
		if sum.Metrics, err = train.EvaluatePredictions(m, va, pr); err != nil {
			return err
		}
		sum.MetricsOn = metricsOn
		for k, v := range sum.Metrics {
			m.SetMetric(metricsOn+"_"+k, v)
		}
	}
	if err := attachProfile(m, tr, scores); err != nil {
		return err
	}
	if err := attachFingerprint(m, f.data, tr, va, f.test == ""); err != nil {
		return err
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	if err := writeFileAtomic(f.out, b); err != nil {
		return err
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonSafe(sum))
	}
	fmt.Fprintf(stdout, "trained %s %s on %d rows × %d features: %d rounds in %.2fs (load %.2fs)\n",
		sum.Algo, sum.Objective, sum.Rows, sum.Features, sum.Rounds, sum.FitSeconds, sum.LoadSeconds)
	for _, k := range sortedMetricKeys(sum.Metrics) {
		fmt.Fprintf(stdout, "  %s %s %.6f\n", sum.MetricsOn, k, sum.Metrics[k])
	}
	fmt.Fprintf(stdout, "model written to %s (%d bytes)\n", f.out, len(b))
	return nil
}

// checkObjective rejects an --objective that contradicts the target.
func checkObjective(obj string, ds *train.Dataset) error {
	k := len(ds.TargetLevels)
	switch {
	case obj == "binary" && k != 2:
		return fmt.Errorf("target has %d classes, --objective binary needs 2", k)
	case obj == "multiclass" && k < 3:
		return fmt.Errorf("target has %d classes, --objective multiclass needs 3 or more", k)
	case obj != "regression" && k < 2:
		return fmt.Errorf("target has %d class, a classifier needs at least 2", k)
	}
	return nil
}

// testOptions reads a test file with the training file's column kinds and
// class mapping.
func testOptions(o train.CSVOptions, ds *train.Dataset) train.CSVOptions {
	o.Categorical, o.Numeric = nil, nil
	for j, name := range ds.Names {
		if ds.Kinds[j] == train.Categorical {
			o.Categorical = append(o.Categorical, name)
		} else {
			o.Numeric = append(o.Numeric, name)
		}
	}
	o.TargetLevels = ds.TargetLevels
	return o
}

// splitDataset holds out a fraction of the rows, chosen by a seeded
// shuffle, as the validation set; both parts keep the original row order.
func splitDataset(ds *train.Dataset, frac float64, seed int64) (tr, va *train.Dataset) {
	nv := int(math.Round(frac * float64(ds.Rows)))
	if nv == 0 || nv >= ds.Rows {
		return ds, nil
	}
	perm := make([]int, ds.Rows)
	for i := range perm {
		perm[i] = i
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed5eed))
	// Partial Fisher-Yates: the first nv slots become the validation rows.
	for i := 0; i < nv; i++ {
		j := i + r.IntN(ds.Rows-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	vIdx, tIdx := perm[:nv], perm[nv:]
	slices.Sort(vIdx)
	slices.Sort(tIdx)
	return subset(ds, tIdx), subset(ds, vIdx)
}

func subset(ds *train.Dataset, rows []int) *train.Dataset {
	out := &train.Dataset{Names: ds.Names, Kinds: ds.Kinds, Levels: ds.Levels, TargetLevels: ds.TargetLevels, Rows: len(rows)}
	out.Num = make([][]float64, len(ds.Num))
	out.Codes = make([][]int32, len(ds.Codes))
	for j := range ds.Names {
		if c := ds.Num[j]; c != nil {
			v := make([]float64, len(rows))
			for i, r := range rows {
				v[i] = c[r]
			}
			out.Num[j] = v
		}
		if c := ds.Codes[j]; c != nil {
			v := make([]int32, len(rows))
			for i, r := range rows {
				v[i] = c[r]
			}
			out.Codes[j] = v
		}
	}
	if ds.Target != nil {
		out.Target = make([]float64, len(rows))
		for i, r := range rows {
			out.Target[i] = ds.Target[r]
		}
	}
	if ds.IDs != nil {
		out.IDs = make([]string, len(rows))
		for i, r := range rows {
			out.IDs[i] = ds.IDs[r]
		}
	}
	return out
}

// importance returns the feature importance for the JSON summary: gain and
// split counts for trees, mean absolute standardised coefficients for
// linear models.
func importance(m *train.Model) map[string]map[string]float64 {
	if m.Algo() == "logistic" {
		return map[string]map[string]float64{"abs_coef": train.LinearImportance(m)}
	}
	gain, splits := m.Importance()
	return map[string]map[string]float64{"gain": gain, "split": splits}
}

// attachProfile builds the drift reference profile from the training columns
// and the validation scores and attaches it as "drift.profile".
func attachProfile(m *train.Model, tr *train.Dataset, scores []float64) error {
	cols := make([]drift.Column, len(tr.Names))
	for j, name := range tr.Names {
		cols[j] = drift.Column{Name: name, Categorical: tr.Kinds[j] == train.Categorical,
			Values: tr.Num[j], Codes: tr.Codes[j], Levels: tr.Levels[j]}
	}
	p, err := drift.BuildProfile(cols, scores, drift.ProfileOptions{})
	if err != nil {
		return fmt.Errorf("drift profile: %w", err)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return fmt.Errorf("drift profile: %w", err)
	}
	m.Attach("drift.profile", b)
	return nil
}

// datasetFingerprint is the "dataset.json" attachment of a model.
type datasetFingerprint struct {
	File      string   `json:"file"`
	SHA256    string   `json:"sha256"`
	Bytes     int64    `json:"bytes"`
	Rows      int      `json:"rows"`
	Columns   int      `json:"columns"`
	Names     []string `json:"names"`
	TrainRows int      `json:"train_rows"`
	ValidRows int      `json:"valid_rows"`
	Split     bool     `json:"valid_split"`
}

func attachFingerprint(m *train.Model, path string, tr, va *train.Dataset, split bool) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return fmt.Errorf("fingerprint %s: %w", path, err)
	}
	fp := datasetFingerprint{File: filepath.Base(path), SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n,
		Rows: tr.Rows, Names: tr.Names, TrainRows: tr.Rows, Split: split}
	if va != nil && split {
		fp.Rows += va.Rows
		fp.ValidRows = va.Rows
	}
	fp.Columns = len(tr.Names) + 1 // features + target
	if tr.IDs != nil {
		fp.Columns++
	}
	b, err := json.Marshal(fp)
	if err != nil {
		return fmt.Errorf("fingerprint: %w", err)
	}
	m.Attach("dataset.json", b)
	return nil
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

func sortedMetricKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
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
