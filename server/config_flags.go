package server

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"

	"driftd/stream"
)

// SettingFlags are rows of the settings table registered on one command's
// flag set: every command that takes a setting takes it under serve's flag
// name and environment name, with serve's default, parsing and errors.
type SettingFlags struct {
	fs    *flag.FlagSet
	rows  map[string]bool         // registered settings, by environment name
	vals  map[string]*settingFlag // their flag values, by environment name
	flags map[string]string       // flag name (and alias) -> environment name
}

// KafkaClientSettings names the settings of a command that talks to Kafka:
// the external cluster or, without one, the embedded broker's address, and
// TLS and SASL.
func KafkaClientSettings() []string {
	return []string{"KAFKA_BOOTSTRAP_SERVERS", "DRIFTD_KAFKA_LISTEN", "DRIFTD_KAFKA_TLS", "DRIFTD_KAFKA_TLS_CA_FILE",
		"DRIFTD_KAFKA_TLS_CERT_FILE", "DRIFTD_KAFKA_TLS_KEY_FILE", "DRIFTD_KAFKA_TLS_SKIP_VERIFY",
		"DRIFTD_KAFKA_SASL_MECHANISM", "DRIFTD_KAFKA_SASL_USERNAME", "DRIFTD_KAFKA_SASL_PASSWORD"}
}

// BrokerSettings names the settings of the embedded broker: where it listens
// and keeps its data (<data-dir>/kafka) and how it creates topics and writes.
func BrokerSettings() []string {
	return []string{"DRIFTD_DATA_DIR", "DRIFTD_KAFKA_LISTEN", "DRIFTD_KAFKA_PARTITIONS", "DRIFTD_KAFKA_SYNC_WRITES"}
}

// RegisterSettings registers the settings named by envs (environment names
// from the table of `driftd serve --help`) on fs as flags with serve's names,
// defaults and help. An unknown name is a programming error and panics.
func RegisterSettings(fs *flag.FlagSet, envs ...string) *SettingFlags {
	byEnv := map[string]setting{}
	for _, s := range settings() {
		byEnv[s.env] = s
	}
	sf := &SettingFlags{fs: fs, rows: map[string]bool{}, vals: map[string]*settingFlag{}, flags: map[string]string{}}
	for _, env := range envs {
		s, ok := byEnv[env]
		if !ok {
			panic("server: RegisterSettings: no setting " + env)
		}
		if sf.rows[env] {
			continue
		}
		f := &settingFlag{v: s.def, isBool: s.def == "true" || s.def == "false"}
		sf.rows[env], sf.vals[env], sf.flags[s.flag] = true, f, env
		fs.Var(f, s.flag, fmt.Sprintf("%s (env %s)", s.help, s.env))
	}
	return sf
}

// Alias registers name as another flag for the registered setting env, for a
// command's older flag name (like `produce --brokers`).
func (sf *SettingFlags) Alias(name, env string) {
	f, ok := sf.vals[env]
	if !ok {
		panic("server: Alias: setting " + env + " is not registered")
	}
	sf.flags[name] = env
	sf.fs.Var(f, name, "same as --"+sf.flagOf(env))
}

func (sf *SettingFlags) flagOf(env string) string {
	for _, s := range settings() {
		if s.env == env {
			return s.flag
		}
	}
	return ""
}

// given returns the registered settings given as flags (after fs.Parse), by
// environment name, with the flag name used.
func (sf *SettingFlags) given() map[string]string {
	out := map[string]string{}
	sf.fs.Visit(func(f *flag.Flag) {
		if env, ok := sf.flags[f.Name]; ok {
			out[env] = f.Name
		}
	})
	return out
}

// Config resolves the registered settings after fs.Parse, each from its flag,
// else the environment (lookup), else the .env file's text (dotenv), else its
// default, exactly as `driftd serve` does; settings not registered keep their
// defaults. Demo mode applies its defaults. It returns an error naming the
// flag or variable whose value is bad, or the rule between settings broken.
func (sf *SettingFlags) Config(lookup func(string) (string, bool), dotenv string) (Config, error) {
	fileVals, err := ParseDotEnv(dotenv)
	if err != nil {
		return Config{}, err
	}
	flagged := sf.given()
	var c Config
	var errs []error
	given := map[string]bool{} // env names set by a flag, the environment or .env
	for _, s := range settings() {
		v, source := s.def, s.env
		switch {
		case !sf.rows[s.env]:
		case flagged[s.env] != "":
			v, source = sf.vals[s.env].v, "--"+flagged[s.env]
			given[s.env] = true
		default:
			if ev, ok := lookup(s.env); ok {
				v = ev
				given[s.env] = true
			} else if fv, ok := fileVals[s.env]; ok {
				v, source = fv, s.env+" (.env)"
				given[s.env] = true
			}
		}
		if err := s.set(&c, strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if c.Demo {
		c.applyDemoDefaults(given)
	}
	return c, c.validate()
}

// Args returns the registered settings given as flags as "--flag=value"
// arguments, to hand them on to LoadConfig (`driftd pipeline` runs serve's
// configuration in-process).
func (sf *SettingFlags) Args() []string {
	var out []string
	given := sf.given()
	for _, s := range settings() {
		if _, ok := given[s.env]; ok {
			out = append(out, "--"+s.flag+"="+sf.vals[s.env].v)
		}
	}
	return out
}

// KafkaClient returns the Kafka client configuration of c: the external
// cluster (KAFKA_BOOTSTRAP_SERVERS), else the embedded broker's address
// (DRIFTD_KAFKA_LISTEN), with TLS and SASL. TLS is on when DRIFTD_KAFKA_TLS
// is true or when a CA file, a client certificate or skipping verification
// asks for it, in every command alike.
func (c Config) KafkaClient() stream.Config {
	brokers := c.KafkaBrokers
	if len(brokers) == 0 {
		brokers = []string{c.KafkaListen}
	}
	return stream.Config{
		Brokers: brokers,
		TLS: stream.TLSConfig{
			Enabled: c.KafkaTLS || c.KafkaTLSCAFile != "" || c.KafkaTLSCertFile != "" || c.KafkaTLSSkipVerify,
			CAFile:  c.KafkaTLSCAFile, CertFile: c.KafkaTLSCertFile, KeyFile: c.KafkaTLSKeyFile,
			InsecureSkipVerify: c.KafkaTLSSkipVerify,
		},
		SASL: stream.SASLConfig{Mechanism: c.KafkaSASLMechanism, User: c.KafkaSASLUser, Password: c.KafkaSASLPassword},
	}
}

// settingFlag is a flag holding a setting's raw text; boolean settings
// (default "true" or "false") may be given bare, as in `--demo`.
type settingFlag struct {
	v      string
	isBool bool
}

func (f *settingFlag) String() string {
	if f == nil {
		return ""
	}
	return f.v
}
func (f *settingFlag) Set(v string) error { f.v = v; return nil }
func (f *settingFlag) IsBoolFlag() bool   { return f.isBool }

// formatFloat formats a float setting as it is written.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// cidrs joins networks as DRIFTD_TRUSTED_PROXIES spells them.
func cidrs(ns []*net.IPNet) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.String()
	}
	return strings.Join(out, ",")
}
