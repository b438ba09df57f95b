package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"driftd/train"
)

// Config is every setting of `driftd serve`, already validated.
type Config struct {
	Addr      string
	DataDir   string
	LogLevel  slog.Level
	LogFormat string
	APIToken  string
	// APITokenFile holds the API token (one line), for instances that must
	// accept the same token; exclusive with APIToken.
	APITokenFile string
	// SessionKeyFile holds the key that signs session cookies (at least 32
	// bytes), for instances that must accept the same cookies; "" keeps the
	// key generated into the registry.
	SessionKeyFile string
	AdminPassword  string
	SecureCookies  bool
	MaxBodyBytes   int64
	// CustomMetricsMaxSeries bounds the series POST /api/v1/metrics creates.
	CustomMetricsMaxSeries int
	ShutdownTimeout        time.Duration
	Environments           []string
	ScoringEnvironment     string
	ModelName              string
	TrainDataDirs          []string
	// DatabaseURL is the PostgreSQL DSN training queries run on ("" = none).
	DatabaseURL    string
	TrustedProxies []*net.IPNet
	OpenReads      bool

	// ScoringToken is a bearer token that may call only the scoring routes.
	ScoringToken string
	// ServingDrift feeds REST-scored records to the deployed model's drift monitor.
	ServingDrift bool
	// ServingPublish produces REST predictions to the predictions topic.
	ServingPublish bool
	// ServingMaxRows bounds the records of one scoring request.
	ServingMaxRows int
	// ServingMaxBodyBytes bounds the body of one scoring request.
	ServingMaxBodyBytes int64

	KafkaBrokers []string
	KafkaListen  string
	KafkaTopic   string
	KafkaGroupID string
	// KafkaSessionTimeout is how long the scorers' group waits for a silent
	// member before moving its partitions to the others.
	KafkaSessionTimeout time.Duration
	KafkaPartitions     int
	KafkaReplication    int
	KafkaTLS            bool
	KafkaTLSCAFile      string
	KafkaTLSCertFile    string
	KafkaTLSKeyFile     string
	KafkaTLSSkipVerify  bool
	KafkaSASLMechanism  string
	KafkaSASLUser       string
	KafkaSASLPassword   string
	KafkaSyncWrites     bool
	KafkaRetention      time.Duration
	KafkaRetentionBytes int64

	DriftWindowSize    int
	DriftCheckInterval int
	DriftMinWindow     int
	DriftBins          int
	RetrainThreshold   float64
	AlertThreshold     float64
	DriftShare         float64
	// DriftThresholds is the verdict rule: band (learned from the reference) or fixed.
	DriftThresholds string
	DriftTumbling   time.Duration

	Retrain          string // auto | off
	RetrainOn        string // psi | estimated | either
	RetrainCooldown  time.Duration
	RetrainMinLabels int
	RetrainLookback  time.Duration
	Promotion        string // auto | manual
	PromotionMargin  float64

	// Role is primary (registry, UI, API, scheduler, trainer; scores too)
	// or worker (scores its share of the partitions with the deployment it
	// reads from the primary's topics; no registry of its own).
	Role string
	// Cluster makes the primary publish its scoring deployment for workers
	// (and hold the primary lease).
	Cluster bool

	Demo           bool
	DemoRate       float64
	DemoLabelDelay time.Duration
	DemoShiftAfter time.Duration
	DemoRepeat     time.Duration
}

// setting describes one configuration value: its environment name, flag twin,
// default, help text and how it is parsed into a Config.
type setting struct {
	env   string
	flag  string
	def   string
	help  string
	group string
	set   func(c *Config, v string) error
	// get formats the setting's value in c as set parses it (the UI shows it).
	get func(c Config) string
}

