package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"driftd/train"
)

// dsnEnv is the environment variable that gives train, predict and drift
// their PostgreSQL DSN when --dsn is not set, so that a password need not
// be on the command line.
const dsnEnv = "DRIFTD_DSN"

// dsnFlag registers --dsn; resolve it with dsnOrEnv after parsing (the
// flag has no default, so --help never prints the environment's DSN).
func dsnFlag(fs *flag.FlagSet) *string {
	return fs.String("dsn", "", "PostgreSQL connection string of the queries: postgres://user:password@host:5432/db or key=value pairs (default: $"+dsnEnv+")")
}

// dsnOrEnv returns the --dsn value, else $DRIFTD_DSN.
func dsnOrEnv(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv(dsnEnv)
}

// dataSource is where a command reads a data set: a CSV or Parquet file,
// or the result of a PostgreSQL query.
type dataSource struct {
	path, format string // a file; format "" = by its extension
	dsn, query   string // or a query on the server of dsn
	name         string // for messages: the path, or the query's flag
}

// newSource makes the source of a file flag and a query flag (named
// fileFlag and queryFlag in errors): exactly one must be given, and a
// query needs a DSN. format is the file's --format ("" = by extension).
func newSource(fileFlag, path, format, queryFlag, query, dsn string) (dataSource, error) {
	switch {
	case path != "" && query != "":
		return dataSource{}, fmt.Errorf("--%s and --%s: give one of them", fileFlag, queryFlag)
	case path == "" && strings.TrimSpace(query) == "":
		return dataSource{}, fmt.Errorf("--%s or --%s is required", fileFlag, queryFlag)
	case query != "":
		if dsn == "" {
			return dataSource{}, fmt.Errorf("--%s needs a PostgreSQL DSN: --dsn or $%s", queryFlag, dsnEnv)
		}
		return dataSource{dsn: dsn, query: query, name: "--" + queryFlag}, nil
	}
	f, err := train.DataFormat(path, format)
	if err != nil {
		return dataSource{}, fmt.Errorf("--format: %w", err)
	}
	return dataSource{path: path, format: f, name: path}, nil
}

// isQuery reports whether s is a query.
func (s dataSource) isQuery() bool { return s.query != "" }

// String names s in messages: the file, or the query's flag.
func (s dataSource) String() string { return s.name }

// read reads s with opts; opts.Name defaults to s's name.
func (s dataSource) read(ctx context.Context, opts train.CSVOptions) (*train.Dataset, error) {
	if opts.Name == "" {
		opts.Name = s.name
	}
	if s.isQuery() {
		return train.ReadQuery(ctx, s.dsn, s.query, opts)
	}
	return train.ReadDataFileContext(ctx, s.path, s.format, opts)
}

// columns returns the column names of s: the file's header, or the
// query's result columns (the server plans the query without running it).
func (s dataSource) columns(ctx context.Context, delim rune) ([]string, error) {
	if s.isQuery() {
		return train.QueryColumns(ctx, s.dsn, s.query)
	}
	return dataHeader(s.path, s.format, delim)
}
