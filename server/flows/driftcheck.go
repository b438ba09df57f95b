package flows

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"driftd/drift"
	"driftd/registry"
	"driftd/scheduler"
	"driftd/train"
)

// DriftFeature is one feature of a drift report; statistics that do not
// apply (a distance test's p-value) are null.
type DriftFeature struct {
	Name      string   `json:"name"`
	PSI       float64  `json:"psi"`
	Test      string   `json:"test"`
	Statistic *float64 `json:"statistic"`
	PValue    *float64 `json:"p_value"`
	Drifted   bool     `json:"drifted"`
}

// DriftReport is the result of a drift-check run: a version's drift on a
// data file or on the live window, features by PSI, largest first.
type DriftReport struct {
	Model           string         `json:"model"`
	Version         string         `json:"version"`
	Source          string         `json:"source"` // "file <name>" or "live window"
	Rows            int            `json:"rows"`
	MaxPSI          float64        `json:"max_psi"`
	PredictionPSI   *float64       `json:"prediction_psi,omitempty"`
	DriftShare      float64        `json:"drift_share"`
	DriftedFeatures int            `json:"drifted_features"`
	DatasetDrift    bool           `json:"dataset_drift"`
	Features        []DriftFeature `json:"features"`
}

// driftCheckFlow is the drift-check flow: a batch drift report of a version
// against a data file or the live window.
func driftCheckFlow(d Deps) scheduler.Flow {
	s := scheduler.TypeString
	return scheduler.Flow{
		Name:        FlowDriftCheck,
		Description: "Compare a model version's reference profile with a CSV file or the live scoring window: PSI and a test per feature.",
		Params: []scheduler.Param{
			{Name: "model", Type: s, Default: d.ScoredModel, Help: "registered model"},
			{Name: "version", Type: s, Help: "version to check (default: the one deployed to environment)"},
			{Name: "environment", Type: s, Default: d.ScoringEnvironment, Help: "environment whose deployed version is checked when version is empty"},
			{Name: "data", Type: s, Help: "CSV file on the server to compare with the reference (or set live)"},
			{Name: "live", Type: scheduler.TypeBool, Default: false, Help: "report the live scoring window instead of a file"},
		},
		Queue:    QueueMonitoring,
		Validate: d.validateDriftCheck,
		Run: func(ctx context.Context, rc *scheduler.RunContext) (any, error) {
			rep, err := d.driftCheck(ctx, rc)
			if err != nil {
				return nil, err
			}
			return rep, nil
		},
	}
}

// validateDriftCheck checks the drift-check params.
func (d Deps) validateDriftCheck(_ context.Context, p scheduler.Params) error {
	model, env, data, live := p.String("model"), p.String("environment"), p.String("data"), p.Bool("live")
	if model == "" {
		model = d.ScoredModel
	}
	if err := checkModel("model", model); err != nil {
		return err
	}
	if env != "" {
		if err := d.checkEnvironment("environment", env); err != nil {
			return err
		}
	}
	switch {
	case live && data != "":
		return scheduler.Errorf("params.data", "give a data file or live: true, not both")
	case !live && data == "":
		return scheduler.Errorf("params.data", "required: a CSV file on the server, or set live: true")
	case data != "":
		return d.checkDataFile("data", data)
	}
	return nil
}

// driftCheck is the drift-check flow's Run.
func (d Deps) driftCheck(ctx context.Context, rc *scheduler.RunContext) (*DriftReport, error) {
	p := rc.Params
	model, version, env := cmp.Or(p.String("model"), d.ScoredModel), p.String("version"), cmp.Or(p.String("environment"), d.ScoringEnvironment)
	if p.Bool("live") {
		return d.liveDrift(rc, model, version)
	}
	if version == "" {
		v, err := d.Store.Deployed(ctx, model, env)
		if errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("no version of %s is deployed to %s: name a version", model, env)
		}
		if err != nil {
			return nil, fmt.Errorf("drift check: %w", err)
		}
		version = v.Version
	}
	raw, err := d.Store.Profile(ctx, model, version)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && len(raw) == 0) {
		return nil, fmt.Errorf("%s %s has no drift reference profile", model, version)
	}
	if err != nil {
		return nil, fmt.Errorf("drift check: %w", err)
	}
	prof, err := drift.DecodeProfile(raw)
	if err != nil {
		return nil, fmt.Errorf("drift profile of %s %s: %w", model, version, err)
	}
	path := p.String("data")
	rc.Logf("comparing %s with the reference profile of %s %s (%d features, %d reference rows)", path, model, version, len(prof.Features), prof.Rows)
	ds, err := readProfileColumns(path, prof)
	if err != nil {
		return nil, err
	}
	ev, err := d.compareFile(ctx, prof, ds, model, version)
	if err != nil {
		return nil, err
	}
	rep := reportOf(model, version, "file "+filepath.Base(path), ev)
	logReport(rc, rep)
	return rep, nil
}

