package server

import (
	"driftd/drift"
	"driftd/train"
)

// importanceShares returns each feature's share of the model's importance,
// summing to 1, and what the shares measure: total split gain for trees,
// the mean |standardised coefficient| for linear models. It returns nil
// when the model reports no importance (no split, all-zero coefficients).
func importanceShares(m *train.Model) (map[string]float64, string) {
	raw, basis := map[string]float64(nil), ""
	if m.Algo() == "logistic" {
		raw, basis = train.LinearImportance(m), "|coefficient|"
	} else {
		raw, _ = m.Importance()
		basis = "gain"
	}
	total := 0.0
	for _, v := range raw {
		if v > 0 {
			total += v
		}
	}
	if total <= 0 {
		return nil, ""
	}
	out := make(map[string]float64, len(raw))
	for k, v := range raw {
		out[k] = max(v, 0) / total
	}
	return out, basis
}

// weightedPSI is drift that matters to the model: the features' PSIs
// averaged with their importance shares as weights, so it reads on the
// PSI scale (0.1 moderate, 0.25 major) and moves only when the features the
// model leans on move.
func weightedPSI(fs []drift.FeatureResult, weights map[string]float64) float64 {
	s := 0.0
	for _, f := range fs {
		s += weights[f.Name] * f.PSI
	}
	return s
}
