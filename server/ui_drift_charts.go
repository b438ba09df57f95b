package server

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"driftd/drift"
	"driftd/registry"
	"driftd/web"
)

// driftHistoryWindow is how far back the Drift page's charts and events look.
const driftHistoryWindow = 24 * time.Hour

// levelClass colours a PSI level like the badges.
func psiClass(level string) string {
	switch level {
	case drift.LevelMajor:
		return "bad"
	case drift.LevelModerate:
		return "warn"
	}
	return "ok"
}

// verdictWhy says which test made a feature's call and, when the call and
// the PSI level disagree, why they may.
func verdictWhy(f drift.FeatureResult) (string, bool) {
	call := "no drift"
	if f.Drifted {
		call = "drift"
	}
	var why string
	if f.Rule == drift.RuleBand {
		// The verdict compares the statistic with the band sampling noise
		// reaches at this window size, not the p-value with 0.05.
		name, stat := "statistic", f.Statistic
		if f.Test == "z" {
			name, stat = "|z|", math.Abs(stat)
		}
		where := "within"
		if f.Drifted {
			where = "above"
		}
		why = fmt.Sprintf("%s test: %s %s is %s the noise band at %d rows (up to %s, learned from reference chunks of that size), so %s.",
			f.Test, name, fmtG(stat), where, f.Rows, fmtG(f.BandUpper), call)
		if drift.IsPValueTest(f.Test) {
			why += fmt.Sprintf(" p-value %s.", fmtG(f.PValue))
		}
	} else if drift.IsPValueTest(f.Test) {
		cmp := "≥"
		if f.PValue < f.Threshold {
			cmp = "<"
		}
		why = fmt.Sprintf("%s test: p-value %s %s %s, so %s.", f.Test, fmtG(f.PValue), cmp, fmtG(f.Threshold), call)
	} else {
		cmp := "<"
		if f.Statistic >= f.Threshold {
			cmp = "≥"
		}
		why = fmt.Sprintf("%s test: statistic %s %s %s, so %s.", f.Test, fmtG(f.Statistic), cmp, fmtG(f.Threshold), call)
	}
	stable := f.Level == drift.LevelStable
	switch {
	case f.Drifted && stable && drift.IsPValueTest(f.Test):
		return why + fmt.Sprintf(" PSI %s reads stable: the shift is small, but with %d rows the test finds it significant.", fmtG(f.PSI), f.Rows), true
	case f.Drifted && stable:
		return why + fmt.Sprintf(" PSI %s reads stable: PSI compares bin shares, while %s measures how far values moved, which a shift inside a bin shows and PSI does not.", fmtG(f.PSI), f.Test), true
	case !f.Drifted && !stable && drift.IsPValueTest(f.Test):
		return why + fmt.Sprintf(" PSI %s reads %s, but %d rows are too few for the test to be sure the distributions differ.", fmtG(f.PSI), f.Level, f.Rows), true
	case !f.Drifted && !stable:
		return why + fmt.Sprintf(" PSI %s reads %s: bin shares changed, but the values moved little compared with the feature's spread.", fmtG(f.PSI), f.Level), true
	}
	return why, false
}

func fmtG(v float64) string { return ftoa4(v) }

// performanceChart draws the kept checks' estimated accuracy inside the
// band it takes without a shift, beside the realised accuracy where labels
// joined; nil when no kept check has an estimate.
func performanceChart(pts []registry.DriftPoint) *web.TimeChart {
	c := estimateChart(pts, "accuracy", func(pp *registry.PerformancePoint) (est, lo, hi, real *float64) {
		return pp.EstimatedAccuracy, pp.AccuracyLo, pp.AccuracyHi, pp.Accuracy
	})
	if c != nil {
		// A value axis around the data, not from 0: accuracy moves by
		// hundredths.
		pad := math.Max(0.02, (c.Max-c.Min)*0.1)
		c.Min, c.Max = math.Max(0, c.Min-pad), math.Min(1, c.Max+pad)
	}
	return c
}

// lossChart is performanceChart for a regression's RMSE estimated without
// labels (DLE).
func lossChart(pts []registry.DriftPoint) *web.TimeChart {
	c := estimateChart(pts, "RMSE", func(pp *registry.PerformancePoint) (est, lo, hi, real *float64) {
		return pp.EstimatedRMSE, pp.RMSELo, pp.RMSEHi, pp.RMSE
	})
	if c != nil {
		pad := math.Max((c.Max-c.Min)*0.1, 0.02*c.Max)
		if !(pad > 0) {
			pad = 0.01
		}
		c.Min, c.Max = math.Max(0, c.Min-pad), c.Max+pad
	}
	return c
}

