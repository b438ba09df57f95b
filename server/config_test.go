package server

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// lookupMap turns a map into an environment lookup function.
func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustLoad(tb testing.TB, args []string, env map[string]string, dotenv string) Config {
	tb.Helper()
	c, err := LoadConfig(args, lookupMap(env), dotenv, io.Discard)
	if err != nil {
		tb.Fatalf("LoadConfig: %v", err)
	}
	return c
}

func TestConfigDefaults(t *testing.T) {
	c := mustLoad(t, nil, nil, "")
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"addr", c.Addr, "127.0.0.1:8080"},
		{"data dir", c.DataDir, "./data"},
		{"topic", c.KafkaTopic, "drift-data"},
		{"group", c.KafkaGroupID, "drift-monitor-group"},
		{"window", c.DriftWindowSize, 1000},
		{"interval", c.DriftCheckInterval, 100},
		{"retrain", c.RetrainThreshold, 0.15},
		{"alert", c.AlertThreshold, 0.25},
		{"brokers", len(c.KafkaBrokers), 0},
		{"listen", c.KafkaListen, "127.0.0.1:9092"},
		{"envs", c.Environments, []string{"dev", "staging", "production"}},
		{"log level", c.LogLevel, slog.LevelInfo},
		{"shutdown", c.ShutdownTimeout, 8 * time.Second},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// TestConfigValues checks every variable with a good and a bad value and the
