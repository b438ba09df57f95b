// Package registry is driftd's model registry and experiment tracker, stored in one bbolt
// file: registered models and immutable versions, deployments to environments with
// rollback and aliases, an audit history, experiments and runs, users and settings.
//
// It is the only package that imports go.etcd.io/bbolt. Every public method opens its own
// short transaction; helpers take a *bbolt.Tx; byte slices are copied out before a
// transaction ends.
package registry

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.etcd.io/bbolt"
)

// FileName is the conventional name of the registry file inside the data directory.
const FileName = "driftd.db"

// schemaVersion is written to the meta bucket; Open refuses files from a newer schema.
const schemaVersion = 1

// Bucket names, one per entity.
var (
	bucketMeta         = []byte("meta")
	bucketModels       = []byte("models")      // name -> modelRecord
	bucketVersions     = []byte("versions")    // name/ -> semver key -> versionRecord
	bucketArtifacts    = []byte("artifacts")   // name/ -> semver key -> artifact bytes
	bucketProfiles     = []byte("profiles")    // name/ -> semver key -> drift profile bytes
	bucketHistory      = []byte("history")     // seq (BE uint64) -> Event
	bucketExperiments  = []byte("experiments") // id (BE uint64) -> experimentRecord
	bucketExpNames     = []byte("experiment_names")
	bucketRuns         = []byte("runs")          // id (BE uint64) -> runRecord
	bucketMetricPoints = []byte("metric_points") // run id/ -> metric key/ -> step+seq -> point
	bucketRunLogs      = []byte("run_logs")      // run id/ -> seq -> line
	bucketRunArtifacts = []byte("run_artifacts") // run id/ -> name -> bytes
	bucketUsers        = []byte("users")         // name -> userRecord
	bucketSettings     = []byte("settings")      // key -> raw bytes
	bucketFlowRuns     = []byte("flow_runs")     // id (BE uint64) -> flowRunRecord
	bucketFlowRunLogs  = []byte("flow_run_logs") // run id/ -> seq -> line
	bucketSchedules    = []byte("schedules")     // id (BE uint64) -> scheduleRecord
	allBuckets         = [][]byte{bucketMeta, bucketModels, bucketVersions, bucketArtifacts,
		bucketProfiles, bucketHistory, bucketExperiments, bucketExpNames, bucketRuns,
		bucketMetricPoints, bucketRunLogs, bucketRunArtifacts, bucketUsers, bucketSettings,
		bucketFlowRuns, bucketFlowRunLogs, bucketSchedules}
	keySchema = []byte("schema_version")
)

// DefaultEnvironments are the deployment environments used when Options.Environments is empty.
var DefaultEnvironments = []string{"dev", "staging", "production"}

// Options configures Open; zero values select defaults.
type Options struct {
	Timeout      time.Duration    // how long to wait for the file lock (default 2s)
	Now          func() time.Time // clock (default time.Now)
	Environments []string         // deployment environments (default dev, staging, production)
	Metrics      *metrics.Set     // where registry metrics are registered (nil: a private set)
	Logger       *slog.Logger     // logger (nil: discard)
	ReadOnly     bool             // open the file read-only (shared lock)
	MaxLogLines  int              // lines kept per run log (default 10000)
	StackDepth   int              // previous versions kept per environment (default 50)
}

// Store is an open registry file; it is safe for concurrent use.
type Store struct {
	db      *bbolt.DB
	path    string
	now     func() time.Time
	envs    []string
	envSet  map[string]bool
	log     *slog.Logger
	metrics *metrics.Set
	maxLogs int
	depth   int

	order   sync.Mutex // serialises model mutations with the queueing of their notifications
	mu      sync.Mutex // guards subs, nextSub and info
	subs    map[int]*subscription
	nextSub int
	info    map[string]string // "model\x00env" -> current model_info series name
	runs    *runCache         // decoded runs, for searches
}

