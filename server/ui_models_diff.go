package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"driftd/drift"
	"driftd/registry"
	"driftd/server/flows"
	"driftd/train"
	"driftd/web"
)

// diffDistLimit is how many features the version diff draws the reference
// distributions of (largest PSI first); the PSI bars cover all of them.
const diffDistLimit = 24

// diffPrediction names the model's score among the compared distributions.
const diffPrediction = "prediction score"

// uiModelDiff compares two versions of a model (?a= and ?b=, B against A):
// parameters with the differences marked, metrics with their change,
// inputs added, removed or changed, feature importance on one scale, and
// the drift reference distributions of each feature overlaid with the PSI
// between them. Without ?a or ?b it redirects to the newest two versions
// (or the version before ?b), so the page's address names what it shows;
// an unknown version is the 404 page.
func (a *App) uiModelDiff(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	if _, err := a.store.GetModel(ctx, name); err != nil {
		return err
	}
	versions, err := a.store.ListVersions(ctx, name)
	if err != nil {
		return err
	}
	v := web.ModelDiffView{Model: name, OnlyDiff: c.QueryParam("only") == "diff"}
	for i := len(versions) - 1; i >= 0; i-- {
		v.Versions = append(v.Versions, versions[i].Version)
	}
	p := a.page(c, "models", "Model "+name+": compare versions")
	qa, qb := c.QueryParam("a"), c.QueryParam("b")
	if len(versions) < 2 {
		// An address naming a version the model does not have is a 404
		// whatever the number of versions.
		for _, q := range []string{qa, qb} {
			if q != "" && !slices.Contains(v.Versions, q) {
				if _, err := a.store.GetVersion(ctx, name, q); err != nil {
					return fmt.Errorf("version %s: %w", q, err)
				}
			}
		}
		have := "no versions"
		if len(versions) == 1 {
			have = "one version"
		}
		v.Notice = fmt.Sprintf("%s has %s: there is nothing to compare yet. Train another version on the Training page, "+
			"or register one (POST /api/v1/models/%s/versions, driftd import, or an MLflow client), then compare them here.", name, have, name)
		return a.renderPage(c, p, web.ModelDiffBody(v))
	}
	if qa == "" || qb == "" {
		qa, qb = defaultDiffPair(v.Versions, qa, qb)
		return c.Redirect(http.StatusFound, web.DiffURL(name, qa, qb, v.OnlyDiff))
	}
	va, err := a.store.GetVersion(ctx, name, qa)
	if err != nil {
		return fmt.Errorf("version a: %w", err)
	}
	vb, err := a.store.GetVersion(ctx, name, qb)
	if err != nil {
		return fmt.Errorf("version b: %w", err)
	}
	v.A, v.B = diffVersionRow(va), diffVersionRow(vb)
	v.SwapURL = web.DiffURL(name, qb, qa, v.OnlyDiff)
	v.OnlyDiffURL, v.AllURL = web.DiffURL(name, qa, qb, true), web.DiffURL(name, qa, qb, false)
	if qa == qb {
		v.Notice = "A and B are the same version: pick two different ones."
		return a.renderPage(c, p, web.ModelDiffBody(v))
	}
	v.Params, v.ParamsDiffer = diffParams(va, vb)
	v.ParamsTotal = len(v.Params)
	if v.OnlyDiff {
		v.Params = slices.DeleteFunc(v.Params, func(r web.CompareRow) bool { return !r.Differs })
	}
	v.Metrics = diffMetrics(va.Metrics, vb.Metrics)
	v.Features, v.FeaturesChanged = diffFeatures(va.Schema, vb.Schema)
	a.diffImportance(ctx, &v, va, vb)
	a.diffDistributions(ctx, &v, va, vb)
	return a.renderPage(c, p, web.ModelDiffBody(v))
}

// defaultDiffPair fills in the versions the address leaves out: B the
// newest (or the newest other than A), A the version before B. versions
// are newest first and at least two.
func defaultDiffPair(versions []string, a, b string) (string, string) {
	if b == "" {
		b = versions[0]
		if a == b {
			b = versions[1]
		}
	}
	if a == "" {
		i := slices.Index(versions, b)
		switch {
		case i >= 0 && i+1 < len(versions):
			a = versions[i+1]
		case versions[0] != b:
			a = versions[0]
		default:
			a = versions[1]
		}
	}
	return a, b
}