// estimateChart draws the kept checks' estimate of one figure (what
// picks it from a check's performance) inside the band it takes without a
// shift, beside the realised figure where labels joined. Min and Max are
// the data's range, for the caller to pad. nil when no check has an
// estimate.
func estimateChart(pts []registry.DriftPoint, figure string, pick func(*registry.PerformancePoint) (est, lo, hi, real *float64)) *web.TimeChart {
	estLine := web.Line{Name: "estimated " + figure}
	realLine := web.Line{Name: "realised " + figure, Class: "c2"}
	band := web.Band{Name: "expected without a shift"}
	low, high := math.Inf(1), math.Inf(-1)
	see := func(x float64) { low, high = math.Min(low, x), math.Max(high, x) }
	for _, p := range pts {
		if p.Performance == nil {
			continue
		}
		est, lo, hi, real := pick(p.Performance)
		if est != nil {
			estLine.Points = append(estLine.Points, web.TimePoint{T: p.Time, V: *est})
			see(*est)
		}
		if lo != nil && hi != nil {
			band.Lo = append(band.Lo, web.TimePoint{T: p.Time, V: *lo})
			band.Hi = append(band.Hi, web.TimePoint{T: p.Time, V: *hi})
			see(*lo)
			see(*hi)
		}
		if real != nil {
			realLine.Points = append(realLine.Points, web.TimePoint{T: p.Time, V: *real})
			see(*real)
		}
	}
	if len(estLine.Points) == 0 {
		return nil
	}
	c := &web.TimeChart{Label: "Estimated and realised " + figure + " over time", Lines: []web.Line{estLine}, Min: low, Max: high}
	if len(realLine.Points) > 0 {
		c.Lines = append(c.Lines, realLine)
	}
	if len(band.Lo) > 0 {
		c.Bands = []web.Band{band}
	}
	return c
}

// multivariateChart draws the kept checks' PCA reconstruction error inside
// the band it keeps without drift; nil when no kept check has one.
func multivariateChart(pts []registry.DriftPoint) *web.TimeChart {
	errLine := web.Line{Name: "reconstruction error"}
	band := web.Band{Name: "expected without drift"}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		m := p.Multivariate
		if m == nil {
			continue
		}
		errLine.Points = append(errLine.Points, web.TimePoint{T: p.Time, V: m.Error})
		lo, hi = math.Min(lo, m.Error), math.Max(hi, m.Error)
		if m.Lo != nil && m.Hi != nil {
			band.Lo = append(band.Lo, web.TimePoint{T: p.Time, V: *m.Lo})
			band.Hi = append(band.Hi, web.TimePoint{T: p.Time, V: *m.Hi})
			lo, hi = math.Min(lo, *m.Lo), math.Max(hi, *m.Hi)
		}
	}
	if len(errLine.Points) == 0 {
		return nil
	}
	c := &web.TimeChart{Label: "Multivariate drift: reconstruction error over time", Lines: []web.Line{errLine}}
	if len(band.Lo) > 0 {
		c.Bands = []web.Band{band}
	}
	pad := math.Max((hi-lo)*0.1, 0.01*math.Abs(hi))
	c.Min, c.Max = math.Max(0, lo-pad), hi+pad
	return c
}

// driftCharts fills in the Drift page's PSI bars, the feature looked at
// closely (?feature=, else the largest PSI) and the history charts and
// events. Features arrive sorted by PSI, largest first.
func (a *App) driftCharts(ctx context.Context, v *web.DriftView, ev drift.Event, feature string) {
	bars := &web.HBarChart{Label: "PSI by feature, largest first", Thresholds: []web.Threshold{
		{Value: 0.1, Label: "moderate (0.1)", Class: "warn"}, {Value: 0.25, Label: "major (0.25)", Class: "bad"}}}
	var sel *drift.FeatureResult
	for i := range ev.Features {
		f := &ev.Features[i]
		bars.Bars = append(bars.Bars, web.HBar{Label: f.Name, Value: f.PSI, Class: psiClass(f.Level), Text: ftoa4(f.PSI) + " " + f.Level,
			Href: web.DriftURL(v, f.Name) + "#feature"})
		if f.Name == feature {
			sel = f
		}
	}
	if len(bars.Bars) > 0 {
		v.Bars = bars
	}
	if sel == nil && len(ev.Features) > 0 {
		sel = &ev.Features[0]
	}
	v.LiveURL = "/drift?fragment=1"
	if v.Rank == "psi" && v.WeightBasis != "" {
		v.LiveURL += "&rank=psi"
	}
	if sel == nil {
		return
	}
	v.LiveURL += "&feature=" + url.QueryEscape(sel.Name)
	var row web.DriftFeatureRow
	for _, r := range v.Features {
		if r.Name == sel.Name {
			row = r
		}
	}
	d := &web.FeatureDetail{Row: row}
	v.Selected = d
	if prof, counts, ok, err := a.pipeline.history.window(ctx, ev.Version); err != nil {
		d.DistNote = "The reference distribution could not be read: " + err.Error()
	} else if !ok {
		d.DistNote = "The current window is not known yet."
	} else {
		d.Dist = distribution(prof, counts, sel.Name)
		if d.Dist == nil {
			d.DistNote = "Feature " + sel.Name + " is not in the reference profile."
		}
	}
	// History: the kept checks of the last day, the selected feature's PSI
	// and the largest of all, and the checks whose verdict changed.
	since := a.now().Add(-driftHistoryWindow)
	v.HistorySince = since
	// Two reads of the kept checks, each decoding only what it needs: the
	// selected feature's PSI for the charts, the verdicts for the events.
	pts, err := a.store.DriftHistory(ctx, registry.DriftHistoryQuery{Model: v.Model, Feature: sel.Name, Since: since, MaxPoints: 1000})
	if err != nil {
		v.HistoryError = err.Error()
		return
	}
	verdicts, err := a.store.DriftHistory(ctx, registry.DriftHistoryQuery{Model: v.Model, Verdicts: true, Since: since, MaxPoints: 1000})
	if err != nil {
		v.HistoryError = err.Error()
		return
	}
	feat := web.Line{Name: sel.Name + " PSI"}
	maxLine := web.Line{Name: "largest PSI", Class: "alt"}
	for _, p := range pts {
		if x, ok := p.Features[sel.Name]; ok {
			feat.Points = append(feat.Points, web.TimePoint{T: p.Time, V: x})
		}
		maxLine.Points = append(maxLine.Points, web.TimePoint{T: p.Time, V: p.MaxPSI})
	}
	if len(pts) > 0 {
		d.History = &web.TimeChart{Label: "PSI of " + sel.Name + " over time", Lines: []web.Line{maxLine, feat}, Thresholds: []web.Threshold{
			{Value: 0.1, Label: "moderate", Class: "warn"}, {Value: 0.25, Label: "major", Class: "bad"},
			{Value: a.cfg.RetrainThreshold, Label: "retrain " + ftoa4(a.cfg.RetrainThreshold)}}}
	}
	if v.Estimated != nil {
		v.Estimated.Chart = performanceChart(pts)
	}
	if v.EstimatedLoss != nil {
		v.EstimatedLoss.Chart = lossChart(pts)
	}
	if v.Multivariate != nil {
		v.Multivariate.Chart = multivariateChart(verdicts)
	}
	v.Events = driftEvents(verdicts, 20)
}