// Open opens (creating if needed) the registry file at path. A file locked by another
// process makes Open fail after Options.Timeout with an error naming the path and
// wrapping ErrLocked.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.Environments) == 0 {
		opts.Environments = DefaultEnvironments
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxLogLines <= 0 {
		opts.MaxLogLines = 10000
	}
	if opts.StackDepth <= 0 {
		opts.StackDepth = 50
	}
	s := &Store{path: path, now: opts.Now, envSet: map[string]bool{}, log: opts.Logger.With("component", "registry"),
		metrics: opts.Metrics, maxLogs: opts.MaxLogLines, depth: opts.StackDepth,
		subs: map[int]*subscription{}, info: map[string]string{}, runs: newRunCache()}
	for _, e := range opts.Environments {
		if err := validName("environment", e); err != nil {
			return nil, fmt.Errorf("open registry %s: %w", path, err)
		}
		if !s.envSet[e] {
			s.envSet[e] = true
			s.envs = append(s.envs, e)
		}
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open registry %s: %w (is another driftd running on this data directory?): %w", path, ErrLocked, err)
		}
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	s.db = db
	if opts.ReadOnly {
		err = db.View(func(tx *bbolt.Tx) error { return checkSchema(tx, false) })
	} else {
		err = db.Update(func(tx *bbolt.Tx) error { return checkSchema(tx, true) })
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	if err := s.initModelInfo(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	return s, nil
}

// checkSchema verifies (and with create, initialises) the buckets and schema version.
func checkSchema(tx *bbolt.Tx, create bool) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if !create {
			return errors.New("not a driftd registry file (no meta bucket)")
		}
		// A fresh file has no buckets at all; anything else is a foreign bbolt file.
		foreign := false
		_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error { foreign = true; return nil })
		if foreign {
			return errors.New("not a driftd registry file (bbolt file without a meta bucket)")
		}
	}
	if create {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta = tx.Bucket(bucketMeta)
		if meta.Get(keySchema) == nil {
			if err := meta.Put(keySchema, u64key(schemaVersion)); err != nil {
				return err
			}
		}
	}
	v := meta.Get(keySchema)
	if len(v) != 8 {
		return errors.New("not a driftd registry file (missing schema version)")
	}
	if n := binary.BigEndian.Uint64(v); n > schemaVersion {
		return fmt.Errorf("registry schema version %d is newer than this driftd supports (%d)", n, schemaVersion)
	}
	return nil
}

// Path returns the file path the store was opened from.
func (s *Store) Path() string { return s.path }

// Environments returns the configured deployment environments in order.
func (s *Store) Environments() []string { return append([]string(nil), s.envs...) }

// Close stops delivering notifications to subscribers (waiting for calls in progress)
// and closes the file; the Store must not be used afterwards.
func (s *Store) Close() error {
	s.stopSubscriptions()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close registry %s: %w", s.path, err)
	}
	return nil
}

// observe counts one operation and, when err is not nil and not ErrNotFound,
// one error. The error series exists from the first operation on, at 0, so
// rates and alerts over it have data.
func (s *Store) observe(op string, err error) {
	s.metrics.GetOrCreateCounter(`driftd_registry_operations_total{op="` + op + `"}`).Inc()
	errs := s.metrics.GetOrCreateCounter(`driftd_registry_errors_total{op="` + op + `"}`)
	if err != nil && !errors.Is(err, ErrNotFound) {
		errs.Inc()
	}
}

// u64key encodes n big-endian so keys sort numerically.
func u64key(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// getJSON decodes the JSON value at key into v; it reports false when the key is absent.
func getJSON(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// putJSON stores v as JSON at key.
func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, raw)
}

// clone copies a byte slice so it survives the end of its transaction.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// jsonField decodes a stored JSON value.
func jsonField(raw []byte, v any) error { return json.Unmarshal(raw, v) }

// beUint decodes a big-endian uint64 key.
func beUint(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
