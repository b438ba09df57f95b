package flows

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"driftd/drift"
	"driftd/train"
)

// LossAttachment is the name of the model file attachment that holds a
// regression model's DLE loss models.
const LossAttachment = "drift.dle"

// lossMagic starts an encoded LossModels.
const lossMagic = "DLE1"

// ErrLossModels is wrapped by every DecodeLossModels error.
var ErrLossModels = errors.New("bad DLE loss models")

// LossModels are a regression model's direct loss estimation models (as
// NannyML's DLE): small GBDTs fitted on the validation set, with the
// model's features and its prediction as inputs, to the absolute error
// |y − ŷ| (Abs) and to the squared error (y − ŷ)² (Sq). Their last input is
// the prediction, named Prediction.
type LossModels struct {
	Abs, Sq    *train.Model
	Prediction string
}

// lossParams are the loss models' training parameters: 50 rounds of at
// most 31 leaves (depth at most 8) at learning rate 0.2 — the leaves of
// the LightGBM regressor NannyML's DLE uses by default, in half its 100
// rounds at 0.1 (the same estimates on TestDLEHeteroscedastic, half the
// cost per record on the checker goroutine). Smaller trees (depth 3, 8
// leaves) underfit where the error is smallest: on that test's quiet
// window they overestimated the RMSE by 30%, against 12% for these.
func lossParams() train.Params {
	p := train.DefaultParams()
	p.Objective, p.Rounds, p.MaxDepth, p.MaxLeaves, p.LearningRate, p.Seed = "regression", 50, 8, 31, 0.2, 1
	return p
}

// FitLossModels fits the loss models of a regression model on its
// validation rows va, whose predictions are pred, and returns them with
// the DLE reference for the drift profile (the rows' predicted losses).
// Rows with a non-finite target or prediction are left out.
func FitLossModels(ctx context.Context, va *train.Dataset, pred []float64) (*LossModels, *drift.LossReference, error) {
	if va == nil || va.Target == nil || len(pred) != va.Rows {
		return nil, nil, errors.New("fit loss models: no validation data")
	}
	var rows []int
	for i, y := range va.Target {
		if isFinite(y) && isFinite(pred[i]) {
			rows = append(rows, i)
		}
	}
	if len(rows) < 2 {
		return nil, nil, fmt.Errorf("fit loss models: %d validation rows with a target and a prediction", len(rows))
	}
	ds := va.Subset(rows)
	name := "prediction"
	for slices.Contains(ds.Names, name) {
		name = "_" + name
	}
	// The inputs: the features and the prediction, a numeric column.
	in := &train.Dataset{Names: append(slices.Clone(ds.Names), name), Kinds: append(slices.Clone(ds.Kinds), train.Numeric),
		Num: append(slices.Clone(ds.Num), make([]float64, len(rows))), Codes: append(slices.Clone(ds.Codes), nil),
		Levels: append(slices.Clone(ds.Levels), nil), Rows: len(rows)}
	errs := make([]float64, len(rows))
	for j, i := range rows {
		in.Num[len(in.Num)-1][j] = pred[i]
		errs[j] = va.Target[i] - pred[i]
	}
	abs, sq := make([]float64, len(rows)), make([]float64, len(rows))
	for j, e := range errs {
		abs[j], sq[j] = math.Abs(e), e*e
	}
	lm := &LossModels{Prediction: name}
	var err error
	p := lossParams()
	p.Threads = 1 // a few thousand rows: threads would cost more than they save
	in.Target = abs
	if lm.Abs, err = train.Train(ctx, in, nil, p, nil); err != nil {
		return nil, nil, fmt.Errorf("fit loss model of |y - prediction|: %w", err)
	}
	in.Target = sq
	if lm.Sq, err = train.Train(ctx, in, nil, p, nil); err != nil {
		return nil, nil, fmt.Errorf("fit loss model of (y - prediction)^2: %w", err)
	}
	pa, err := train.Predict(lm.Abs, in)
	if err != nil {
		return nil, nil, fmt.Errorf("predict validation losses: %w", err)
	}
	ps, err := train.Predict(lm.Sq, in)
	if err != nil {
		return nil, nil, fmt.Errorf("predict validation losses: %w", err)
	}
	ref, err := drift.NewLossReference(pa.Score, ps.Score, errs)
	if err != nil {
		return nil, nil, fmt.Errorf("fit loss models: %w", err)
	}
	return lm, ref, nil
}

