package cluster

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"driftd/drift"
)

// merged is one OnMerged call.
type merged struct {
	model, version string
	w              drift.MergedWindow
	instances      []string
}

// collector gathers OnMerged calls.
type collector struct {
	mu  sync.Mutex
	out []merged
}

func (c *collector) onMerged(model, version string, w drift.MergedWindow, instances []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, merged{model, version, w, instances})
}

func (c *collector) take() []merged {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.out
	c.out = nil
	return out
}

// tumbling returns counts of the minute starting at start.
func tumbling(model, version string, start time.Time, c *drift.Counts) drift.WindowCounts {
	return drift.WindowCounts{Model: model, Version: version, Window: start.UTC().Format(time.RFC3339Nano), Start: start, End: start.Add(time.Minute), Counts: c}
}

func slidingCounts(model, version string, taken time.Time, c *drift.Counts) drift.WindowCounts {
	return drift.WindowCounts{Model: model, Version: version, Window: drift.SlidingWindow, End: taken, Counts: c}
}

// step is one call of the merger's core: an Add (wc set) or a Due.
type step struct {
	instance string
	wc       drift.WindowCounts
	at       time.Duration // since countsT0: Add's arrival, Due's now
	// want is what a Due emits: per merged window, its window, instances
	// and merged counts.
	want []wantMerged
}

type wantMerged struct {
	version, window string
	instances       []string
	counts          *drift.Counts
}

func add(instance string, wc drift.WindowCounts, at time.Duration) step {
	return step{instance: instance, wc: wc, at: at}
}

func due(at time.Duration, want ...wantMerged) step { return step{at: at, want: want} }

