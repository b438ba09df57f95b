package server

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"driftd/registry"
	"driftd/web"
)

const (
	// runListMax bounds the runs one search reads (the registry's own bound).
	runListMax = 10000
	// runPageSize is how many runs the run list shows per page.
	runPageSize = 50
	// runMetricCols bounds the metric columns of the run list.
	runMetricCols = 6
	// logTail is how many log lines a run page shows.
	logTail = 200
)

// liveRuns drops the runs deleted through the MLflow API (they stay in the
// store, restorable there).
func liveRuns(l registry.Lifecycle, runs []registry.Run) []registry.Run {
	out := runs[:0]
	for i := range runs {
		if !l.RunDeleted(&runs[i]) {
			out = append(out, runs[i])
		}
	}
	return out
}

// uiExperiments lists the experiments with their run counts.
func (a *App) uiExperiments(c echo.Context) error {
	ctx := c.Request().Context()
	exps, err := a.store.ListExperiments(ctx)
	if err != nil {
		return err
	}
	life, err := a.store.Lifecycle(ctx) // experiments and runs deleted through the MLflow API
	if err != nil {
		return err
	}
	var v web.ExperimentsView
	for _, e := range exps {
		if life.Experiments[e.ID].Deleted {
			continue
		}
		runs, err := a.store.SearchRuns(ctx, registry.RunQuery{ExperimentID: e.ID, Limit: runListMax})
		if err != nil {
			return err
		}
		runs = liveRuns(life, runs)
		v.Experiments = append(v.Experiments, web.ExperimentRow{ID: e.ID, Name: e.Name, Description: e.Description, Created: e.Created, Runs: len(runs)})
	}
	return a.renderPage(c, a.page(c, "experiments", "Experiments"), web.ExperimentsBody(v))
}

// uiExperiment lists one experiment's runs: ?q= filters with the registry's
// search syntax ("metrics.valid_auc > 0.8 and params.algo = gbdt"), ?sort=
// orders by any metric or parameter ("metrics.valid_auc desc"), ?page=
// pages by runPageSize, and ?format=csv downloads every matching run with
// all its parameters and metrics.
func (a *App) uiExperiment(c echo.Context) error {
	ctx := c.Request().Context()
	e, err := a.store.GetExperiment(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	q, sortBy := strings.TrimSpace(c.QueryParam("q")), strings.TrimSpace(c.QueryParam("sort"))
	v := web.ExperimentView{Experiment: web.ExperimentRow{ID: e.ID, Name: e.Name, Description: e.Description, Created: e.Created},
		Tags: sortedKV(e.Tags), Query: q, Sort: sortBy, Page: 1}
	status := http.StatusOK
	life, err := a.store.Lifecycle(ctx) // runs deleted through the MLflow API are not listed
	if err != nil {
		return err
	}
	all, err := a.store.SearchRuns(ctx, registry.RunQuery{ExperimentID: e.ID, Limit: runListMax})
	if err != nil {
		return err
	}
	all = liveRuns(life, all)
	v.Experiment.Runs = len(all)
	runs, err := a.store.SearchRuns(ctx, registry.RunQuery{ExperimentID: e.ID, Filter: q, OrderBy: sortBy, Limit: runListMax})
	var fe *registry.FieldError
	if errors.As(err, &fe) {
		v.Error, status, runs = fe.Error(), http.StatusBadRequest, nil
	} else if err != nil {
		return err
	}
	runs = liveRuns(life, runs)
	if c.QueryParam("format") == "csv" && status == http.StatusOK {
		return writeRunsCSV(c, e.Name, runs)
	}
	v.SortOptions = sortOptions(all)
	v.MetricCols = metricColumns(all)
	v.Total = len(runs)
	v.Pages = max(1, (len(runs)+runPageSize-1)/runPageSize)
	if s := c.QueryParam("page"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 {
			v.Page = min(n, v.Pages)
		}
	}
	page := runs[min((v.Page-1)*runPageSize, len(runs)):min(v.Page*runPageSize, len(runs))]
	for _, r := range page {
		row := a.runRow(r)
		for _, k := range v.MetricCols {
			cell := ""
			if p, ok := r.Metrics[k]; ok {
				cell = ftoa4(p.Value)
			}
			row.Cells = append(row.Cells, cell)
		}
		v.Runs = append(v.Runs, row)
	}
	base := "/experiments/" + url.PathEscape(e.ID)
	link := func(set url.Values) string {
		vals := url.Values{}
		if q != "" {
			vals.Set("q", q)
		}
		if sortBy != "" {
			vals.Set("sort", sortBy)
		}
		for k, x := range set {
			vals[k] = x
		}
		if len(vals) == 0 {
			return base
		}
		return base + "?" + vals.Encode()
	}
	if v.Page > 1 {
		v.PrevURL = link(url.Values{"page": {strconv.Itoa(v.Page - 1)}})
	}
	if v.Page < v.Pages {
		v.NextURL = link(url.Values{"page": {strconv.Itoa(v.Page + 1)}})
	}
	v.CSVURL = link(url.Values{"format": {"csv"}})
	v.SortURLs = map[string]string{}
	for _, k := range append([]string{"name", "start"}, prefixed("metrics.", v.MetricCols)...) {
		dir := "desc"
		if sortBy == k+" desc" || (k == "name" && sortBy != "name asc") {
			dir = "asc"
		}
		v.SortURLs[k] = link(url.Values{"sort": {k + " " + dir}})
	}
	p := a.page(c, "experiments", "Experiment "+e.Name)
	return renderStatus(c, status, p, web.ExperimentBody(v))
}

// runRow is a run as the run list and the comparison show it.
func (a *App) runRow(r registry.Run) web.RunRow {
	return web.RunRow{ID: r.ID, Name: r.Name, Title: runTitle(r), Status: r.Status, Start: r.Start,
		Duration: a.runDuration(r), Params: keyParams(r.Params), Metrics: lastMetrics(r)}
}

// prefixed puts prefix before every key.
func prefixed(prefix string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = prefix + k
	}
	return out
}

