package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/optimize"
)

// Logistic regression defaults: scikit-learn's LogisticRegression(solver=
// "lbfgs", C=1) objective, with a stopping tolerance ten times tighter than
// its default tol=1e-4 (which leaves ~1e-3 differences in probabilities on
// small data sets).
const (
	lrC       = 1.0
	lrTol     = 1e-5
	lrMaxIter = 1000
	lrMemory  = 10 // L-BFGS history, as scipy's L-BFGS-B
	// lrProgressRows bounds the validation rows scored for each progress
	// round (evenly spaced); final metrics are computed by the caller.
	lrProgressRows = 50_000
)

// lrConfig configures fitLogistic.
type lrConfig struct {
	C       float64 // inverse L2 strength; objective = Σ logloss + 0.5/C ||w||²
	Tol     float64 // stop when max |∂f/∂x| of the mean objective is below Tol
	MaxIter int
	Threads int // 0 = GOMAXPROCS
}

func defaultLRConfig(threads int) lrConfig {
	return lrConfig{C: lrC, Tol: lrTol, MaxIter: lrMaxIter, Threads: threads}
}

// trainLogistic fits a logistic regression (see fitLogistic) and wraps it in
// a Model; Train dispatches Algo "logistic" here.
func trainLogistic(ctx context.Context, train, valid *Dataset, p Params, progress func(Round)) (*Model, error) {
	if p.Objective == "regression" {
		return nil, errors.New("logistic: regression objective not supported (use --algo gbdt)")
	}
	cfg := defaultLRConfig(p.Threads)
	if p.LogisticC > 0 {
		cfg.C = p.LogisticC
	}
	if p.LogisticMaxIter > 0 {
		cfg.MaxIter = p.LogisticMaxIter
	}
	fit, err := fitLogistic(ctx, train, valid, cfg, progress)
	if err != nil {
		return nil, err
	}
	objective := "binary"
	if len(train.TargetLevels) > 2 {
		objective = "multiclass"
	}
	features := make([]FeatureSpec, len(train.Names))
	for f, name := range train.Names {
		features[f] = FeatureSpec{Name: name, Kind: train.Kinds[f]}
		if train.Kinds[f] == Categorical {
			features[f].Levels = slices.Clone(train.Levels[f])
		}
	}
	m := newLinearModel(objective, features, slices.Clone(train.TargetLevels), fit.Linear)
	m.params = map[string]any{
		"algo": "logistic", "objective": objective, "solver": "lbfgs",
		"C": cfg.C, "tol": cfg.Tol, "max_iter": cfg.MaxIter, "threads": p.Threads,
	}
	m.metrics = map[string]float64{"train_logloss": fit.TrainLoss, "iterations": float64(fit.Iterations),
		"evaluations": float64(fit.Evaluations)}
	return m, nil
}

// lrFit is the result of fitLogistic.
type lrFit struct {
	Linear      *Linear
	Iterations  int
	Evaluations int     // loss + gradient passes over the training rows
	TrainLoss   float64 // mean log loss on the training rows (no penalty)
}