func TestClusterMerger(t *testing.T) {
	t0 := countsT0
	w0 := t0.Format(time.RFC3339Nano)
	end := time.Minute + 2*time.Second // the first window's end plus the default grace
	a1 := counts(3, num(1, 2), cat([]string{"x"}, 1, 1, 1))
	a2 := counts(4, num(2, 2), cat([]string{"y"}, 2, 1, 1))
	b := counts(5, num(4, 1), cat([]string{"x", "z"}, 1, 1, 2, 1))
	other := counts(7, num(3, 3, 1), cat(nil, 7, 0))
	for _, tc := range []struct {
		name                   string
		live                   func(string) bool
		steps                  []step
		late, unmergeable, bad int
	}{
		{name: "tumbling: merged once, after end plus grace, from every contributor",
			steps: []step{
				add("a", tumbling("m", "1", t0, a1), 30*time.Second),
				add("b", tumbling("m", "1", t0, b), 61*time.Second),
				due(end - time.Nanosecond),
				due(end, wantMerged{"1", w0, []string{"a", "b"}, counts(8, num(5, 3), cat([]string{"x", "z"}, 2, 2, 3, 1))}),
				due(end + time.Second),
			}},
		{name: "tumbling: an instance's second contribution replaces its first",
			steps: []step{
				add("a", tumbling("m", "1", t0, a1), 60*time.Second),
				add("b", tumbling("m", "1", t0, b), 60*time.Second),
				add("a", tumbling("m", "1", t0, a2), 61*time.Second),
				due(end, wantMerged{"1", w0, []string{"a", "b"}, counts(9, num(6, 3), cat([]string{"y", "x", "z"}, 3, 2, 1, 2, 1))}),
			}},
		{name: "tumbling: counts after the merge are late and dropped",
			steps: []step{
				add("a", tumbling("m", "1", t0, a1), 60*time.Second),
				due(end, wantMerged{"1", w0, []string{"a"}, a1}),
				add("b", tumbling("m", "1", t0, b), end+time.Second),
				due(end + 2*time.Second),
			}, late: 1},
		{name: "tumbling: counts of a window long gone are late",
			steps: []step{
				add("a", tumbling("m", "1", t0, a1), time.Minute+2*time.Second+keepPeriods*time.Minute+time.Nanosecond),
				due(10 * time.Minute),
			}, late: 1},
		{name: "tumbling: windows and versions merge apart, in order of end",
			steps: []step{
				add("a", tumbling("m", "1", t0.Add(time.Minute), a1), time.Minute),
				add("a", tumbling("m", "2", t0, a2), time.Minute),
				add("b", tumbling("m", "1", t0, b), time.Minute),
				due(3*time.Minute,
					wantMerged{"1", w0, []string{"b"}, b},
					wantMerged{"2", w0, []string{"a"}, a2},
					wantMerged{"1", t0.Add(time.Minute).Format(time.RFC3339Nano), []string{"a"}, a1}),
			}},
		{name: "tumbling: counts with another bin layout are left out",
			steps: []step{
				add("a", tumbling("m", "1", t0, a1), time.Minute),
				add("b", tumbling("m", "1", t0, b), time.Minute),
				add("c", tumbling("m", "1", t0, other), time.Minute),
				due(end, wantMerged{"1", w0, []string{"a", "b"}, counts(8, num(5, 3), cat([]string{"x", "z"}, 2, 2, 3, 1))}),
			}, unmergeable: 1},
		{name: "tumbling: other bounds for the same window are left out",
			steps: []step{
				add("a", tumbling("m", "1", t0, a1), time.Minute),
				add("b", drift.WindowCounts{Model: "m", Version: "1", Window: w0, Start: t0, End: t0.Add(time.Hour), Counts: b}, time.Minute),
				due(end, wantMerged{"1", w0, []string{"a"}, a1}),
			}, unmergeable: 1},
		{name: "malformed counts are refused",
			steps: []step{
				add("a", tumbling("m", "1", t0, &drift.Counts{Bins: [][]int64{{1}}}), time.Minute),
				add("", tumbling("m", "1", t0, a1), time.Minute),
				due(end),
			}, bad: 2},
		{name: "sliding: merged at once, then at most every SlidingEvery with the last update",
			steps: []step{
				add("a", slidingCounts("m", "1", t0, a1), 0),
				add("b", slidingCounts("m", "1", t0.Add(time.Second), b), 0),
				due(0, wantMerged{"1", drift.SlidingWindow, []string{"a", "b"}, counts(8, num(5, 3), cat([]string{"x", "z"}, 2, 2, 3, 1))}),
				add("a", slidingCounts("m", "1", t0, a2), 100*time.Millisecond),
				due(500 * time.Millisecond),
				due(time.Second, wantMerged{"1", drift.SlidingWindow, []string{"a", "b"}, counts(9, num(6, 3), cat([]string{"y", "x", "z"}, 3, 2, 1, 2, 1))}),
				due(3 * time.Second), // nothing new
			}},
		{name: "sliding: an instance silent for LiveTTL is left out and forgotten",
			steps: []step{
				add("a", slidingCounts("m", "1", t0, a1), 0),
				add("b", slidingCounts("m", "1", t0, b), 25*time.Second),
				due(31*time.Second, wantMerged{"1", drift.SlidingWindow, []string{"b"}, b}),
			}},
		{name: "sliding: Live decides who is merged",
			live: func(inst string) bool { return inst == "a" },
			steps: []step{
				add("a", slidingCounts("m", "1", t0, a1), 0),
				add("b", slidingCounts("m", "1", t0, b), 0),
				due(0, wantMerged{"1", drift.SlidingWindow, []string{"a"}, a1}),
				// a stays merged while Live says so, but nothing new has
				// arrived: no merge; b, dead and silent, is forgotten.
				due(time.Hour),
			}},
		{name: "sliding: an instance's counts of a new version end those of the old one",
			steps: []step{
				add("a", slidingCounts("m", "1", t0, a1), 0),
				add("b", slidingCounts("m", "1", t0, b), 0),
				add("a", slidingCounts("m", "2", t0, a2), 0),
				due(0,
					wantMerged{"1", drift.SlidingWindow, []string{"b"}, b},
					wantMerged{"2", drift.SlidingWindow, []string{"a"}, a2}),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := metrics.NewSet()
			var got collector
			m, err := NewMerger(MergerConfig{Metrics: set, Live: tc.live, OnMerged: got.onMerged})
			if err != nil {
				t.Fatal(err)
			}
			// Keep copies: merging must not change a stored contribution.
			var added []*drift.Counts
			var kept []*drift.Counts
			for i, s := range tc.steps {
				if s.wc.Counts != nil {
					added, kept = append(added, s.wc.Counts), append(kept, cloneCounts(s.wc.Counts))
					m.Add(s.instance, s.wc, t0.Add(s.at))
					continue
				}
				m.Due(t0.Add(s.at))
				out := got.take()
				if len(out) != len(s.want) {
					t.Fatalf("step %d: Due(%s) merged %d windows %+v, want %d", i, s.at, len(out), out, len(s.want))
				}
				for j, w := range s.want {
					o := out[j]
					if o.model != "m" || o.version != w.version || o.w.Window != w.window || !slices.Equal(o.instances, w.instances) ||
						o.w.Processes != len(w.instances) || !o.w.Time.Equal(t0.Add(s.at)) {
						t.Errorf("step %d: merged %s %s window %s of %v (%d processes, time %s), want %s window %s of %v", i, o.model, o.version,
							o.w.Window, o.instances, o.w.Processes, o.w.Time, w.version, w.window, w.instances)
					}
					if !reflect.DeepEqual(o.w.Counts, w.counts) {
						t.Errorf("step %d: merged counts %+v, want %+v", i, o.w.Counts, w.counts)
					}
				}
			}
			for i := range added {
				if !reflect.DeepEqual(added[i], kept[i]) {
					t.Errorf("contribution %d changed by the merges: %+v, was %+v", i, added[i], kept[i])
				}
			}
			for name, want := range map[string]int{`driftd_cluster_drift_counts_late_total`: tc.late,
				`driftd_cluster_drift_counts_unmergeable_total`: tc.unmergeable, `driftd_cluster_bad_records_total`: tc.bad} {
				if got := set.GetOrCreateCounter(name).Get(); got != uint64(want) {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
		})
	}
}

// TestClusterMergerForgets: what the merger holds stays bounded: merged
// tumbling windows are forgotten keepPeriods periods after they close, and
// the sliding counts of dead instances go.
func TestClusterMergerForgets(t *testing.T) {
	var got collector
	m, err := NewMerger(MergerConfig{OnMerged: got.onMerged})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		start := countsT0.Add(time.Duration(i) * time.Minute)
		m.Add("a", tumbling("m", "1", start, counts(1, num(1))), start.Add(time.Minute))
		m.Add("a", slidingCounts("m", "1", start, counts(1, num(1))), start.Add(time.Minute+50*time.Second))
	}
	m.Due(countsT0.Add(11 * time.Minute))
	if n := len(got.take()); n != 11 {
		t.Fatalf("merged %d windows, want 10 tumbling and 1 sliding", n)
	}
	m.step.Lock()
	emitted, sliding := len(m.emitted), len(m.sliding)
	m.step.Unlock()
	if emitted > keepPeriods+2 || sliding != 1 {
		t.Fatalf("remembers %d merged windows and %d sliding windows, want at most %d and 1", emitted, sliding, keepPeriods+2)
	}
	m.Due(countsT0.Add(time.Hour))
	m.step.Lock()
	emitted, sliding = len(m.emitted), len(m.sliding)
	m.step.Unlock()
	if emitted != 0 || sliding != 0 {
		t.Fatalf("an hour on, remembers %d merged windows and %d sliding windows, want none", emitted, sliding)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// waitUntil polls ok until it holds, failing the test after 30s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling state, not synchronising on time
	}
}

// TestClusterCountsPublishedAndMerged: two instances publish their counts
// of one tumbling window through the embedded broker; the merger emits one
// merged window holding their sum and naming both, and counts a third
// instance's counts arriving after the merge as late.
func TestClusterCountsPublishedAndMerged(t *testing.T) {
	ctx := context.Background()
	kafka := startCluster(t, 1)
	clock := newFakeClock(countsT0.Add(30 * time.Second))
	set := metrics.NewSet()
	out := make(chan merged, 4)
	m, err := NewMerger(MergerConfig{Kafka: kafka, Metrics: set, Now: clock.Now, Grace: 100 * time.Millisecond,
		OnMerged: func(model, version string, w drift.MergedWindow, instances []string) {
			out <- merged{model, version, w, instances}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	kl, err := newKafkaLog(kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer kl.close()
	rcs, err := kl.adm.DescribeTopicConfigs(ctx, DriftCountsTopic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(DriftCountsTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfgs := map[string]string{}
	for _, c := range rc.Configs {
		cfgs[c.Key] = c.MaybeValue()
	}
	if cfgs["cleanup.policy"] != "compact,delete" || cfgs["retention.ms"] != "86400000" {
		t.Fatalf("%s created with cleanup.policy %q, retention.ms %q; want compact,delete and a day", DriftCountsTopic, cfgs["cleanup.policy"], cfgs["retention.ms"])
	}
	a := counts(3, num(1, 2), cat([]string{"x"}, 1, 1, 1))
	b := counts(5, num(4, 1), cat([]string{"x", "z"}, 1, 1, 2, 1))
	for inst, c := range map[string]*drift.Counts{"host-a/:8080/pid-1": a, "host-b/:8080/pid-2": b} {
		p, err := NewCountsPublisher(CountsPublisherConfig{Kafka: kafka, Instance: inst, Metrics: set})
		if err != nil {
			t.Fatal(err)
		}
		p.Publish(tumbling("churn", "1.0.0", countsT0, c))
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = p.Close(cctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := set.GetOrCreateCounter(`driftd_cluster_drift_counts_published_total`).Get(); got != 2 {
		t.Fatalf("published = %d, want 2", got)
	}
	waitUntil(t, "the merger holds both contributions", func() bool {
		m.step.Lock()
		defer m.step.Unlock()
		w := m.tumbling["churn/1.0.0/"+countsT0.Format(time.RFC3339Nano)]
		return w != nil && len(w.counts) == 2
	})
	clock.Add(time.Minute) // past the window's end plus grace
	var got merged
	select {
	case got = <-out:
	case <-time.After(30 * time.Second):
		t.Fatal("no merged window 30s after its end plus grace")
	}
	want := counts(8, num(5, 3), cat([]string{"x", "z"}, 2, 2, 3, 1))
	if got.model != "churn" || got.version != "1.0.0" || got.w.Window != countsT0.Format(time.RFC3339Nano) ||
		!got.w.Start.Equal(countsT0) || !got.w.End.Equal(countsT0.Add(time.Minute)) || got.w.Processes != 2 ||
		!slices.Equal(got.instances, []string{"host-a/:8080/pid-1", "host-b/:8080/pid-2"}) || !reflect.DeepEqual(got.w.Counts, want) {
		t.Fatalf("merged %s %s %+v of %v, want the sum %+v of both instances", got.model, got.version, got.w, got.instances, want)
	}

	p, err := NewCountsPublisher(CountsPublisherConfig{Kafka: kafka, Instance: "host-c/:8080/pid-3", Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(tumbling("churn", "1.0.0", countsT0, a))
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	late := set.GetOrCreateCounter(`driftd_cluster_drift_counts_late_total`)
	waitUntil(t, "the late counts are counted", func() bool { return late.Get() == 1 })
	select {
	case o := <-out:
		t.Fatalf("a window merged twice: %+v", o)
	default:
	}
}

// TestClusterMergerReplays: a merger started after the counts were
// published (a restarted primary) reads them back: a recent tumbling
// window past its end is merged once from both instances, one ended long
// ago is dropped without being counted late, and a sliding window taken an
// hour ago (a dead process's) is not merged.
func TestClusterMergerReplays(t *testing.T) {
	ctx := context.Background()
	kafka := startCluster(t, 1)
	clock := newFakeClock(countsT0.Add(2 * time.Minute))
	set := metrics.NewSet()
	for _, inst := range []string{"a/1", "b/1"} {
		p, err := NewCountsPublisher(CountsPublisherConfig{Kafka: kafka, Instance: inst, Metrics: set, Now: func() time.Time { return countsT0.Add(-time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		p.Publish(tumbling("m", "1", countsT0, counts(2, num(1, 1))))
		p.Publish(tumbling("m", "1", countsT0.Add(-time.Hour), counts(2, num(1, 1))))
		p.Publish(slidingCounts("m", "1", countsT0.Add(-time.Hour), counts(2, num(1, 1))))
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out := make(chan merged, 8)
	m, err := NewMerger(MergerConfig{Kafka: kafka, Metrics: set, Now: clock.Now,
		OnMerged: func(model, version string, w drift.MergedWindow, instances []string) {
			out <- merged{model, version, w, instances}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var got merged
	select {
	case got = <-out:
	case <-time.After(30 * time.Second):
		t.Fatal("the replayed window was not merged within 30s")
	}
	if got.w.Window != countsT0.Format(time.RFC3339Nano) || !slices.Equal(got.instances, []string{"a/1", "b/1"}) || got.w.Counts.Records != 4 {
		t.Fatalf("merged %+v of %v, want the window at %s from both instances", got.w, got.instances, countsT0)
	}
	m.Close() // nothing is merged after Close returns
	if len(out) != 0 {
		t.Fatalf("merged more than the recent tumbling window: %+v", <-out)
	}
	if late := set.GetOrCreateCounter(`driftd_cluster_drift_counts_late_total`).Get(); late != 0 {
		t.Fatalf("late = %d: replayed old windows counted as late", late)
	}
}