// exact error text of the bad one.
func TestConfigValues(t *testing.T) {
	cases := []struct {
		env     string
		good    string
		check   func(Config) bool
		bad     string
		wantErr string
	}{
		{"DRIFTD_ADDR", ":9999", func(c Config) bool { return c.Addr == ":9999" }, "nohost", `DRIFTD_ADDR: not a host:port address: "nohost"`},
		{"DRIFTD_DATA_DIR", "/tmp/x", func(c Config) bool { return c.DataDir == "/tmp/x" }, "", `DRIFTD_DATA_DIR: must not be empty`},
		{"DRIFTD_LOG_LEVEL", "debug", func(c Config) bool { return c.LogLevel == slog.LevelDebug }, "loud", `DRIFTD_LOG_LEVEL: not a log level (debug|info|warn|error): "loud"`},
		{"DRIFTD_LOG_FORMAT", "json", func(c Config) bool { return c.LogFormat == "json" }, "xml", `DRIFTD_LOG_FORMAT: must be one of text|json, got "xml"`},
		{"DRIFTD_API_TOKEN", "tok", func(c Config) bool { return c.APIToken == "tok" }, "", ""},
		{"DRIFTD_API_TOKEN_FILE", "/run/secrets/token", func(c Config) bool { return c.APITokenFile == "/run/secrets/token" }, "", ""},
		{"DRIFTD_SESSION_KEY_FILE", "/run/secrets/key", func(c Config) bool { return c.SessionKeyFile == "/run/secrets/key" }, "", ""},
		{"DRIFTD_ROLE", "primary", func(c Config) bool { return c.Role == "primary" }, "leader", `DRIFTD_ROLE: must be one of primary|worker, got "leader"`},
		{"DRIFTD_CLUSTER", "false", func(c Config) bool { return !c.Cluster }, "yes", `DRIFTD_CLUSTER: not a boolean (true|false): "yes"`},
		{"DRIFTD_ADMIN_PASSWORD", "pw123456", func(c Config) bool { return c.AdminPassword == "pw123456" }, "", ""},
		{"DRIFTD_SECURE_COOKIES", "true", func(c Config) bool { return c.SecureCookies }, "yes", `DRIFTD_SECURE_COOKIES: not a boolean (true|false): "yes"`},
		{"DRIFTD_MAX_BODY_BYTES", "1024", func(c Config) bool { return c.MaxBodyBytes == 1024 }, "0", `DRIFTD_MAX_BODY_BYTES: must be at least 1, got 0`},
		{"DRIFTD_CUSTOM_METRICS_MAX_SERIES", "20", func(c Config) bool { return c.CustomMetricsMaxSeries == 20 }, "x", `DRIFTD_CUSTOM_METRICS_MAX_SERIES: not an integer: "x"`},
		{"DRIFTD_SCORING_TOKEN", "score-only", func(c Config) bool { return c.ScoringToken == "score-only" }, "", ""},
		{"DRIFTD_SERVING_DRIFT", "false", func(c Config) bool { return !c.ServingDrift }, "off", `DRIFTD_SERVING_DRIFT: not a boolean (true|false): "off"`},
		{"DRIFTD_SERVING_PUBLISH", "true", func(c Config) bool { return c.ServingPublish }, "on", `DRIFTD_SERVING_PUBLISH: not a boolean (true|false): "on"`},
		{"DRIFTD_SERVING_MAX_ROWS", "500", func(c Config) bool { return c.ServingMaxRows == 500 }, "0", `DRIFTD_SERVING_MAX_ROWS: must be at least 1, got 0`},
		{"DRIFTD_SERVING_MAX_BODY_BYTES", "65536", func(c Config) bool { return c.ServingMaxBodyBytes == 65536 }, "10", `DRIFTD_SERVING_MAX_BODY_BYTES: must be at least 64, got 10`},
		{"DRIFTD_SHUTDOWN_TIMEOUT", "3s", func(c Config) bool { return c.ShutdownTimeout == 3*time.Second }, "soon", `DRIFTD_SHUTDOWN_TIMEOUT: not a duration (like 30s, 5m): "soon"`},
		{"DRIFTD_ENVIRONMENTS", "qa,production", func(c Config) bool { return len(c.Environments) == 2 }, "a,a", `DRIFTD_ENVIRONMENTS: duplicate entry "a"`},
		{"DRIFTD_SCORING_ENVIRONMENT", "staging", func(c Config) bool { return c.ScoringEnvironment == "staging" }, "moon", `DRIFTD_SCORING_ENVIRONMENT: "moon" is not one of DRIFTD_ENVIRONMENTS [dev staging production]`},
		{"DRIFTD_MODEL", "churn", func(c Config) bool { return c.ModelName == "churn" }, "", `DRIFTD_MODEL: must not be empty`},
		{"DRIFTD_TRAIN_DATA_DIRS", "/srv/a,/srv/b", func(c Config) bool { return len(c.TrainDataDirs) == 2 }, "/srv/a,/srv/a", `DRIFTD_TRAIN_DATA_DIRS: duplicate entry "/srv/a"`},
		{"KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092", func(c Config) bool { return len(c.KafkaBrokers) == 2 }, "k1:1,k1:1", `KAFKA_BOOTSTRAP_SERVERS: duplicate entry "k1:1"`},
		{"DRIFTD_KAFKA_LISTEN", "127.0.0.1:0", func(c Config) bool { return c.KafkaListen == "127.0.0.1:0" }, "127.0.0.1:99999", `DRIFTD_KAFKA_LISTEN: not a valid port in "127.0.0.1:99999"`},
		{"KAFKA_TOPIC", "feats", func(c Config) bool { return c.KafkaTopic == "feats" }, "", `KAFKA_TOPIC: must not be empty`},
		{"KAFKA_GROUP_ID", "g", func(c Config) bool { return c.KafkaGroupID == "g" }, "", `KAFKA_GROUP_ID: must not be empty`},
		{"KAFKA_SESSION_TIMEOUT", "20s", func(c Config) bool { return c.KafkaSessionTimeout == 20*time.Second }, "2s", `KAFKA_SESSION_TIMEOUT: must be between 6s and 5m, got 2s`},
		{"DRIFTD_KAFKA_PARTITIONS", "6", func(c Config) bool { return c.KafkaPartitions == 6 }, "many", `DRIFTD_KAFKA_PARTITIONS: not an integer: "many"`},
		{"DRIFTD_KAFKA_REPLICATION", "3", func(c Config) bool { return c.KafkaReplication == 3 }, "0", `DRIFTD_KAFKA_REPLICATION: must be at least 1, got 0`},
		{"DRIFTD_KAFKA_TLS", "true", func(c Config) bool { return c.KafkaTLS }, "on", `DRIFTD_KAFKA_TLS: not a boolean (true|false): "on"`},
		{"DRIFTD_KAFKA_TLS_CA_FILE", "/ca.pem", func(c Config) bool { return c.KafkaTLSCAFile == "/ca.pem" }, "", ""},
		{"DRIFTD_KAFKA_TLS_SKIP_VERIFY", "false", func(c Config) bool { return !c.KafkaTLSSkipVerify }, "nah", `DRIFTD_KAFKA_TLS_SKIP_VERIFY: not a boolean (true|false): "nah"`},
		{"DRIFTD_KAFKA_SASL_MECHANISM", "", func(c Config) bool { return c.KafkaSASLMechanism == "" }, "GSSAPI", `DRIFTD_KAFKA_SASL_MECHANISM: must be one of PLAIN|SCRAM-SHA-256|SCRAM-SHA-512, got "GSSAPI"`},
		{"DRIFT_WINDOW_SIZE", "500", func(c Config) bool { return c.DriftWindowSize == 500 }, "abc", `DRIFT_WINDOW_SIZE: not an integer: "abc"`},
		{"DRIFT_CHECK_INTERVAL", "50", func(c Config) bool { return c.DriftCheckInterval == 50 }, "5000", `DRIFT_CHECK_INTERVAL: 5000 is larger than DRIFT_WINDOW_SIZE 1000`},
		{"DRIFTD_DRIFT_MIN_WINDOW", "200", func(c Config) bool { return c.DriftMinWindow == 200 }, "-1", `DRIFTD_DRIFT_MIN_WINDOW: must be at least 1, got -1`},
		{"DRIFTD_DRIFT_WINDOW", "5m", func(c Config) bool { return c.DriftTumbling == 5*time.Minute }, "5 minutes", `DRIFTD_DRIFT_WINDOW: not a duration (like 30s, 5m): "5 minutes"`},
		{"DRIFTD_DRIFT_BINS", "20", func(c Config) bool { return c.DriftBins == 20 }, "1", `DRIFTD_DRIFT_BINS: must be at least 2, got 1`},
		{"RETRAIN_THRESHOLD", "0.2", func(c Config) bool { return c.RetrainThreshold == 0.2 }, "high", `RETRAIN_THRESHOLD: not a number: "high"`},
		{"DRIFTD_ALERT_THRESHOLD", "0.3", func(c Config) bool { return c.AlertThreshold == 0.3 }, "0", `DRIFTD_ALERT_THRESHOLD: must be greater than 0, got 0`},
		{"DRIFTD_DRIFT_THRESHOLDS", "fixed", func(c Config) bool { return c.DriftThresholds == "fixed" }, "loose", `DRIFTD_DRIFT_THRESHOLDS: must be one of band|fixed, got "loose"`},
		{"DRIFTD_DRIFT_SHARE", "0.4", func(c Config) bool { return c.DriftShare == 0.4 }, "1.5", `DRIFTD_DRIFT_SHARE: must be between 0 and 1, got 1.5`},
		{"DRIFTD_TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.7", func(c Config) bool {
			return len(c.TrustedProxies) == 2 && c.TrustedProxies[1].String() == "192.168.1.7/32"
		}, "10.0.0.0/33", `DRIFTD_TRUSTED_PROXIES: not an IP address or CIDR: "10.0.0.0/33"`},
		{"DRIFTD_OPEN_READS", "true", func(c Config) bool { return c.OpenReads }, "sure", `DRIFTD_OPEN_READS: not a boolean (true|false): "sure"`},
		{"DRIFTD_KAFKA_SYNC_WRITES", "true", func(c Config) bool { return c.KafkaSyncWrites }, "always", `DRIFTD_KAFKA_SYNC_WRITES: not a boolean (true|false): "always"`},
		{"DRIFTD_KAFKA_RETENTION", "24h", func(c Config) bool { return c.KafkaRetention == 24*time.Hour }, "0s", `DRIFTD_KAFKA_RETENTION: must be longer than 0s, got 0s`},
		{"DRIFTD_KAFKA_RETENTION_BYTES", "2097152", func(c Config) bool { return c.KafkaRetentionBytes == 2<<20 }, "100", `DRIFTD_KAFKA_RETENTION_BYTES: must be at least 1048576, got 100`},
		{"DRIFTD_RETRAIN", "off", func(c Config) bool { return c.Retrain == "off" }, "sometimes", `DRIFTD_RETRAIN: must be one of auto|off, got "sometimes"`},
		{"DRIFTD_DATABASE_URL", "postgres://driftd:s3cret@db:5432/sales", func(c Config) bool { return c.DatabaseURL == "postgres://driftd:s3cret@db:5432/sales" },
			"postgres://u:s3cret@db:notaport/x", "DRIFTD_DATABASE_URL: invalid PostgreSQL DSN: cannot parse `postgres://u:xxxxx@db:notaport/x`: invalid port"},
		{"DRIFTD_RETRAIN_ON", "estimated", func(c Config) bool { return c.RetrainOn == "estimated" }, "labels", `DRIFTD_RETRAIN_ON: must be one of psi|estimated|either, got "labels"`},
		{"DRIFTD_RETRAIN_COOLDOWN", "30m", func(c Config) bool { return c.RetrainCooldown == 30*time.Minute }, "-1s", `DRIFTD_RETRAIN_COOLDOWN: must not be negative, got -1s`},
		{"DRIFTD_RETRAIN_MIN_LABELS", "1000", func(c Config) bool { return c.RetrainMinLabels == 1000 }, "5", `DRIFTD_RETRAIN_MIN_LABELS: must be at least 10, got 5`},
		{"DRIFTD_RETRAIN_LOOKBACK", "6h", func(c Config) bool { return c.RetrainLookback == 6*time.Hour }, "0s", `DRIFTD_RETRAIN_LOOKBACK: must be longer than 0s, got 0s`},
		{"DRIFTD_PROMOTION", "manual", func(c Config) bool { return c.Promotion == "manual" }, "yolo", `DRIFTD_PROMOTION: must be one of auto|manual, got "yolo"`},
		{"DRIFTD_PROMOTION_MARGIN", "0.01", func(c Config) bool { return c.PromotionMargin == 0.01 }, "x", `DRIFTD_PROMOTION_MARGIN: not a number: "x"`},
		{"DRIFTD_DEMO", "true", func(c Config) bool { return c.Demo }, "maybe", `DRIFTD_DEMO: not a boolean (true|false): "maybe"`},
		{"DRIFTD_DEMO_RATE", "200", func(c Config) bool { return c.DemoRate == 200 }, "0", `DRIFTD_DEMO_RATE: must be between 0.1 and 1e+06, got 0`},
		{"DRIFTD_DEMO_LABEL_DELAY", "1s", func(c Config) bool { return c.DemoLabelDelay == time.Second }, "later", `DRIFTD_DEMO_LABEL_DELAY: not a duration (like 30s, 5m): "later"`},
		{"DRIFTD_DEMO_SHIFT_AFTER", "30s", func(c Config) bool { return c.DemoShiftAfter == 30*time.Second }, "0s", `DRIFTD_DEMO_SHIFT_AFTER: must be longer than 0s, got 0s`},
		{"DRIFTD_DEMO_REPEAT", "10m", func(c Config) bool { return c.DemoRepeat == 10*time.Minute }, "0s", `DRIFTD_DEMO_REPEAT: must be longer than 0s, got 0s`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.env] = true
		t.Run(tc.env, func(t *testing.T) {
			c := mustLoad(t, nil, map[string]string{tc.env: tc.good}, "")
			if !tc.check(c) {
				t.Errorf("%s=%q not applied: %+v", tc.env, tc.good, c)
			}
			// get shows the value as set parses it (the settings page).
			s := mustSetting(t, tc.env)
			back := Config{}
			if err := s.set(&back, s.get(c)); err != nil || !tc.check(back) {
				t.Errorf("%s: get gave %q, which set reads back as %+v (%v)", tc.env, s.get(c), back, err)
			}
			if tc.wantErr == "" {
				return
			}
			_, err := LoadConfig(nil, lookupMap(map[string]string{tc.env: tc.bad}), "", io.Discard)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s=%q: error %v, want %q", tc.env, tc.bad, err, tc.wantErr)
			}
		})
	}
	// Every setting not in the table must be covered by a dedicated test below.
	others := map[string]bool{"DRIFTD_KAFKA_TLS_CERT_FILE": true, "DRIFTD_KAFKA_TLS_KEY_FILE": true,
		"DRIFTD_KAFKA_SASL_USERNAME": true, "DRIFTD_KAFKA_SASL_PASSWORD": true}
	for _, s := range settings() {
		if !seen[s.env] && !others[s.env] {
			t.Errorf("setting %s has no case in TestConfigValues", s.env)
		}
	}
}

