package train

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"time"
)

// booster holds the state of one GBDT training run.
type booster struct {
	p        Params
	obj      string
	k        int // output groups
	n        int
	y, vy    []float64
	bn       *binner
	bm, vbm  *binMatrix
	g        *grower
	score    []float64 // n*k raw scores
	vscore   []float64
	prob     []float64 // multiclass: n*k probabilities of the current round
	partial  []float64 // per-thread loss partial sums
	m        *Model
	imp      [][]impEntry // per tree: split features and gains
	treeCat  []int        // catBits length at each tree start
	leafVals []float64    // values of the last tree's leaves, in grower.leaves order
	walk     binTree      // the last tree, for scoring bin matrices
}

type impEntry struct {
	f    int
	gain float64
}

func trainGBDT(ctx context.Context, train, valid *Dataset, p Params, progress func(Round)) (*Model, error) {
	start := time.Now()
	if err := p.normalize(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if p.MinSamplesLeaf == AutoMinSamplesLeaf {
		p.MinSamplesLeaf, p.autoLeaf = MinSamplesLeafFor(train.Rows), true
	}
	obj, k, err := objectiveOf(p, train)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	b := &booster{p: p, obj: obj, k: k, n: train.Rows, y: train.Target, partial: make([]float64, p.Threads)}
	b.bn = newBinner(train, p.MaxBins, p.Threads)
	if b.bm, err = b.bn.apply(train, p.Threads, recordExtra(len(train.Names))); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if valid != nil && valid.Rows > 0 {
		if b.vy, err = alignValidTarget(train, valid, obj); err != nil {
			return nil, fmt.Errorf("train: validation data: %w", err)
		}
		if b.vbm, err = b.bn.apply(valid, p.Threads, 0); err != nil {
			return nil, fmt.Errorf("train: validation data: %w", err)
		}
	}
	b.g = newGrower(p, b.bm, b.bn)
	switch obj { // gradient bounds known in advance spare a pass per tree
	case "binary":
		b.g.gBound, b.g.hBound = 1, 0.25
	case "multiclass":
		b.g.gBound, b.g.hBound = 1, 0.25*float64(k)/float64(k-1)
	}
	b.initModel(train)
	if err := b.run(ctx, start, progress); err != nil {
		return nil, err
	}
	return b.m, nil
}

func (b *booster) initModel(train *Dataset) {
	base := baseScores(b.obj, b.y, b.k)
	feats := make([]FeatureSpec, len(train.Names))
	for f, name := range train.Names {
		feats[f] = FeatureSpec{Name: name, Kind: train.Kinds[f]}
		if train.Kinds[f] == Categorical {
			feats[f].Levels = b.bn.levels[f]
		}
	}
	b.m = &Model{algo: "gbdt", objective: b.obj, features: feats, classes: train.TargetLevels,
		params: b.p.asMap(b.obj), metrics: map[string]float64{}, attach: map[string][]byte{},
		groups: b.k, base: base, gain: make([]float64, len(feats)), splitsCnt: make([]float64, len(feats))}
	if b.obj == "regression" {
		b.m.classes = nil
	}
	b.m.buildIndex()
	b.score = make([]float64, b.n*b.k)
	for i := range b.score {
		b.score[i] = base[i%b.k]
	}
	if b.vbm != nil {
		b.vscore = make([]float64, b.vbm.rows*b.k)
		for i := range b.vscore {
			b.vscore[i] = base[i%b.k]
		}
	}
	if b.obj == "multiclass" {
		b.prob = make([]float64, b.n*b.k)
	}
}

// alignValidTarget maps validation targets to the training class indexes.
func alignValidTarget(train, valid *Dataset, obj string) ([]float64, error) {
	if valid.Target == nil {
		return nil, fmt.Errorf("no target column")
	}
	if obj == "regression" {
		return valid.Target, nil
	}
	pos := map[string]float64{}
	for i, l := range train.TargetLevels {
		pos[l] = float64(i)
	}
	m := make([]float64, len(valid.TargetLevels))
	for i, l := range valid.TargetLevels {
		v, ok := pos[l]
		if !ok {
			return nil, fmt.Errorf("class %q does not occur in the training data", l)
		}
		m[i] = v
	}
	y := make([]float64, len(valid.Target))
	for i, v := range valid.Target {
		y[i] = m[int(v)]
	}
	return y, nil
}

func (b *booster) run(ctx context.Context, start time.Time, progress func(Round)) error {
	p := b.p
	rng := rand.New(rand.NewSource(p.Seed))
	bestLoss, bestRound := math.Inf(1), 0
	var last, best Round
	for round := 1; ; round++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		trainLoss := b.gradients()
		if round > 1 {
			r := b.report(round-1, trainLoss, start)
			if progress != nil {
				progress(r)
			}
			last = r
			if b.vbm != nil {
				if r.ValidLoss < bestLoss {
					bestLoss, bestRound, best = r.ValidLoss, round-1, r
				}
				if p.EarlyStopping > 0 && round-1-bestRound >= p.EarlyStopping {
					break
				}
			}
		}
		if round > p.Rounds {
			break
		}
		for k := 0; k < b.k; k++ {
			b.classGradients(k)
			n, sampled := b.sample(rng)
			b.colsample(rng)
			nodes := b.g.grow(n, sampled)
			b.update(nodes, k, sampled)
			b.appendTree(nodes)
		}
	}
	if b.vbm != nil && p.EarlyStopping > 0 && bestRound < len(b.m.roots)/b.k {
		b.truncate(bestRound)
		last = best
	}
	b.m.metrics["train_loss"] = last.TrainLoss
	if b.vbm != nil {
		b.m.metrics["valid_loss"] = last.ValidLoss
		b.m.metrics["valid_"+last.MetricName] = last.ValidMetric
	}
	b.m.metrics["rounds"] = float64(len(b.m.roots) / b.k)
	for t := range b.imp {
		for _, e := range b.imp[t] {
			b.m.gain[e.f] += e.gain
			b.m.splitsCnt[e.f]++
		}
	}
	b.m.compile()
	return nil
}

