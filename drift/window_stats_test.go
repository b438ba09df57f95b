package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// statsCase is an estimator's setup for TestMergedEstimatesEqualSingle:
// its profile, the options its monitors need beyond the window's, and the
// record feeding monitor m record i.
type statsCase struct {
	name    string
	profile *Profile
	opts    func() MonitorOptions
	feed    func(m *Monitor, i int)
	want    func(s *WindowStats) bool // which parts the statistics carry
	aucTol  float64
}

func statsCases(t *testing.T, n int) []statsCase {
	rng := rand.New(rand.NewPCG(91, 92))
	// DLE: stubLoss on x ~ N(0, 1) and a category that adds 1 when "hi".
	dx, dc := make([]float64, n), make([]string, n)
	for i := range dx {
		dx[i], dc[i] = rng.NormFloat64()*1.3, "lo"
		if rng.IntN(4) == 0 {
			dc[i] = "hi"
		}
	}
	// PCA: correlated features like the profile's, a little shifted.
	pcaCols := correlated(rng, n, 5)
	pcaNum, pcaCat := make([]float64, len(pcaCols)), make([]string, len(pcaCols))
	// CBPE binary: continuous scores skewed to either end (a worst case
	// for the AUC histogram: the identity calibrator leaves them untied).
	scores := make([]float64, n)
	for i := range scores {
		u := rng.Float64()
		scores[i] = u * u
		if rng.IntN(3) == 0 {
			scores[i] = 1 - u*u*u
		}
		if i%97 == 0 {
			scores[i] = math.NaN() // no score: out of the estimate
		}
	}
	// CBPE multiclass: confident vectors, some unsure, some missing.
	proba := make([][]float64, n)
	for i := range proba {
		proba[i] = confident(rng)
		if i%5 == 0 {
			top := 0.4 + 0.2*rng.Float64()
			proba[i] = []float64{(1 - top) / 2, (1 - top) / 2, (1 - top) / 2}
			proba[i][rng.IntN(3)] = top
		}
		if i%89 == 0 {
			proba[i] = nil
		}
	}
	pcaProfile := mustPCAProfile(t, correlated(rand.New(rand.NewPCG(93, 94)), 3000, 5), ProfileOptions{})
	return []statsCase{
		{name: "DLE", profile: dleProfile(t),
			opts: func() MonitorOptions { return MonitorOptions{Loss: &stubLoss{}} },
			feed: func(m *Monitor, i int) { m.Observe([]float64{dx[i]}, []string{"", dc[i]}, dx[i]) },
			want: func(s *WindowStats) bool { return s.Loss != nil && s.PCA == nil && s.Perf == nil }},
		{name: "PCA", profile: pcaProfile,
			opts: func() MonitorOptions { return MonitorOptions{} },
			feed: func(m *Monitor, i int) {
				row(pcaCols, i, pcaNum, pcaCat)
				pcaNum[0] += 0.5
				m.Observe(pcaNum, pcaCat, 0)
			},
			want: func(s *WindowStats) bool { return s.PCA != nil && s.Loss == nil && s.Perf == nil }},
		{name: "CBPE binary", profile: mustCalibratedProfile(t, identity(0.5), false),
			opts: func() MonitorOptions { return MonitorOptions{} },
			feed: func(m *Monitor, i int) { m.Observe([]float64{float64(i % 37)}, []string{""}, scores[i]) },
			want: func(s *WindowStats) bool {
				return s.Perf != nil && s.Perf.Classes == 0 && s.PCA == nil && s.Loss == nil
			},
			aucTol: 0.002},
		{name: "CBPE multiclass", profile: mcProfile(t),
			opts: func() MonitorOptions { return MonitorOptions{} },
			feed: func(m *Monitor, i int) {
				m.ObserveProba([]float64{float64(i % 50)}, nil, slices.Max(append([]float64{0}, proba[i]...)), proba[i])
			},
			want: func(s *WindowStats) bool {
				return s.Perf != nil && s.Perf.Classes == 3 && s.PCA == nil && s.Loss == nil
			},
			aucTol: 0.002},
	}
}