// TestConfigDemo checks that --demo may be given bare and that demo mode
// shortens only the settings not given explicitly.
func TestConfigDemo(t *testing.T) {
	c := mustLoad(t, []string{"--demo"}, map[string]string{"DRIFT_CHECK_INTERVAL": "25"}, "")
	if !c.Demo {
		t.Fatal("--demo given bare did not turn demo mode on")
	}
	if c.DriftWindowSize != 500 || c.RetrainMinLabels != 400 || c.RetrainCooldown != time.Minute {
		t.Errorf("demo defaults not applied: window %d, min labels %d, cooldown %s", c.DriftWindowSize, c.RetrainMinLabels, c.RetrainCooldown)
	}
	if c.DriftCheckInterval != 25 {
		t.Errorf("DRIFT_CHECK_INTERVAL given in the environment was overridden by demo mode: %d", c.DriftCheckInterval)
	}
	if c := mustLoad(t, nil, nil, ""); c.Demo || c.DriftWindowSize != 1000 {
		t.Errorf("demo mode on by default or its defaults leak: demo %v window %d", c.Demo, c.DriftWindowSize)
	}
	if c := mustLoad(t, []string{"--demo=false"}, nil, ""); c.Demo {
		t.Error("--demo=false turned demo mode on")
	}
}

