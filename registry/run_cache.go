package registry

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
)

// runCacheMax bounds the decoded runs kept; beyond it, arbitrary entries
// make room.
const runCacheMax = 20_000

// runCache keeps decoded runs by id, each with a hash of the stored bytes
// it was decoded from: a search that meets the same bytes again skips the
// JSON decode (most of a search's time with thousands of runs). A run
// rewritten since has other bytes and is decoded afresh, so the cache
// needs no invalidation and is never stale.
type runCache struct {
	seed maphash.Seed
	mu   sync.Mutex
	m    map[string]cachedRun
}

type cachedRun struct {
	sum uint64
	n   int
	rec runRecord
}

func newRunCache() *runCache {
	return &runCache{seed: maphash.MakeSeed(), m: map[string]cachedRun{}}
}

// decode returns the run stored as v under key k. The result's maps and
// slices are the caller's own (copies of the cached ones).
func (c *runCache) decode(k, v []byte) (runRecord, error) {
	rec, err := c.shared(k, v)
	if err != nil {
		return runRecord{}, err
	}
	return rec.clone(), nil
}

// shared is decode without the copy: the result's maps are the cache's
// and must only be read (a search's filter); clone what is kept.
func (c *runCache) shared(k, v []byte) (runRecord, error) {
	sum := maphash.Bytes(c.seed, v)
	c.mu.Lock()
	e, ok := c.m[string(k)]
	c.mu.Unlock()
	if !ok || e.sum != sum || e.n != len(v) {
		var rec runRecord
		if err := jsonField(v, &rec); err != nil {
			return runRecord{}, fmt.Errorf("decode run %x: %w", k, err)
		}
		e = cachedRun{sum: sum, n: len(v), rec: rec}
		c.mu.Lock()
		if len(c.m) >= runCacheMax {
			for old := range c.m {
				delete(c.m, old)
				if len(c.m) < runCacheMax*9/10 {
					break
				}
			}
		}
		c.m[string(k)] = e
		c.mu.Unlock()
	}
	return e.rec, nil
}

// clone copies r's maps and slices, so the caller may change them.
func (r runRecord) clone() runRecord {
	r.Params, r.Metrics, r.Tags, r.Artifacts = maps.Clone(r.Params), maps.Clone(r.Metrics), maps.Clone(r.Tags), maps.Clone(r.Artifacts)
	r.Versions = slices.Clone(r.Versions)
	if r.End != nil {
		end := *r.End
		r.End = &end
	}
	return r
}
