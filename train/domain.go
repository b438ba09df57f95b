package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// DomainOptions configures DomainClassifier; zero fields take the defaults.
type DomainOptions struct {
	// Folds is the number of cross-validation folds (default 5).
	Folds int
	// MaxRows caps the rows drawn from each side (default 50,000): the AUC
	// of a few tens of thousands of rows is already sharp.
	MaxRows int
	// Rounds, Leaves and LearningRate shape the small GBDT (defaults 50,
	// 15, 0.1).
	Rounds, Leaves int
	LearningRate   float64
	// Threads bounds the training threads (0 = all cores).
	Threads int
	// Seed drives the sampling and the folds (default 1).
	Seed uint64
}

func (o DomainOptions) withDefaults() DomainOptions {
	if o.Folds == 0 {
		o.Folds = 5
	}
	if o.MaxRows == 0 {
		o.MaxRows = 50_000
	}
	if o.Rounds == 0 {
		o.Rounds = 50
	}
	if o.Leaves == 0 {
		o.Leaves = 15
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// DomainResult is the outcome of a domain classifier: how well a model
// tells the current rows from the reference rows.
type DomainResult struct {
	// AUC is the ROC AUC of the out-of-fold predictions: 0.5 when the two
	// sets cannot be told apart, 1 when they are fully separable.
	AUC float64
	// Threshold is the AUC above which the sets differ: the larger of 0.55
	// and 0.5 plus three standard deviations of the AUC of two samples of
	// these sizes from one distribution (Mann–Whitney).
	Threshold float64
	// Drifted is AUC > Threshold.
	Drifted bool
	// ReferenceRows and CurrentRows are the rows used from each side.
	ReferenceRows, CurrentRows int
	// Folds is the number of cross-validation folds.
	Folds int
	// Features ranks the features by their share of the classifiers' total
	// split gain, largest first: the ones that tell the sets apart.
	Features []DomainFeature
}

// DomainFeature is one feature's share of the domain classifiers' gain.
type DomainFeature struct {
	Name  string
	Share float64
}

// DomainClassifier trains small GBDTs to tell cur's rows (label 1) from
// ref's (label 0) with stratified k-fold cross-validation and reports the
// out-of-fold ROC AUC, as Evidently's domain classifier does. Both sets
// must have the same feature names and kinds; categorical levels are
// matched by name. Each side is sampled down to MaxRows.
func DomainClassifier(ctx context.Context, ref, cur *Dataset, opts DomainOptions) (DomainResult, error) {
	o := opts.withDefaults()
	if o.Folds < 2 {
		return DomainResult{}, fmt.Errorf("domain classifier: %d folds: need at least 2", o.Folds)
	}
	if ref == nil || cur == nil || ref.Rows == 0 || cur.Rows == 0 {
		return DomainResult{}, errors.New("domain classifier: the reference and the current data both need rows")
	}
	if !slices.Equal(ref.Names, cur.Names) || !slices.Equal(ref.Kinds, cur.Kinds) {
		return DomainResult{}, fmt.Errorf("domain classifier: the reference columns %v and the current columns %v differ", ref.Names, cur.Names)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x646f6d61696e)) // "domain"
	refRows, curRows := sampleRows(rng, ref.Rows, o.MaxRows), sampleRows(rng, cur.Rows, o.MaxRows)
	if len(refRows) < o.Folds || len(curRows) < o.Folds {
		return DomainResult{}, fmt.Errorf("domain classifier: %d reference and %d current rows: need at least %d of each (one per fold)", len(refRows), len(curRows), o.Folds)
	}
	all := stackDomain(ref, cur, refRows, curRows)
	// Stratified folds: each side dealt out in a shuffled order.
	fold := make([]int, all.Rows)
	for side, n := range []int{len(refRows), len(curRows)} {
		off := side * len(refRows)
		perm := rng.Perm(n)
		for k, i := range perm {
			fold[off+i] = k % o.Folds
		}
	}
	p := DefaultParams()
	p.Objective, p.Rounds, p.MaxLeaves, p.LearningRate, p.Threads = "binary", o.Rounds, o.Leaves, o.LearningRate, o.Threads
	p.Seed = int64(o.Seed)
	oof := make([]float64, all.Rows)
	gain := make([]float64, len(all.Names))
	for f := range o.Folds {
		var trRows, teRows []int
		for i, k := range fold {
			if k == f {
				teRows = append(teRows, i)
			} else {
				trRows = append(trRows, i)
			}
		}
		tr, te := all.Subset(trRows), all.Subset(teRows)
		m, err := Train(ctx, tr, nil, p, nil)
		if err != nil {
			return DomainResult{}, fmt.Errorf("domain classifier: fold %d of %d: %w", f+1, o.Folds, err)
		}
		pr, err := Predict(m, te)
		if err != nil {
			return DomainResult{}, fmt.Errorf("domain classifier: fold %d of %d: %w", f+1, o.Folds, err)
		}
		for k, i := range teRows {
			oof[i] = pr.Score[k]
		}
		g, _ := m.Importance()
		for j, name := range all.Names {
			gain[j] += g[name]
		}
	}
	res := DomainResult{AUC: AUC(all.Target, oof), ReferenceRows: len(refRows), CurrentRows: len(curRows), Folds: o.Folds}
	n0, n1 := float64(len(refRows)), float64(len(curRows))
	sd := math.Sqrt((n0 + n1 + 1) / (12 * n0 * n1))
	res.Threshold = math.Max(0.55, 0.5+3*sd)
	res.Drifted = res.AUC > res.Threshold
	total := 0.0
	for _, g := range gain {
		total += g
	}
	for j, name := range all.Names {
		share := 0.0
		if total > 0 {
			share = gain[j] / total
		}
		res.Features = append(res.Features, DomainFeature{Name: name, Share: share})
	}
	sort.SliceStable(res.Features, func(i, j int) bool { return res.Features[i].Share > res.Features[j].Share })
	return res, nil
}

// sampleRows returns all of 0..n-1, or max of them drawn without
// replacement, in ascending order.
func sampleRows(rng *rand.Rand, n, max int) []int {
	if n <= max {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		return rows
	}
	rows := rng.Perm(n)[:max]
	slices.Sort(rows)
	return rows
}

// stackDomain puts ref's rows refRows (label 0) above cur's rows curRows
// (label 1) in one dataset, matching categorical levels by name.
func stackDomain(ref, cur *Dataset, refRows, curRows []int) *Dataset {
	n := len(refRows) + len(curRows)
	out := &Dataset{Names: slices.Clone(ref.Names), Kinds: slices.Clone(ref.Kinds), Rows: n,
		Num: make([][]float64, len(ref.Names)), Codes: make([][]int32, len(ref.Names)), Levels: make([][]string, len(ref.Names)),
		Target: make([]float64, n), TargetLevels: []string{"reference", "current"}}
	for i := len(refRows); i < n; i++ {
		out.Target[i] = 1
	}
	for j := range ref.Names {
		if ref.Kinds[j] != Categorical {
			col := make([]float64, 0, n)
			for _, i := range refRows {
				col = append(col, ref.Num[j][i])
			}
			for _, i := range curRows {
				col = append(col, cur.Num[j][i])
			}
			out.Num[j] = col
			continue
		}
		levels := slices.Clone(ref.Levels[j])
		index := make(map[string]int32, len(levels))
		for c, l := range levels {
			index[l] = int32(c)
		}
		remap := make([]int32, len(cur.Levels[j]))
		for c, l := range cur.Levels[j] {
			k, ok := index[l]
			if !ok {
				k = int32(len(levels))
				levels = append(levels, l)
				index[l] = k
			}
			remap[c] = k
		}
		col := make([]int32, 0, n)
		for _, i := range refRows {
			col = append(col, ref.Codes[j][i])
		}
		for _, i := range curRows {
			c := cur.Codes[j][i]
			if c >= 0 {
				c = remap[c]
			}
			col = append(col, c)
		}
		out.Codes[j], out.Levels[j] = col, levels
	}
	return out
}
