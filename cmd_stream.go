package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"driftd/stream"
)

// kafkaFlags registers the client connection flags (with env twins) on fs.
func kafkaFlags(fs *flag.FlagSet) func() stream.Config {
	brokers := fs.String("brokers", envOr("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), "comma-separated Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS)")
	clientID := fs.String("client-id", envOr("KAFKA_CLIENT_ID", "driftd"), "Kafka client id (env KAFKA_CLIENT_ID)")
	ca := fs.String("tls-ca", envOr("KAFKA_TLS_CA_FILE", ""), "PEM CA file; enables TLS (env KAFKA_TLS_CA_FILE)")
	cert := fs.String("tls-cert", envOr("KAFKA_TLS_CERT_FILE", ""), "PEM client certificate (env KAFKA_TLS_CERT_FILE)")
	key := fs.String("tls-key", envOr("KAFKA_TLS_KEY_FILE", ""), "PEM client key (env KAFKA_TLS_KEY_FILE)")
	useTLS := fs.Bool("tls", envOr("KAFKA_TLS", "") == "true", "use TLS with system roots (env KAFKA_TLS=true)")
	skip := fs.Bool("tls-insecure-skip-verify", envOr("KAFKA_TLS_INSECURE_SKIP_VERIFY", "") == "true", "do not verify the broker certificate (env KAFKA_TLS_INSECURE_SKIP_VERIFY)")
	mech := fs.String("sasl-mechanism", envOr("KAFKA_SASL_MECHANISM", ""), "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (env KAFKA_SASL_MECHANISM)")
	user := fs.String("sasl-username", envOr("KAFKA_SASL_USERNAME", ""), "SASL user (env KAFKA_SASL_USERNAME)")
	pass := fs.String("sasl-password", envOr("KAFKA_SASL_PASSWORD", ""), "SASL password (env KAFKA_SASL_PASSWORD; prefer the env var)")
	return func() stream.Config {
		return stream.Config{
			Brokers:  stream.ParseBrokers(*brokers),
			ClientID: *clientID,
			TLS:      stream.TLSConfig{Enabled: *useTLS || *skip, CAFile: *ca, CertFile: *cert, KeyFile: *key, InsecureSkipVerify: *skip},
			SASL:     stream.SASLConfig{Mechanism: *mech, User: *user, Password: *pass},
		}
	}
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(envOr(key, "")); err == nil {
		return v
	}
	return def
}

// runBroker runs the embedded Kafka-protocol broker alone until a signal.
func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("broker", stderr, "Run the embedded single-node Kafka-protocol broker (for one machine; use a real cluster for more).")
	listen := fs.String("listen", envOr("DRIFTD_KAFKA_LISTEN", "127.0.0.1:9092"), "listen address, also advertised to clients (env DRIFTD_KAFKA_LISTEN)")
	dir := fs.String("data-dir", envOr("DRIFTD_KAFKA_DATA_DIR", "data/kafka"), "directory keeping topics, records and offsets across restarts (env DRIFTD_KAFKA_DATA_DIR)")
	parts := fs.Int("partitions", envInt("DRIFTD_KAFKA_PARTITIONS", 3), "partitions of auto-created topics (env DRIFTD_KAFKA_PARTITIONS)")
	syncW := fs.Bool("sync-writes", envOr("DRIFTD_KAFKA_SYNC_WRITES", "") == "true", "fsync every batch before acknowledging it (env DRIFTD_KAFKA_SYNC_WRITES)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	b, err := stream.NewBroker(stream.BrokerConfig{Addr: *listen, DataDir: *dir, Partitions: *parts, SyncWrites: *syncW}, logger)
	if err != nil {
		fmt.Fprintf(stderr, "driftd broker: %v\n", err)
		return 1
	}
	if err := b.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "driftd broker: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "kafka broker listening on %s (data %s)\n", b.Addr(), *dir)
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
	fs := newFlagSet("produce", stderr, "Replay a CSV file to Kafka as JSON records (one per row, keyed by id), with optional drift.")
	data := fs.String("data", "", "CSV file to replay (required)")
	topic := fs.String("topic", envOr("KAFKA_TOPIC", "drift-data"), "features topic (env KAFKA_TOPIC)")
	rate := fs.Float64("rate", 0, "records per second, 0 = as fast as possible")
	limit := fs.Int("limit", 0, "stop after this many records, 0 = all")
	drift := fs.String("drift", "", `drift to apply, e.g. "f0:shift=1.5,f1:scale=2,city:swap=a>b"`)
	idCol := fs.String("id-column", "id", `id column; when absent ids are "row-<n>"`)
	kcfg := kafkaFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *data == "" {
		fmt.Fprintln(stderr, "driftd produce: --data is required")
		return 2
	}
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
	st, err := stream.ProduceCSV(ctx, src, stream.ProduceOptions{Client: kcfg(), Topic: *topic, Rate: *rate, Limit: *limit, Progress: stderr})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "driftd produce: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "produced %d records to %s in %s\n", st.Acked, *topic, st.Elapsed.Round(time.Millisecond))
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
