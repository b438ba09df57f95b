package flows

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"driftd/scheduler"
	"driftd/train"
)

// hyper is one training hyperparameter of the train flow: its schema and
// where it goes in train.Params. lo and hi bound it (loOpen excludes lo).
type hyper struct {
	name   string
	help   string
	lo, hi float64
	loOpen bool
	enum   []string
	field  func(p *train.Params) any // *int, *int64, *float64 or *string
}

// hyperparams returns the training hyperparameters, with the ranges POST
// /api/v1/train has always checked.
func hyperparams() []hyper {
	return []hyper{
		{name: "rounds", help: "boosting rounds", lo: 1, hi: 100000, field: func(p *train.Params) any { return &p.Rounds }},
		{name: "learning_rate", help: "learning rate (shrinkage), in (0, 10]", lo: 0, hi: 10, loOpen: true, field: func(p *train.Params) any { return &p.LearningRate }},
		{name: "max_leaves", help: "maximum leaves per tree", lo: 2, hi: 1 << 16, field: func(p *train.Params) any { return &p.MaxLeaves }},
		{name: "max_depth", help: "maximum tree depth (0 = unlimited)", lo: 0, hi: 64, field: func(p *train.Params) any { return &p.MaxDepth }},
		{name: "max_bins", help: "maximum histogram bins per feature", lo: 2, hi: 255, field: func(p *train.Params) any { return &p.MaxBins }},
		{name: "min_child_weight", help: "minimum hessian sum in a leaf", lo: 0, hi: 1e12, field: func(p *train.Params) any { return &p.MinChildWeight }},
		{name: "min_samples_leaf", help: "minimum rows in a leaf (-1 = from the training rows: rows/200, between 1 and 20)", lo: -1, hi: 1 << 30, field: func(p *train.Params) any { return &p.MinSamplesLeaf }},
		{name: "lambda", help: "L2 regularisation of leaf values", lo: 0, hi: 1e12, field: func(p *train.Params) any { return &p.Lambda }},
		{name: "min_split_gain", help: "minimum gain to split a node (0 = any positive gain)", lo: 0, hi: 1e12, field: func(p *train.Params) any { return &p.MinSplitGain }},
		{name: "subsample", help: "row subsampling ratio per tree, in (0, 1]", lo: 0, hi: 1, loOpen: true, field: func(p *train.Params) any { return &p.Subsample }},
		{name: "colsample", help: "feature subsampling ratio per tree, in (0, 1]", lo: 0, hi: 1, loOpen: true, field: func(p *train.Params) any { return &p.Colsample }},
		{name: "grow", help: "tree growth", enum: []string{"leafwise", "depthwise"}, field: func(p *train.Params) any { return &p.Grow }},
		{name: "early_stopping", help: "stop after this many rounds without validation improvement (0 = off)", lo: 0, hi: 100000, field: func(p *train.Params) any { return &p.EarlyStopping }},
		{name: "threads", help: "worker threads (0 = all cores)", lo: 0, hi: 1024, field: func(p *train.Params) any { return &p.Threads }},
		{name: "seed", help: "random seed (validation split, subsampling)", lo: math.MinInt64, hi: math.MaxInt64, field: func(p *train.Params) any { return &p.Seed }},
		{name: "logistic_c", help: "logistic regression: inverse L2 strength C, in (0, 1e12]", lo: 0, hi: 1e12, loOpen: true, field: func(p *train.Params) any { return &p.LogisticC }},
		{name: "logistic_max_iter", help: "logistic regression: maximum L-BFGS iterations", lo: 1, hi: 1000000, field: func(p *train.Params) any { return &p.LogisticMaxIter }},
	}
}

// param returns the scheduler schema of h, with train.DefaultParams' value
// as its default where that value is not zero (a zero default is left
// unset: an absent param keeps the zero train.DefaultParams has).
func (h hyper) param() scheduler.Param {
	def := train.DefaultParams()
	p := scheduler.Param{Name: h.name, Help: h.help, Enum: h.enum}
	switch v := h.field(&def).(type) {
	case *int:
		p.Type = scheduler.TypeInt
		if *v != 0 {
			p.Default = int64(*v)
		}
	case *int64:
		p.Type = scheduler.TypeInt
		if *v != 0 {
			p.Default = *v
		}
	case *float64:
		p.Type = scheduler.TypeFloat
		if *v != 0 {
			p.Default = *v
		}
	case *string:
		p.Type = scheduler.TypeString
		if *v != "" {
			p.Default = *v
		}
	}
	return p
}

// set checks the param's value, when given, and stores it in tp; errors
// name "params.<name>".
func (h hyper) set(p scheduler.Params, tp *train.Params) error {
	raw, ok := p[h.name]
	if !ok || raw == nil {
		return nil
	}
	field := "params." + h.name
	switch dst := h.field(tp).(type) {
	case *string:
		s, _ := raw.(string)
		for _, e := range h.enum {
			if s == e {
				*dst = s
				return nil
			}
		}
		return scheduler.Errorf(field, "%q: must be %s", s, strings.Join(h.enum, " or "))
	case *float64:
		v, ok := raw.(float64)
		if !ok || math.IsNaN(v) || v < h.lo || v > h.hi || (h.loOpen && v == h.lo) {
			return scheduler.Errorf(field, "%v: must be a number in %s", raw, h.interval())
		}
		*dst = v
	case *int:
		v, ok := raw.(int64)
		if !ok || float64(v) < h.lo || float64(v) > h.hi {
			return scheduler.Errorf(field, "%v: must be an integer in [%d, %d]", raw, int64(h.lo), int64(h.hi))
		}
		*dst = int(v)
	case *int64:
		v, ok := raw.(int64)
		if !ok {
			return scheduler.Errorf(field, "%v: must be an integer", raw)
		}
		*dst = v
	}
	return nil
}

