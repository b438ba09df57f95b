package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"driftd/server"
	"driftd/stream"
)

// runBroker runs the embedded Kafka-protocol broker alone until a signal. Its
// settings are serve's (same flags, environment names and .env): run on the
// same data directory, it keeps topics where `driftd serve` does.
func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("broker", stderr, "Run the embedded Kafka-protocol broker: one node, or with --brokers N a cluster of N brokers in\nthis one process on consecutive ports (for one machine and tests; use a real cluster in production).")
	listen := fs.String("listen-all", "", "comma-separated listen addresses, one per broker (instead of --listen and the\nports after it; --brokers defaults to their number)")
	n := fs.Int("brokers", 1, "brokers in the embedded cluster, on DRIFTD_KAFKA_LISTEN's port and the ones after it; topics\nare created with replication min(3, brokers), in metadata (the data is held once, in this process)")
	sf := server.RegisterSettings(fs, server.BrokerSettings()...)
	sf.Alias("listen", "DRIFTD_KAFKA_LISTEN")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, code := resolveSettings("broker", sf, stderr)
	if code != 0 {
		return code
	}
	if *n < 1 || *n > 64 {
		fmt.Fprintf(stderr, "driftd broker: --brokers must be between 1 and 64, got %d\n", *n)
		return 2
	}
	dir := filepath.Join(cfg.DataDir, "kafka")
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	bc := stream.BrokerConfig{Addr: cfg.KafkaListen, Brokers: *n, DataDir: dir, Partitions: cfg.KafkaPartitions, SyncWrites: cfg.KafkaSyncWrites}
	if *listen != "" {
		bc.Addrs = strings.Split(*listen, ",")
	}
	b, err := stream.NewBroker(bc, logger)
	if err != nil {
		fmt.Fprintf(stderr, "driftd broker: %v\n", err)
		return 1
	}
	if err := b.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "driftd broker: %v\n", err)
		return 1
	}
	if addrs := b.Addrs(); len(addrs) == 1 {
		fmt.Fprintf(stdout, "kafka broker listening on %s (data %s)\n", b.Addr(), dir)
	} else {
		fmt.Fprintf(stdout, "kafka cluster of %d brokers listening on %s (data %s)\n", len(addrs), strings.Join(addrs, ","), dir)
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Close(cctx); err != nil {
		fmt.Fprintf(stderr, "driftd broker: %v\n", err)
		return 1
	}
	return 0
}

// runProduce replays a CSV file to Kafka as JSON feature records.
func runProduce(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("produce", stderr, "Replay a CSV file to Kafka as JSON records (one per row, keyed by id), with optional drift.\nWithout KAFKA_BOOTSTRAP_SERVERS the records go to the embedded broker of a running driftd serve\n(DRIFTD_KAFKA_LISTEN); when no broker answers within 5s, produce fails and says why.")
	data := fs.String("data", "", "CSV file to replay (required)")
	rate := fs.Float64("rate", 0, "records per second, 0 = as fast as possible")
	limit := fs.Int("limit", 0, "stop after this many records, 0 = all")
	drift := fs.String("drift", "", `drift to apply, e.g. "f0:shift=1.5,f1:scale=2,city:swap=a>b"`)
	idCol := fs.String("id-column", "id", `id column; when absent ids are "row-<n>"`)
	clientID := fs.String("client-id", envOr("KAFKA_CLIENT_ID", "driftd"), "Kafka client id (env KAFKA_CLIENT_ID)")
	// serve's settings: without KAFKA_BOOTSTRAP_SERVERS, the records go to
	// the embedded broker at DRIFTD_KAFKA_LISTEN.
	sf := server.RegisterSettings(fs, append(server.KafkaClientSettings(), "KAFKA_TOPIC")...)
	sf.Alias("brokers", "KAFKA_BOOTSTRAP_SERVERS")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *data == "" {
		fmt.Fprintln(stderr, "driftd produce: --data is required")
		return 2
	}
	cfg, code := resolveSettings("produce", sf, stderr)
	if code != 0 {
		return code
	}
	client := cfg.KafkaClient()
	client.ClientID = *clientID
	spec, err := stream.ParseDriftSpec(*drift)
	if err != nil {
		fmt.Fprintf(stderr, "driftd produce: --drift: %v\n", err)
		return 2
	}
	f, err := os.Open(*data)
	if err != nil {
		fmt.Fprintf(stderr, "driftd produce: %v\n", err)
		return 1
	}
	defer f.Close()
	src, err := stream.NewCSVRecords(f, *data, *idCol, spec)
	if err != nil {
		fmt.Fprintf(stderr, "driftd produce: %v\n", err)
		return 1
	}
	st, err := stream.ProduceCSV(ctx, src, stream.ProduceOptions{Client: client, Topic: cfg.KafkaTopic, Rate: *rate, Limit: *limit, Progress: stderr})
	if errors.Is(err, stream.ErrNoBroker) {
		fmt.Fprintf(stderr, "driftd produce: %v\n(is driftd serve or driftd broker running there? without KAFKA_BOOTSTRAP_SERVERS, produce sends to the embedded broker at DRIFTD_KAFKA_LISTEN, default 127.0.0.1:9092)\n", err)
		return 1
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "driftd produce: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "produced %d records to %s in %s\n", st.Acked, cfg.KafkaTopic, st.Elapsed.Round(time.Millisecond))
	if err != nil {
		return 1
	}
	return 0
}

// runGen writes deterministic synthetic CSV data.
func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gen", stderr, "Write synthetic CSV data (id, f0..fN numeric, c0..cK categorical, binary label), deterministic per seed.")
	rows := fs.Int("rows", 10000, "rows to generate")
	feats := fs.Int("features", 28, "numeric features")
	cats := fs.Int("categorical", 0, "categorical features (levels a..e)")
	seed := fs.Uint64("seed", 1, "random seed")
	drift := fs.String("drift", "", `drift to apply, e.g. "f0:shift=1.5,c0:swap=a>b"`)
	out := fs.String("out", "", "output file, default stdout")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	spec, err := stream.ParseDriftSpec(*drift)
	if err != nil {
		fmt.Fprintf(stderr, "driftd gen: --drift: %v\n", err)
		return 2
	}
	if *rows < 0 || *feats < 0 || *cats < 0 || *feats+*cats == 0 {
		fmt.Fprintln(stderr, "driftd gen: --rows, --features and --categorical must be >= 0 with at least one feature")
		return 2
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(stderr, "driftd gen: %v\n", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	if err := stream.Generate(w, stream.GenOptions{Rows: *rows, Features: *feats, Categorical: *cats, Seed: *seed, Drift: spec}); err != nil {
		fmt.Fprintf(stderr, "driftd gen: %v\n", err)
		return 1
	}
	if f, ok := w.(*os.File); ok && *out != "" {
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "driftd gen: %v\n", err)
			return 1
		}
	}
	_ = ctx
	return 0
}