// settings lists every configuration value in the order --help shows them.
func settings() []setting {
	return []setting{
		{"DRIFTD_ADDR", "addr", "127.0.0.1:8080", "HTTP listen address (UI, API, /metrics)", "server", func(c *Config, v string) error { return parseAddr(v, &c.Addr) }, func(c Config) string { return c.Addr }},
		{"DRIFTD_DATA_DIR", "data-dir", "./data", "directory for driftd.db, kafka/ and api-token", "server", func(c *Config, v string) error { return nonEmpty(v, &c.DataDir) }, func(c Config) string { return c.DataDir }},
		{"DRIFTD_LOG_LEVEL", "log-level", "info", "log level: debug|info|warn|error", "server", func(c *Config, v string) error { return parseLevel(v, &c.LogLevel) }, func(c Config) string { return strings.ToLower(c.LogLevel.String()) }},
		{"DRIFTD_LOG_FORMAT", "log-format", "text", "log format: text|json", "server", func(c *Config, v string) error { return oneOf(v, &c.LogFormat, "text", "json") }, func(c Config) string { return c.LogFormat }},
		{"DRIFTD_API_TOKEN", "api-token", "", "bearer token for mutating API calls (empty: generated into <data-dir>/api-token)", "security", func(c *Config, v string) error { c.APIToken = v; return nil }, func(c Config) string { return c.APIToken }},
		{"DRIFTD_API_TOKEN_FILE", "api-token-file", "", "file holding the API token (one line; exclusive with DRIFTD_API_TOKEN), so several instances accept the same token", "security", func(c *Config, v string) error { c.APITokenFile = v; return nil }, func(c Config) string { return c.APITokenFile }},
		{"DRIFTD_SESSION_KEY_FILE", "session-key-file", "", "file holding the key that signs UI session cookies (at least 32 bytes, e.g. 64 hex digits from `od -An -N32 -tx1 /dev/urandom`), so several instances accept the same cookies (empty: a key generated into the registry)", "security", func(c *Config, v string) error { c.SessionKeyFile = v; return nil }, func(c Config) string { return c.SessionKeyFile }},
		{"DRIFTD_ADMIN_PASSWORD", "admin-password", "", "password of the UI user admin, applied at every start where it differs (empty: generated on first start into <data-dir>/admin-password, mode 0600)", "security", func(c *Config, v string) error { c.AdminPassword = v; return nil }, func(c Config) string { return c.AdminPassword }},
		{"DRIFTD_TRUSTED_PROXIES", "trusted-proxies", "", "reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For / X-Real-IP are believed; empty: the client address is the TCP peer", "security", func(c *Config, v string) error { return parseCIDRs(v, &c.TrustedProxies) }, func(c Config) string { return cidrs(c.TrustedProxies) }},
		{"DRIFTD_OPEN_READS", "open-reads", "false", "serve data reads (Kafka messages, artifacts, runs, models) without the token or a login; health, readiness, metrics and status are always open", "security", func(c *Config, v string) error { return parseBool(v, &c.OpenReads) }, func(c Config) string { return strconv.FormatBool(c.OpenReads) }},
		{"DRIFTD_SECURE_COOKIES", "secure-cookies", "false", "mark session cookies Secure (set when served over HTTPS)", "security", func(c *Config, v string) error { return parseBool(v, &c.SecureCookies) }, func(c Config) string { return strconv.FormatBool(c.SecureCookies) }},
		{"DRIFTD_SCORING_TOKEN", "scoring-token", "", "bearer token that may call only POST /api/v1/models/{name}/predict and POST /invocations (empty: only the API token scores)", "security", func(c *Config, v string) error { c.ScoringToken = v; return nil }, func(c Config) string { return c.ScoringToken }},
		{"DRIFTD_MAX_BODY_BYTES", "max-body-bytes", "268435456", "largest accepted request body in bytes (model uploads)", "server", func(c *Config, v string) error { return parseInt64(v, &c.MaxBodyBytes, 1) }, func(c Config) string { return strconv.FormatInt(c.MaxBodyBytes, 10) }},
		{"DRIFTD_CUSTOM_METRICS_MAX_SERIES", "custom-metrics-max-series", "1000", "most series POST /api/v1/metrics may create (driftd_custom_*); past it a call gets 429", "server", func(c *Config, v string) error { return parseInt(v, &c.CustomMetricsMaxSeries, 1) }, func(c Config) string { return strconv.Itoa(c.CustomMetricsMaxSeries) }},
		{"DRIFTD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "8s", "how long shutdown waits for in-flight work", "server", func(c *Config, v string) error { return parseDuration(v, &c.ShutdownTimeout) }, func(c Config) string { return c.ShutdownTimeout.String() }},
		{"DRIFTD_SERVING_DRIFT", "serving-drift", "true", "records scored over HTTP feed the deployed model's drift monitor, like the stream's", "server", func(c *Config, v string) error { return parseBool(v, &c.ServingDrift) }, func(c Config) string { return strconv.FormatBool(c.ServingDrift) }},
		{"DRIFTD_SERVING_PUBLISH", "serving-publish", "false", "records scored over HTTP that carry an id are produced to the predictions topic and wait for their labels", "server", func(c *Config, v string) error { return parseBool(v, &c.ServingPublish) }, func(c Config) string { return strconv.FormatBool(c.ServingPublish) }},
		{"DRIFTD_SERVING_MAX_ROWS", "serving-max-rows", "10000", "most records one scoring request may carry; more is a 413", "server", func(c *Config, v string) error { return parseInt(v, &c.ServingMaxRows, 1) }, func(c Config) string { return strconv.Itoa(c.ServingMaxRows) }},
		{"DRIFTD_SERVING_MAX_BODY_BYTES", "serving-max-body-bytes", "4194304", "largest scoring request body in bytes (also capped by DRIFTD_MAX_BODY_BYTES)", "server", func(c *Config, v string) error { return parseInt64(v, &c.ServingMaxBodyBytes, 64) }, func(c Config) string { return strconv.FormatInt(c.ServingMaxBodyBytes, 10) }},
		{"DRIFTD_ENVIRONMENTS", "environments", "dev,staging,production", "deployment environments, comma-separated", "registry", func(c *Config, v string) error { return parseList(v, &c.Environments) }, func(c Config) string { return strings.Join(c.Environments, ",") }},
		{"DRIFTD_SCORING_ENVIRONMENT", "scoring-environment", "production", "environment whose deployed model scores the stream", "registry", func(c *Config, v string) error { return nonEmpty(v, &c.ScoringEnvironment) }, func(c Config) string { return c.ScoringEnvironment }},
		{"DRIFTD_MODEL", "model", "drift-model", "registered model name the stream scores with", "registry", func(c *Config, v string) error { return nonEmpty(v, &c.ModelName) }, func(c Config) string { return c.ModelName }},
		{"DRIFTD_TRAIN_DATA_DIRS", "train-data-dirs", "", "directories, comma-separated, whose CSV files training jobs may read by server path (the data directory always; uploads need none)", "registry", func(c *Config, v string) error { return parseOptList(v, &c.TrainDataDirs) }, func(c Config) string { return strings.Join(c.TrainDataDirs, ",") }},
		{"DRIFTD_DATABASE_URL", "database-url", "", "PostgreSQL DSN that training jobs' queries run on, read-only (postgres://user:password@host:5432/db; empty: jobs read files only)", "registry",
			func(c *Config, v string) error {
				if v != "" {
					if err := train.CheckDSN(v); err != nil {
						return err
					}
				}
				c.DatabaseURL = v
				return nil
			}, func(c Config) string { return c.DatabaseURL }},
		{"KAFKA_BOOTSTRAP_SERVERS", "kafka-bootstrap-servers", "", "external Kafka brokers, comma-separated (empty: start the embedded broker)", "kafka", func(c *Config, v string) error { return parseOptList(v, &c.KafkaBrokers) }, func(c Config) string { return strings.Join(c.KafkaBrokers, ",") }},
		{"DRIFTD_KAFKA_LISTEN", "kafka-listen", "127.0.0.1:9092", "listen address of the embedded broker", "kafka", func(c *Config, v string) error { return parseAddr(v, &c.KafkaListen) }, func(c Config) string { return c.KafkaListen }},
		{"KAFKA_TOPIC", "kafka-topic", "drift-data", "topic of feature records", "kafka", func(c *Config, v string) error { return nonEmpty(v, &c.KafkaTopic) }, func(c Config) string { return c.KafkaTopic }},
		{"KAFKA_GROUP_ID", "kafka-group-id", "drift-monitor-group", "consumer group of the scorer", "kafka", func(c *Config, v string) error { return nonEmpty(v, &c.KafkaGroupID) }, func(c Config) string { return c.KafkaGroupID }},
		{"KAFKA_SESSION_TIMEOUT", "kafka-session-timeout", "10s", "how long the scorers' consumer group waits for a silent member (a process killed with -9) before its partitions move to the others; 6s to 5m (brokers refuse less than their group.min.session.timeout.ms, 6s by default)", "kafka", func(c *Config, v string) error { return parseSessionTimeout(v, &c.KafkaSessionTimeout) }, func(c Config) string { return c.KafkaSessionTimeout.String() }},
		{"DRIFTD_KAFKA_PARTITIONS", "kafka-partitions", "3", "partitions of topics driftd creates", "kafka", func(c *Config, v string) error { return parseInt(v, &c.KafkaPartitions, 1) }, func(c Config) string { return strconv.Itoa(c.KafkaPartitions) }},
		{"DRIFTD_KAFKA_REPLICATION", "kafka-replication", "1", "replication factor of topics driftd creates", "kafka", func(c *Config, v string) error { return parseInt(v, &c.KafkaReplication, 1) }, func(c Config) string { return strconv.Itoa(c.KafkaReplication) }},
		{"DRIFTD_KAFKA_TLS", "kafka-tls", "false", "use TLS to the external cluster", "kafka", func(c *Config, v string) error { return parseBool(v, &c.KafkaTLS) }, func(c Config) string { return strconv.FormatBool(c.KafkaTLS) }},
		{"DRIFTD_KAFKA_TLS_CA_FILE", "kafka-tls-ca-file", "", "PEM CA bundle for the cluster's certificates", "kafka", func(c *Config, v string) error { c.KafkaTLSCAFile = v; return nil }, func(c Config) string { return c.KafkaTLSCAFile }},
		{"DRIFTD_KAFKA_TLS_CERT_FILE", "kafka-tls-cert-file", "", "PEM client certificate", "kafka", func(c *Config, v string) error { c.KafkaTLSCertFile = v; return nil }, func(c Config) string { return c.KafkaTLSCertFile }},
		{"DRIFTD_KAFKA_TLS_KEY_FILE", "kafka-tls-key-file", "", "PEM client key", "kafka", func(c *Config, v string) error { c.KafkaTLSKeyFile = v; return nil }, func(c Config) string { return c.KafkaTLSKeyFile }},
		{"DRIFTD_KAFKA_TLS_SKIP_VERIFY", "kafka-tls-skip-verify", "false", "skip verifying the cluster's certificate (unsafe)", "kafka", func(c *Config, v string) error { return parseBool(v, &c.KafkaTLSSkipVerify) }, func(c Config) string { return strconv.FormatBool(c.KafkaTLSSkipVerify) }},
		{"DRIFTD_KAFKA_SASL_MECHANISM", "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN|SCRAM-SHA-256|SCRAM-SHA-512 (empty: none)", "kafka", func(c *Config, v string) error {
			if v == "" {
				c.KafkaSASLMechanism = ""
				return nil
			}
			return oneOf(strings.ToUpper(v), &c.KafkaSASLMechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
		}, func(c Config) string { return c.KafkaSASLMechanism }},
		{"DRIFTD_KAFKA_SASL_USERNAME", "kafka-sasl-username", "", "SASL user name", "kafka", func(c *Config, v string) error { c.KafkaSASLUser = v; return nil }, func(c Config) string { return c.KafkaSASLUser }},
		{"DRIFTD_KAFKA_SASL_PASSWORD", "kafka-sasl-password", "", "SASL password", "kafka", func(c *Config, v string) error { c.KafkaSASLPassword = v; return nil }, func(c Config) string { return c.KafkaSASLPassword }},
		{"DRIFTD_KAFKA_SYNC_WRITES", "kafka-sync-writes", "false", "embedded broker: fsync every batch before acknowledging it (survives power loss; slower); false: acknowledged writes survive a crash of driftd, not of the machine", "kafka", func(c *Config, v string) error { return parseBool(v, &c.KafkaSyncWrites) }, func(c Config) string { return strconv.FormatBool(c.KafkaSyncWrites) }},
		{"DRIFTD_KAFKA_RETENTION", "kafka-retention", "168h", "embedded broker: records older than this are deleted from the topics driftd creates", "kafka", func(c *Config, v string) error { return parsePositiveDuration(v, &c.KafkaRetention) }, func(c Config) string { return c.KafkaRetention.String() }},
		{"DRIFTD_KAFKA_RETENTION_BYTES", "kafka-retention-bytes", "1073741824", "embedded broker: bytes kept per partition of the topics driftd creates; older segments are deleted beyond it", "kafka", func(c *Config, v string) error { return parseInt64(v, &c.KafkaRetentionBytes, 1<<20) }, func(c Config) string { return strconv.FormatInt(c.KafkaRetentionBytes, 10) }},
		{"DRIFTD_ROLE", "role", "primary", "primary (registry, UI, API, scheduler, trainer; scores too) or worker (scores its share of the features topic's partitions with the deployment the primary publishes; serves /healthz, /readyz, /metrics and /api/v1/status only; needs KAFKA_BOOTSTRAP_SERVERS)", "cluster", func(c *Config, v string) error { return oneOf(v, &c.Role, "primary", "worker") }, func(c Config) string { return c.Role }},
		{"DRIFTD_CLUSTER", "cluster", "false", "primary: publish the scoring environment's deployment and the deployed versions' artifacts to the compacted topics driftd-deployments and driftd-artifacts for workers, and refuse to start while another primary holds the lease", "cluster", func(c *Config, v string) error { return parseBool(v, &c.Cluster) }, func(c Config) string { return strconv.FormatBool(c.Cluster) }},
		{"DRIFT_WINDOW_SIZE", "drift-window-size", "1000", "records in the sliding drift window", "drift", func(c *Config, v string) error { return parseInt(v, &c.DriftWindowSize, 1) }, func(c Config) string { return strconv.Itoa(c.DriftWindowSize) }},
		{"DRIFT_CHECK_INTERVAL", "drift-check-interval", "100", "records between two drift checks", "drift", func(c *Config, v string) error { return parseInt(v, &c.DriftCheckInterval, 1) }, func(c Config) string { return strconv.Itoa(c.DriftCheckInterval) }},
		{"DRIFTD_DRIFT_MIN_WINDOW", "drift-min-window", "100", "records the window must hold before the first check", "drift", func(c *Config, v string) error { return parseInt(v, &c.DriftMinWindow, 1) }, func(c Config) string { return strconv.Itoa(c.DriftMinWindow) }},
		{"DRIFTD_DRIFT_WINDOW", "drift-window", "0s", "time-based tumbling drift window (like 5m) for low-traffic streams; 0s keeps the sliding window of DRIFT_WINDOW_SIZE records", "drift", func(c *Config, v string) error { return parseDuration(v, &c.DriftTumbling) }, func(c Config) string { return c.DriftTumbling.String() }},
		{"DRIFTD_DRIFT_BINS", "drift-bins", "10", "bins per numeric feature in reference profiles", "drift", func(c *Config, v string) error { return parseInt(v, &c.DriftBins, 2) }, func(c Config) string { return strconv.Itoa(c.DriftBins) }},
		{"RETRAIN_THRESHOLD", "retrain-threshold", "0.15", "largest feature PSI above which a drift check triggers the retrain flow (with DRIFTD_RETRAIN=auto)", "drift", func(c *Config, v string) error { return parsePositiveFloat(v, &c.RetrainThreshold, 100) }, func(c Config) string { return formatFloat(c.RetrainThreshold) }},
		{"DRIFTD_ALERT_THRESHOLD", "alert-threshold", "0.25", "PSI at which a feature counts as drifted for alerts", "drift", func(c *Config, v string) error { return parsePositiveFloat(v, &c.AlertThreshold, 100) }, func(c Config) string { return formatFloat(c.AlertThreshold) }},
		{"DRIFTD_DRIFT_SHARE", "drift-share", "0.5", "share of drifted features that makes dataset drift", "drift", func(c *Config, v string) error { return parseFloat(v, &c.DriftShare, 0, 1) }, func(c Config) string { return formatFloat(c.DriftShare) }},
		{"DRIFTD_DRIFT_THRESHOLDS", "drift-thresholds", "band", "verdict rule: band (a statistic drifts above the band its noise reaches on reference chunks of the window's size; the first check waits until the window can tell drift from noise) or fixed (the tests' fixed thresholds from the minimum window)", "drift", func(c *Config, v string) error { return oneOf(v, &c.DriftThresholds, "band", "fixed") }, func(c Config) string { return c.DriftThresholds }},
		{"DRIFTD_RETRAIN", "retrain", "auto", "retrain on drift: auto (a check above RETRAIN_THRESHOLD starts the retrain flow) or off", "retrain", func(c *Config, v string) error { return oneOf(v, &c.Retrain, "auto", "off") }, func(c Config) string { return c.Retrain }},
		{"DRIFTD_RETRAIN_ON", "retrain-on", "psi", "what starts a retrain: psi (the largest feature PSI above RETRAIN_THRESHOLD), estimated (accuracy or AUC estimated without labels below the range expected without a shift; PSI for versions without a calibrator) or either", "retrain", func(c *Config, v string) error { return oneOf(v, &c.RetrainOn, "psi", "estimated", "either") }, func(c Config) string { return c.RetrainOn }},
		{"DRIFTD_RETRAIN_COOLDOWN", "retrain-cooldown", "10m", "no new retrain on drift within this time of the last one", "retrain", func(c *Config, v string) error { return parseDuration(v, &c.RetrainCooldown) }, func(c Config) string { return c.RetrainCooldown.String() }},
		{"DRIFTD_RETRAIN_MIN_LABELS", "retrain-min-labels", "500", "labelled records since the drift began that a retrain needs", "retrain", func(c *Config, v string) error { return parseInt(v, &c.RetrainMinLabels, 10) }, func(c Config) string { return strconv.Itoa(c.RetrainMinLabels) }},
		{"DRIFTD_RETRAIN_LOOKBACK", "retrain-lookback", "1h", "how far back the retrain flow reads labelled records from Kafka", "retrain", func(c *Config, v string) error { return parsePositiveDuration(v, &c.RetrainLookback) }, func(c Config) string { return c.RetrainLookback.String() }},
		{"DRIFTD_PROMOTION", "promotion", "auto", "auto deploys a challenger that passes the gate; manual gives it the alias challenger and waits for an operator's approval", "retrain", func(c *Config, v string) error { return oneOf(v, &c.Promotion, "auto", "manual") }, func(c Config) string { return c.Promotion }},
		{"DRIFTD_PROMOTION_MARGIN", "promotion-margin", "0.005", "how much better than the champion (AUC, accuracy; lower RMSE) a challenger must score on the held-out records", "retrain", func(c *Config, v string) error { return parseFloat(v, &c.PromotionMargin, 0, 1e9) }, func(c Config) string { return formatFloat(c.PromotionMargin) }},
		{"DRIFTD_DEMO", "demo", "false", "demo mode: train a model on built-in synthetic data, stream records and delayed labels, shift them, and let the loop retrain (never for production)", "demo", func(c *Config, v string) error { return parseBool(v, &c.Demo) }, func(c Config) string { return strconv.FormatBool(c.Demo) }},
		{"DRIFTD_DEMO_RATE", "demo-rate", "50", "demo feature records per second", "demo", func(c *Config, v string) error { return parseFloat(v, &c.DemoRate, 0.1, 1e6) }, func(c Config) string { return formatFloat(c.DemoRate) }},
		{"DRIFTD_DEMO_LABEL_DELAY", "demo-label-delay", "5s", "how long after its features a demo record's label arrives", "demo", func(c *Config, v string) error { return parseDuration(v, &c.DemoLabelDelay) }, func(c Config) string { return c.DemoLabelDelay.String() }},
		{"DRIFTD_DEMO_SHIFT_AFTER", "demo-shift-after", "2m", "when the demo shifts the features and the concept, after scoring starts", "demo", func(c *Config, v string) error { return parsePositiveDuration(v, &c.DemoShiftAfter) }, func(c Config) string { return c.DemoShiftAfter.String() }},
		{"DRIFTD_DEMO_REPEAT", "demo-repeat", "3m", "after a promotion, when the demo shifts again", "demo", func(c *Config, v string) error { return parsePositiveDuration(v, &c.DemoRepeat) }, func(c Config) string { return c.DemoRepeat.String() }},
	}
}

// ErrHelp is returned by LoadConfig when --help was asked for; the usage has
// already been written.
var ErrHelp = flag.ErrHelp

// LoadConfig builds a Config from command-line args, the process environment
// (lookup) and the contents of an optional .env file (dotenv, may be empty).
// Flags win over the environment, which wins over .env. Usage goes to out.
// It returns an error naming the offending variable or flag.
func LoadConfig(args []string, lookup func(string) (string, bool), dotenv string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	envs := make([]string, 0, len(settings()))
	for _, s := range settings() {
		envs = append(envs, s.env)
	}
	sf := RegisterSettings(fs, envs...)
	fs.Usage = func() {
		WriteUsage(out, "serve", "Run the driftd server: UI, API, metrics, embedded Kafka broker and scorer.")
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return sf.Config(lookup, dotenv)
}

// demoDefaults are the settings demo mode changes, unless they were given:
// a window and labels requirement small enough that the loop turns within
// minutes at the demo's record rate.
func demoDefaults() []struct {
	env string
	set func(c *Config)
} {
	return []struct {
		env string
		set func(c *Config)
	}{
		{"DRIFT_WINDOW_SIZE", func(c *Config) { c.DriftWindowSize = 500 }},
		{"DRIFT_CHECK_INTERVAL", func(c *Config) { c.DriftCheckInterval = 50 }},
		// The first check waits for a full window: a clean baseline, no
		// false alarm from the first hundred records.
		{"DRIFTD_DRIFT_MIN_WINDOW", func(c *Config) { c.DriftMinWindow = 500 }},
		{"DRIFTD_RETRAIN_COOLDOWN", func(c *Config) { c.RetrainCooldown = time.Minute }},
		{"DRIFTD_RETRAIN_MIN_LABELS", func(c *Config) { c.RetrainMinLabels = 400 }},
		{"DRIFTD_RETRAIN_LOOKBACK", func(c *Config) { c.RetrainLookback = 10 * time.Minute }},
	}
}

// applyDemoDefaults sets demoDefaults on the settings not given explicitly.
func (c *Config) applyDemoDefaults(given map[string]bool) {
	for _, d := range demoDefaults() {
		if !given[d.env] {
			d.set(c)
		}
	}
}

// validate checks rules that involve more than one setting.
func (c Config) validate() error {
	found := false
	for _, e := range c.Environments {
		if e == c.ScoringEnvironment {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("DRIFTD_SCORING_ENVIRONMENT: %q is not one of DRIFTD_ENVIRONMENTS %v", c.ScoringEnvironment, c.Environments)
	}
	if c.DriftCheckInterval > c.DriftWindowSize {
		return fmt.Errorf("DRIFT_CHECK_INTERVAL: %d is larger than DRIFT_WINDOW_SIZE %d", c.DriftCheckInterval, c.DriftWindowSize)
	}
	if c.DriftMinWindow > c.DriftWindowSize {
		return fmt.Errorf("DRIFTD_DRIFT_MIN_WINDOW: %d is larger than DRIFT_WINDOW_SIZE %d", c.DriftMinWindow, c.DriftWindowSize)
	}
	if (c.KafkaTLSCertFile == "") != (c.KafkaTLSKeyFile == "") {
		return errors.New("DRIFTD_KAFKA_TLS_CERT_FILE and DRIFTD_KAFKA_TLS_KEY_FILE must be set together")
	}
	if c.KafkaSASLMechanism != "" && c.KafkaSASLUser == "" {
		return errors.New("DRIFTD_KAFKA_SASL_USERNAME: required when DRIFTD_KAFKA_SASL_MECHANISM is set")
	}
	if c.APIToken != "" && c.APITokenFile != "" {
		return errors.New("DRIFTD_API_TOKEN and DRIFTD_API_TOKEN_FILE: set one, not both")
	}
	if c.Cluster && c.Role == "primary" && len(c.KafkaBrokers) == 0 {
		return errors.New("DRIFTD_CLUSTER=true: set KAFKA_BOOTSTRAP_SERVERS to the cluster the primary and its workers share (the embedded broker of one process is no place for the others' records)")
	}
	if c.Role == "worker" {
		if len(c.KafkaBrokers) == 0 {
			return errors.New("DRIFTD_ROLE=worker: set KAFKA_BOOTSTRAP_SERVERS to the cluster the primary publishes to (a worker starts no broker)")
		}
		if c.Demo {
			return errors.New("DRIFTD_DEMO: the demo runs on the primary, not on a worker (DRIFTD_ROLE=worker)")
		}
	}
	return nil
}

// WriteUsage prints the usage of a command that takes the server settings:
// every flag with its environment twin and default, grouped.
func WriteUsage(w io.Writer, cmd, summary string) {
	fmt.Fprintf(w, "Usage: driftd %s [flags]\n\n%s\n\nEvery flag has an environment twin; flags win over the environment, which wins over ./.env.\n", cmd, summary)
	group := ""
	for _, s := range settings() {
		if s.group != group {
			group = s.group
			fmt.Fprintf(w, "\n%s:\n", group)
		}
		def := s.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%-28s %-28s default %s\n      %s\n", s.flag, s.env, def, s.help)
	}
}

// SettingsTable returns (env, flag, default, help) rows, for the README and the UI.
func SettingsTable() [][4]string {
	var rows [][4]string
	for _, s := range settings() {
		rows = append(rows, [4]string{s.env, "--" + s.flag, s.def, s.help})
	}
	return rows
}

// ParseDotEnv parses KEY=VALUE lines; blank lines and # comments are skipped,
// values may be single- or double-quoted, and `export ` prefixes are allowed.
// It returns an error naming the line for anything else.
func ParseDotEnv(text string) (map[string]string, error) {
	vals := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			return nil, fmt.Errorf(".env:%d: expected KEY=VALUE, got %q", i+1, line)
		}
		v = strings.TrimSpace(v)
		if n := len(v); n >= 2 && (v[0] == '"' && v[n-1] == '"' || v[0] == '\'' && v[n-1] == '\'') {
			v = v[1 : n-1]
		} else if j := strings.Index(v, " #"); j >= 0 {
			v = strings.TrimSpace(v[:j])
		}
		vals[k] = v
	}
	return vals, nil
}

func parseInt(v string, dst *int, min int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("not an integer: %q", v)
	}
	if n < min {
		return fmt.Errorf("must be at least %d, got %d", min, n)
	}
	*dst = n
	return nil
}

func parseInt64(v string, dst *int64, min int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", v)
	}
	if n < min {
		return fmt.Errorf("must be at least %d, got %d", min, n)
	}
	*dst = n
	return nil
}