// diffVersionRow is the header of one compared version.
func diffVersionRow(ver registry.Version) web.VersionRow {
	row := web.VersionRow{Version: ver.Version, Algo: ver.Algo, Created: ver.Created, CreatedBy: ver.CreatedBy,
		Status: ver.Status, Environments: ver.Environments, Aliases: ver.Aliases, RunID: ver.RunID,
		Description: ver.Description, ArtifactSize: ver.ArtifactSize, HasProfile: ver.ProfileSize > 0,
		Features: len(ver.Schema), Rows: ver.Fingerprint.Rows, Source: versionSource(ver)}
	row.Objective, _ = ver.Params["objective"].(string)
	row.Metrics = pickMetrics(ver.Metrics, 2)
	return row
}

// diffParams lists the parameters of both versions, the ones that matter
// to a reader first (those of either algorithm, in reading order), then
// the others by name, and counts the rows that differ. The algorithm heads
// the list as a parameter.
func diffParams(a, b registry.Version) ([]web.CompareRow, int) {
	pa, pb := map[string]string{"algo": a.Algo}, map[string]string{"algo": b.Algo}
	for k, x := range a.Params {
		pa[k] = paramString(x)
	}
	for k, x := range b.Params {
		pb[k] = paramString(x)
	}
	ownA, _ := algoParams(a.Algo)
	ownB, _ := algoParams(b.Algo)
	var keys []string
	seen := map[string]bool{}
	for _, k := range append(ownA, ownB...) {
		_, inA := pa[k]
		_, inB := pb[k]
		if (inA || inB) && !seen[k] {
			keys, seen[k] = append(keys, k), true
		}
	}
	var rest []string
	for _, m := range []map[string]string{pa, pb} {
		for k := range m {
			if !seen[k] {
				rest, seen[k] = append(rest, k), true
			}
		}
	}
	sort.Strings(rest)
	keys = append(keys, rest...)
	rows := make([]web.CompareRow, 0, len(keys))
	differ := 0
	for _, k := range keys {
		xa, inA := pa[k]
		xb, inB := pb[k]
		d := inA != inB || xa != xb
		if d {
			differ++
		}
		rows = append(rows, web.CompareRow{Key: k, Values: []string{xa, xb}, Differs: d})
	}
	return rows, differ
}

// metricDirection says which way a metric improves: +1 higher is better
// (auc, accuracy, f1, r2, precision, recall), −1 lower is better (losses
// and errors), 0 unknown.
func metricDirection(key string) int {
	k := strings.ToLower(key)
	for _, s := range []string{"loss", "rmse", "mae", "mse", "error", "logloss", "brier", "ece"} {
		if strings.Contains(k, s) {
			return -1
		}
	}
	for _, s := range []string{"auc", "accuracy", "f1", "r2", "precision", "recall"} {
		if strings.Contains(k, s) {
			return 1
		}
	}
	return 0
}

