package drift

// sortedSet keeps, for each value feature of a window (features tested with
// ks or wasserstein), the sorted non-missing values the window holds. A
// check brings it up to date in O(window) by merging: the values added
// since the previous check are read from the ring and sorted, the values
// evicted meanwhile (saved by evict) are sorted and removed. When more
// records passed than the buffers hold, it rebuilds from the ring.
type sortedSet struct {
	sorted  [][]float64 // per value feature, at the last sync
	spare   [][]float64 // double buffers for the merge
	evicted [][]float64 // per value feature, since the last sync (capacity = window)
	since   int         // records added since the last sync
	stale   bool        // evicted overflowed: rebuild at the next sync
	added   []float64   // scratch
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

func (s *sortedSet) reset() {
	for j := range s.sorted {
		s.sorted[j] = s.sorted[j][:0]
		s.evicted[j] = s.evicted[j][:0]
	}
	s.since = 0
	s.stale = false
}

// syncSorted brings the sorted values of every value feature up to date
// with the window's contents. It only ever writes the spare buffers and
// swaps them in, so the sorted values of the previous sync stay valid until
// the sync after this one.
func (w *Window) syncSorted(rs *radixScratch) {
	s := &w.sv
	k := len(w.valFeat)
	if k == 0 {
		return
	}
	held := len(w.vals) / k // records whose values the window holds
	if s.stale || s.since > held || (w.size > 0 && s.since > w.size) {
		for j := 0; j < k; j++ {
			// Rebuilt in the spare buffer: the current one may still be read
			// by the check evaluated from the previous sync.
			s.spare[j] = s.spare[j][:0]
			for r := j; r < len(w.vals); r += k {
				if v := w.vals[r]; v == v {
					s.spare[j] = append(s.spare[j], v)
				}
			}
			rs.sort(s.spare[j])
			s.sorted[j], s.spare[j] = s.spare[j], s.sorted[j]
			s.evicted[j] = s.evicted[j][:0]
		}
		s.since, s.stale = 0, false
		return
	}
	// The records added since the last sync are the last s.since ones.
	first := held - s.since // unbounded mode: appended in order
	if w.size > 0 {
		first = w.pos - s.since
		if first < 0 {
			first += held
		}
	}
	for j := 0; j < k; j++ {
		s.added = s.added[:0]
		for i := 0; i < s.since; i++ {
			r := first + i
			if r >= held {
				r -= held
			}
			if v := w.vals[r*k+j]; v == v {
				s.added = append(s.added, v)
			}
		}
		rs.sort(s.added)
		rs.sort(s.evicted[j])
		s.spare[j] = mergeReplace(s.spare[j][:0], s.sorted[j], s.evicted[j], s.added)
		s.sorted[j], s.spare[j] = s.spare[j], s.sorted[j]
		s.evicted[j] = s.evicted[j][:0]
	}
	s.since = 0
}

// mergeReplace appends to dst the sorted multiset old − removed + added
// (all sorted; removed ⊆ old).
func mergeReplace(dst, old, removed, added []float64) []float64 {
	i, a := 0, 0
	for _, v := range old {
		for i < len(removed) && removed[i] < v { // cannot happen when removed ⊆ old
			i++
		}
		if i < len(removed) && removed[i] == v {
			i++
			continue
		}
		for a < len(added) && added[a] < v {
			dst = append(dst, added[a])
			a++
		}
		dst = append(dst, v)
	}
	return append(dst, added[a:]...)
}