func parseFloat(v string, dst *float64, min, max float64) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", v)
	}
	if f != f || f < min || f > max {
		return fmt.Errorf("must be between %g and %g, got %s", min, max, v)
	}
	*dst = f
	return nil
}

// parsePositiveFloat parses a number in (0, max]: zero would silently mean
// "the default" further down, so it is refused here.
func parsePositiveFloat(v string, dst *float64, max float64) error {
	if err := parseFloat(v, dst, 0, max); err != nil {
		return err
	}
	if *dst == 0 {
		return fmt.Errorf("must be greater than 0, got %s", v)
	}
	return nil
}

func parseBool(v string, dst *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("not a boolean (true|false): %q", v)
	}
	*dst = b
	return nil
}

func parseDuration(v string, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("not a duration (like 30s, 5m): %q", v)
	}
	if d < 0 {
		return fmt.Errorf("must not be negative, got %s", v)
	}
	*dst = d
	return nil
}

// parseSessionTimeout reads a consumer group session timeout, within the
// range brokers accept by default.
func parseSessionTimeout(v string, dst *time.Duration) error {
	var d time.Duration
	if err := parseDuration(v, &d); err != nil {
		return err
	}
	if d < 6*time.Second || d > 5*time.Minute {
		return fmt.Errorf("must be between 6s and 5m, got %s", v)
	}
	*dst = d
	return nil
}