// fitLogistic fits an L2-regularised logistic regression (binary, or
// multinomial for three or more classes) by L-BFGS on the mean objective
// (1/n) Σ logloss + 0.5/(C n) ||w||², the intercept not penalised, which has
// the minimiser of scikit-learn's LogisticRegression(C). Numeric inputs are
// standardised (missing = training mean), categoricals one-hot encoded
// (missing or unseen = all zeros). progress, if non-nil, gets one Round per
// L-BFGS iteration; its validation loss and metric are computed on at most
// lrProgressRows evenly spaced validation rows, so that progress costs little
// beside the fit.
func fitLogistic(ctx context.Context, train, valid *Dataset, cfg lrConfig, progress func(Round)) (*lrFit, error) {
	start := time.Now()
	if train.Target == nil {
		return nil, errors.New("logistic: the training data has no target")
	}
	if train.Rows == 0 {
		return nil, errors.New("logistic: the training data has no rows")
	}
	nClass := len(train.TargetLevels)
	if nClass < 2 {
		return nil, fmt.Errorf("logistic: needs a binary or multiclass target, got %d classes", nClass)
	}
	k := 1
	if nClass > 2 {
		k = nClass
	}
	enc := newLREncoding(train)
	dTrain, err := newLRDesign(enc, train, train)
	if err != nil {
		return nil, fmt.Errorf("logistic: %w", err)
	}
	pass := newLRPass(enc, dTrain, k, cfg.Threads)
	var vPass *lrPass
	var vProba []float64
	if valid != nil && valid.Rows > 0 && valid.Target != nil {
		valid = evenlySpacedRows(valid, lrProgressRows)
		dValid, err := newLRDesign(enc, valid, train)
		if err != nil {
			return nil, fmt.Errorf("logistic: %w", err)
		}
		if dValid.y, err = alignClasses(train.TargetLevels, valid); err != nil {
			return nil, fmt.Errorf("logistic: validation data: %w", err)
		}
		vPass = newLRPass(enc, dValid, k, cfg.Threads)
		vProba = make([]float64, valid.Rows*max(k, 1))
	}

	n := float64(train.Rows)
	lambda := 1 / (cfg.C * n)
	stride := enc.nCoef + 1
	dim := k * stride
	penalty := func(x []float64) float64 {
		var s float64
		for r := 0; r < k; r++ {
			for _, w := range x[r*stride : r*stride+enc.nCoef] {
				s += w * w
			}
		}
		return 0.5 * lambda * s
	}
	cacheX := make([]float64, dim)
	cacheG := make([]float64, dim)
	cacheF := math.NaN()
	evals := 0
	eval := func(x []float64) float64 {
		if !math.IsNaN(cacheF) && slices.Equal(x, cacheX) {
			return cacheF
		}
		evals++
		loss := pass.run(x, cacheG, nil)
		for i := range cacheG {
			cacheG[i] /= n
		}
		for r := 0; r < k; r++ {
			for j := 0; j < enc.nCoef; j++ {
				cacheG[r*stride+j] += lambda * x[r*stride+j]
			}
		}
		copy(cacheX, x)
		cacheF = loss/n + penalty(x)
		return cacheF
	}
	prob := optimize.Problem{
		Func: eval,
		Grad: func(grad, x []float64) {
			eval(x)
			copy(grad, cacheG)
		},
	}
	iter := 0
	reported := make([]float64, dim)
	report := func(loc *optimize.Location) {
		iter++
		copy(reported, loc.X)
		if progress == nil {
			return
		}
		rd := Round{Round: iter, TrainLoss: loc.F - penalty(loc.X), ValidLoss: math.NaN(), ValidMetric: math.NaN()}
		if vPass != nil {
			vl := vPass.run(loc.X, nil, vProba)
			rd.ValidLoss = vl / float64(valid.Rows)
			rd.MetricName, rd.ValidMetric = lrMetric(vPass.d.y, vProba, k)
		}
		rd.Elapsed = time.Since(start)
		progress(rd)
	}
	rec := &lrRecorder{fn: func(loc *optimize.Location) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		report(loc)
		return nil
	}}
	x0 := make([]float64, dim)
	initIntercepts(x0, train, k, stride, enc.nCoef)
	settings := &optimize.Settings{
		GradientThreshold: cfg.Tol,
		MajorIterations:   cfg.MaxIter,
		Converger:         optimize.NeverTerminate{},
		Recorder:          rec,
	}
	method := &optimize.LBFGS{Store: lrMemory, Linesearcher: &optimize.MoreThuente{}}
	res, err := optimize.Minimize(prob, x0, settings, method)
	if err != nil && res == nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("logistic: %w", cerr)
		}
		return nil, fmt.Errorf("logistic: %w", err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("logistic: %w", cerr)
	}
	if err != nil && !isBenignLBFGS(res.Status) {
		return nil, fmt.Errorf("logistic: l-bfgs: %w", err)
	}
	x := res.Location.X
	if !slices.Equal(x, reported) {
		// gonum does not record the iteration that meets the stopping
		// rule; report it so the last progress line is the final model.
		report(&res.Location)
	}
	return &lrFit{
		Linear:      enc.linear(x, k),
		Iterations:  iter,
		Evaluations: evals,
		TrainLoss:   res.Location.F - penalty(x),
	}, nil
}

// evenlySpacedRows returns ds itself when it has at most max rows, else a
// copy of max evenly spaced rows (columns, target and levels).
func evenlySpacedRows(ds *Dataset, max int) *Dataset {
	if ds.Rows <= max {
		return ds
	}
	idx := make([]int, max)
	for i := range idx {
		idx[i] = int(int64(i) * int64(ds.Rows) / int64(max))
	}
	out := &Dataset{Names: ds.Names, Kinds: ds.Kinds, Levels: ds.Levels, TargetLevels: ds.TargetLevels, Rows: max,
		Num: make([][]float64, len(ds.Num)), Codes: make([][]int32, len(ds.Codes))}
	for j := range ds.Names {
		if c := ds.Num[j]; c != nil {
			out.Num[j] = make([]float64, max)
			for i, r := range idx {
				out.Num[j][i] = c[r]
			}
		}
		if c := ds.Codes[j]; c != nil {
			out.Codes[j] = make([]int32, max)
			for i, r := range idx {
				out.Codes[j][i] = c[r]
			}
		}
	}
	if ds.Target != nil {
		out.Target = make([]float64, max)
		for i, r := range idx {
			out.Target[i] = ds.Target[r]
		}
	}
	return out
}