// sample picks the rows of the next tree.
func (b *booster) sample(rng *rand.Rand) (int, bool) {
	if b.p.Subsample >= 1 {
		return b.n, false
	}
	n := 0
	for r := 0; r < b.n; r++ {
		if rng.Float64() < b.p.Subsample {
			b.g.sample[n] = int32(r)
			n++
		}
	}
	return n, true
}

// colsample picks the features of the next tree.
func (b *booster) colsample(rng *rand.Rand) {
	ok := b.g.featOK
	if b.p.Colsample >= 1 {
		for f := range ok {
			ok[f] = true
		}
		return
	}
	want := max(1, int(math.Round(b.p.Colsample*float64(len(ok)))))
	for f := range ok {
		ok[f] = false
	}
	for _, f := range rng.Perm(len(ok))[:want] {
		ok[f] = true
	}
}

// update adds a new tree's leaf values to the training and validation scores.
func (b *booster) update(nodes []tnode, k int, sampled bool) {
	K := b.k
	if !sampled {
		leafOf := b.g.leafOf
		vals := b.leafVals[:0]
		for _, l := range b.g.leaves {
			vals = append(vals, nodes[l.node].value)
		}
		b.leafVals = vals
		parallelBlocks(b.n, b.p.Threads, func(_, lo, hi int) {
			for r, l := range leafOf[lo:hi] {
				b.score[(lo+r)*K+k] += vals[l]
			}
		})
	} else {
		b.walk = newBinTree(b.walk, nodes, b.bn.nv)
		b.walk.add(b.bm, b.score, K, k, b.p.Threads)
	}
	// The validation margins get the new tree only (as XGBoost's
	// prediction cache does).
	if b.vbm != nil {
		b.walk = newBinTree(b.walk, nodes, b.bn.nv)
		b.walk.add(b.vbm, b.vscore, K, k, b.p.Threads)
	}
}

// appendTree converts a bin-space tree to model nodes (children stored in
// consecutive pairs after their parent) with raw-value thresholds.
func (b *booster) appendTree(nodes []tnode) {
	m := b.m
	b.treeCat = append(b.treeCat, len(m.catBits))
	root := int32(len(m.nodes))
	m.roots = append(m.roots, root)
	var imp []impEntry
	queue := []int{0}
	m.nodes = append(m.nodes, node{})
	for qi := 0; qi < len(queue); qi++ {
		tn := &nodes[queue[qi]]
		at := int(root) + qi
		if tn.feature < 0 {
			m.nodes[at] = node{feature: -1, value: tn.value}
			continue
		}
		left := int32(len(m.nodes))
		m.nodes = append(m.nodes, node{}, node{})
		// children land at the queue positions matching their node indexes
		queue = append(queue, tn.left, tn.right)
		nd := node{feature: int32(tn.feature), left: left, defLeft: tn.defLeft}
		if tn.cat {
			words := (b.bn.nv[tn.feature] + 63) / 64
			nd.catOff, nd.catWords = int32(len(m.catBits)), int32(words)
			m.catBits = append(m.catBits, tn.catSet[:words]...)
		} else {
			nd.threshold = b.bn.edges[tn.feature][tn.bin]
		}
		m.nodes[at] = nd
		imp = append(imp, impEntry{tn.feature, tn.gain})
	}
	b.imp = append(b.imp, imp)
}

// truncate keeps the first rounds of trees (early stopping).
func (b *booster) truncate(rounds int) {
	m := b.m
	keep := rounds * b.k
	if keep >= len(m.roots) {
		return
	}
	m.nodes = m.nodes[:m.roots[keep]]
	m.catBits = m.catBits[:b.treeCat[keep]]
	m.roots = m.roots[:keep]
	b.imp = b.imp[:keep]
	m.metrics["best_round"] = float64(rounds)
}
