package train

// Model is a trained model: either boosted trees (algo "gbdt") or a linear
// model (algo "logistic").
//
// For train-extras (logistic.go): build a linear model with
//
//	m := newLinearModel(objective, features, classes, lin)
//	m.params = map[string]any{...}; m.metrics = map[string]float64{...}
//
// where objective is "binary" or "multiclass", features describes the training
// columns (FeatureSpec.Levels = the dataset's Levels for categoricals; a
// categorical value arrives in PredictRow as its index in those levels, see
// CategoryCode), classes are the target levels and lin the fitted
// coefficients (see Linear for the exact scoring rule).

import (
	"math"
	"sort"
)

// FeatureSpec describes one model input.
type FeatureSpec struct {
	// Name is the column name.
	Name string
	// Kind is the column type.
	Kind ColumnKind
	// Levels are the known categories (index = code); nil for numeric columns.
	Levels []string
}

// LinearInput is one expanded input of a linear model.
type LinearInput struct {
	// Feature is the model feature index.
	Feature int
	// Level is the category code for a one-hot input, or -1 for a numeric value.
	Level int32
}

// Linear holds a (multinomial) logistic regression. For expanded input j the
// raw value x_j is the numeric feature value, or 1/0 whether the categorical
// feature equals Level; the model uses z_j = (x_j - Mean[j]) / Scale[j], with
// z_j = 0 for a missing value. Score of row k: Intercept[k] + Σ Coef[k][j] z_j.
// Binary models have one row (the logit of class 1); multinomial ones have
// one row per class and apply softmax.
type Linear struct {
	// Classes is the number of coefficient rows (1 for binary).
	Classes int
	// Coef holds the coefficients per row over the expanded inputs.
	Coef [][]float64
	// Intercept holds the intercept per row.
	Intercept []float64
	// Mean and Scale standardise each expanded input.
	Mean, Scale []float64
	// Expand lists the expanded inputs.
	Expand []LinearInput
}

// node is one tree node in the model's flat node array.
type node struct {
	feature   int32 // -1 for a leaf
	left      int32 // absolute node index; right = left+1
	catOff    int32 // categorical split: first word in Model.catBits
	catWords  int32 // categorical split: number of bitset words (0 = numeric split)
	threshold float64
	value     float64 // leaf value (learning rate applied)
	defLeft   bool
}

// Model is a trained, self-contained model.
type Model struct {
	algo      string
	objective string
	features  []FeatureSpec
	classes   []string
	params    map[string]any
	metrics   map[string]float64
	attach    map[string][]byte

	// trees
	groups    int       // outputs per round: K for multiclass, else 1
	base      []float64 // initial score per group
	roots     []int32   // root node of each tree; tree t belongs to group t % groups
	nodes     []node
	catBits   []uint64
	gain      []float64 // per feature
	splitsCnt []float64 // per feature

	lin *Linear

	levelIndex []map[string]int32 // built lazily from features
}

// newLinearModel returns a linear model; the caller may set params and metrics.
func newLinearModel(objective string, features []FeatureSpec, classes []string, lin *Linear) *Model {
	m := &Model{algo: "logistic", objective: objective, features: features, classes: classes, lin: lin,
		params: map[string]any{}, metrics: map[string]float64{}, attach: map[string][]byte{}}
	m.buildIndex()
	return m
}

func (m *Model) buildIndex() {
	m.levelIndex = make([]map[string]int32, len(m.features))
	for i, f := range m.features {
		if f.Kind == Categorical {
			idx := make(map[string]int32, len(f.Levels))
			for c, l := range f.Levels {
				idx[l] = int32(c)
			}
			m.levelIndex[i] = idx
		}
	}
}

// Features describes the model inputs in PredictRow order.
func (m *Model) Features() []FeatureSpec { return m.features }

// Algo returns "gbdt" or "logistic".
func (m *Model) Algo() string { return m.algo }

// Objective returns "binary", "multiclass" or "regression".
func (m *Model) Objective() string { return m.objective }

// Classes returns the target levels in class-index order (nil for regression).
func (m *Model) Classes() []string { return m.classes }

// Params returns the training parameters.
func (m *Model) Params() map[string]any { return m.params }

// Metrics returns the training metrics.
func (m *Model) Metrics() map[string]float64 { return m.metrics }

// SetMetric records a metric in the model (e.g. test-set figures from the CLI).
func (m *Model) SetMetric(name string, v float64) {
	if m.metrics == nil {
		m.metrics = map[string]float64{}
	}
	m.metrics[name] = v
}

// Attach stores a named opaque blob in the model file.
func (m *Model) Attach(name string, b []byte) {
	if m.attach == nil {
		m.attach = map[string][]byte{}
	}
	m.attach[name] = append([]byte(nil), b...)
}