// MarshalBinary encodes the loss models: "DLE1", then the absolute and
// the squared error model files, each as a uvarint length and its bytes.
func (l *LossModels) MarshalBinary() ([]byte, error) {
	a, err := l.Abs.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode loss model: %w", err)
	}
	s, err := l.Sq.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode loss model: %w", err)
	}
	b := append([]byte(lossMagic), binary.AppendUvarint(nil, uint64(len(a)))...)
	b = append(b, a...)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...), nil
}

// DecodeLossModels decodes what MarshalBinary wrote and checks that both
// are regression models with the same inputs, the last one numeric (the
// prediction). Errors wrap ErrLossModels.
func DecodeLossModels(b []byte) (*LossModels, error) {
	if len(b) < len(lossMagic) || string(b[:len(lossMagic)]) != lossMagic {
		return nil, fmt.Errorf("%w: missing %q header", ErrLossModels, lossMagic)
	}
	b = b[len(lossMagic):]
	var ms [2]*train.Model
	for i, what := range []string{"absolute error", "squared error"} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: %s model: bad length", ErrLossModels, what)
		}
		m, err := train.Decode(b[k : k+int(n)])
		if err != nil {
			return nil, fmt.Errorf("%w: %s model: %w", ErrLossModels, what, err)
		}
		ms[i], b = m, b[k+int(n):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrLossModels, len(b))
	}
	fa, fs := ms[0].Features(), ms[1].Features()
	if ms[0].Objective() != "regression" || ms[1].Objective() != "regression" || len(fa) == 0 || len(fa) != len(fs) {
		return nil, fmt.Errorf("%w: not two regression models of the same inputs", ErrLossModels)
	}
	for i := range fa {
		if fa[i].Name != fs[i].Name || fa[i].Kind != fs[i].Kind {
			return nil, fmt.Errorf("%w: input %d differs: %q and %q", ErrLossModels, i, fa[i].Name, fs[i].Name)
		}
	}
	last := fa[len(fa)-1]
	if last.Kind != train.Numeric {
		return nil, fmt.Errorf("%w: the last input %q is not numeric", ErrLossModels, last.Name)
	}
	return &LossModels{Abs: ms[0], Sq: ms[1], Prediction: last.Name}, nil
}

// Estimator adapts the loss models to a drift monitor whose profile has
// the given features (names and kinds, in profile order). A loss model
// input the profile lacks is missing in every record.
func (l *LossModels) Estimator(names []string, categorical []bool) (drift.LossEstimator, error) {
	feats := l.Abs.Features()
	pos := make(map[string]int, len(feats))
	for j, f := range feats[:len(feats)-1] {
		pos[f.Name] = j
	}
	if len(categorical) != len(names) {
		return nil, fmt.Errorf("loss models: %d feature names, %d kinds", len(names), len(categorical))
	}
	e := &lossEstimator{lm: l, idx: make([]int, len(names)), cat: slices.Clone(categorical), width: len(feats)}
	for i, n := range names {
		j, ok := pos[n]
		if ok && (feats[j].Kind == train.Categorical) != categorical[i] {
			return nil, fmt.Errorf("loss models: feature %q is %s in the profile", n, kindWord(categorical[i]))
		}
		if !ok {
			j = -1
		}
		e.idx[i] = j
	}
	e.rows.New = func() any { r := make([]float64, e.width); return &r }
	return e, nil
}

func kindWord(cat bool) string {
	if cat {
		return "categorical"
	}
	return "numeric"
}

// lossEstimator is LossModels as a drift.LossEstimator.
type lossEstimator struct {
	lm    *LossModels
	idx   []int  // profile feature → loss model input (-1: none)
	cat   []bool // profile feature is categorical
	width int
	rows  sync.Pool
}

// Losses implements drift.LossEstimator; it does not allocate.
func (e *lossEstimator) Losses(num []float64, cat []string, prediction float64) (abs, sq float64) {
	rp := e.rows.Get().(*[]float64)
	row := *rp
	for j := range row {
		row[j] = math.NaN()
	}
	for i, j := range e.idx {
		switch {
		case j < 0:
		case e.cat[i]:
			if c := cat[i]; c != "" {
				row[j] = e.lm.Abs.CategoryCode(j, c)
			}
		default:
			row[j] = num[i]
		}
	}
	row[e.width-1] = prediction
	abs, sq = e.lm.Abs.PredictRow(row), e.lm.Sq.PredictRow(row)
	e.rows.Put(rp)
	return abs, sq
}