func (h hyper) interval() string {
	open := "["
	if h.loOpen {
		open = "("
	}
	return fmt.Sprintf("%s%v, %v]", open, h.lo, h.hi)
}

// TrainJob is a validated train flow run: what to train and what to do
// with the model.
type TrainJob struct {
	Spec       TrainSpec
	Model      string
	Experiment string
	Register   bool
	Deploy     string // environment, "" = none
}

// TrainParams turns the train flow's params into a training spec, checking
// every value that needs no file system or registry (those Validate checks);
// errors are *scheduler.ParamError naming the field.
func TrainParams(p scheduler.Params) (TrainSpec, error) {
	if p.String("target") == "" {
		return TrainSpec{}, scheduler.Errorf("params.target", "required: the column to learn")
	}
	switch data, query := p.String("data"), strings.TrimSpace(p.String("query")); {
	case data != "" && query != "":
		return TrainSpec{}, scheduler.Errorf("params.query", "give data or query, not both")
	case data == "" && query == "":
		return TrainSpec{}, scheduler.Errorf("params.data", "required: a CSV or Parquet path on the server, an uploaded file, or a query")
	case p.String("test") != "" && p.String("test_query") != "":
		return TrainSpec{}, scheduler.Errorf("params.test_query", "give test or test_query, not both")
	}
	tp := train.DefaultParams()
	tp.Algo, tp.Objective = p.String("algo"), p.String("objective")
	if tp.Algo == "" {
		tp.Algo = "gbdt"
	}
	if tp.Algo != "gbdt" && tp.Algo != "logistic" {
		return TrainSpec{}, scheduler.Errorf("params.algo", "%q: must be gbdt or logistic", tp.Algo)
	}
	switch tp.Objective {
	case "", "binary", "multiclass", "regression":
	default:
		return TrainSpec{}, scheduler.Errorf("params.objective", "%q: must be binary, multiclass or regression (or empty: from the target)", tp.Objective)
	}
	for _, h := range hyperparams() {
		if err := h.set(p, &tp); err != nil {
			return TrainSpec{}, err
		}
	}
	frac := 0.2
	if v, ok := p["valid_fraction"].(float64); ok {
		frac = v
	}
	if frac < 0 || frac >= 1 || math.IsNaN(frac) {
		return TrainSpec{}, scheduler.Errorf("params.valid_fraction", "%v: must be in [0, 1)", frac)
	}
	name := p.String("data_name")
	if name == "" {
		name = p.String("data")
	}
	if p.String("query") != "" {
		name = "query"
	}
	return TrainSpec{Data: p.String("data"), Test: p.String("test"), Query: p.String("query"), TestQuery: p.String("test_query"),
		ValidFraction: frac, Seed: tp.Seed, Params: tp,
		CSV: train.CSVOptions{Delimiter: ',', Target: p.String("target"), ID: p.String("id"),
			Categorical: splitList(p.String("categorical")), Name: name}}, nil
}

// DatabaseURLEnv is the server setting that holds the DSN training
// queries run on (Deps.DatabaseURL); a flow's params never carry a DSN, so
// its password is stored nowhere.
const DatabaseURLEnv = "DRIFTD_DATABASE_URL"

// trainJob validates the params that need no file system and returns the job.
func (d Deps) trainJob(p scheduler.Params) (TrainJob, error) {
	spec, err := TrainParams(p)
	if err != nil {
		return TrainJob{}, err
	}
	if spec.Query != "" || spec.TestQuery != "" {
		spec.DSN = d.DatabaseURL
	}
	j := TrainJob{Spec: spec, Model: p.String("model"), Experiment: p.String("experiment"), Register: true, Deploy: p.String("deploy")}
	if j.Model == "" {
		j.Model = d.ScoredModel
	}
	if j.Experiment == "" {
		j.Experiment = "default"
	}
	if v, ok := p["register"].(bool); ok {
		j.Register = v
	}
	if j.Deploy == "none" {
		j.Deploy = ""
	}
	return j, nil
}

// runParams are the params logged on the job's experiment run: every
// effective training parameter, empty ones left out.
func (j TrainJob) runParams() map[string]string {
	p, s := j.Spec.Params, j.Spec
	ftoa := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	out := map[string]string{
		"algo": p.Algo, "objective": p.Objective, "data": s.CSV.Name, "test": s.Test, "target": s.CSV.Target, "id": s.CSV.ID,
		"categorical": strings.Join(s.CSV.Categorical, ","), "valid_fraction": ftoa(s.ValidFraction), "model": j.Model,
		"rounds": strconv.Itoa(p.Rounds), "learning_rate": ftoa(p.LearningRate), "max_leaves": strconv.Itoa(p.MaxLeaves),
		"max_depth": strconv.Itoa(p.MaxDepth), "max_bins": strconv.Itoa(p.MaxBins), "min_child_weight": ftoa(p.MinChildWeight),
		"min_samples_leaf": strconv.Itoa(p.MinSamplesLeaf), "lambda": ftoa(p.Lambda), "min_split_gain": ftoa(p.MinSplitGain),
		"subsample": ftoa(p.Subsample), "colsample": ftoa(p.Colsample), "grow": p.Grow, "early_stopping": strconv.Itoa(p.EarlyStopping),
		"seed": strconv.FormatInt(p.Seed, 10), "logistic_c": ftoa(p.LogisticC), "logistic_max_iter": strconv.Itoa(p.LogisticMaxIter),
		"query": s.Query, "test_query": s.TestQuery,
	}
	if s.Query != "" || s.TestQuery != "" {
		out["database"] = train.RedactDSN(s.DSN)
	}
	for k, v := range out {
		if v == "" {
			delete(out, k)
		}
	}
	return out
}
