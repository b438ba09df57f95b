package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BrokerConfig configures the embedded single-node Kafka-protocol broker.
type BrokerConfig struct {
	// Addr is the listen address (default 127.0.0.1:9092; port 0 picks a free port).
	// The bound address is also what the broker advertises in metadata.
	Addr string
	// DataDir holds topics, records and committed offsets across restarts;
	// "" keeps everything in memory.
	DataDir string
	// Partitions is the default partition count of auto-created topics (default 3).
	Partitions int
	// SyncWrites fsyncs every produced batch and every offset commit before
	// acknowledging it, so it survives a power loss or a kernel crash.
	// Without it, kfake writes each batch and commit to the OS before the
	// acknowledgement but never fsyncs them: a crash of the process loses
	// nothing acknowledged, a power loss loses what the OS had not yet
	// written back (on Linux, up to about 30 s of records and commits).
	SyncWrites bool
	// Retention bounds the disk of the listed topics (off when it sets
	// neither Age nor Bytes, or lists no topic).
	Retention RetentionConfig
	// Metrics receives the retention series (a new set when nil).
	Metrics *metrics.Set
}

// Broker is an embedded kfake broker listening on real TCP.
type Broker struct {
	cfg    BrokerConfig
	logger *slog.Logger
	ln     net.Listener

	mu        sync.Mutex
	cluster   *kfake.Cluster
	retention *retention
	retClient *kgo.Client
	stopTrim  context.CancelFunc
	trimDone  chan struct{}
}

// NewBroker binds the listen address (failing with an error naming it when it
// is taken) and returns a broker ready to Start.
func NewBroker(cfg BrokerConfig, logger *slog.Logger) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9092"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 3
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("broker data dir: %w", err)
		}
		if abs, err := filepath.Abs(cfg.DataDir); err == nil {
			cfg.DataDir = abs
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker cannot listen on %s (port taken? set another listen address): %w", cfg.Addr, err)
	}
	return &Broker{cfg: cfg, logger: logger, ln: ln}, nil
}

// Start loads persisted state from DataDir and starts serving.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster != nil {
		return errors.New("broker already started")
	}
	if b.ln == nil {
		return errors.New("broker closed")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ln := b.ln
	used := false
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("driftd"),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(b.cfg.Partitions),
		kfake.WithLogger(kfakeLogger{b.logger}),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			if used {
				return nil, errors.New("embedded broker supports one listener")
			}
			used = true
			return ln, nil
		}),
	}
	if b.cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(b.cfg.DataDir))
	}
	if b.cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	ret := b.cfg.Retention
	if ret.enabled() && ret.Bytes > 0 {
		// Disk is freed a whole segment at a time: segments a fraction
		// of the limit keep a partition near it.
		opts = append(opts, kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.FormatInt(ret.segmentBytes(), 10)}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		b.ln = nil // NewCluster closed it
		return fmt.Errorf("start embedded broker on %s (data dir %q): %w", b.cfg.Addr, b.cfg.DataDir, err)
	}
	b.cluster = c
	if ret.enabled() {
		r, cl, err := newRetention(ret, c, ln.Addr().String(), b.logger.With("task", "retention"), b.cfg.Metrics)
		if err != nil {
			c.Close()
			b.cluster, b.ln = nil, nil
			return fmt.Errorf("start embedded broker: %w", err)
		}
		trimCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		b.retention, b.retClient, b.stopTrim, b.trimDone = r, cl, stop, done
		go func() {
			defer close(done)
			r.loop(trimCtx)
		}()
	}
	b.logger.Info("embedded kafka broker started", "addr", ln.Addr().String(), "data_dir", b.cfg.DataDir,
		"sync_writes", b.cfg.SyncWrites, "retention", ret.Age, "retention_bytes", ret.Bytes)
	return nil
}

// Addr returns the bound listen address (host:port).
func (b *Broker) Addr() string {
	if b.ln == nil {
		return b.cfg.Addr
	}
	return b.ln.Addr().String()
}

// Close stops the broker, flushing state to DataDir; it gives up waiting
// when ctx ends.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	c, ln := b.cluster, b.ln
	b.cluster = nil
	stop, trimDone, retClient := b.stopTrim, b.trimDone, b.retClient
	b.stopTrim, b.trimDone, b.retClient = nil, nil, nil
	b.mu.Unlock()
	if stop != nil {
		stop() // a run in progress ends with its context
		<-trimDone
		retClient.Close()
	}
	if c == nil {
		if ln != nil {
			return ln.Close()
		}
		return nil
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close embedded broker: %w", ctx.Err())
	}
}

// kfakeLogger adapts slog to kfake's logger (warnings and errors only).
type kfakeLogger struct{ l *slog.Logger }

// Logf implements kfake.Logger.
func (k kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		k.l.Error("kfake: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		k.l.Warn("kfake: " + fmt.Sprintf(msg, args...))
	}
}
