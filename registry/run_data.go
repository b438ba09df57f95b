package registry

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// Metric points are stored under metric_points/<run key>/<metric key>/ with key
// step (int64, sign bit flipped, big-endian) + sequence (big-endian) and a fixed binary
// value: encoding version byte 1, float64 bits, unix nanoseconds (big-endian).
const pointEncoding = 1

func pointKey(step int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(step)^(1<<63))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func encodePoint(p MetricPoint) []byte {
	v := make([]byte, 17)
	v[0] = pointEncoding
	binary.BigEndian.PutUint64(v[1:], math.Float64bits(p.Value))
	binary.BigEndian.PutUint64(v[9:], uint64(p.Time.UnixNano()))
	return v
}

func decodePoint(k, v []byte) (MetricPoint, error) {
	if len(k) != 16 || len(v) != 17 || v[0] != pointEncoding {
		return MetricPoint{}, fmt.Errorf("corrupt metric point %x", k)
	}
	return MetricPoint{
		Step:  int64(binary.BigEndian.Uint64(k) ^ (1 << 63)),
		Value: math.Float64frombits(binary.BigEndian.Uint64(v[1:])),
		Time:  time.Unix(0, int64(binary.BigEndian.Uint64(v[9:]))).UTC(),
	}, nil
}

// LogMetric appends one metric value at step (t zero = now) to a run's history.
func (s *Store) LogMetric(ctx context.Context, id, key string, value float64, step int64, t time.Time) error {
	return s.LogMetrics(ctx, id, []MetricPoint{{Key: key, Value: value, Step: step, Time: t}})
}

// LogMetrics appends a batch of metric points atomically (training logs one per round).
// Non-finite values and invalid keys return a *FieldError and nothing is written.
func (s *Store) LogMetrics(ctx context.Context, id string, points []MetricPoint) error {
	now := s.now().UTC()
	pts := make([]MetricPoint, len(points))
	for i, p := range points {
		if err := validKey("metrics", p.Key); err != nil {
			s.observe("log_metric", err)
			return fmt.Errorf("log metric: %w", err)
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			err := fieldErr("value", "metric %q step %d: %v is not a finite number", p.Key, p.Step, p.Value)
			s.observe("log_metric", err)
			return fmt.Errorf("log metric: %w", err)
		}
		if p.Time.IsZero() {
			p.Time = now
		}
		p.Time = p.Time.UTC()
		pts[i] = p
	}
	_, err := s.updateRun("log_metric", id, func(tx *bbolt.Tx, key []byte, r *runRecord) error {
		return appendPoints(tx, key, r, pts)
	})
	return err
}

// MetricHistory returns every logged point of one run metric ordered by step;
// ErrNotFound when the run or the metric does not exist.
func (s *Store) MetricHistory(ctx context.Context, id, key string) ([]MetricPoint, error) {
	out := []MetricPoint{}
	n, err := parseID("run_id", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			if _, err := getRun(tx, u64key(n), id); err != nil {
				return err
			}
			var mb *bbolt.Bucket
			if rb := tx.Bucket(bucketMetricPoints).Bucket(u64key(n)); rb != nil {
				mb = rb.Bucket([]byte(key))
			}
			if mb == nil {
				return fmt.Errorf("run %s metric %q: %w", id, key, ErrNotFound)
			}
			return mb.ForEach(func(k, v []byte) error {
				p, err := decodePoint(k, v)
				if err != nil {
					return err
				}
				p.Key = key
				out = append(out, p)
				return nil
			})
		})
	}
	s.observe("metric_history", err)
	if err != nil {
		return nil, fmt.Errorf("metric history: %w", err)
	}
	return out, nil
}

const maxLogLine = 4096

// AppendLog appends text lines to a run's log; lines longer than 4096 bytes are cut and
// the oldest lines are dropped beyond Options.MaxLogLines (counted in Run.LogDropped).
func (s *Store) AppendLog(ctx context.Context, id string, lines ...string) error {
	_, err := s.updateRun("append_log", id, func(tx *bbolt.Tx, key []byte, r *runRecord) error {
		lb, err := tx.Bucket(bucketRunLogs).CreateBucketIfNotExists(key)
		if err != nil {
			return err
		}
		kept, dropped, err := appendLogLines(lb, lines, r.LogLines, s.maxLogs)
		r.LogLines = kept
		r.LogDropped += dropped
		return err
	})
	return err
}

// RunLogs returns the last tail lines of a run's log (tail <= 0: all kept lines).
func (s *Store) RunLogs(ctx context.Context, id string, tail int) ([]string, error) {
	out := []string{}
	n, err := parseID("run_id", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			if _, err := getRun(tx, u64key(n), id); err != nil {
				return err
			}
			out = tailLines(tx.Bucket(bucketRunLogs).Bucket(u64key(n)), tail)
			return nil
		})
	}
	s.observe("run_logs", err)
	if err != nil {
		return nil, fmt.Errorf("run logs: %w", err)
	}
	return out, nil
}

// PutRunArtifact stores (or replaces) a named blob of a run, e.g. "model.bin" or
// "feature_importance.json".
func (s *Store) PutRunArtifact(ctx context.Context, id, name string, data []byte) error {
	if err := validKey("name", name); err != nil {
		s.observe("put_run_artifact", err)
		return fmt.Errorf("put run artifact: %w", err)
	}
	_, err := s.updateRun("put_run_artifact", id, func(tx *bbolt.Tx, key []byte, r *runRecord) error {
		ab, err := tx.Bucket(bucketRunArtifacts).CreateBucketIfNotExists(key)
		if err != nil {
			return err
		}
		if r.Artifacts == nil {
			r.Artifacts = map[string]int64{}
		}
		r.Artifacts[name] = int64(len(data))
		return ab.Put([]byte(name), data)
	})
	return err
}

// RunArtifact returns a copy of a run's named blob; ErrNotFound when missing.
func (s *Store) RunArtifact(ctx context.Context, id, name string) ([]byte, error) {
	var out []byte
	n, err := parseID("run_id", id)
	if err == nil {
		err = s.db.View(func(tx *bbolt.Tx) error {
			if _, err := getRun(tx, u64key(n), id); err != nil {
				return err
			}
			if ab := tx.Bucket(bucketRunArtifacts).Bucket(u64key(n)); ab != nil {
				if v := ab.Get([]byte(name)); v != nil {
					out = append([]byte{}, v...)
				}
			}
			if out == nil {
				return fmt.Errorf("run %s artifact %q: %w", id, name, ErrNotFound)
			}
			return nil
		})
	}
	s.observe("run_artifact", err)
	if err != nil {
		return nil, fmt.Errorf("run artifact: %w", err)
	}
	return out, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
