package train

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// RowMapper turns the rows of a Dataset into the feature rows a Model takes
// (one float64 per model feature: the numeric value, or the model's category
// code, NaN when missing). Columns are matched by name, so a scoring file may
// hold extra columns or a different column order.
type RowMapper struct {
	num    [][]float64 // per model feature; nil for categorical features
	codes  [][]int32   // per model feature; nil for numeric features
	catMap [][]float64 // per model feature: dataset code -> model code
}

// NewRowMapper matches the model's features with the dataset's columns by
// name; a missing column or a column of the wrong kind is an error naming it.
func NewRowMapper(m *Model, ds *Dataset) (*RowMapper, error) {
	feats := m.Features()
	idx := make(map[string]int, len(ds.Names))
	for j, n := range ds.Names {
		idx[n] = j
	}
	r := &RowMapper{
		num:    make([][]float64, len(feats)),
		codes:  make([][]int32, len(feats)),
		catMap: make([][]float64, len(feats)),
	}
	for f, spec := range feats {
		j, ok := idx[spec.Name]
		if !ok {
			return nil, fmt.Errorf("column %q: required by the model but not in the data", spec.Name)
		}
		if ds.Kinds[j] != spec.Kind {
			return nil, fmt.Errorf("column %q: model expects %s, data has %s", spec.Name, kindName(spec.Kind), kindName(ds.Kinds[j]))
		}
		if spec.Kind == Numeric {
			r.num[f] = ds.Num[j]
			continue
		}
		r.codes[f] = ds.Codes[j]
		cm := make([]float64, len(ds.Levels[j]))
		for c, lv := range ds.Levels[j] {
			cm[c] = m.CategoryCode(f, lv)
		}
		r.catMap[f] = cm
	}
	return r, nil
}

func kindName(k ColumnKind) string {
	if k == Categorical {
		return "categorical"
	}
	return "numeric"
}

// Fill writes dataset row i into row, which must hold one value per model feature.
func (r *RowMapper) Fill(i int, row []float64) {
	for f := range row {
		if v := r.num[f]; v != nil {
			row[f] = v[i]
			continue
		}
		c := r.codes[f][i]
		if c < 0 || int(c) >= len(r.catMap[f]) {
			row[f] = math.NaN()
		} else {
			row[f] = r.catMap[f][c]
		}
	}
}

// Predictions holds a model's outputs for every row of a dataset.
type Predictions struct {
	// Score is P(class 1) for binary models, the value for regression and the
	// arg-max class index for multiclass models.
	Score []float64
	// Proba holds the class probabilities of multiclass models, row-major
	// (Classes per row); nil otherwise.
	Proba []float64
	// Classes is the number of classes of a multiclass model (0 otherwise).
	Classes int
}

// Predict scores every row of ds with m, using all cores; the result does not
// depend on the number of cores.
func Predict(m *Model, ds *Dataset) (*Predictions, error) {
	rm, err := NewRowMapper(m, ds)
	if err != nil {
		return nil, err
	}
	nf := len(m.Features())
	out := &Predictions{Score: make([]float64, ds.Rows)}
	multi := m.Objective() == "multiclass"
	if multi {
		out.Classes = len(m.Classes())
		out.Proba = make([]float64, ds.Rows*out.Classes)
	}
	// Rows are filled a block at a time and scored with PredictBatch (which
	// may overlap several tree walks); blocks are shared out to the workers.
	const block = 1024
	workers := runtime.GOMAXPROCS(0)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float64, block*nf)
			rows := make([][]float64, block)
			for r := range rows {
				rows[r] = buf[r*nf : (r+1)*nf : (r+1)*nf]
			}
			for {
				mu.Lock()
				lo := next
				next += block
				mu.Unlock()
				if lo >= ds.Rows {
					return
				}
				hi := min(lo+block, ds.Rows)
				for i := lo; i < hi; i++ {
					rm.Fill(i, rows[i-lo])
				}
				if !multi {
					m.PredictBatch(rows[:hi-lo], out.Score[lo:hi], 1)
					continue
				}
				for i := lo; i < hi; i++ {
					pr := out.Proba[i*out.Classes : (i+1)*out.Classes]
					m.PredictProba(rows[i-lo], pr)
					out.Score[i] = float64(argmax(pr))
				}
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// Evaluate scores ds with m and returns the metrics of the model's objective:
// auc, accuracy, logloss, f1, precision, recall (binary); accuracy, macro_f1,
// logloss (multiclass); rmse, mae, r2 (regression). ds must carry a target.
func Evaluate(m *Model, ds *Dataset) (map[string]float64, error) {
	if ds.Target == nil {
		return nil, errors.New("evaluate: the data has no target column")
	}
	pr, err := Predict(m, ds)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	return EvaluatePredictions(m, ds, pr)
}

// EvaluatePredictions computes the metrics of Evaluate from predictions
// already made on ds (see Predict).
func EvaluatePredictions(m *Model, ds *Dataset, pr *Predictions) (map[string]float64, error) {
	y, err := alignTarget(m, ds)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	switch m.Objective() {
	case "binary":
		c := BinaryConfusion(y, pr.Score, 0.5)
		return map[string]float64{
			"auc":       AUC(y, pr.Score),
			"accuracy":  c.Accuracy(),
			"logloss":   LogLoss(y, pr.Score),
			"f1":        c.F1(),
			"precision": c.Precision(),
			"recall":    c.Recall(),
		}, nil
	case "multiclass":
		k := pr.Classes
		yi := make([]int, len(y))
		pi := make([]int, len(y))
		for i := range y {
			yi[i] = int(y[i])
			pi[i] = argmax(pr.Proba[i*k : (i+1)*k])
		}
		cm := ConfusionMatrix(yi, pi, k)
		return map[string]float64{
			"accuracy": MulticlassAccuracy(cm),
			"macro_f1": MacroF1(cm),
			"logloss":  MulticlassLogLoss(y, pr.Proba, k),
		}, nil
	case "regression":
		return map[string]float64{
			"rmse": RMSE(y, pr.Score),
			"mae":  MAE(y, pr.Score),
			"r2":   R2(y, pr.Score),
		}, nil
	}
	return nil, fmt.Errorf("evaluate: unknown objective %q", m.Objective())
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// alignTarget maps the dataset's class indices onto the model's class order
// (by class name), so a test file whose labels appear in another order is
// scored correctly.
func alignTarget(m *Model, ds *Dataset) ([]float64, error) {
	classes := m.Classes()
	if m.Objective() == "regression" || classes == nil || ds.TargetLevels == nil {
		return ds.Target, nil
	}
	pos := make(map[string]int, len(classes))
	for i, c := range classes {
		pos[c] = i
	}
	remap := make([]float64, len(ds.TargetLevels))
	same := true
	for i, lv := range ds.TargetLevels {
		p, ok := pos[lv]
		if !ok {
			return nil, fmt.Errorf("target class %q is unknown to the model (classes %q)", lv, classes)
		}
		remap[i] = float64(p)
		same = same && p == i
	}
	if same {
		return ds.Target, nil
	}
	y := make([]float64, len(ds.Target))
	for i, t := range ds.Target {
		y[i] = remap[int(t)]
	}
	return y, nil
}