// metricColumns picks the run list's metric columns: the final metrics most
// runs have, validation metrics first, at most runMetricCols.
func metricColumns(runs []registry.Run) []string {
	count := map[string]int{}
	for _, r := range runs {
		for k := range r.Metrics {
			count[k]++
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		if k != "load_seconds" && k != "train_loss" {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		switch {
		case strings.HasPrefix(k, "valid_") || strings.HasPrefix(k, "test_"):
			return 0
		case k == "fit_seconds":
			return 2
		}
		return 1
	}
	sort.Slice(keys, func(i, j int) bool {
		if rank(keys[i]) != rank(keys[j]) {
			return rank(keys[i]) < rank(keys[j])
		}
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys[:min(len(keys), runMetricCols)]
}

// sortOptions lists every order the run list offers: start, name, status,
// then each metric and parameter any run has, both directions.
func sortOptions(runs []registry.Run) []web.SortOption {
	metrics, params := map[string]bool{}, map[string]bool{}
	for _, r := range runs {
		for k := range r.Metrics {
			metrics[k] = true
		}
		for k := range r.Params {
			params[k] = true
		}
	}
	opt := func(value, label string) web.SortOption { return web.SortOption{Value: value, Label: label} }
	out := []web.SortOption{opt("", "newest first"), opt("start asc", "oldest first"), opt("name asc", "name"), opt("status asc", "status")}
	for _, k := range slices.Sorted(mapsKeys(metrics)) {
		out = append(out, opt("metrics."+k+" desc", k+" (highest first)"), opt("metrics."+k+" asc", k+" (lowest first)"))
	}
	for _, k := range slices.Sorted(mapsKeys(params)) {
		out = append(out, opt("params."+k+" desc", "param "+k+" (highest first)"), opt("params."+k+" asc", "param "+k+" (lowest first)"))
	}
	return out
}

// writeRunsCSV answers the run list as CSV: one row per run with its
// identity, every parameter and every last metric value as columns.
func writeRunsCSV(c echo.Context, experiment string, runs []registry.Run) error {
	params, metrics := map[string]bool{}, map[string]bool{}
	for _, r := range runs {
		for k := range r.Params {
			params[k] = true
		}
		for k := range r.Metrics {
			metrics[k] = true
		}
	}
	pk, mk := slices.Sorted(mapsKeys(params)), slices.Sorted(mapsKeys(metrics))
	header := append([]string{"run_id", "name", "title", "status", "start", "end", "duration_seconds", "versions"}, prefixed("params.", pk)...)
	header = append(header, prefixed("metrics.", mk)...)
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		end, dur := "", ""
		if r.End != nil {
			end = r.End.UTC().Format(time.RFC3339)
			dur = strconv.FormatFloat(r.End.Sub(r.Start).Seconds(), 'f', 3, 64)
		}
		row := []string{r.ID, r.Name, runTitle(r), r.Status, r.Start.UTC().Format(time.RFC3339), end, dur, strings.Join(r.Versions, " ")}
		for _, k := range pk {
			row = append(row, r.Params[k])
		}
		for _, k := range mk {
			cell := ""
			if p, ok := r.Metrics[k]; ok {
				cell = strconv.FormatFloat(p.Value, 'g', -1, 64)
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	return writeCSV(c, "runs-"+experiment+".csv", header, rows)
}

// safeFileName keeps letters, digits, '-', '_' and '.' of s.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

// mapsKeys returns the keys of a set.
func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// runDuration is how long a run took, or has been running.
func (a *App) runDuration(r registry.Run) time.Duration {
	if r.End != nil {
		return r.End.Sub(r.Start)
	}
	if r.Status == registry.RunRunning {
		return a.now().Sub(r.Start)
	}
	return 0
}

// lastMetrics is the latest value of each metric of a run, sorted by key.
func lastMetrics(r registry.Run) []web.KV {
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]web.KV, 0, len(keys))
	for _, k := range keys {
		out = append(out, web.KV{Key: k, Value: ftoa4(r.Metrics[k].Value)})
	}
	return out
}