// driftEvents picks the checks whose verdict differs from the one before
// (the first one kept counts as a change), newest first, at most n.
func driftEvents(pts []registry.DriftPoint, n int) []web.DriftEventRow {
	var out []web.DriftEventRow
	prev := ""
	for _, p := range pts {
		verdict, class := "no drift", "ok"
		switch {
		case p.Alert:
			verdict, class = "alert", "bad"
		case p.DatasetDrift:
			verdict, class = "dataset drift", "bad"
		case p.Retrain:
			verdict, class = "retrain suggested", "warn"
		case p.DriftedFeatures > 0:
			verdict, class = "some features drifted", "warn"
		}
		key := p.Version + "|" + verdict + "|" + strings.Join(p.Drifted, ",")
		if key == prev {
			continue
		}
		prev = key
		out = append(out, web.DriftEventRow{Time: p.Time, Version: p.Version, Verdict: verdict, Class: class, MaxPSI: p.MaxPSI,
			Drifted: strings.Join(p.Drifted, ", "), DriftedFeatures: p.DriftedFeatures})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// distribution builds the reference and current shares of a feature's bins
// (the missing bin only when either side has missing values).
func distribution(prof *drift.Profile, counts *drift.Counts, name string) *web.GroupedBars {
	idx := -1
	for i := range prof.Features {
		if prof.Features[i].Name == name {
			idx = i
		}
	}
	if idx < 0 || idx >= len(counts.Bins) {
		return nil
	}
	f := &prof.Features[idx]
	cur := counts.Bins[idx]
	labels := make([]string, len(cur))
	labels[0] = "missing"
	if f.Categorical {
		for i, c := range f.Categories {
			labels[i+1] = c
		}
		if len(f.Categories)+1 < len(labels) {
			labels[len(f.Categories)+1] = "other"
		}
		for i, u := range counts.Unseen[idx] {
			if j := f.Bins() + i; j < len(labels) {
				labels[j] = u + " (new)"
			}
		}
	} else {
		for i := 1; i < len(labels) && i <= len(f.Edges)+1; i++ {
			switch {
			case len(f.Edges) == 0:
				labels[i] = "all"
			case i == 1:
				labels[i] = "≤ " + ftoa4(f.Edges[0])
			case i == len(f.Edges)+1:
				labels[i] = "> " + ftoa4(f.Edges[len(f.Edges)-1])
			default:
				labels[i] = ftoa4(f.Edges[i-2]) + "–" + ftoa4(f.Edges[i-1])
			}
		}
	}
	var refN, curN int64
	for i, c := range cur {
		curN += c
		if i < len(f.RefCounts) {
			refN += f.RefCounts[i]
		}
	}
	share := func(c, n int64) float64 {
		if n == 0 {
			return 0
		}
		return float64(c) / float64(n)
	}
	g := &web.GroupedBars{Label: "Distribution of " + name + ": reference and current window", Series: []string{"reference", "current window"}, Percent: true}
	for i, c := range cur {
		var r int64
		if i < len(f.RefCounts) {
			r = f.RefCounts[i]
		}
		if i == 0 && r == 0 && c == 0 {
			continue
		}
		g.Groups = append(g.Groups, web.Group{Label: labels[i], Values: []float64{share(r, refN), share(c, curN)}})
	}
	return g
}