// TestMergedEstimatesEqualSingle feeds two contributor monitors the
// disjoint halves of a window (even and odd records), sliding and
// tumbling, merges their counts and checks them with CheckMerged on one of
// them: DLE's MAE and RMSE, PCA's mean error and CBPE's confusion-based
// figures equal (within 1e-9) those of an ordinary monitor that saw every
// record, the AUC is within the histogram's tolerance, and the bands and
// verdicts are those of the single monitor's window size.
func TestMergedEstimatesEqualSingle(t *testing.T) {
	const n = 1000
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range statsCases(t, n) {
		for _, mode := range []string{"sliding", "tumbling"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				base := tc.opts()
				base.Model, base.WindowSize, base.MinWindow, base.CheckInterval = "m", 2*n, 10, 1<<30
				single, err := NewMonitor(tc.profile, base)
				if err != nil {
					t.Fatal(err)
				}
				defer single.Close()
				clock := newTestClock(t0)
				var got [2]contributions
				var parts [2]*Monitor
				for k := range parts {
					o := tc.opts()
					o.Model, o.WindowSize, o.MinWindow, o.Now, o.Contribute = "m", 2*n, 10, clock.Now, got[k].add
					o.ContributeEvery = -1
					o.CheckInterval = n / 2 // sliding: one contribution at the half's last record
					if mode == "tumbling" {
						o.Tumbling, o.CheckInterval = time.Minute, 1<<30
					}
					if parts[k], err = NewMonitor(tc.profile, o); err != nil {
						t.Fatal(err)
					}
					defer parts[k].Close()
				}
				for i := range n {
					tc.feed(single, i)
					tc.feed(parts[i%2], i)
				}
				want := single.Check()
				for _, m := range parts {
					m.Tick(t0.Add(time.Minute)) // closes a tumbling window; nothing when sliding
					m.Flush()
				}
				var merged *Counts
				for k := range got {
					l := got[k].list()
					if len(l) != 1 {
						t.Fatalf("contributor %d made %d contributions, want 1", k, len(l))
					}
					c := l[0].Counts
					if c.Stats == nil || !tc.want(c.Stats) {
						t.Fatalf("contributor %d's statistics %+v: wrong parts", k, c.Stats)
					}
					if merged == nil {
						merged = c.Clone()
					} else if err := merged.Merge(c); err != nil {
						t.Fatal(err)
					}
				}
				ev, err := parts[0].CheckMerged(MergedWindow{Window: "w", Counts: merged, Processes: 2})
				if err != nil {
					t.Fatal(err)
				}
				if ev.WindowRecords != n {
					t.Fatalf("merged window of %d records, want %d", ev.WindowRecords, n)
				}
				compareEstimates(t, ev, want, tc.aucTol)
			})
		}
	}
}

// compareEstimates checks a merged event's estimates against a single
// monitor's.
func compareEstimates(t *testing.T, got, want Event, aucTol float64) {
	t.Helper()
	const tol = 1e-9
	if (got.EstimatedLoss == nil) != (want.EstimatedLoss == nil) || (got.Multivariate == nil) != (want.Multivariate == nil) ||
		(got.Estimated == nil) != (want.Estimated == nil) {
		t.Fatalf("merged estimates: loss %v, PCA %v, CBPE %v; single: %v, %v, %v", got.EstimatedLoss != nil, got.Multivariate != nil,
			got.Estimated != nil, want.EstimatedLoss != nil, want.Multivariate != nil, want.Estimated != nil)
	}
	if g, w := got.EstimatedLoss, want.EstimatedLoss; w != nil {
		if g.Records != w.Records || !closeTo(g.MAE, w.MAE, tol) || !closeTo(g.RMSE, w.RMSE, tol) || g.Drop != w.Drop ||
			g.Band == nil || *g.Band != *w.Band || g.CalibrationRecords != w.CalibrationRecords {
			t.Errorf("merged DLE %+v (band %+v), single %+v (band %+v)", *g, g.Band, *w, w.Band)
		}
	}
	if g, w := got.Multivariate, want.Multivariate; w != nil {
		if g.Records != w.Records || !closeTo(g.Error, w.Error, tol) || g.Lo != w.Lo || g.Hi != w.Hi || g.Drifted != w.Drifted ||
			math.IsNaN(g.Lo) || g.Components != w.Components {
			t.Errorf("merged PCA %+v, single %+v", *g, *w)
		}
	}
	if g, w := got.Estimated, want.Estimated; w != nil {
		figs := [][2]float64{{g.Accuracy, w.Accuracy}, {g.Precision, w.Precision}, {g.Recall, w.Recall}, {g.F1, w.F1},
			{g.TP, w.TP}, {g.FP, w.FP}, {g.FN, w.FN}, {g.TN, w.TN}}
		for i := range g.Confusion {
			figs = append(figs, [2]float64{g.Confusion[i], w.Confusion[i]})
		}
		for i, f := range figs {
			if !closeTo(f[0], f[1], tol) {
				t.Errorf("merged CBPE figure %d is %v, single %v", i, f[0], f[1])
			}
		}
		if g.Records != w.Records || len(g.Confusion) != len(w.Confusion) || !slices.Equal(g.Classes, w.Classes) ||
			g.Band == nil || *g.Band != *w.Band || g.Drop != w.Drop || math.IsNaN(g.AUC) || math.Abs(g.AUC-w.AUC) > aucTol {
			t.Errorf("merged CBPE %+v (band %+v), single %+v (band %+v)", *g, g.Band, *w, w.Band)
		}
		t.Logf("AUC merged %.6f, single %.6f (difference %.2g)", g.AUC, w.AUC, g.AUC-w.AUC)
	}
}