// liveDrift reports the live window's latest drift check.
func (d Deps) liveDrift(rc *scheduler.RunContext, model, version string) (*DriftReport, error) {
	if d.Live == nil {
		return nil, errors.New("the live window is not available: no scorer runs in this process")
	}
	ev, _, ok := d.Live.Drift()
	switch {
	case !ok:
		return nil, errors.New("no live drift state: no version with a drift profile is being scored")
	case ev.Model != model:
		return nil, fmt.Errorf("the live window scores %s, not %s", ev.Model, model)
	case version != "" && ev.Version != version:
		return nil, fmt.Errorf("the live window scores %s %s, not %s", ev.Model, ev.Version, version)
	case len(ev.Features) == 0:
		return nil, fmt.Errorf("no drift check has run on the live window of %s %s yet (it needs DRIFTD_DRIFT_MIN_WINDOW records)", ev.Model, ev.Version)
	}
	rep := reportOf(ev.Model, ev.Version, "live window", ev)
	logReport(rc, rep)
	return rep, nil
}

// readProfileColumns reads the profile's features from a CSV file with the
// profile's column kinds; other columns are ignored.
func readProfileColumns(path string, prof *drift.Profile) (*train.Dataset, error) {
	header, err := CSVHeader(path)
	if err != nil {
		return nil, err
	}
	opts := train.CSVOptions{Delimiter: ',', Name: path}
	want := map[string]bool{}
	for _, f := range prof.Features {
		if !slices.Contains(header, f.Name) {
			return nil, fmt.Errorf("%s: feature %q of the reference profile is not a column", path, f.Name)
		}
		want[f.Name] = true
		if f.Categorical {
			opts.Categorical = append(opts.Categorical, f.Name)
		} else {
			opts.Numeric = append(opts.Numeric, f.Name)
		}
	}
	for _, h := range header {
		if !want[h] {
			opts.Exclude = append(opts.Exclude, h)
		}
	}
	ds, err := train.ReadCSVFile(path, opts)
	if err != nil {
		return nil, err
	}
	if ds.Rows == 0 {
		return nil, fmt.Errorf("%s: %w", path, drift.ErrNoCurrentRows)
	}
	return ds, nil
}

// compareFile evaluates the rows of ds against the profile in one window of
// a drift monitor, the same statistics the live window uses; the version's
// model scores the rows for the prediction's drift when it can.
func (d Deps) compareFile(ctx context.Context, prof *drift.Profile, ds *train.Dataset, model, version string) (drift.Event, error) {
	scores := d.scoreRows(ctx, ds, model, version)
	mon, err := drift.NewMonitor(prof, drift.MonitorOptions{Model: model, Version: version, WindowSize: ds.Rows,
		CheckInterval: ds.Rows + 1, MinWindow: 1, Now: d.Now})
	if err != nil {
		return drift.Event{}, fmt.Errorf("drift check: %w", err)
	}
	defer mon.Close()
	cols := make([]int, len(prof.Features))
	for i, f := range prof.Features {
		cols[i] = slices.Index(ds.Names, f.Name)
	}
	num, cat := make([]float64, len(cols)), make([]string, len(cols))
	for r := range ds.Rows {
		for i, j := range cols {
			num[i], cat[i] = math.NaN(), ""
			if ds.Kinds[j] == train.Categorical {
				if c := ds.Codes[j][r]; c >= 0 {
					cat[i] = ds.Levels[j][c]
				}
			} else {
				num[i] = ds.Num[j][r]
			}
		}
		score := math.NaN()
		if scores != nil {
			score = scores[r]
		}
		mon.Observe(num, cat, score)
	}
	return mon.Check(), nil
}

// scoreRows scores ds with the version's model, as the reference
// prediction was scored; nil when it cannot (the prediction's drift is then
// left out).
func (d Deps) scoreRows(ctx context.Context, ds *train.Dataset, model, version string) []float64 {
	art, err := d.Store.Artifact(ctx, model, version)
	if err != nil {
		return nil
	}
	m, err := train.Decode(art)
	if err != nil {
		return nil
	}
	pr, err := train.Predict(m, ds)
	if err != nil {
		return nil
	}
	return pr.Score
}

// reportOf builds a report from a drift check's event.
func reportOf(model, version, source string, ev drift.Event) *DriftReport {
	rep := &DriftReport{Model: model, Version: version, Source: source, Rows: ev.WindowRecords, MaxPSI: ev.MaxPSI,
		PredictionPSI: finite(ev.PredictionPSI), DriftShare: ev.DriftShare, DriftedFeatures: ev.DriftedFeatures,
		DatasetDrift: ev.DatasetDrift, Features: make([]DriftFeature, 0, len(ev.Features))}
	for _, f := range ev.Features {
		rep.Features = append(rep.Features, DriftFeature{Name: f.Name, PSI: f.PSI, Test: f.Test,
			Statistic: finite(f.Statistic), PValue: finite(f.PValue), Drifted: f.Drifted})
	}
	slices.SortStableFunc(rep.Features, func(a, b DriftFeature) int { return cmp.Compare(b.PSI, a.PSI) })
	return rep
}

// logReport writes a report's summary and largest PSIs to the run's log.
func logReport(rc *scheduler.RunContext, rep *DriftReport) {
	rc.Logf("%s %s on %s (%d rows): max PSI %.3f, %d of %d features drifted (share %.2f), dataset drift %v",
		rep.Model, rep.Version, rep.Source, rep.Rows, rep.MaxPSI, rep.DriftedFeatures, len(rep.Features), rep.DriftShare, rep.DatasetDrift)
	for _, f := range rep.Features[:min(5, len(rep.Features))] {
		rc.Logf("  %s: PSI %.3f, %s, drifted %v", f.Name, f.PSI, f.Test, f.Drifted)
	}
}