// Attachment returns a named blob stored with Attach.
func (m *Model) Attachment(name string) ([]byte, bool) {
	b, ok := m.attach[name]
	return b, ok
}

// CategoryCode returns the code of a category for PredictRow; an unknown
// level maps to the model's "other" code (len(Levels)).
func (m *Model) CategoryCode(feature int, level string) float64 {
	if feature < 0 || feature >= len(m.features) || m.features[feature].Kind != Categorical {
		return math.NaN()
	}
	if c, ok := m.levelIndex[feature][level]; ok {
		return float64(c)
	}
	return float64(len(m.features[feature].Levels))
}

// Importance returns per-feature total split gain and split counts.
func (m *Model) Importance() (gain, splits map[string]float64) {
	gain, splits = map[string]float64{}, map[string]float64{}
	for i, f := range m.features {
		if i < len(m.gain) {
			gain[f.Name] = m.gain[i]
			splits[f.Name] = m.splitsCnt[i]
		}
	}
	return gain, splits
}

// Trees returns the number of trees (0 for linear models).
func (m *Model) Trees() int { return len(m.roots) }

// treeValue walks one tree for a row.
func (m *Model) treeValue(root int32, row []float64) float64 {
	nodes := m.nodes
	i := root
	for {
		n := &nodes[i]
		if n.feature < 0 {
			return n.value
		}
		v := row[n.feature]
		var left bool
		switch {
		case v != v:
			left = n.defLeft
		case n.catWords == 0:
			left = v <= n.threshold
		default:
			if v < 0 {
				left = n.defLeft
			} else {
				c := uint64(v)
				w := c >> 6
				left = w < uint64(n.catWords) && m.catBits[uint64(n.catOff)+w]&(1<<(c&63)) != 0
			}
		}
		if left {
			i = n.left
		} else {
			i = n.left + 1
		}
	}
}

// rawScore returns the summed score of output group g.
func (m *Model) rawScore(row []float64, g int) float64 {
	if m.lin != nil {
		return m.linScore(row, g)
	}
	s := m.base[g]
	for t := g; t < len(m.roots); t += m.groups {
		s += m.treeValue(m.roots[t], row)
	}
	return s
}

func (m *Model) linScore(row []float64, k int) float64 {
	l := m.lin
	s := l.Intercept[k]
	coef := l.Coef[k]
	for j, in := range l.Expand {
		v := row[in.Feature]
		if v != v {
			continue
		}
		if in.Level >= 0 {
			if v == float64(in.Level) {
				v = 1
			} else {
				v = 0
			}
		}
		s += coef[j] * (v - l.Mean[j]) / l.Scale[j]
	}
	return s
}

func (m *Model) outputs() int {
	if m.lin != nil {
		return m.lin.Classes
	}
	return m.groups
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// PredictRow scores one row (one float64 per feature: the value, the
// CategoryCode for categoricals, NaN when missing). It returns P(class 1) for
// binary models, the value for regression and the arg-max class index for
// multiclass. It does not allocate.
func (m *Model) PredictRow(row []float64) float64 {
	switch m.objective {
	case "binary":
		return sigmoid(m.rawScore(row, 0))
	case "multiclass":
		best, bi := math.Inf(-1), 0
		for k := 0; k < m.outputs(); k++ {
			if s := m.rawScore(row, k); s > best {
				best, bi = s, k
			}
		}
		return float64(bi)
	default:
		return m.rawScore(row, 0)
	}
}

// PredictProba writes class probabilities into dst (len(Classes()) values;
// for regression dst[0] receives the value). It does not allocate.
func (m *Model) PredictProba(row []float64, dst []float64) {
	switch m.objective {
	case "binary":
		p := sigmoid(m.rawScore(row, 0))
		if len(dst) >= 2 {
			dst[0], dst[1] = 1-p, p
		} else if len(dst) == 1 {
			dst[0] = p
		}
	case "multiclass":
		k := m.outputs()
		if len(dst) < k {
			return
		}
		mx := math.Inf(-1)
		for c := 0; c < k; c++ {
			dst[c] = m.rawScore(row, c)
			mx = math.Max(mx, dst[c])
		}
		sum := 0.0
		for c := 0; c < k; c++ {
			dst[c] = math.Exp(dst[c] - mx)
			sum += dst[c]
		}
		for c := 0; c < k; c++ {
			dst[c] /= sum
		}
	default:
		if len(dst) > 0 {
			dst[0] = m.rawScore(row, 0)
		}
	}
}

// sortedKeys returns map keys in order (deterministic encoding).
func sortedKeys[V any](mp map[string]V) []string {
	ks := make([]string, 0, len(mp))
	for k := range mp {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