// TestHistAUCError compares the AUC from the histogram of calibrated
// probabilities with expectedAUC over the sorted records: equal when the
// probabilities are tied in steps (an isotonic calibrator's), and within
// 0.001 for continuous ones however they are spread.
func TestHistAUCError(t *testing.T) {
	rng := rand.New(rand.NewPCG(95, 96))
	draws := map[string]func() float64{
		"uniform":        rng.Float64,
		"skewed low":     func() float64 { u := rng.Float64(); return u * u * u },
		"two humps":      func() float64 { return math.Min(1, math.Abs(0.15*rng.NormFloat64()+float64(rng.IntN(2))*0.8)) },
		"narrow":         func() float64 { return 0.5 + 0.01*rng.Float64() },
		"isotonic steps": func() float64 { return float64(rng.IntN(40)) / 39 },
	}
	for name, draw := range draws {
		for _, n := range []int{50, 1000, 20000} {
			probs := make([]float64, n)
			count, sum := make([]int64, BinaryAUCBins), make([]float64, BinaryAUCBins)
			for i := range probs {
				probs[i] = draw()
				b := histBin(probs[i], BinaryAUCBins)
				count[b]++
				sum[b] += probs[i]
			}
			got, want := histAUC(count, sum), expectedAUC(probs)
			tol := 0.001
			if name == "isotonic steps" {
				tol = 1e-12
			}
			if math.IsNaN(got) || math.Abs(got-want) > tol {
				t.Errorf("%s, %d records: histogram AUC %v, exact %v (difference %.2g, want ≤ %g)", name, n, got, want, got-want, tol)
			}
		}
	}
	if a := histAUC([]int64{0, 3}, []float64{0, 3}); !math.IsNaN(a) {
		t.Errorf("AUC without expected negatives = %v, want NaN", a)
	}
}

// TestMergeStatsShapes: statistics add part by part; a part one side
// lacks is dropped from the sum (no partial estimate); parts of another
// shape are refused and leave the counts as they were.
func TestMergeStatsShapes(t *testing.T) {
	perf := func(classes, bins int) *PerfStats {
		h := max(1, classes)
		s := &PerfStats{Records: 2, Classes: classes, Bins: bins, Count: make([]int64, h*bins), Sum: make([]float64, h*bins)}
		if classes == 0 {
			s.Confusion = []float64{0.5, 0.5, 0.25, 0.75}
		} else {
			s.Confusion, s.Predicted = make([]float64, classes*classes), make([]int64, classes)
		}
		s.Count[0], s.Sum[0] = 2, 0.001
		return s
	}
	counts := func(s *WindowStats) *Counts {
		return &Counts{Records: 2, Bins: [][]int64{{0, 2}}, Unseen: [][]string{nil}, Stats: s}
	}
	full := &WindowStats{Loss: &LossStats{Records: 2, Abs: 1, Sq: 2}, PCA: &PCAStats{Records: 2, Error: 3}, Perf: perf(0, 8)}
	for _, tc := range []struct {
		name   string
		a, b   *WindowStats
		want   *WindowStats
		errHas string
	}{
		{name: "all parts add", a: full, b: full, want: &WindowStats{Loss: &LossStats{Records: 4, Abs: 2, Sq: 4},
			PCA: &PCAStats{Records: 4, Error: 6}, Perf: func() *PerfStats {
				p := perf(0, 8)
				p.Records, p.Count[0], p.Sum[0] = 4, 4, 0.002
				p.Confusion = []float64{1, 1, 0.5, 1.5}
				return p
			}()}},
		{name: "one side without statistics", a: full, b: nil, want: nil},
		{name: "a part one side lacks", a: full, b: &WindowStats{PCA: &PCAStats{Records: 1, Error: 1}},
			want: &WindowStats{PCA: &PCAStats{Records: 3, Error: 4}}},
		{name: "no common part", a: &WindowStats{Loss: full.Loss}, b: &WindowStats{PCA: full.PCA}, want: nil},
		{name: "other bins", a: full, b: &WindowStats{Perf: perf(0, 16)}, errHas: "bins"},
		{name: "binary and multiclass", a: full, b: &WindowStats{Perf: perf(3, 8)}, errHas: "classes"},
		{name: "other classes", a: &WindowStats{Perf: perf(3, 8)}, b: &WindowStats{Perf: perf(4, 8)}, errHas: "classes"},
		{name: "short histogram", a: full, b: &WindowStats{Perf: func() *PerfStats { p := perf(0, 8); p.Sum = p.Sum[:7]; return p }()},
			errHas: "histogram"},
		{name: "short confusion", a: &WindowStats{Perf: perf(3, 8)},
			b: &WindowStats{Perf: func() *PerfStats { p := perf(3, 8); p.Confusion = p.Confusion[:8]; return p }()}, errHas: "confusion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := counts(tc.a.Clone())
			err := c.Merge(counts(tc.b.Clone()))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("merge: %v, want an error about %s", err, tc.errHas)
				}
				if c.Records != 2 || c.Bins[0][1] != 2 || !statsEqual(c.Stats, tc.a) {
					t.Fatalf("a refused merge changed the counts: %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Records != 4 || !statsEqual(c.Stats, tc.want) {
				t.Fatalf("merged %+v (stats %+v), want stats %+v", c, c.Stats, tc.want)
			}
		})
	}
}