// isBenignLBFGS reports statuses that still leave a usable optimum (the line
// search cannot improve further at machine precision).
func isBenignLBFGS(s optimize.Status) bool {
	switch s {
	case optimize.GradientThreshold, optimize.IterationLimit, optimize.MethodConverge,
		optimize.FunctionConvergence, optimize.StepConvergence:
		return true
	}
	return false
}

// initIntercepts starts the intercepts at the log class priors, which saves
// a few iterations on unbalanced data.
func initIntercepts(x0 []float64, ds *Dataset, k, stride, nCoef int) {
	counts := make([]float64, len(ds.TargetLevels))
	for _, t := range ds.Target {
		counts[int(t)]++
	}
	n := float64(ds.Rows)
	if k == 1 {
		p := counts[1] / n
		if p > 0 && p < 1 {
			x0[nCoef] = math.Log(p / (1 - p))
		}
		return
	}
	var mean float64
	for r := 0; r < k; r++ {
		mean += math.Log(max(counts[r], 0.5) / n)
	}
	mean /= float64(k)
	for r := 0; r < k; r++ {
		x0[r*stride+nCoef] = math.Log(max(counts[r], 0.5)/n) - mean
	}
}

// lrMetric returns the validation metric of a pass: AUC for binary models,
// accuracy for multinomial ones.
func lrMetric(y, proba []float64, k int) (string, float64) {
	if k == 1 {
		return "auc", AUC(y, proba[:len(y)])
	}
	var ok int
	for i, t := range y {
		if argmax(proba[i*k:(i+1)*k]) == int(t) {
			ok++
		}
	}
	return "accuracy", float64(ok) / float64(len(y))
}

// alignClasses returns ds's target expressed in the class order levels.
func alignClasses(levels []string, ds *Dataset) ([]float64, error) {
	if sameLevels(levels, ds.TargetLevels) {
		return ds.Target, nil
	}
	pos := make(map[string]int, len(levels))
	for i, c := range levels {
		pos[c] = i
	}
	remap := make([]float64, len(ds.TargetLevels))
	for i, lv := range ds.TargetLevels {
		p, ok := pos[lv]
		if !ok {
			return nil, fmt.Errorf("target class %q is not in the training data", lv)
		}
		remap[i] = float64(p)
	}
	y := make([]float64, len(ds.Target))
	for i, t := range ds.Target {
		y[i] = remap[int(t)]
	}
	return y, nil
}

// linear converts the optimum x (in standardised units) into the model's
// Linear form.
func (e *lrEncoding) linear(x []float64, k int) *Linear {
	stride := e.nCoef + 1
	lin := &Linear{Classes: k}
	for i, f := range e.numFeat {
		lin.Expand = append(lin.Expand, LinearInput{Feature: f, Level: -1})
		lin.Mean = append(lin.Mean, e.mean[i])
		lin.Scale = append(lin.Scale, e.scale[i])
	}
	for ci, f := range e.catFeat {
		for c := range e.levels[ci] {
			lin.Expand = append(lin.Expand, LinearInput{Feature: f, Level: int32(c)})
			lin.Mean = append(lin.Mean, 0)
			lin.Scale = append(lin.Scale, 1)
		}
	}
	for r := 0; r < k; r++ {
		lin.Coef = append(lin.Coef, slices.Clone(x[r*stride:r*stride+e.nCoef]))
		lin.Intercept = append(lin.Intercept, x[r*stride+e.nCoef])
	}
	return lin
}

// lrRecorder forwards gonum's major iterations to a callback.
type lrRecorder struct {
	fn func(*optimize.Location) error
}

// Init implements optimize.Recorder.
func (r *lrRecorder) Init() error { return nil }

// Record implements optimize.Recorder.
func (r *lrRecorder) Record(loc *optimize.Location, op optimize.Operation, _ *optimize.Stats) error {
	if op != optimize.MajorIteration {
		return nil
	}
	return r.fn(loc)
}

// LinearImportance returns, for a logistic model, each feature's mean
// absolute standardised coefficient summed over its one-hot inputs (averaged
// over the coefficient rows); nil for other models.
func LinearImportance(m *Model) map[string]float64 {
	if m.lin == nil {
		return nil
	}
	l := m.lin
	out := make(map[string]float64, len(m.features))
	for _, f := range m.features {
		out[f.Name] = 0
	}
	for j, in := range l.Expand {
		var s float64
		for k := range l.Coef {
			s += math.Abs(l.Coef[k][j])
		}
		out[m.features[in.Feature].Name] += s / float64(len(l.Coef))
	}
	return out
}
