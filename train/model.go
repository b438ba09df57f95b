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
	fast      []fnode
	leafVal   []float64
	depth     []int32
	catBits   []uint64
	gain      []float64   // per feature
	splitsCnt []float64   // per feature
	lanes     *laneWalker // the walker of PredictBatch, PredictRow and PredictProba; nil: the float walker

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

// fnode is the compact node used for prediction (fast[i] mirrors nodes[i]).
type fnode struct {
	thr  float64 // split threshold; leaf value for leaves
	feat int32   // feature; -1 for leaves
	left uint32  // left child index | fDefLeft | fCat
}

const (
	fDefLeft = 1 << 31
	fCat     = 1 << 30
	fIndex   = fCat - 1
)

// compile builds the compact prediction nodes. Leaves become self-loops
// (threshold +Inf, default left, pointing at themselves) so that trees can be
// walked a fixed number of steps without checking for leaves.
func (m *Model) compile() {
	m.fast = make([]fnode, len(m.nodes))
	m.leafVal = make([]float64, len(m.nodes))
	for i, n := range m.nodes {
		if n.feature < 0 {
			m.fast[i] = fnode{thr: math.Inf(1), left: uint32(i) | fDefLeft}
			m.leafVal[i] = n.value
			continue
		}
		f := fnode{thr: n.threshold, feat: n.feature, left: uint32(n.left)}
		if n.defLeft {
			f.left |= fDefLeft
		}
		if n.catWords > 0 {
			f.left |= fCat
		}
		m.fast[i] = f
	}
	// per tree: depth, or -1 when it has categorical splits (slow walk).
	// Children always follow their parent, so one backward pass suffices.
	below := make([]int32, len(m.nodes))
	for i := len(m.nodes) - 1; i >= 0; i-- {
		n := &m.nodes[i]
		switch {
		case n.feature < 0:
			below[i] = 0
		case n.catWords > 0 || below[n.left] < 0 || below[n.left+1] < 0:
			below[i] = -1
		default:
			below[i] = 1 + max(below[n.left], below[n.left+1])
		}
	}
	m.depth = make([]int32, len(m.roots))
	for t, r := range m.roots {
		m.depth[t] = below[r]
	}
	m.lanes = buildLanes(m)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// treeValue walks one tree for a row (categorical splits allowed).
func (m *Model) treeValue(root int32, row []float64) float64 {
	fast := m.fast
	i := uint32(root)
	for {
		n := &fast[i]
		l := n.left
		if l&fIndex == i {
			return m.leafVal[i]
		}
		if l&fCat != 0 {
			i = l&fIndex + b2u(!m.catLeft(&m.nodes[i], row))
			continue
		}
		i = l&fIndex + step(n, row)
	}
}

// step returns 1 when a numeric node sends the row right. Branch-free: a
// default-left node goes right iff v > thr (false for NaN), a default-right
// node iff !(v <= thr) (true for NaN).
func step(n *fnode, row []float64) uint32 {
	v := row[n.feat]
	gt := b2u(v > n.thr)
	nle := b2u(!(v <= n.thr))
	return nle ^ ((nle ^ gt) & (n.left >> 31))
}

// sumTrees adds the leaf values of trees t0, t0+stride, ... for a row,
// walking four numeric trees at once so their memory latencies overlap.
func (m *Model) sumTrees(row []float64, t0, stride int) float64 {
	fast, roots, depth := m.fast, m.roots, m.depth
	noNaN := !hasNaN(row)
	s := 0.0
	t := t0
	for ; t+3*stride < len(roots); t += 4 * stride {
		d0, d1, d2, d3 := depth[t], depth[t+stride], depth[t+2*stride], depth[t+3*stride]
		if d0 < 0 || d1 < 0 || d2 < 0 || d3 < 0 {
			for k := 0; k < 4; k++ {
				s += m.treeValue(roots[t+k*stride], row)
			}
			continue
		}
		i0, i1, i2, i3 := uint32(roots[t]), uint32(roots[t+stride]), uint32(roots[t+2*stride]), uint32(roots[t+3*stride])
		for d := max(d0, d1, d2, d3); d > 0; d-- {
			n0, n1, n2, n3 := &fast[i0], &fast[i1], &fast[i2], &fast[i3]
			p0, p1, p2, p3 := i0, i1, i2, i3
			if noNaN { // one comparison per step
				i0 = n0.left&fIndex + b2u(row[n0.feat] > n0.thr)
				i1 = n1.left&fIndex + b2u(row[n1.feat] > n1.thr)
				i2 = n2.left&fIndex + b2u(row[n2.feat] > n2.thr)
				i3 = n3.left&fIndex + b2u(row[n3.feat] > n3.thr)
			} else {
				i0 = n0.left&fIndex + step(n0, row)
				i1 = n1.left&fIndex + step(n1, row)
				i2 = n2.left&fIndex + step(n2, row)
				i3 = n3.left&fIndex + step(n3, row)
			}
			if (p0^i0)|(p1^i1)|(p2^i2)|(p3^i3) == 0 {
				break // all four walks sit on leaves
			}
		}
		// one add per tree, in tree order, as PredictBatch does
		s += m.leafVal[i0]
		s += m.leafVal[i1]
		s += m.leafVal[i2]
		s += m.leafVal[i3]
	}
	for ; t < len(roots); t += stride {
		s += m.treeValue(roots[t], row)
	}
	return s
}

// hasNaN reports whether a row has a missing value.
func hasNaN(row []float64) bool {
	for _, v := range row {
		if v != v {
			return true
		}
	}
	return false
}

// catLeft reports whether a categorical split sends the row left.
func (m *Model) catLeft(n *node, row []float64) bool {
	v := row[n.feature]
	if v != v || v < 0 {
		return n.defLeft
	}
	c := uint64(v)
	w := c >> 6
	return w < uint64(n.catWords) && m.catBits[uint64(n.catOff)+w]&(1<<(c&63)) != 0
}

// rawScore returns the summed score of output group g.
func (m *Model) rawScore(row []float64, g int) float64 {
	if m.lanes == nil {
		return m.rawScoreQ(row, nil, g)
	}
	var q qRow
	m.lanes.quantizeRow(row, &q)
	return m.rawScoreQ(row, &q, g)
}

// rawScoreQ returns the summed score of output group g. q is row quantized
// for the lane walker (laneWalker.quantizeRow), nil to use the float walker.
func (m *Model) rawScoreQ(row []float64, q *qRow, g int) float64 {
	if m.lin != nil {
		return m.linScore(row, g)
	}
	if q != nil {
		return m.base[g] + m.lanes.sumRow(m, row, q, g)
	}
	return m.base[g] + m.sumTrees(row, g, m.groups)
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
	if m.lanes == nil {
		return m.predictRowQ(row, nil)
	}
	var q qRow // quantized once for every output group
	m.lanes.quantizeRow(row, &q)
	return m.predictRowQ(row, &q)
}

// predictRowQ is PredictRow with row quantized into q (nil: no lane walker).
func (m *Model) predictRowQ(row []float64, q *qRow) float64 {
	switch m.objective {
	case "binary":
		return sigmoid(m.rawScoreQ(row, q, 0))
	case "multiclass":
		best, bi := math.Inf(-1), 0
		for k := 0; k < m.outputs(); k++ {
			if s := m.rawScoreQ(row, q, k); s > best {
				best, bi = s, k
			}
		}
		return float64(bi)
	default:
		return m.rawScoreQ(row, q, 0)
	}
}

// PredictProba writes class probabilities into dst (len(Classes()) values;
// for regression dst[0] receives the value). It does not allocate.
func (m *Model) PredictProba(row []float64, dst []float64) {
	if m.lanes == nil {
		m.predictProbaQ(row, nil, dst)
		return
	}
	var q qRow
	m.lanes.quantizeRow(row, &q)
	m.predictProbaQ(row, &q, dst)
}

// predictProbaQ is PredictProba with row quantized into q (nil: no lane walker).
func (m *Model) predictProbaQ(row []float64, q *qRow, dst []float64) {
	switch m.objective {
	case "binary":
		p := sigmoid(m.rawScoreQ(row, q, 0))
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
			dst[c] = m.rawScoreQ(row, q, c)
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
			dst[0] = m.rawScoreQ(row, q, 0)
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
