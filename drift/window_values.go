package drift

// sortedSet keeps, for each value feature of a window (features tested with
// ks or wasserstein), the sorted non-missing values the window holds. A
// check brings it up to date in O(window) by merging: the values added
// since the previous check are read from the ring and sorted, the values
// evicted meanwhile (saved by evict) are sorted and removed. When more
// records passed than the buffers hold, it rebuilds from the ring.
//
// The update is split in two so that little of it runs under the monitor's
// lock: takeSync copies the changes into a syncJob (window side: evicted,
// since, stale), and apply sorts and merges them into sorted (check side:
// sorted, spare, touched only by the check being evaluated).
type sortedSet struct {
	sorted  [][]float64 // per value feature, at the last applied sync
	spare   [][]float64 // double buffers for the merge
	evicted [][]float64 // per value feature, since the last sync (capacity = window)
	since   int         // records added since the last sync
	stale   bool        // evicted overflowed or the window was reset: rebuild at the next sync

	evictedRecs int // records evicted since the last sync

	// Check side: the sorted added values of the syncs whose records are
	// still in the window, oldest first, after `uncovered` older records.
	// When a sync evicts exactly the oldest chunk's records, its sorted
	// values are the evicted ones and need no sort (a check interval that
	// divides the window size keeps them aligned).
	chunks    []*valueChunk
	freeChunk []*valueChunk
	uncovered int
}

// valueChunk is the sorted non-missing values, per value feature, of the
// records one sync added.
type valueChunk struct {
	records int
	vals    [][]float64
}

// syncJob is one sync's changes, taken from the window and applied to its
// sortedSet later.
type syncJob struct {
	rebuild     bool
	records     int         // records added (rebuild: held)
	held        int         // records the window holds after the changes
	evictedRecs int         // records evicted
	vals        []float64   // rebuild: the window's values, len(valFeat) per record
	added       [][]float64 // per value feature: the non-missing values added
	evicted     [][]float64 // per value feature: the non-missing values evicted
}

func (s *sortedSet) init(k, capacity int) {
	s.sorted = make([][]float64, k)
	s.spare = make([][]float64, k)
	s.evicted = make([][]float64, k)
	for j := range s.evicted {
		s.evicted[j] = make([]float64, 0, capacity)
	}
	s.stale = true
}

// evict records that value v of value feature j left the window.
func (s *sortedSet) evict(j int, v float64) {
	if len(s.evicted[j]) == cap(s.evicted[j]) {
		s.stale = true
		return
	}
	s.evicted[j] = append(s.evicted[j], v)
}

// reset forgets the changes; the next sync rebuilds (the sorted values
// belong to the check side and are replaced then).
func (s *sortedSet) reset() {
	for j := range s.evicted {
		s.evicted[j] = s.evicted[j][:0]
	}
	s.since, s.evictedRecs = 0, 0
	s.stale = true
}

// syncSorted brings the sorted values of every value feature up to date
// with the window's contents (takeSync and apply in one go).
func (w *Window) syncSorted(rs *radixScratch) {
	var job syncJob
	w.takeSync(&job)
	w.sv.apply(&job, len(w.valFeat), rs)
}

// takeSync moves the window's changes since the last sync into job, which
// reuses its buffers. It copies O(changes) values, or the window's values
// when the sync must rebuild.
func (w *Window) takeSync(job *syncJob) {
	s := &w.sv
	k := len(w.valFeat)
	if k == 0 {
		return
	}
	for len(job.added) < k {
		job.added = append(job.added, nil)
		job.evicted = append(job.evicted, nil)
	}
	held := len(w.vals) / k // records whose values the window holds
	job.records, job.evictedRecs, job.held = s.since, s.evictedRecs, held
	s.evictedRecs = 0
	if s.stale || s.since > held || (w.size > 0 && s.since > w.size) {
		job.rebuild, job.records = true, held
		job.vals = append(job.vals[:0], w.vals...)
		for j := 0; j < k; j++ {
			s.evicted[j] = s.evicted[j][:0]
		}
		s.since, s.stale = 0, false
		return
	}
	job.rebuild = false
	// The records added since the last sync are the last s.since ones.
	first := held - s.since // unbounded mode: appended in order
	if w.size > 0 {
		first = w.pos - s.since
		if first < 0 {
			first += held
		}
	}
	for j := 0; j < k; j++ {
		added := job.added[j][:0]
		for i := 0; i < s.since; i++ {
			r := first + i
			if r >= held {
				r -= held
			}
			if v := w.vals[r*k+j]; v == v {
				added = append(added, v)
			}
		}
		job.added[j] = added
		job.evicted[j] = append(job.evicted[j][:0], s.evicted[j]...)
		s.evicted[j] = s.evicted[j][:0]
	}
	s.since = 0
}

