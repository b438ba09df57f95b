package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// mergedPage is one page of the merged view, newest first, with the
// cursors of the pages either side of it.
type mergedPage struct {
	Messages []stream.Message
	// Older and Newer are the cursors of the neighbouring pages; Newer is
	// nil on the newest page and Older nil when nothing older remains.
	Older, Newer cursor
	// Next is where records newer than the page begin (every partition's
	// high watermark on the newest page): where following new records starts.
	Next cursor
	// Scanned counts the records read to fill the page; Exhausted is set
	// when the scan bound stopped a filtered page short before the topic's
	// end (the neighbouring page's link continues the scan).
	Scanned   int
	Exhausted bool
	Partial   bool
}

// recordBrowser reads a partition's records; *stream.Admin is one.
type recordBrowser interface {
	Browse(ctx context.Context, topic string, partition int32, from int64, limit int) (stream.MessagePage, error)
}

// scanChunk is how many records of a partition a filtered scan reads at a
// time.
const scanChunk = 1000

// browseMerged reads one page of the partitions parts of topic, merged by
// timestamp, newest first. With newer false it shows the newest records
// before pos (missing partitions: their high watermark); with newer true
// the oldest records at or after pos. keep (nil: every record) filters
// the records, and the scan goes on until limit records are kept, maxScan
// were read, or the topic's end; the cursors stop at the last record read,
// so the next page continues the scan. The merge takes records from each
// partition in offset order, so the cursors never skip a record even when
// timestamps are out of order. Each partition is read a chunk at a time
// (the first chunks in parallel) and read again only when its chunk is
// used up, so a scan reads each record once: a filtered page scanning
// 10,000 records over two partitions of the embedded broker takes about
// 0.1 s, half of what re-reading the unmerged rest of every chunk took
// (BenchmarkTopicFilterScan).
func browseMerged(ctx context.Context, b recordBrowser, topic string, parts []stream.PartitionInfo, pos cursor, newer bool, limit int,
	keep func(stream.Message) bool, maxScan int) (mergedPage, error) {
	lo, hi := cursor{}, cursor{}
	// Per partition, by index (the first reads run in parallel and each
	// writes only its own slots): where its next read starts (newer) or
	// ends (older), its unmerged records, whether it has nothing left, and
	// whether a read ran out of time.
	nextAt := make([]int64, len(parts))
	queues := make([][]stream.Message, len(parts))
	done := make([]bool, len(parts))
	partial := make([]bool, len(parts))
	for i, p := range parts {
		at, ok := pos[p.ID]
		if !ok {
			at = p.High
		}
		at = min(max(at, p.Low), p.High)
		lo[p.ID], hi[p.ID], nextAt[i] = at, at, at
	}
	n := limit
	if keep != nil {
		n = scanChunk
	}
	// fill reads partition i's next chunk from where its last one ended.
	fill := func(i int) error {
		p := parts[i]
		from, count := nextAt[i], n
		if !newer {
			from = max(p.Low, nextAt[i]-int64(n))
			count = int(nextAt[i] - from)
		}
		if count <= 0 || from >= p.High {
			done[i] = true
			return nil
		}
		page, err := b.Browse(ctx, topic, p.ID, from, count)
		if err != nil {
			return fmt.Errorf("read partition %d: %w", p.ID, err)
		}
		partial[i] = partial[i] || page.Partial
		q := page.Messages
		if newer {
			nextAt[i] = max(page.Next, from+1)
		} else { // take from the newest end
			nextAt[i] = from
			q = append([]stream.Message(nil), q...)
			slices.Reverse(q)
		}
		queues[i] = q
		done[i] = len(q) == 0 && (page.Partial || (newer && nextAt[i] >= p.High) || (!newer && from <= p.Low))
		return nil
	}
	var out mergedPage
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fill(i) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	for len(out.Messages) < limit && (keep == nil || out.Scanned < maxScan) {
		best := -1
		for i := range parts {
			for len(queues[i]) == 0 && !done[i] {
				if err := fill(i); err != nil {
					return out, err
				}
			}
			if len(queues[i]) == 0 {
				continue
			}
			if best < 0 || after(queues[i][0], queues[best][0]) != newer {
				best = i
			}
		}
		if best < 0 {
			break // the end of every partition
		}
		m := queues[best][0]
		queues[best] = queues[best][1:]
		out.Scanned++
		if newer {
			hi[m.Partition] = m.Offset + 1
		} else {
			lo[m.Partition] = m.Offset
		}
		if keep == nil || keep(m) {
			out.Messages = append(out.Messages, m)
		}
	}
	if newer {
		sort.SliceStable(out.Messages, func(i, j int) bool { return after(out.Messages[i], out.Messages[j]) })
	}
	out.Partial = slices.Contains(partial, true)
	for _, p := range parts {
		if lo[p.ID] > p.Low {
			out.Older = lo
		}
		if hi[p.ID] < p.High {
			out.Newer = hi
		}
	}
	out.Next = hi
	more := out.Older != nil
	if newer {
		more = out.Newer != nil
	}
	out.Exhausted = keep != nil && len(out.Messages) < limit && out.Scanned >= maxScan && more
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
