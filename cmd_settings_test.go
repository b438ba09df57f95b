package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"driftd/stream"
)

// TestCommandsTakeServeSettings checks that the commands besides serve name
// their Kafka, TLS, SASL, listen and data-dir settings as serve does (one
// table): the same flags and environment names, and none of the old
// KAFKA_TLS_* / KAFKA_SASL_* names that serve never read.
func TestCommandsTakeServeSettings(t *testing.T) {
	kafka := []string{"kafka-bootstrap-servers KAFKA_BOOTSTRAP_SERVERS", "kafka-listen DRIFTD_KAFKA_LISTEN",
		"kafka-tls DRIFTD_KAFKA_TLS", "kafka-tls-ca-file DRIFTD_KAFKA_TLS_CA_FILE", "kafka-tls-cert-file DRIFTD_KAFKA_TLS_CERT_FILE",
		"kafka-tls-key-file DRIFTD_KAFKA_TLS_KEY_FILE", "kafka-tls-skip-verify DRIFTD_KAFKA_TLS_SKIP_VERIFY",
		"kafka-sasl-mechanism DRIFTD_KAFKA_SASL_MECHANISM", "kafka-sasl-username DRIFTD_KAFKA_SASL_USERNAME",
		"kafka-sasl-password DRIFTD_KAFKA_SASL_PASSWORD"}
	cases := []struct {
		cmd  string
		want []string // "flag ENV" pairs
	}{
		{"produce", append(kafka, "kafka-topic KAFKA_TOPIC", "brokers")},
		{"pipeline", append(kafka, "model DRIFTD_MODEL")},
		{"broker", []string{"data-dir DRIFTD_DATA_DIR", "kafka-listen DRIFTD_KAFKA_LISTEN", "kafka-partitions DRIFTD_KAFKA_PARTITIONS",
			"kafka-sync-writes DRIFTD_KAFKA_SYNC_WRITES", "listen"}},
		{"healthcheck", []string{"addr DRIFTD_ADDR", "timeout"}},
		{"restore", []string{"data-dir DRIFTD_DATA_DIR", "force"}},
		{"train", []string{"drift-bins DRIFTD_DRIFT_BINS"}},
	}
	old := regexp.MustCompile(`\b(KAFKA_TLS|KAFKA_SASL|DRIFTD_KAFKA_DATA_DIR|KAFKA_TLS_INSECURE)\w*`)
	for _, tc := range cases {
		t.Run(tc.cmd, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := dispatch(context.Background(), []string{tc.cmd, "--help"}, &out, &errb); code != 0 {
				t.Fatalf("--help exit %d: %s", code, errb.String())
			}
			help := out.String() + errb.String()
			for _, w := range tc.want {
				flagName, env, _ := strings.Cut(w, " ")
				re := `(?m)^\s+-` + regexp.QuoteMeta(flagName) + `\b.*\n?.*`
				if env != "" {
					re += `\(env ` + regexp.QuoteMeta(env) + `\)`
				}
				if !regexp.MustCompile(re).MatchString(help) {
					t.Errorf("--help lacks -%s (env %s):\n%s", flagName, env, help)
				}
			}
			// \b does not match inside DRIFTD_KAFKA_TLS: only bare old names do.
			for _, m := range old.FindAllString(help, -1) {
				t.Errorf("--help still names %s", m)
			}
		})
	}
}

// TestProduceTakesServeKafkaSettings produces to a real embedded broker
// found through serve's settings: DRIFTD_KAFKA_LISTEN (the embedded broker's
// address when KAFKA_BOOTSTRAP_SERVERS is empty), the bootstrap flag and its
// old alias --brokers, and KAFKA_TOPIC.
func TestProduceTakesServeKafkaSettings(t *testing.T) {
	b, err := stream.NewBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", Partitions: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		topic string
	}{
		{"embedded broker address from the environment", map[string]string{"DRIFTD_KAFKA_LISTEN": b.Addr(), "KAFKA_TOPIC": "t-env"}, nil, "t-env"},
		{"bootstrap flag", nil, []string{"--kafka-bootstrap-servers", b.Addr(), "--kafka-topic", "t-flag"}, "t-flag"},
		{"old --brokers alias", map[string]string{"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, []string{"--brokers", b.Addr()}, "drift-data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			args := append([]string{"produce", "--data", "testdata/train_binary.csv", "--limit", "5"}, tc.args...)
			if code := dispatch(context.Background(), args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if want := "produced 5 records to " + tc.topic; !strings.Contains(out.String(), want) {
				t.Errorf("stdout %q lacks %q", out.String(), want)
			}
		})
	}
	// A bad value is refused naming the setting, as serve refuses it.
	var out, errb bytes.Buffer
	t.Setenv("DRIFTD_KAFKA_SASL_MECHANISM", "GSSAPI")
	if code := dispatch(context.Background(), []string{"produce", "--data", "testdata/train_binary.csv"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), `DRIFTD_KAFKA_SASL_MECHANISM: must be one of PLAIN|SCRAM-SHA-256|SCRAM-SHA-512, got "GSSAPI"`) {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestHealthcheckTakesDRIFTD_ADDR checks the healthcheck against a server
// found through DRIFTD_ADDR, the setting serve listens on, or --addr.
func TestHealthcheckTakesDRIFTD_ADDR(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cases := []struct {
		name string
		env  string
		args []string
		code int
	}{
		{"environment", addr, nil, 0},
		{"flag over environment", "127.0.0.1:1", []string{"--addr", addr}, 0},
		{"nothing listening", "127.0.0.1:1", []string{"--timeout", "2s"}, 1},
		{"bad address", "nohost", nil, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DRIFTD_ADDR", tc.env)
			var out, errb bytes.Buffer
			if code := dispatch(context.Background(), append([]string{"healthcheck"}, tc.args...), &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errb.String())
			}
		})
	}
}
