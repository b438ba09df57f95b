package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BrokerConfig configures the embedded Kafka-protocol broker.
type BrokerConfig struct {
	// Addr is the listen address (default 127.0.0.1:9092; port 0 picks a free port).
	// The bound address is also what the broker advertises in metadata.
	Addr string
	// Brokers is how many brokers the embedded cluster runs in this one
	// process (default 1). Broker i listens on Addr's port + i (every one on
	// a free port when Addr's port is 0). kfake models replication in
	// metadata only: a topic created with replication 3 reports three
	// replicas and an in-sync set of three on three brokers, and partition
	// leaders are spread over the brokers, but every broker serves the one
	// copy of the data this process holds.
	Brokers int
	// Addrs, when set, are the listen addresses of every broker, broker 0
	// first, instead of Addr and consecutive ports; Brokers must then be
	// 0, 1 or len(Addrs).
	Addrs []string
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
	ln     net.Listener   // broker 0's listener (nil once handed to kfake and closed)
	lns    []net.Listener // every broker's listener, broker 0 first
	addrs  []string

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
	if cfg.Brokers <= 0 {
		cfg.Brokers = 1
	}
	addrs, err := brokerAddrs(cfg.Addr, cfg.Brokers)
	if len(cfg.Addrs) > 0 {
		addrs, err = listedAddrs(cfg.Addrs, cfg.Brokers)
	}
	if err != nil {
		return nil, err
	}
	lns := make([]net.Listener, 0, len(addrs))
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("embedded broker cannot listen on %s (port taken? set another listen address): %w", a, err)
		}
		lns = append(lns, ln)
	}
	b := &Broker{cfg: cfg, logger: logger, ln: lns[0], lns: lns}
	for _, l := range lns {
		b.addrs = append(b.addrs, l.Addr().String())
	}
	return b, nil
}

// listedAddrs checks listen addresses given one per broker; n is the
// broker count asked for besides them (0 or 1: as many as listed).
func listedAddrs(addrs []string, n int) ([]string, error) {
	if n > 1 && n != len(addrs) {
		return nil, fmt.Errorf("embedded broker: %d brokers asked for but %d listen addresses given", n, len(addrs))
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("embedded broker listen address %q: %w", a, err)
		}
	}
	return slices.Clone(addrs), nil
}

// brokerAddrs returns the listen addresses of n brokers: addr's port, then
// the n-1 ports after it (port 0 for each when addr's port is 0).
func brokerAddrs(addr string, n int) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker listen address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("embedded broker listen address %q: bad port", addr)
	}
	if p != 0 && p+n-1 > 65535 {
		return nil, fmt.Errorf("embedded broker: %d brokers from port %d pass port 65535", n, p)
	}
	out := make([]string, n)
	for i := range out {
		q := p
		if p != 0 {
			q = p + i
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(q))
	}
	return out, nil
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
	lns := b.lns
	next := 0
	opts := []kfake.Opt{
		kfake.NumBrokers(len(lns)),
		kfake.ClusterID("driftd"),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(b.cfg.Partitions),
		kfake.WithLogger(kfakeLogger{b.logger}),
		// kfake asks for one listener per broker, in order; a node added
		// later (none is) would find none left.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			if next >= len(lns) {
				return nil, fmt.Errorf("embedded broker has %d listeners, all in use", len(lns))
			}
			next++
			return lns[next-1], nil
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
		for _, l := range lns[next:] {
			l.Close() // those NewCluster never took
		}
		b.ln, b.lns = nil, nil // NewCluster closed the ones it took
		return fmt.Errorf("start embedded broker on %s (data dir %q): %w", b.cfg.Addr, b.cfg.DataDir, err)
	}
	b.cluster = c
	if ret.enabled() {
		r, cl, err := newRetention(ret, c, ln.Addr().String(), b.logger.With("task", "retention"), b.cfg.Metrics)
		if err != nil {
			c.Close()
			b.cluster, b.ln, b.lns = nil, nil, nil
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
	b.logger.Info("embedded kafka broker started", "addr", ln.Addr().String(), "brokers", b.addrs, "data_dir", b.cfg.DataDir,
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

// Addrs returns every broker's bound listen address, broker 0 first.
func (b *Broker) Addrs() []string {
	if len(b.addrs) == 0 {
		return []string{b.cfg.Addr}
	}
	return append([]string(nil), b.addrs...)
}

// Close stops the broker, flushing state to DataDir; it gives up waiting
// when ctx ends.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	c, lns := b.cluster, b.lns
	b.cluster, b.lns = nil, nil
	stop, trimDone, retClient := b.stopTrim, b.trimDone, b.retClient
	b.stopTrim, b.trimDone, b.retClient = nil, nil, nil
	b.mu.Unlock()
	if stop != nil {
		stop() // a run in progress ends with its context
		<-trimDone
		retClient.Close()
	}
	if c == nil {
		var errs []error
		for _, l := range lns {
			if err := l.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
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
