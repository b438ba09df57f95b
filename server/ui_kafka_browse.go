package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"driftd/stream"
)

// cursor is a position in every partition of a topic: an offset per
// partition. In the merged view "before" cursors are exclusive upper bounds
// (older pages) and "after" cursors inclusive lower bounds (newer pages).
type cursor map[int32]int64

// String encodes the cursor for a URL as "partition:offset,..." in partition order.
func (c cursor) String() string {
	ids := make([]int32, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(int64(id), 10) + ":" + strconv.FormatInt(c[id], 10)
	}
	return strings.Join(parts, ",")
}

// parseCursor reads a cursor written by String; every partition must be one
// of the topic's and every offset a whole number ≥ 0.
func parseCursor(s string, parts []stream.PartitionInfo) (cursor, error) {
	known := map[int32]bool{}
	for _, p := range parts {
		known[p.ID] = true
	}
	c := cursor{}
	for _, item := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(strings.TrimSpace(item), ":")
		p, perr := strconv.ParseInt(ps, 10, 32)
		o, oerr := strconv.ParseInt(os, 10, 64)
		if !ok || perr != nil || oerr != nil || o < 0 || !known[int32(p)] {
			return nil, fmt.Errorf("%q is not partition:offset of a partition of this topic", item)
		}
		c[int32(p)] = o
	}
	return c, nil
}

// mergedPage is one page of the all-partitions view, newest first, with
// the cursors of the pages either side of it.
type mergedPage struct {
	Messages []stream.Message
	// Older and Newer are the cursors of the neighbouring pages; Newer is
	// nil on the newest page and Older nil when nothing older remains.
	Older, Newer cursor
	Partial      bool
}

// recordBrowser reads a partition's records; *stream.Admin is one.
type recordBrowser interface {
	Browse(ctx context.Context, topic string, partition int32, from int64, limit int) (stream.MessagePage, error)
}

// browseMerged reads one page of every partition of topic and merges them
// by timestamp, newest first. With newer false it shows the newest limit
// records before pos (missing partitions: their high watermark); with
// newer true the oldest limit records at or after pos. The merge takes
// records from each partition in offset order, so the neighbouring pages'
// cursors never skip a record even when timestamps are out of order. The
// partitions are read in parallel.
func browseMerged(ctx context.Context, b recordBrowser, topic string, parts []stream.PartitionInfo, pos cursor, newer bool, limit int) (mergedPage, error) {
	type result struct {
		page stream.MessagePage
		err  error
	}
	res := make([]result, len(parts))
	lo, hi := cursor{}, cursor{}
	var wg sync.WaitGroup
	for i, p := range parts {
		at, ok := pos[p.ID]
		if !ok {
			at = p.High
		}
		at = min(max(at, p.Low), p.High)
		lo[p.ID], hi[p.ID] = at, at
		from, n := at, limit
		if !newer {
			from = max(p.Low, at-int64(limit))
			n = int(at - from)
		}
		if n <= 0 || from >= p.High {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			page, err := b.Browse(ctx, topic, p.ID, from, n)
			res[i] = result{page, err}
		}()
	}
	wg.Wait()
	var out mergedPage
	queues := make([][]stream.Message, len(parts))
	for i, r := range res {
		if r.err != nil {
			return out, fmt.Errorf("read partition %d: %w", parts[i].ID, r.err)
		}
		out.Partial = out.Partial || r.page.Partial
		q := r.page.Messages
		if !newer { // take from the newest end
			q = append([]stream.Message(nil), q...)
			for l, h := 0, len(q)-1; l < h; l, h = l+1, h-1 {
				q[l], q[h] = q[h], q[l]
			}
		}
		queues[i] = q
	}
	for len(out.Messages) < limit {
		best := -1
		for i, q := range queues {
			if len(q) == 0 {
				continue
			}
			if best < 0 || after(q[0], queues[best][0]) != newer {
				best = i
			}
		}
		if best < 0 {
			break
		}
		m := queues[best][0]
		queues[best] = queues[best][1:]
		out.Messages = append(out.Messages, m)
		if newer {
			hi[m.Partition] = m.Offset + 1
		} else {
			lo[m.Partition] = m.Offset
		}
	}
	if newer {
		sort.SliceStable(out.Messages, func(i, j int) bool { return after(out.Messages[i], out.Messages[j]) })
	}
	for _, p := range parts {
		if lo[p.ID] > p.Low {
			out.Older = lo
		}
		if hi[p.ID] < p.High {
			out.Newer = hi
		}
	}
	return out, nil
}

// after orders records newest first: by timestamp, then partition and offset.
func after(a, b stream.Message) bool {
	if !a.Timestamp.Equal(b.Timestamp) {
		return a.Timestamp.After(b.Timestamp)
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset > b.Offset
}

// seekLayouts are the time formats the message browser accepts, in UTC
// unless the value carries its zone: what <input type="datetime-local">
// sends, and RFC 3339.
var seekLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// parseSeekTime reads a time typed into the browser's "from time" field.
func parseSeekTime(s string) (time.Time, error) {
	for _, l := range seekLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2024-05-01T13:45 (UTC) or RFC 3339", s)
}

// fieldValue finds a dotted path ("a.b.0") in a JSON record value and
// returns its value as text: strings unquoted, anything else as compact
// JSON. ok is false when the value is not JSON or has no such field.
func fieldValue(value []byte, path string) (string, bool) {
	var v any
	if err := json.Unmarshal(value, &v); err != nil {
		return "", false
	}
	for _, key := range strings.Split(path, ".") {
		switch n := v.(type) {
		case map[string]any:
			x, ok := n[key]
			if !ok {
				return "", false
			}
			v = x
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n) {
				return "", false
			}
			v = n[i]
		default:
			return "", false
		}
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}