// diffMetrics lists the metrics of both versions, the key metrics first
// (as the version table picks them), then the others by name, with B − A.
func diffMetrics(a, b map[string]float64) []web.DiffMetricRow {
	rank := func(k string) int {
		for i, m := range keyMetrics {
			for _, name := range []string{"valid_" + m, m, "test_" + m, flows.MetricsOnReference + "_" + m} {
				if k == name {
					return i
				}
			}
		}
		return len(keyMetrics)
	}
	var keys []string
	for _, m := range []map[string]float64{a, b} {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank(keys[i]), rank(keys[j])
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	format := func(m map[string]float64, k string) (float64, string, bool) {
		x, ok := m[k]
		if !ok {
			return 0, "", false
		}
		return x, strconv.FormatFloat(x, 'g', 6, 64), true
	}
	rows := make([]web.DiffMetricRow, 0, len(keys))
	for _, k := range keys {
		xa, sa, okA := format(a, k)
		xb, sb, okB := format(b, k)
		row := web.DiffMetricRow{Key: k, A: sa, B: sb}
		if okA && okB && !math.IsNaN(xa) && !math.IsNaN(xb) {
			d := xb - xa
			row.Delta = strconv.FormatFloat(d, 'g', 4, 64)
			if d > 0 {
				row.Delta = "+" + row.Delta
			}
			if dir := metricDirection(k); dir != 0 && d != 0 {
				row.Class = "worse"
				if (d > 0) == (dir > 0) {
					row.Class = "better"
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// featureType describes an input: numeric, or categorical with its levels.
func featureType(f registry.Feature) string {
	if f.Type == registry.FeatureCategorical {
		return fmt.Sprintf("%s (%d levels)", f.Type, len(f.Levels))
	}
	return f.Type
}

// diffFeatures lists the inputs of both versions, A's in model order then
// those only B has, with what changed; it counts the changed ones.
func diffFeatures(a, b []registry.Feature) ([]web.DiffFeatureRow, int) {
	inB := make(map[string]registry.Feature, len(b))
	for _, f := range b {
		inB[f.Name] = f
	}
	var rows []web.DiffFeatureRow
	changed := 0
	seen := map[string]bool{}
	for _, fa := range a {
		seen[fa.Name] = true
		row := web.DiffFeatureRow{Name: fa.Name, TypeA: featureType(fa)}
		fb, ok := inB[fa.Name]
		switch {
		case !ok:
			row.Change = "removed"
		case fa.Type != fb.Type:
			row.TypeB, row.Change = featureType(fb), "type changed"
		default:
			row.TypeB = featureType(fb)
			if added, removed := levelChanges(fa.Levels, fb.Levels); len(added)+len(removed) > 0 {
				row.Change = "levels changed"
				var parts []string
				if len(added) > 0 {
					parts = append(parts, "new: "+strings.Join(added, ", "))
				}
				if len(removed) > 0 {
					parts = append(parts, "gone: "+strings.Join(removed, ", "))
				}
				row.Detail = strings.Join(parts, "; ")
			}
		}
		rows = append(rows, row)
	}
	for _, fb := range b {
		if !seen[fb.Name] {
			rows = append(rows, web.DiffFeatureRow{Name: fb.Name, TypeB: featureType(fb), Change: "added"})
		}
	}
	for _, r := range rows {
		if r.Change != "" {
			changed++
		}
	}
	return rows, changed
}

// levelChanges returns the levels only b has and those only a has.
func levelChanges(a, b []string) (added, removed []string) {
	for _, l := range b {
		if !slices.Contains(a, l) {
			added = append(added, l)
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			removed = append(removed, l)
		}
	}
	return added, removed
}

// diffImportance draws both versions' feature importance on one scale and
// in one order (B's, largest first, then features only A uses).
func (a *App) diffImportance(ctx context.Context, v *web.ModelDiffView, va, vb registry.Version) {
	imp := func(ver registry.Version) (map[string]float64, string, error) {
		art, err := a.store.Artifact(ctx, ver.Name, ver.Version)
		if err != nil {
			return nil, "", fmt.Errorf("model file of %s: %w", ver.Version, err)
		}
		m, err := train.Decode(art)
		if err != nil {
			return nil, "", fmt.Errorf("model file of %s: %w", ver.Version, err)
		}
		all := flows.Importance(m)
		for _, kind := range []string{"gain", "abs_coef"} {
			if len(all[kind]) > 0 {
				return all[kind], kind, nil
			}
		}
		return nil, "", nil
	}
	ia, ka, errA := imp(va)
	ib, kb, errB := imp(vb)
	switch {
	case errA != nil || errB != nil:
		v.ImportanceNote = "Feature importance could not be read: " + joinErrors(errA, errB) + "."
		return
	case ia == nil && ib == nil:
		v.ImportanceNote = "Neither version records feature importance."
		return
	case ia == nil || ib == nil || ka != kb:
		// Split gain and coefficients are not on one scale: each on its own.
		v.ImportanceNote = "The two versions measure importance differently (" + importanceLabel(ka) + " and " + importanceLabel(kb) + "): each bar chart has its own scale."
	}
	kind := kb
	if kind == "" {
		kind = ka
	}
	v.ImportanceKind = importanceLabel(kind)
	order := sortedKeys(ib)
	sort.SliceStable(order, func(i, j int) bool { return ib[order[i]] > ib[order[j]] })
	var onlyA []string
	for _, f := range sortedKeys(ia) {
		if _, ok := ib[f]; !ok {
			onlyA = append(onlyA, f)
		}
	}
	sort.SliceStable(onlyA, func(i, j int) bool { return ia[onlyA[i]] > ia[onlyA[j]] })
	order = append(order, onlyA...)
	order = order[:min(len(order), importanceBars)]
	shared := 0.0
	if v.ImportanceNote == "" {
		for _, f := range order {
			shared = math.Max(shared, math.Max(ia[f], ib[f]))
		}
	}
	chart := func(ver string, m map[string]float64, kind string) *web.HBarChart {
		if m == nil {
			return nil
		}
		ch := &web.HBarChart{Label: ver + " feature importance: " + importanceLabel(kind), Max: shared}
		for _, f := range order {
			x, ok := m[f]
			text := ftoa4(x)
			if !ok {
				text = "not used"
			}
			ch.Bars = append(ch.Bars, web.HBar{Label: f, Value: x, Text: text})
		}
		return ch
	}
	v.ImportanceA, v.ImportanceB = chart(va.Version, ia, ka), chart(vb.Version, ib, kb)
}

// importanceLabel says what an importance kind measures.
func importanceLabel(kind string) string {
	switch kind {
	case "gain":
		return "total split gain"
	case "abs_coef":
		return "mean |standardised coefficient|"
	}
	return "none"
}

// joinErrors joins the messages of the non-nil errors.
func joinErrors(errs ...error) string {
	var out []string
	for _, err := range errs {
		if err != nil {
			out = append(out, err.Error())
		}
	}
	return strings.Join(out, "; ")
}

// diffDistributions compares the versions' drift reference profiles: per
// feature both have (and the prediction score), B's reference put on A's
// bins, overlaid, with the PSI of B against A, largest first.
func (a *App) diffDistributions(ctx context.Context, v *web.ModelDiffView, va, vb registry.Version) {
	prof := func(ver registry.Version) (*drift.Profile, error) {
		if ver.ProfileSize == 0 {
			return nil, nil
		}
		raw, err := a.store.Profile(ctx, ver.Name, ver.Version)
		if err != nil {
			return nil, fmt.Errorf("profile of %s: %w", ver.Version, err)
		}
		p, err := drift.DecodeProfile(raw)
		if err != nil {
			return nil, fmt.Errorf("profile of %s: %w", ver.Version, err)
		}
		return p, nil
	}
	pa, errA := prof(va)
	pb, errB := prof(vb)
	switch {
	case errA != nil || errB != nil:
		v.DistNote = "The reference profiles could not be read: " + joinErrors(errA, errB) + "."
		return
	case pa == nil && pb == nil:
		v.DistNote = "Neither version has a drift reference profile."
		return
	case pa == nil:
		v.DistNote = va.Version + " has no drift reference profile to compare with."
		return
	case pb == nil:
		v.DistNote = vb.Version + " has no drift reference profile to compare with."
		return
	}
	dists, skipped := compareProfiles(pa, pb, va.Version, vb.Version)
	if len(dists) == 0 {
		v.DistNote = "The two reference profiles share no feature."
		return
	}
	if len(skipped) > 0 {
		v.DistNote = "Not compared (numeric in one, categorical in the other): " + strings.Join(skipped, ", ") + "."
	}
	bars := &web.HBarChart{Label: "PSI of " + vb.Version + "'s reference against " + va.Version + "'s, largest first",
		Thresholds: []web.Threshold{{Value: 0.1, Label: "moderate (0.1)", Class: "warn"}, {Value: 0.25, Label: "major (0.25)", Class: "bad"}}}
	for i := range dists {
		d := &dists[i]
		d.Anchor = "dist-" + strconv.Itoa(i+1)
		href := ""
		if i < diffDistLimit {
			href = "#" + d.Anchor
		}
		bars.Bars = append(bars.Bars, web.HBar{Label: d.Name, Value: d.PSI, Class: psiClass(d.Level),
			Text: ftoa4(d.PSI) + " " + d.Level, Href: href})
	}
	v.PSIBars = bars
	if len(dists) > diffDistLimit {
		v.DistMore = len(dists) - diffDistLimit
		dists = dists[:diffDistLimit]
	}
	v.Dists = dists
}

// compareProfiles puts B's reference of every feature both profiles have
// (and of the prediction) on A's bins and computes the PSI, largest first;
// it returns the names of features whose kind differs, which it skips.
func compareProfiles(pa, pb *drift.Profile, la, lb string) ([]web.DiffDist, []string) {
	byName := make(map[string]*drift.Feature, len(pb.Features))
	for i := range pb.Features {
		byName[pb.Features[i].Name] = &pb.Features[i]
	}
	type pair struct {
		name   string
		fa, fb *drift.Feature
	}
	var pairs []pair
	var skipped []string
	for i := range pa.Features {
		fa := &pa.Features[i]
		fb, ok := byName[fa.Name]
		if !ok {
			continue
		}
		if fa.Categorical != fb.Categorical {
			skipped = append(skipped, fa.Name)
			continue
		}
		pairs = append(pairs, pair{fa.Name, fa, fb})
	}
	if pa.Prediction != nil && pb.Prediction != nil && pa.Prediction.Categorical == pb.Prediction.Categorical {
		pairs = append(pairs, pair{diffPrediction, pa.Prediction, pb.Prediction})
	}
	out := make([]web.DiffDist, 0, len(pairs))
	for _, p := range pairs {
		labels, ca, cb := commonBins(p.fa, p.fb)
		psi := drift.PSI(ca, cb)
		g := &web.GroupedBars{Label: "Reference distribution of " + p.name + ": " + la + " and " + lb,
			Series: []string{la + " reference", lb + " reference"}, Percent: true, Overlay: true}
		na, nb := sum64(ca), sum64(cb)
		for i := range labels {
			if i == 0 && ca[0] == 0 && cb[0] == 0 {
				continue // no missing values on either side
			}
			g.Groups = append(g.Groups, web.Group{Label: labels[i], Values: []float64{share64(ca[i], na), share64(cb[i], nb)}})
		}
		out = append(out, web.DiffDist{Name: p.name, PSI: psi, Level: drift.Level(psi), Chart: g})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].PSI > out[j].PSI })
	return out, skipped
}

// commonBins returns the bin labels of A's feature and the reference
// counts of A and of B in them. Bin 0 is "missing". A numeric B is binned
// from its quantile summary (each summary value stands for an equal share
// of B's non-missing rows; exact when B kept every value). A categorical B
// counts its categories in A's; categories only B tracks get bins of their
// own after A's "other", and B's "other" joins A's.
func commonBins(fa, fb *drift.Feature) ([]string, []int64, []int64) {
	labels := []string{"missing"}
	ca := slices.Clone(fa.RefCounts)
	if fa.Categorical {
		labels = append(labels, fa.Categories...)
		labels = append(labels, "other")
		cb := make([]int64, len(ca))
		if len(fb.RefCounts) > 0 {
			cb[0] = fb.RefCounts[0]
		}
		other := len(fa.Categories) + 1
		for j, cat := range fb.Categories {
			n := fb.RefCounts[j+1]
			if i := slices.Index(fa.Categories, cat); i >= 0 {
				cb[i+1] += n
				continue
			}
			labels = append(labels, cat+" (new)")
			ca = append(ca, 0)
			cb = append(cb, n)
		}
		if o := len(fb.Categories) + 1; o < len(fb.RefCounts) {
			cb[other] += fb.RefCounts[o]
		}
		return labels, ca, cb
	}
	edges := fa.Edges
	for i := 1; i <= len(edges)+1; i++ {
		switch {
		case len(edges) == 0:
			labels = append(labels, "all")
		case i == 1:
			labels = append(labels, "≤ "+ftoa4(edges[0]))
		case i == len(edges)+1:
			labels = append(labels, "> "+ftoa4(edges[len(edges)-1]))
		default:
			labels = append(labels, ftoa4(edges[i-2])+"–"+ftoa4(edges[i-1]))
		}
	}
	cb := make([]int64, len(edges)+2)
	cb[0] = fb.Missing
	if n := len(fb.Summary); n > 0 {
		k := make([]int64, len(cb))
		prev := 0
		for e, edge := range edges {
			// The first summary value above the edge: bins are right-closed.
			idx, _ := slices.BinarySearchFunc(fb.Summary[prev:], edge, func(x, t float64) int {
				if x <= t {
					return -1
				}
				return 1
			})
			k[1+e] = int64(idx)
			prev += idx
		}
		k[1+len(edges)] = int64(n - prev)
		scale := float64(fb.NonMissing()) / float64(n)
		for i := 1; i < len(k); i++ {
			cb[i] = int64(math.Round(float64(k[i]) * scale))
		}
	}
	return labels, ca, cb
}

func sum64(c []int64) int64 {
	var t int64
	for _, x := range c {
		t += x
	}
	return t
}

func share64(c, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(c) / float64(n)
}