func parseCIDRs(v string, dst *[]*net.IPNet) error {
	var items []string
	if err := parseOptList(v, &items); err != nil {
		return err
	}
	var out []*net.IPNet
	for _, it := range items {
		if !strings.Contains(it, "/") {
			ip := net.ParseIP(it)
			if ip == nil {
				return fmt.Errorf("not an IP address or CIDR: %q", it)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(it)
		if err != nil {
			return fmt.Errorf("not an IP address or CIDR: %q", it)
		}
		out = append(out, n)
	}
	*dst = out
	return nil
}

func parsePositiveDuration(v string, dst *time.Duration) error {
	if err := parseDuration(v, dst); err != nil {
		return err
	}
	if *dst == 0 {
		return fmt.Errorf("must be longer than 0s, got %s", v)
	}
	return nil
}

func parseAddr(v string, dst *string) error {
	if _, port, err := net.SplitHostPort(v); err != nil {
		return fmt.Errorf("not a host:port address: %q", v)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("not a valid port in %q", v)
	}
	*dst = v
	return nil
}

func parseLevel(v string, dst *slog.Level) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return fmt.Errorf("not a log level (debug|info|warn|error): %q", v)
	}
	*dst = l
	return nil
}

func oneOf(v string, dst *string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	return fmt.Errorf("must be one of %s, got %q", strings.Join(allowed, "|"), v)
}

func nonEmpty(v string, dst *string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	*dst = v
	return nil
}

func parseList(v string, dst *[]string) error {
	if err := parseOptList(v, dst); err != nil {
		return err
	}
	if len(*dst) == 0 {
		return errors.New("must not be empty")
	}
	return nil
}

func parseOptList(v string, dst *[]string) error {
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if seen[p] {
			return fmt.Errorf("duplicate entry %q", p)
		}
		seen[p] = true
		out = append(out, p)
	}
	*dst = out
	return nil
}