// apply brings the sorted values up to date with job's changes (k value
// features); it sorts job's buffers in place.
func (s *sortedSet) apply(job *syncJob, k int, rs *radixScratch) {
	if k == 0 {
		return
	}
	if job.rebuild {
		for j := 0; j < k; j++ {
			s.sorted[j] = s.sorted[j][:0]
			for r := j; r < len(job.vals); r += k {
				if v := job.vals[r]; v == v {
					s.sorted[j] = append(s.sorted[j], v)
				}
			}
			rs.sort(s.sorted[j])
		}
		s.dropChunks()
		s.uncovered = job.records
		return
	}
	var reuse *valueChunk // the oldest chunk, when it is exactly the evicted records
	switch {
	case job.evictedRecs == 0:
	case s.uncovered >= job.evictedRecs:
		s.uncovered -= job.evictedRecs
	case s.uncovered == 0 && len(s.chunks) > 0 && s.chunks[0].records == job.evictedRecs:
		reuse = s.chunks[0]
		s.chunks = s.chunks[1:]
	default: // chunks out of step with the evictions: start over
		s.dropChunks()
		s.uncovered = job.held - job.records
	}
	c := s.newChunk(k)
	c.records = job.records
	for j := 0; j < k; j++ {
		rs.sort(job.added[j])
		removed := job.evicted[j]
		if reuse != nil {
			removed = reuse.vals[j]
		} else {
			rs.sort(removed)
		}
		c.vals[j] = append(c.vals[j][:0], job.added[j]...)
		s.spare[j] = mergeReplace(s.spare[j][:0], s.sorted[j], removed, job.added[j])
		s.sorted[j], s.spare[j] = s.spare[j], s.sorted[j]
	}
	if reuse != nil {
		s.freeChunk = append(s.freeChunk, reuse)
	}
	if c.records > 0 {
		s.chunks = append(s.chunks, c)
	} else {
		s.freeChunk = append(s.freeChunk, c)
	}
}

func (s *sortedSet) newChunk(k int) *valueChunk {
	if n := len(s.freeChunk); n > 0 {
		c := s.freeChunk[n-1]
		s.freeChunk = s.freeChunk[:n-1]
		return c
	}
	return &valueChunk{vals: make([][]float64, k)}
}

func (s *sortedSet) dropChunks() {
	s.freeChunk = append(s.freeChunk, s.chunks...)
	s.chunks = s.chunks[:0]
}

// mergeReplace appends to dst the sorted multiset old − removed + added
// (all sorted; removed ⊆ old). The changes are few next to old, so it walks
// them in order and copies the runs of old between them in bulk: the scans
// for the run ends are predictable branches, unlike a three-way merge's.
func mergeReplace(dst, old, removed, added []float64) []float64 {
	i, r, a := 0, 0, 0
	for r < len(removed) || a < len(added) {
		if r < len(removed) && (a >= len(added) || removed[r] <= added[a]) {
			x := removed[r]
			j := i
			for j < len(old) && old[j] < x {
				j++
			}
			dst = append(dst, old[i:j]...)
			if j < len(old) && old[j] == x {
				j++ // the removed value
			}
			i = j
			r++
			continue
		}
		x := added[a]
		j := i
		for j < len(old) && old[j] <= x {
			j++
		}
		dst = append(dst, old[i:j]...)
		dst = append(dst, x)
		i = j
		a++
	}
	return append(dst, old[i:]...)
}
