package train

import (
	"math"
	"slices"
)

// LogLossEps is the probability clipping bound used by every log-loss function.
const LogLossEps = 1e-15

// AUC returns the area under the ROC curve of score against binary labels y
// (1 = positive). Tied scores get their average rank, which equals the
// trapezoidal area. It returns NaN when either class is absent or a score is
// NaN.
func AUC(y, score []float64) float64 {
	n := len(y)
	if n != len(score) || n == 0 {
		return math.NaN()
	}
	// Sort (score, label) pairs by an order-preserving uint64 key, the label
	// in a parallel array: LSD radix sort, 8 bits per pass.
	keys := make([]uint64, n)
	pos := make([]bool, n)
	for i, s := range score {
		if math.IsNaN(s) {
			return math.NaN()
		}
		if s == 0 {
			s = 0 // -0 and +0 tie
		}
		keys[i] = orderedBits(s)
		pos[i] = y[i] > 0.5
	}
	if n < 256 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return cmpUint64(keys[a], keys[b]) })
		k2, p2 := make([]uint64, n), make([]bool, n)
		for i, j := range idx {
			k2[i], p2[i] = keys[j], pos[j]
		}
		keys, pos = k2, p2
	} else {
		keys, pos = radixSortPairs(keys, pos)
	}
	// Sum of the (1-based, tie-averaged) ranks of the positives.
	var rankSum float64
	var npos int
	for i := 0; i < n; {
		j := i + 1
		for j < n && keys[j] == keys[i] {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if pos[k] {
				rankSum += avg
				npos++
			}
		}
		i = j
	}
	nneg := n - npos
	if npos == 0 || nneg == 0 {
		return math.NaN()
	}
	u := rankSum - float64(npos)*float64(npos+1)/2
	return u / (float64(npos) * float64(nneg))
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// orderedBits maps a float64 to a uint64 with the same order.
func orderedBits(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// radixSortPairs sorts keys ascending, carrying vals along, and returns the
// sorted slices (which may be the inputs' buffers or new ones).
func radixSortPairs(keys []uint64, vals []bool) ([]uint64, []bool) {
	n := len(keys)
	k2 := make([]uint64, n)
	v2 := make([]bool, n)
	var count [256]int
	for shift := uint(0); shift < 64; shift += 8 {
		count = [256]int{}
		for _, k := range keys {
			count[(k>>shift)&0xff]++
		}
		if count[(keys[0]>>shift)&0xff] == n {
			continue // every key has the same digit: nothing to do
		}
		sum := 0
		for d := range count {
			c := count[d]
			count[d] = sum
			sum += c
		}
		for i, k := range keys {
			d := (k >> shift) & 0xff
			j := count[d]
			count[d]++
			k2[j] = k
			v2[j] = vals[i]
		}
		keys, k2 = k2, keys
		vals, v2 = v2, vals
	}
	return keys, vals
}

// LogLoss returns the mean binary cross-entropy of probabilities p (of class
// 1) against labels y, with p clipped to [LogLossEps, 1-LogLossEps].
func LogLoss(y, p []float64) float64 {
	if len(y) == 0 || len(y) != len(p) {
		return math.NaN()
	}
	var s float64
	for i, yi := range y {
		q := clipProb(p[i])
		if yi > 0.5 {
			s -= math.Log(q)
		} else {
			s -= math.Log1p(-q)
		}
	}
	return s / float64(len(y))
}

func clipProb(p float64) float64 {
	if p < LogLossEps || math.IsNaN(p) {
		return LogLossEps
	}
	if p > 1-LogLossEps {
		return 1 - LogLossEps
	}
	return p
}

// Confusion is a binary confusion matrix.
type Confusion struct {
	TP, FP, TN, FN int
}

// BinaryConfusion counts predictions p >= threshold as positive against labels y.
func BinaryConfusion(y, p []float64, threshold float64) Confusion {
	var c Confusion
	for i, yi := range y {
		pos := p[i] >= threshold
		switch {
		case yi > 0.5 && pos:
			c.TP++
		case yi > 0.5:
			c.FN++
		case pos:
			c.FP++
		default:
			c.TN++
		}
	}
	return c
}

// Accuracy returns the share of correct predictions (NaN when empty).
func (c Confusion) Accuracy() float64 {
	return ratio(c.TP+c.TN, c.TP+c.TN+c.FP+c.FN)
}

// Precision returns TP/(TP+FP), 0 when nothing was predicted positive.
func (c Confusion) Precision() float64 { return ratio0(c.TP, c.TP+c.FP) }

// Recall returns TP/(TP+FN), 0 when there are no positives.
func (c Confusion) Recall() float64 { return ratio0(c.TP, c.TP+c.FN) }

// F1 returns the harmonic mean of precision and recall (0 when both are 0).
func (c Confusion) F1() float64 { return ratio0(2*c.TP, 2*c.TP+c.FP+c.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// ratio0 follows scikit-learn's zero_division=0 convention.
func ratio0(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ConfusionMatrix returns the k×k matrix whose [i][j] entry counts rows of
// true class i predicted as class j. Labels outside 0..k-1 are ignored.
func ConfusionMatrix(y, pred []int, k int) [][]int {
	cm := make([][]int, k)
	for i := range cm {
		cm[i] = make([]int, k)
	}
	for i, t := range y {
		p := pred[i]
		if t >= 0 && t < k && p >= 0 && p < k {
			cm[t][p]++
		}
	}
	return cm
}

// MulticlassAccuracy returns the share of the diagonal of a confusion matrix.
func MulticlassAccuracy(cm [][]int) float64 {
	var ok, all int
	for i, row := range cm {
		for j, v := range row {
			all += v
			if i == j {
				ok += v
			}
		}
	}
	return ratio(ok, all)
}

// MacroF1 returns the unweighted mean of the per-class F1 scores of a
// confusion matrix; classes absent from both truth and predictions count 0,
// as in scikit-learn's f1_score(average="macro", zero_division=0) when all
// labels are listed.
func MacroF1(cm [][]int) float64 {
	k := len(cm)
	if k == 0 {
		return math.NaN()
	}
	var sum float64
	for c := 0; c < k; c++ {
		tp := cm[c][c]
		var fp, fn int
		for o := 0; o < k; o++ {
			if o != c {
				fn += cm[c][o]
				fp += cm[o][c]
			}
		}
		sum += ratio0(2*tp, 2*tp+fp+fn)
	}
	return sum / float64(k)
}

// MulticlassLogLoss returns the mean cross-entropy of class probabilities
// proba (row-major, k per row) against class indices y, with probabilities
// clipped to [LogLossEps, 1-LogLossEps].
func MulticlassLogLoss(y []float64, proba []float64, k int) float64 {
	if len(y) == 0 || k <= 0 || len(proba) != len(y)*k {
		return math.NaN()
	}
	var s float64
	for i, yi := range y {
		c := int(yi)
		if c < 0 || c >= k {
			return math.NaN()
		}
		s -= math.Log(clipProb(proba[i*k+c]))
	}
	return s / float64(len(y))
}

// RMSE returns the root mean squared error of pred against y.
func RMSE(y, pred []float64) float64 {
	if len(y) == 0 || len(y) != len(pred) {
		return math.NaN()
	}
	var s float64
	for i, yi := range y {
		d := yi - pred[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(y)))
}

// MAE returns the mean absolute error of pred against y.
func MAE(y, pred []float64) float64 {
	if len(y) == 0 || len(y) != len(pred) {
		return math.NaN()
	}
	var s float64
	for i, yi := range y {
		s += math.Abs(yi - pred[i])
	}
	return s / float64(len(y))
}

// R2 returns the coefficient of determination of pred against y (1 is a
// perfect fit; NaN when y is constant).
func R2(y, pred []float64) float64 {
	if len(y) == 0 || len(y) != len(pred) {
		return math.NaN()
	}
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	var ssRes, ssTot float64
	for i, yi := range y {
		d := yi - pred[i]
		ssRes += d * d
		t := yi - mean
		ssTot += t * t
	}
	if ssTot == 0 {
		return math.NaN()
	}
	return 1 - ssRes/ssTot
}
