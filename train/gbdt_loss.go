package train

import (
	"math"
	"sync"
	"time"
)

// parallelBlocks splits 0..n-1 into threads fixed blocks and runs fn on each.
func parallelBlocks(n, threads int, fn func(t, lo, hi int)) {
	if threads <= 1 || n < 4096 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for t := 1; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			fn(t, t*n/threads, (t+1)*n/threads)
		}(t)
	}
	fn(0, 0, n/threads)
	wg.Wait()
}

// lossSampleRows bounds the rows the per-round binary training loss is
// computed on (evenly spaced); gradients always use every row.
const lossSampleRows = 50000

// sumPartials adds per-thread partial sums in a fixed order.
func (b *booster) sumPartials() float64 {
	s := 0.0
	for _, v := range b.partial {
		s += v
	}
	clear(b.partial)
	return s
}

// gradients returns the training loss of the current scores and prepares
// the gradients of the next round (binary/regression: in g.gh directly;
// multiclass: the probabilities for classGradients).
func (b *booster) gradients() float64 {
	gh, y, sc := b.g.gh, b.y, b.score
	clear(b.partial)
	threads := b.p.Threads
	// the binary loss (a logarithm per row) is taken on every stride-th row
	stride := max(1, b.n/lossSampleRows)
	if b.n < 4096 {
		threads = 1
	}
	switch b.obj {
	case "binary":
		parallelBlocks(b.n, threads, func(t, lo, hi int) {
			loss := 0.0
			next := (lo + stride - 1) / stride * stride // first sampled row (no division per row)
			for r := lo; r < hi; r++ {
				s := sc[r]
				e := math.Exp(-s)
				p := 1 / (1 + e)
				if r == next {
					next += stride
					loss += binaryLoss(s, e, y[r])
				}
				h := p * (1 - p)
				if !(h >= 1e-16) {
					h = 1e-16
				}
				gh[2*r] = float32(p - y[r])
				gh[2*r+1] = float32(h)
			}
			b.partial[t] = loss
		})
		return b.sumPartials() / float64((b.n+stride-1)/stride)
	case "multiclass":
		K := b.k
		parallelBlocks(b.n, threads, func(t, lo, hi int) {
			b.partial[t] = softmaxRows(sc, b.prob, y, K, lo, hi)
		})
		return b.sumPartials() / float64(b.n)
	default:
		parallelBlocks(b.n, threads, func(t, lo, hi int) {
			loss := 0.0
			for r := lo; r < hi; r++ {
				d := sc[r] - y[r]
				loss += d * d
				gh[2*r] = float32(d)
				gh[2*r+1] = 1
			}
			b.partial[t] = loss
		})
		return math.Sqrt(b.sumPartials() / float64(b.n))
	}
}

// softmaxRows writes class probabilities of rows lo..hi-1 and returns their log loss sum.
func softmaxRows(sc, prob, y []float64, K, lo, hi int) float64 {
	loss := 0.0
	for r := lo; r < hi; r++ {
		s := sc[r*K : r*K+K]
		pr := prob[r*K : r*K+K]
		mx := math.Inf(-1)
		for _, v := range s {
			mx = math.Max(mx, v)
		}
		sum := 0.0
		for c, v := range s {
			pr[c] = math.Exp(v - mx)
			sum += pr[c]
		}
		for c := range pr {
			pr[c] /= sum
		}
		if y != nil {
			loss -= math.Log(math.Max(pr[int(y[r])], 1e-15))
		}
	}
	return loss
}

// classGradients fills g.gh for class k of a multiclass round.
func (b *booster) classGradients(k int) {
	if b.obj != "multiclass" {
		return
	}
	K := b.k
	f := float64(K) / float64(K-1)
	gh, y, prob := b.g.gh, b.y, b.prob
	parallelBlocks(b.n, b.p.Threads, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			p := prob[r*K+k]
			t := 0.0
			if int(y[r]) == k {
				t = 1
			}
			gh[2*r] = float32(p - t)
			gh[2*r+1] = float32(math.Max(f*p*(1-p), 1e-16))
		}
	})
}

// report builds the progress record of a round, scoring the validation data.
func (b *booster) report(round int, trainLoss float64, start time.Time) Round {
	r := Round{Round: round, TrainLoss: trainLoss, ValidLoss: math.NaN(), ValidMetric: math.NaN()}
	switch b.obj {
	case "binary":
		r.MetricName = "auc"
	case "multiclass":
		r.MetricName = "accuracy"
	default:
		r.MetricName = "rmse"
	}
	if b.vbm != nil {
		r.ValidLoss, r.ValidMetric = b.validScores()
	}
	r.Elapsed = time.Since(start)
	return r
}

// validScores returns the validation loss and metric.
func (b *booster) validScores() (float64, float64) {
	n, K, y, sc := b.vbm.rows, b.k, b.vy, b.vscore
	switch b.obj {
	case "binary":
		// The AUC's sort and the loss run at the same time: the validation
		// pass is otherwise serial between two parallel tree builds.
		auc := make(chan float64, 1)
		go func() { auc <- AUC(y, sc[:n]) }()
		loss := 0.0
		for r := 0; r < n; r++ {
			loss += binaryLoss(sc[r], math.Exp(-sc[r]), y[r])
		}
		return loss / float64(n), <-auc
	case "multiclass":
		prob := make([]float64, K)
		loss, correct := 0.0, 0
		for r := 0; r < n; r++ {
			loss += softmaxRows(sc[r*K:r*K+K], prob, y[r:r+1], K, 0, 1)
			best := 0
			for c := range prob {
				if prob[c] > prob[best] {
					best = c
				}
			}
			if best == int(y[r]) {
				correct++
			}
		}
		return loss / float64(n), float64(correct) / float64(n)
	}
	se := 0.0
	for r := 0; r < n; r++ {
		d := sc[r] - y[r]
		se += d * d
	}
	rmse := math.Sqrt(se / float64(n))
	return rmse, rmse
}

// binaryLoss is the log loss of raw score s (e = exp(-s)) for label y in {0, 1}.
func binaryLoss(s, e, y float64) float64 {
	if math.IsInf(e, 1) {
		return -s * y
	}
	l := math.Log(1 + e)
	if y == 0 {
		l += s
	}
	return l
}
