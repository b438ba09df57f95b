package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"driftd/server"
)

// newFlagSet makes a flag set for a subcommand whose --help prints the
// summary and every flag with its default.
func newFlagSet(name string, out io.Writer, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: driftd %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; done is true when the command must exit with code
// (0 after --help, 2 on a bad flag).
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "driftd %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, true
	}
	return 0, false
}

// resolveSettings reads ./.env and resolves the settings registered in sf
// with serve's precedence (flags, then the environment, then .env); code is
// 2 (with the error written to stderr) when a setting is bad.
func resolveSettings(cmd string, sf *server.SettingFlags, stderr io.Writer) (server.Config, int) {
	dotenv, err := readDotEnv()
	if err != nil {
		fmt.Fprintf(stderr, "driftd %s: %v\n", cmd, err)
		return server.Config{}, 2
	}
	cfg, err := sf.Config(os.LookupEnv, dotenv)
	if err != nil {
		fmt.Fprintf(stderr, "driftd %s: %v\n", cmd, err)
		return server.Config{}, 2
	}
	return cfg, 0
}

// readDotEnv returns the text of ./.env, "" when there is none.
func readDotEnv() (string, error) {
	b, err := os.ReadFile(".env")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read .env: %w", err)
	}
	return string(b), nil
}

// envOr returns the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}
