package registry

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/bbolt"
)

// RunQuery selects runs for SearchRuns; zero fields match everything.
type RunQuery struct {
	ExperimentID string // only runs of this experiment
	Status       string // only runs with this status
	Filter       string // expression parsed by ParseFilter
	OrderBy      string // "metrics.auc desc", "params.eta", "start" (default "start desc")
	Limit        int    // maximum runs returned (default 100, at most 10000)
}

// SearchRuns returns runs matching q. It returns a *FieldError for a malformed filter,
// order or status.
func (s *Store) SearchRuns(ctx context.Context, q RunQuery) ([]Run, error) {
	out, err := s.searchRuns(q)
	s.observe("search_runs", err)
	if err != nil {
		return nil, fmt.Errorf("search runs: %w", err)
	}
	return out, nil
}

func (s *Store) searchRuns(q RunQuery) ([]Run, error) {
	f, err := ParseFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	switch q.Status {
	case "", RunRunning, RunFinished, RunFailed, RunKilled:
	default:
		return nil, fieldErr("status", "%q is not running, finished, failed or killed", q.Status)
	}
	less, err := parseOrder(q.OrderBy)
	if err != nil {
		return nil, err
	}
	if q.ExperimentID != "" {
		if _, err := parseID("experiment_id", q.ExperimentID); err != nil {
			return nil, err
		}
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 10000)
	out := []Run{}
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRuns).ForEach(func(k, v []byte) error {
			rec, err := s.runs.shared(k, v) // read only: the kept ones are cloned below
			if err != nil {
				return err
			}
			if (q.ExperimentID == "" || rec.ExperimentID == q.ExperimentID) &&
				(q.Status == "" || rec.Status == q.Status) && f.Match(&rec.Run) {
				out = append(out, rec.Run)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return less(&out[i], &out[j]) })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	for i := range out { // the caller's own maps, not the cache's
		out[i] = runRecord{Run: out[i]}.clone().Run
	}
	return out, nil
}

// parseOrder turns "field [asc|desc]" into a comparison; runs lacking the key sort last.
func parseOrder(s string) (func(a, b *Run) bool, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		fields = []string{"start", "desc"}
	}
	if len(fields) > 2 {
		return nil, fieldErr("order_by", "%q: expected \"field [asc|desc]\"", s)
	}
	desc := false
	if len(fields) == 2 {
		switch strings.ToLower(fields[1]) {
		case "asc":
		case "desc":
			desc = true
		default:
			return nil, fieldErr("order_by", "%q: direction must be asc or desc", fields[1])
		}
	}
	field := fields[0]
	var key func(r *Run) (float64, string, bool)
	switch {
	case field == "start":
		key = func(r *Run) (float64, string, bool) { return float64(r.Start.UnixNano()), "", true }
	case field == "name" || field == "status":
		key = func(r *Run) (float64, string, bool) {
			if field == "name" {
				return 0, r.Name, true
			}
			return 0, r.Status, true
		}
	case strings.HasPrefix(field, "metrics."):
		k := strings.TrimPrefix(field, "metrics.")
		key = func(r *Run) (float64, string, bool) { p, ok := r.Metrics[k]; return p.Value, "", ok }
	case strings.HasPrefix(field, "params."):
		k := strings.TrimPrefix(field, "params.")
		key = func(r *Run) (float64, string, bool) {
			v, ok := r.Params[k]
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				return n, "", ok
			}
			return 0, v, ok
		}
	default:
		return nil, fieldErr("order_by", "unknown field %q (use start, name, status, metrics.KEY or params.KEY)", field)
	}
	return func(a, b *Run) bool {
		an, as, aok := key(a)
		bn, bs, bok := key(b)
		if aok != bok {
			return aok
		}
		if an == bn && as == bs {
			return false
		}
		l := an < bn || (an == bn && as < bs)
		if desc {
			return !l
		}
		return l
	}, nil
}

// Comparison lays several runs side by side: rows are keys, Values align with RunIDs.
type Comparison struct {
	RunIDs  []string        `json:"run_ids"`
	Runs    []Run           `json:"runs"`
	Params  []CompareRow    `json:"params"`
	Metrics []CompareMetric `json:"metrics"`
}

// CompareRow is one parameter across compared runs ("" where a run lacks it).
type CompareRow struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
	Differ bool     `json:"differ"`
}

// CompareMetric is the last value of one metric across compared runs (nil where missing).
type CompareMetric struct {
	Key    string     `json:"key"`
	Values []*float64 `json:"values"`
}

// CompareRuns loads the given runs and lays out their params and last metrics side by
// side. ErrNotFound names the first missing run.
func (s *Store) CompareRuns(ctx context.Context, ids []string) (Comparison, error) {
	cmp := Comparison{RunIDs: ids, Runs: []Run{}, Params: []CompareRow{}, Metrics: []CompareMetric{}}
	if len(ids) == 0 || len(ids) > 100 {
		err := fieldErr("run_ids", "need between 1 and 100 runs, got %d", len(ids))
		s.observe("compare_runs", err)
		return Comparison{}, fmt.Errorf("compare runs: %w", err)
	}
	for _, id := range ids {
		r, err := s.GetRun(ctx, id)
		if err != nil {
			return Comparison{}, fmt.Errorf("compare runs: %w", err)
		}
		cmp.Runs = append(cmp.Runs, r)
	}
	params, mets := map[string]bool{}, map[string]bool{}
	for _, r := range cmp.Runs {
		for k := range r.Params {
			params[k] = true
		}
		for k := range r.Metrics {
			mets[k] = true
		}
	}
	for _, k := range sortedKeys(params) {
		row := CompareRow{Key: k, Values: make([]string, len(ids))}
		for i, r := range cmp.Runs {
			row.Values[i] = r.Params[k]
			row.Differ = row.Differ || row.Values[i] != row.Values[0]
		}
		cmp.Params = append(cmp.Params, row)
	}
	for _, k := range sortedKeys(mets) {
		row := CompareMetric{Key: k, Values: make([]*float64, len(ids))}
		for i, r := range cmp.Runs {
			if p, ok := r.Metrics[k]; ok {
				v := p.Value
				row.Values[i] = &v
			}
		}
		cmp.Metrics = append(cmp.Metrics, row)
	}
	s.observe("compare_runs", nil)
	return cmp, nil
}