func TestConfigPairs(t *testing.T) {
	cases := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{"DRIFTD_KAFKA_TLS_CERT_FILE": "c.pem"}, "DRIFTD_KAFKA_TLS_CERT_FILE and DRIFTD_KAFKA_TLS_KEY_FILE must be set together"},
		{map[string]string{"DRIFTD_KAFKA_TLS_CERT_FILE": "c.pem", "DRIFTD_KAFKA_TLS_KEY_FILE": "k.pem"}, ""},
		{map[string]string{"DRIFTD_KAFKA_SASL_MECHANISM": "plain"}, "DRIFTD_KAFKA_SASL_USERNAME: required when DRIFTD_KAFKA_SASL_MECHANISM is set"},
		{map[string]string{"DRIFTD_KAFKA_SASL_MECHANISM": "scram-sha-512", "DRIFTD_KAFKA_SASL_USERNAME": "u", "DRIFTD_KAFKA_SASL_PASSWORD": "p"}, ""},
	}
	for _, tc := range cases {
		_, err := LoadConfig(nil, lookupMap(tc.env), "", io.Discard)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.wantErr {
			t.Errorf("%v: error %q, want %q", tc.env, got, tc.wantErr)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	dotenv := "# comment\nDRIFT_WINDOW_SIZE=300\nexport KAFKA_TOPIC='from-file'\nDRIFTD_MODEL=\"file-model\"\n"
	env := map[string]string{"DRIFT_WINDOW_SIZE": "400", "KAFKA_TOPIC": "from-env"}

	c := mustLoad(t, nil, nil, dotenv)
	if c.DriftWindowSize != 300 || c.KafkaTopic != "from-file" || c.ModelName != "file-model" {
		t.Errorf(".env not applied: window %d topic %q model %q", c.DriftWindowSize, c.KafkaTopic, c.ModelName)
	}
	c = mustLoad(t, nil, env, dotenv)
	if c.DriftWindowSize != 400 || c.KafkaTopic != "from-env" || c.ModelName != "file-model" {
		t.Errorf("env must win over .env: window %d topic %q model %q", c.DriftWindowSize, c.KafkaTopic, c.ModelName)
	}
	c = mustLoad(t, []string{"--drift-window-size", "500"}, env, dotenv)
	if c.DriftWindowSize != 500 || c.KafkaTopic != "from-env" {
		t.Errorf("flag must win over env: window %d topic %q", c.DriftWindowSize, c.KafkaTopic)
	}
	_, err := LoadConfig([]string{"--drift-window-size", "x"}, lookupMap(env), dotenv, io.Discard)
	if err == nil || err.Error() != `--drift-window-size: not an integer: "x"` {
		t.Errorf("bad flag error = %v", err)
	}
	_, err = LoadConfig(nil, lookupMap(nil), "DRIFT_WINDOW_SIZE=z\n", io.Discard)
	if err == nil || err.Error() != `DRIFT_WINDOW_SIZE (.env): not an integer: "z"` {
		t.Errorf("bad .env error = %v", err)
	}
}

func TestParseDotEnvErrors(t *testing.T) {
	_, err := ParseDotEnv("A=1\n\nthis is not a pair\n")
	if err == nil || !strings.Contains(err.Error(), ".env:3:") {
		t.Fatalf("error = %v, want one naming .env:3", err)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out strings.Builder
	_, err := LoadConfig([]string{"--help"}, lookupMap(nil), "", &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	for _, s := range settings() {
		if !strings.Contains(out.String(), "--"+s.flag) || !strings.Contains(out.String(), s.env) {
			t.Errorf("--help lacks --%s / %s", s.flag, s.env)
		}
	}
}

// mustSetting returns the row of the settings table for env.
func mustSetting(tb testing.TB, env string) setting {
	tb.Helper()
	for _, s := range settings() {
		if s.env == env {
			return s
		}
	}
	tb.Fatalf("no setting %s", env)
	return setting{}
}

// TestSettingGetRoundTrip checks that every setting's get inverts its set
// on the defaults and on the values of secret and pair settings that
// TestConfigValues does not cover.
func TestSettingGetRoundTrip(t *testing.T) {
	c := mustLoad(t, nil, map[string]string{"DRIFTD_KAFKA_TLS_CERT_FILE": "c.pem", "DRIFTD_KAFKA_TLS_KEY_FILE": "k.pem",
		"DRIFTD_KAFKA_SASL_MECHANISM": "PLAIN", "DRIFTD_KAFKA_SASL_USERNAME": "u", "DRIFTD_KAFKA_SASL_PASSWORD": "p",
		"DRIFTD_API_TOKEN": "tok"}, "")
	for _, s := range settings() {
		if s.get == nil {
			t.Errorf("setting %s has no get", s.env)
			continue
		}
		back := c
		if err := s.set(&back, s.get(c)); err != nil || !reflect.DeepEqual(back, c) {
			t.Errorf("%s: get gave %q; set read it back differently (%v)", s.env, s.get(c), err)
		}
	}
}

// TestRegisterSettingsResolvesLikeServe registers parts of the table on
// other commands' flag sets: each registered setting resolves from a flag,
// an alias, the environment or .env exactly as `driftd serve` resolves it,
// with the same error text; settings not registered keep their defaults.
func TestRegisterSettingsResolvesLikeServe(t *testing.T) {
	defaults := mustLoad(t, nil, nil, "")
	cases := []struct {
		name    string
		envs    []string
		args    []string // for the command; serve gets them with the alias renamed
		env     map[string]string
		dotenv  string
		wantErr string
	}{
		{"kafka flags", KafkaClientSettings(), []string{"--kafka-bootstrap-servers", "k1:9092,k2:9092", "--kafka-tls-skip-verify", "--kafka-sasl-mechanism", "plain", "--kafka-sasl-username", "u"}, nil, "", ""},
		{"kafka environment", KafkaClientSettings(), nil, map[string]string{"KAFKA_BOOTSTRAP_SERVERS": "k:1", "DRIFTD_KAFKA_TLS_CA_FILE": "/ca.pem", "DRIFTD_MODEL": "not-registered"}, "", ""},
		{"kafka .env under environment", KafkaClientSettings(), nil, map[string]string{"DRIFTD_KAFKA_LISTEN": "127.0.0.1:1"}, "DRIFTD_KAFKA_LISTEN=127.0.0.1:2\nDRIFTD_KAFKA_TLS=true\n", ""},
		{"broker flags", BrokerSettings(), []string{"--data-dir", "/srv/d", "--kafka-partitions", "6", "--kafka-sync-writes"}, nil, "", ""},
		{"alias", KafkaClientSettings(), []string{"--brokers", "a:1"}, nil, "", ""},
		{"bad flag", BrokerSettings(), []string{"--kafka-partitions", "0"}, nil, "", "--kafka-partitions: must be at least 1, got 0"},
		{"bad environment", []string{"DRIFTD_ADDR"}, nil, map[string]string{"DRIFTD_ADDR": "nohost"}, "", `DRIFTD_ADDR: not a host:port address: "nohost"`},
		{"pair rule", KafkaClientSettings(), []string{"--kafka-tls-cert-file", "c.pem"}, nil, "", "DRIFTD_KAFKA_TLS_CERT_FILE and DRIFTD_KAFKA_TLS_KEY_FILE must be set together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			sf := RegisterSettings(fs, tc.envs...)
			if slices.Contains(tc.envs, "KAFKA_BOOTSTRAP_SERVERS") {
				sf.Alias("brokers", "KAFKA_BOOTSTRAP_SERVERS")
			}
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := sf.Config(lookupMap(tc.env), tc.dotenv)
			serveArgs := slices.Clone(tc.args)
			for i, a := range serveArgs {
				if a == "--brokers" {
					serveArgs[i] = "--kafka-bootstrap-servers"
				}
			}
			want, serveErr := LoadConfig(serveArgs, lookupMap(tc.env), tc.dotenv, io.Discard)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || serveErr == nil || serveErr.Error() != tc.wantErr {
					t.Fatalf("errors %v (serve: %v), want %q", err, serveErr, tc.wantErr)
				}
				return
			}
			if err != nil || serveErr != nil {
				t.Fatalf("errors %v (serve: %v)", err, serveErr)
			}
			for _, s := range settings() {
				switch {
				case slices.Contains(tc.envs, s.env) && s.get(got) != s.get(want):
					t.Errorf("%s = %q, serve resolves %q", s.env, s.get(got), s.get(want))
				case !slices.Contains(tc.envs, s.env) && s.get(got) != s.get(defaults):
					t.Errorf("%s (not registered) = %q, want the default %q", s.env, s.get(got), s.get(defaults))
				}
			}
		})
	}
}

// TestKafkaClientTLS checks when TLS is on: the same rule for every command,
// skip-verify included (serve used to ignore it).
func TestKafkaClientTLS(t *testing.T) {
	cases := []struct {
		env     map[string]string
		tls     bool
		brokers []string
	}{
		{nil, false, []string{"127.0.0.1:9092"}},
		{map[string]string{"DRIFTD_KAFKA_TLS": "true", "KAFKA_BOOTSTRAP_SERVERS": "k:9093"}, true, []string{"k:9093"}},
		{map[string]string{"DRIFTD_KAFKA_TLS_CA_FILE": "/ca.pem"}, true, []string{"127.0.0.1:9092"}},
		{map[string]string{"DRIFTD_KAFKA_TLS_CERT_FILE": "c.pem", "DRIFTD_KAFKA_TLS_KEY_FILE": "k.pem"}, true, []string{"127.0.0.1:9092"}},
		{map[string]string{"DRIFTD_KAFKA_TLS_SKIP_VERIFY": "true"}, true, []string{"127.0.0.1:9092"}},
	}
	for _, tc := range cases {
		k := mustLoad(t, nil, tc.env, "").KafkaClient()
		if k.TLS.Enabled != tc.tls || !slices.Equal(k.Brokers, tc.brokers) {
			t.Errorf("%v: TLS %v brokers %v, want %v %v", tc.env, k.TLS.Enabled, k.Brokers, tc.tls, tc.brokers)
		}
	}
}

// TestConfigCluster checks the role and cluster settings and the rules
// between them and Kafka, and the shared-secret file settings.
func TestConfigCluster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{"default primary", nil, func(c Config) bool { return c.Role == "primary" && !c.Cluster }, ""},
		{"worker", map[string]string{"DRIFTD_ROLE": "worker", "KAFKA_BOOTSTRAP_SERVERS": "k1:9092"}, func(c Config) bool { return c.Role == "worker" }, ""},
		{"worker without brokers", map[string]string{"DRIFTD_ROLE": "worker"}, nil, "DRIFTD_ROLE=worker: set KAFKA_BOOTSTRAP_SERVERS"},
		{"worker demo", map[string]string{"DRIFTD_ROLE": "worker", "KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "DRIFTD_DEMO": "true"}, nil, "DRIFTD_DEMO: the demo runs on the primary"},
		{"bad role", map[string]string{"DRIFTD_ROLE": "leader"}, nil, `DRIFTD_ROLE: must be one of primary|worker, got "leader"`},
		{"cluster primary", map[string]string{"DRIFTD_CLUSTER": "true", "KAFKA_BOOTSTRAP_SERVERS": "k1:9092"}, func(c Config) bool { return c.Cluster }, ""},
		{"cluster on the embedded broker", map[string]string{"DRIFTD_CLUSTER": "true"}, nil, "DRIFTD_CLUSTER=true: set KAFKA_BOOTSTRAP_SERVERS"},
		{"bad cluster", map[string]string{"DRIFTD_CLUSTER": "yes"}, nil, `DRIFTD_CLUSTER: not a boolean (true|false): "yes"`},
		{"secret files", map[string]string{"DRIFTD_API_TOKEN_FILE": "/run/secrets/token", "DRIFTD_SESSION_KEY_FILE": "/run/secrets/key"},
			func(c Config) bool {
				return c.APITokenFile == "/run/secrets/token" && c.SessionKeyFile == "/run/secrets/key"
			}, ""},
		{"token and token file", map[string]string{"DRIFTD_API_TOKEN": "t", "DRIFTD_API_TOKEN_FILE": "/f"}, nil, "DRIFTD_API_TOKEN and DRIFTD_API_TOKEN_FILE: set one, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(nil, lookupMap(tc.env), "", io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v fails the check", c)
			}
		})
	}
}