// statsEqual compares window statistics, sums within 1e-15.
func statsEqual(a, b *WindowStats) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	eq := func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(p, q float64) bool { return math.Abs(p-q) <= 1e-15 })
	}
	switch {
	case (a.Loss == nil) != (b.Loss == nil), (a.PCA == nil) != (b.PCA == nil), (a.Perf == nil) != (b.Perf == nil):
		return false
	case a.Loss != nil && *a.Loss != *b.Loss, a.PCA != nil && *a.PCA != *b.PCA:
		return false
	case a.Perf == nil:
		return true
	}
	x, y := a.Perf, b.Perf
	return x.Records == y.Records && x.Classes == y.Classes && x.Bins == y.Bins && eq(x.Confusion, y.Confusion) &&
		slices.Equal(x.Predicted, y.Predicted) && slices.Equal(x.Count, y.Count) && eq(x.Sum, y.Sum)
}

// TestContributorStatsParts: a contributor sends no statistics when it
// estimates nothing (no calibrator, PCA or loss models) and only the parts
// it estimates otherwise; CheckMerged leaves an estimate nil when its part
// is missing and refuses statistics of the wrong shape or with a sum that
// is not finite, publishing nothing.
func TestContributorStatsParts(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Profile
		opts MonitorOptions
		want func(*WindowStats) bool
	}{
		{"nothing estimated", dleProfile(t), MonitorOptions{}, func(s *WindowStats) bool { return s == nil }},
		{"loss models", dleProfile(t), MonitorOptions{Loss: &stubLoss{}}, func(s *WindowStats) bool {
			return s != nil && s.Loss != nil && s.Loss.Records == 30 && s.PCA == nil && s.Perf == nil
		}},
		{"calibrator", mustCalibratedProfile(t, identity(0.5), false), MonitorOptions{}, func(s *WindowStats) bool {
			return s != nil && s.Perf != nil && s.Perf.Records == 30 && s.Perf.Bins == BinaryAUCBins && s.Loss == nil && s.PCA == nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got contributions
			o := tc.opts
			o.WindowSize, o.CheckInterval, o.Contribute, o.ContributeEvery = 100, 30, got.add, -1
			m, err := NewMonitor(tc.p, o)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for i := range 30 {
				m.Observe([]float64{float64(i%7) / 7}, []string{"", "lo"}, float64(i%7)/7)
			}
			m.Flush()
			l := got.list()
			if len(l) != 1 || !tc.want(l[0].Counts.Stats) {
				t.Fatalf("contributions %+v: wrong statistics", l)
			}
			ev, err := m.CheckMerged(MergedWindow{Window: SlidingWindow, Counts: l[0].Counts, Processes: 1})
			if err != nil {
				t.Fatal(err)
			}
			s := l[0].Counts.Stats
			if (ev.EstimatedLoss != nil) != (s != nil && s.Loss != nil) || (ev.Estimated != nil) != (s != nil && s.Perf != nil) || ev.Multivariate != nil {
				t.Fatalf("merged event: loss %v, CBPE %v, PCA %v for statistics %+v", ev.EstimatedLoss, ev.Estimated, ev.Multivariate, s)
			}
			if s == nil {
				return
			}
			published := 0
			cancel := m.Subscribe(func(Event) { published++ })
			defer cancel()
			for _, bad := range []func(*WindowStats){
				func(s *WindowStats) {
					if s.Loss != nil {
						s.Loss.Abs = math.Inf(1)
					} else {
						s.Perf.Sum[3] = math.NaN()
					}
				},
				func(s *WindowStats) {
					if s.Loss != nil {
						s.Loss.Records = -1
					} else {
						s.Perf.Count = s.Perf.Count[:5]
					}
				},
			} {
				c := l[0].Counts.Clone()
				bad(c.Stats)
				if _, err := m.CheckMerged(MergedWindow{Window: SlidingWindow, Counts: c, Processes: 1}); err == nil {
					t.Errorf("bad statistics %+v checked without error", c.Stats)
				}
			}
			if published != 0 {
				t.Errorf("%d events published for bad statistics", published)
			}
		})
	}
}
