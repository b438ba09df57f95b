package drift

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// aucEvery is how many labels pass between two AUC recomputations.
const aucEvery = 100

// Performance is the rolling model performance over the last LabelWindow
// labelled records. Metrics that do not apply are NaN.
type Performance struct {
	Labels   int64   // labels joined since the monitor started
	Window   int     // labelled records in the rolling window
	Accuracy float64 // classification: share of predicted == actual
	AUC      float64 // binary classification with PositiveClass set
	RMSE     float64 // regression
	MAE      float64 // regression
}

type perfState struct {
	mu       sync.Mutex
	size     int
	positive string
	// classification ring
	correct []bool
	scores  []float64
	pos     []bool
	nCorr   int
	// regression rings
	sq, ab       []float64
	sqSum, abSum float64
	// shared
	at, n  int
	labels int64
	auc    float64
	tmp    []int

	acc, aucG, rmse, mae *metrics.Gauge
	joined               *metrics.Counter
}

func (s *perfState) init(o MonitorOptions) {
	s.size = o.LabelWindow
	s.positive = o.PositiveClass
	s.auc = math.NaN()
	if set := o.Metrics; set != nil {
		model, env := escapeLabel(o.Model), escapeLabel(o.Environment)
		s.acc = set.GetOrCreateGauge(fmt.Sprintf(`driftd_model_accuracy{model="%s",environment="%s"}`, model, env), nil)
		s.aucG = set.GetOrCreateGauge(fmt.Sprintf(`driftd_model_auc{model="%s",environment="%s"}`, model, env), nil)
		s.rmse = set.GetOrCreateGauge(fmt.Sprintf(`driftd_model_rmse{model="%s",environment="%s"}`, model, env), nil)
		s.mae = set.GetOrCreateGauge(fmt.Sprintf(`driftd_model_mae{model="%s",environment="%s"}`, model, env), nil)
		s.joined = set.GetOrCreateCounter(fmt.Sprintf(`driftd_model_labels_total{model="%s"}`, model))
	}
}

// ObserveLabel records a classification outcome whose label arrived later
// (joined by record id by the caller): score is the model's score for the
// positive class (binary), predicted the predicted class and actual the
// true one. It updates the rolling accuracy and, every 100 labels, the AUC.
func (m *Monitor) ObserveLabel(score float64, predicted, actual string) {
	s := &m.perf
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.correct == nil {
		s.correct = make([]bool, s.size)
		s.scores = make([]float64, s.size)
		s.pos = make([]bool, s.size)
	}
	ok := predicted == actual
	if s.n == s.size && s.correct[s.at] {
		s.nCorr--
	}
	s.correct[s.at], s.scores[s.at], s.pos[s.at] = ok, score, actual == s.positive && s.positive != ""
	if ok {
		s.nCorr++
	}
	s.advance()
	if s.acc != nil {
		s.acc.Set(float64(s.nCorr) / float64(s.n))
	}
	if s.labels%aucEvery == 0 || s.n < aucEvery {
		s.auc = s.computeAUC()
		if s.aucG != nil && s.positive != "" {
			s.aucG.Set(s.auc)
		}
	}
}

// ObserveValue records a regression outcome whose actual value arrived
// later; it updates the rolling RMSE and MAE.
func (m *Monitor) ObserveValue(predicted, actual float64) {
	s := &m.perf
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sq == nil {
		s.sq = make([]float64, s.size)
		s.ab = make([]float64, s.size)
	}
	d := predicted - actual
	if s.n == s.size {
		s.sqSum -= s.sq[s.at]
		s.abSum -= s.ab[s.at]
	}
	s.sq[s.at], s.ab[s.at] = d*d, math.Abs(d)
	s.sqSum += d * d
	s.abSum += math.Abs(d)
	s.advance()
	if s.at == 0 { // recompute once per lap to shed rounding drift
		s.sqSum, s.abSum = 0, 0
		for i := range s.n {
			s.sqSum += s.sq[i]
			s.abSum += s.ab[i]
		}
	}
	if s.rmse != nil {
		s.rmse.Set(math.Sqrt(math.Max(s.sqSum, 0) / float64(s.n)))
		s.mae.Set(math.Max(s.abSum, 0) / float64(s.n))
	}
}

func (s *perfState) advance() {
	s.at++
	if s.at == s.size {
		s.at = 0
	}
	if s.n < s.size {
		s.n++
	}
	s.labels++
	if s.joined != nil {
		s.joined.Inc()
	}
}

// computeAUC returns the Mann–Whitney AUC (ties count one half) of the
// window's scores for the positive class; NaN with a single class.
func (s *perfState) computeAUC() float64 {
	if s.positive == "" || s.n == 0 {
		return math.NaN()
	}
	s.tmp = s.tmp[:0]
	for i := 0; i < s.n; i++ {
		s.tmp = append(s.tmp, i)
	}
	slices.SortFunc(s.tmp, func(a, b int) int {
		switch {
		case s.scores[a] < s.scores[b]:
			return -1
		case s.scores[a] > s.scores[b]:
			return 1
		}
		return 0
	})
	var rankSum float64
	var nPos, nNeg int
	for i := 0; i < len(s.tmp); {
		j := i
		for j < len(s.tmp) && s.scores[s.tmp[j]] == s.scores[s.tmp[i]] {
			j++
		}
		rank := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for k := i; k < j; k++ {
			if s.pos[s.tmp[k]] {
				rankSum += rank
				nPos++
			} else {
				nNeg++
			}
		}
		i = j
	}
	if nPos == 0 || nNeg == 0 {
		return math.NaN()
	}
	return (rankSum - float64(nPos)*float64(nPos+1)/2) / (float64(nPos) * float64(nNeg))
}

// Performance returns the rolling performance over the labelled window.
func (m *Monitor) Performance() Performance {
	s := &m.perf
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Performance{Labels: s.labels, Window: s.n, Accuracy: math.NaN(), AUC: math.NaN(), RMSE: math.NaN(), MAE: math.NaN()}
	if s.n == 0 {
		return p
	}
	if s.correct != nil {
		p.Accuracy = float64(s.nCorr) / float64(s.n)
		p.AUC = s.computeAUC()
	}
	if s.sq != nil {
		p.RMSE = math.Sqrt(math.Max(s.sqSum, 0) / float64(s.n))
		p.MAE = math.Max(s.abSum, 0) / float64(s.n)
	}
	return p
}
