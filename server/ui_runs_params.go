package server

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"driftd/registry"
	"driftd/web"
)

// Parameters of a driftd training run, in the order that matters to a
// reader: what was learned and from what, then each algorithm's own knobs
// with the ones people tune first.
var (
	commonParams   = []string{"algo", "objective", "target", "data", "test", "valid_fraction", "id", "categorical", "model"}
	gbdtParams     = []string{"rounds", "learning_rate", "max_leaves", "max_depth", "early_stopping", "min_child_weight", "min_samples_leaf", "lambda", "min_split_gain", "subsample", "colsample", "max_bins", "grow", "seed"}
	logisticParams = []string{"logistic_c", "logistic_max_iter", "seed"}
)

// algoParams returns the parameters of algo in reading order, and those
// that belong to another algorithm only (hidden for algo).
func algoParams(algo string) (own []string, foreign map[string]bool) {
	foreign = map[string]bool{}
	switch algo {
	case "gbdt":
		own = append(slices.Clone(commonParams), gbdtParams...)
		for _, k := range logisticParams {
			if !slices.Contains(gbdtParams, k) {
				foreign[k] = true
			}
		}
	case "logistic":
		own = append(slices.Clone(commonParams), logisticParams...)
		for _, k := range gbdtParams {
			if !slices.Contains(logisticParams, k) {
				foreign[k] = true
			}
		}
	default:
		own = slices.Clone(commonParams)
	}
	return own, foreign
}

// orderedParams lists a run's parameters, the ones that matter first:
// the known parameters of its algorithm in reading order, then any others
// by name. Parameters of the other algorithm are left out and counted.
func orderedParams(params map[string]string) (out []web.KV, hidden int) {
	own, foreign := algoParams(params["algo"])
	seen := map[string]bool{}
	for _, k := range own {
		if v, ok := params[k]; ok && !seen[k] {
			out = append(out, web.KV{Key: k, Value: v})
			seen[k] = true
		}
	}
	rest := make([]string, 0, len(params))
	for k := range params {
		switch {
		case seen[k]:
		case foreign[k]:
			hidden++
		default:
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		out = append(out, web.KV{Key: k, Value: params[k]})
	}
	return out, hidden
}

// keyParams are the few parameters the run list shows for each run.
func keyParams(params map[string]string) []web.KV {
	var keys []string
	switch params["algo"] {
	case "gbdt":
		keys = []string{"algo", "rounds", "learning_rate", "max_leaves"}
	case "logistic":
		keys = []string{"algo", "logistic_c", "logistic_max_iter"}
	default:
		all, _ := orderedParams(params)
		return all[:min(len(all), 4)]
	}
	var out []web.KV
	for _, k := range keys {
		if v, ok := params[k]; ok {
			out = append(out, web.KV{Key: k, Value: v})
		}
	}
	return out
}

// runTitle is a name that tells runs apart: the stored name when someone
// gave one, else what was trained, how and on what ("gbdt · 100 rounds ·
// lr 0.1 · churn.csv"), for runs named "train <model>" by the train flow.
func runTitle(r registry.Run) string {
	p := r.Params
	if r.Name != "" && !strings.HasPrefix(r.Name, "train ") {
		return r.Name
	}
	var parts []string
	switch p["algo"] {
	case "gbdt":
		parts = append(parts, "gbdt")
		if p["rounds"] != "" {
			parts = append(parts, p["rounds"]+" rounds")
		}
		if p["learning_rate"] != "" {
			parts = append(parts, "lr "+p["learning_rate"])
		}
		if p["max_leaves"] != "" {
			parts = append(parts, p["max_leaves"]+" leaves")
		}
	case "logistic":
		parts = append(parts, "logistic")
		if p["logistic_c"] != "" {
			parts = append(parts, "C "+p["logistic_c"])
		}
	}
	if len(parts) == 0 {
		if r.Name != "" {
			return r.Name
		}
		return "run " + r.ID
	}
	if p["data"] != "" {
		parts = append(parts, filepath.Base(p["data"])) // uploads live under long temporary paths
	}
	return strings.Join(parts, " · ")
}
