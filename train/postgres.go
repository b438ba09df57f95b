package train

// PostgreSQL queries as data sources, read with github.com/jackc/pgx/v5
// (its pgconn layer). Why pgx: it is the well-kept Go PostgreSQL driver
// (pure Go, no cgo, releases every few months), it speaks the binary
// protocol, so numbers arrive as 4 or 8 big-endian bytes the server did
// not have to format nor driftd to parse, and pgconn hands over each
// DataRow's raw values as they come off the socket: driftd appends them
// straight into per-column buffers (rawColumn, shared with the Parquet
// reader) and never holds the result as rows. Reading 1M rows × 28
// float8 columns took 0.60× the time of psql's COPY of the same query to
// /dev/null on the same server (6.1 s against 10.1 s, medians of 3 runs on
// a shared 2-core machine; bench/postgres/run.sh): the server formats no
// text, and the client's share is about 1.7 µs of CPU per row
// (BenchmarkReadQuery).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgStatement is the name of the prepared statement of a query.
const pgStatement = "driftd_query"

// errNoQuery is returned for an empty query.
var errNoQuery = errors.New("the query is empty")

// pgConn is one connection to PostgreSQL and what error texts need.
type pgConn struct {
	conn  *pgconn.PgConn
	place string // host:port/database, for messages
	sc    scrubber
}

// connectPG connects with dsn. The session is read-only (a query cannot
// change the database), named "driftd" in pg_stat_activity unless the DSN
// names it, and a cancelled ctx cancels the running query on the server.
// Errors name host:port and never hold the password.
func connectPG(ctx context.Context, dsn string) (*pgConn, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, CheckDSN(dsn) // not wrapped: pgx keeps the unredacted DSN in its error
	}
	sc := newScrubber(dsn, cfg.Password)
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "driftd"
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
	}
	place := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", place, sc.wrap(err))
	}
	return &pgConn{conn: conn, place: place, sc: sc}, nil
}

// CheckDSN reports whether dsn is a PostgreSQL connection string pgx can
// use, without connecting; the error never holds the password.
func CheckDSN(dsn string) error {
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return errors.New("invalid PostgreSQL DSN: " + newScrubber(dsn, "").scrub(err.Error()))
	}
	return nil
}

// close closes the connection, waiting at most a second.
func (c *pgConn) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = c.conn.Close(ctx)
}

// describe prepares query and returns its result columns. It refuses a
// query with parameters or without result columns.
func (c *pgConn) describe(ctx context.Context, src, query string) (*pgconn.StatementDescription, error) {
	if strings.TrimSpace(query) == "" {
		return nil, fmt.Errorf("%s: %w", src, errNoQuery)
	}
	sd, err := c.conn.Prepare(ctx, pgStatement, query, nil)
	if err != nil {
		return nil, queryError(ctx, src, query, c.sc.wrap(err))
	}
	if len(sd.ParamOIDs) > 0 {
		return nil, fmt.Errorf("%s: the query has %d parameters ($1...), and driftd passes none: write the values into the query", src, len(sd.ParamOIDs))
	}
	if len(sd.Fields) == 0 {
		return nil, fmt.Errorf("%s: the query returns no columns: give a SELECT (or anything that returns rows)", src)
	}
	return sd, nil
}

// queryError names the source and, for an error of the server, where in
// the query it is; an ended ctx wins over what the cancel caused.
func queryError(ctx context.Context, src, query string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", src, context.Cause(ctx))
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", src, err)
	}
	text := src + ": " + pe.Message
	if pe.Position > 0 {
		line, col := queryPosition(query, int(pe.Position))
		text += fmt.Sprintf(" at line %d, column %d of the query", line, col)
	}
	if pe.Detail != "" {
		text += "; " + pe.Detail
	}
	if pe.Hint != "" {
		text += " (hint: " + pe.Hint + ")"
	}
	return &textError{text: text + " (SQLSTATE " + pe.Code + ")", err: err}
}

// queryPosition turns PostgreSQL's 1-based character position into a line
// and column.
func queryPosition(query string, pos int) (line, col int) {
	line, col = 1, 1
	for _, r := range query {
		if pos--; pos <= 0 {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// sourceName is how errors name a query: opts.Name (default "query") on
// host:port/database.
func sourceName(opts CSVOptions, place string) string {
	name := opts.Name
	if name == "" {
		name = "query"
	}
	return name + " on " + place
}

// QueryColumns returns the names of the columns a query returns, without
// running it (the server only plans it). Errors are those of ReadQuery.
func QueryColumns(ctx context.Context, dsn, query string) ([]string, error) {
	c, err := connectPG(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer c.close(ctx)
	sd, err := c.describe(ctx, "query on "+c.place, query)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(sd.Fields))
	for i, f := range sd.Fields {
		names[i] = f.Name
	}
	return names, nil
}

// ReadQuery runs a query on the PostgreSQL server of dsn and reads its
// result into a Dataset with CSV's rules (see CSVOptions; Delimiter and
// InferRows do not apply). Rows stream in the binary protocol straight
// into per-column buffers. Types: smallint, integer, bigint, real, double
// precision and numeric are numbers; boolean is a number 0 or 1 (a split
// or a coefficient, and the 0/1 of a CSV file); date, timestamp and
// timestamptz are numbers of Unix seconds; text, varchar, char, name,
// uuid, enums and other string types are categorical; NULL (and a NaN) is
// missing. A domain is read as its base type. ID columns and columns
// forced categorical are read as the server's text ("42", "2024-05-01").
// Other types (json, arrays, bytea, interval, ...) are refused with the
// column's name and a cast to write; excluded columns are not read.
//
// The session is read-only. Errors name the query ("<opts.Name, default
// query> on host:port/database"), the row (1-based) and column; PostgreSQL's
// error with its line and column in the query; host:port when the server
// cannot be reached. The DSN's password never appears in them. When ctx
// ends, the server is asked to cancel the query and the error wraps
// ctx's error.
func ReadQuery(ctx context.Context, dsn, query string, opts CSVOptions) (*Dataset, error) {
	c, err := connectPG(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer c.close(ctx)
	src := sourceName(opts, c.place)
	sd, err := c.describe(ctx, src, query)
	if err != nil {
		return nil, err
	}
	cols, err := c.planColumns(ctx, src, sd.Fields, opts)
	if err != nil {
		return nil, err
	}
	rows, err := c.stream(ctx, src, query, cols)
	if err != nil {
		return nil, err
	}
	raws := make([]rawColumn, len(cols))
	for i := range cols {
		raws[i] = cols[i].raw
	}
	return buildDataset(src, raws, rows, opts, func(row int, column, format string, args ...any) error {
		return fmt.Errorf("%s: row %d, column %q: %s", src, row+1, column, fmt.Sprintf(format, args...))
	})
}

// stream runs the prepared query and appends every row to cols; it
// returns the number of rows.
func (c *pgConn) stream(ctx context.Context, src, query string, cols []pgColumn) (int, error) {
	formats := make([]int16, len(cols))
	for i := range cols {
		if cols[i].text {
			formats[i] = pgtype.TextFormatCode
		} else {
			formats[i] = pgtype.BinaryFormatCode
		}
	}
	rr := c.conn.ExecPrepared(ctx, pgStatement, nil, nil, formats)
	rows := 0
	var rowErr error
	for rr.NextRow() {
		vals := rr.Values()
		if len(vals) != len(cols) {
			rowErr = fmt.Errorf("%s: row %d has %d values for %d columns", src, rows+1, len(vals), len(cols))
			break
		}
		for j, v := range vals {
			if err := cols[j].add(v); err != nil {
				rowErr = fmt.Errorf("%s: row %d, column %q: %w", src, rows+1, cols[j].raw.name, err)
				break
			}
		}
		if rowErr != nil {
			break
		}
		rows++
		// The watcher cancels on the server; this stops reading what
		// already sits in the buffers.
		if rows%4096 == 0 && ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		// The context watcher has asked the server to cancel; the
		// connection is closed without draining the rest.
		return 0, fmt.Errorf("%s: %w", src, context.Cause(ctx))
	}
	if rowErr != nil {
		// Stop the query on the server too; closing the connection would
		// stop it only at its next write.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = c.conn.CancelRequest(cctx)
		cancel()
		return 0, rowErr
	}
	if _, err := rr.Close(); err != nil {
		return 0, queryError(ctx, src, query, c.sc.wrap(err))
	}
	return rows, nil
}

// pgColumn is one result column being read.
type pgColumn struct {
	raw  rawColumn
	kind pgKind
	text bool // read in text format (strings, ID and forced categorical columns)
	skip bool // excluded: not read
	trim bool // char(n): trailing blanks dropped
	// intern shares the string of repeated values (bounded by maxIntern).
	intern map[string]string
}

// maxIntern bounds the distinct strings a column shares; past it (an id
// column, free text) every value gets its own string.
const maxIntern = 1 << 16

// add appends one value (nil = NULL) to c.
func (c *pgColumn) add(v []byte) error {
	switch {
	case c.skip:
		return nil
	case c.raw.isStr:
		if v == nil {
			c.raw.str, c.raw.valid = append(c.raw.str, ""), append(c.raw.valid, false)
			return nil
		}
		for c.trim && len(v) > 0 && v[len(v)-1] == ' ' {
			v = v[:len(v)-1]
		}
		s, ok := c.intern[string(v)]
		if !ok {
			s = string(v)
			if len(c.intern) < maxIntern {
				c.intern[s] = s
			}
		}
		c.raw.str, c.raw.valid = append(c.raw.str, s), append(c.raw.valid, true)
		return nil
	case v == nil:
		c.raw.num = append(c.raw.num, math.NaN())
		return nil
	}
	x, err := decodeBinary(c.kind, v)
	if err != nil {
		return err
	}
	c.raw.num = append(c.raw.num, x)
	return nil
}

// planColumns decides how each result column is read, looking up on the
// server the types driftd does not know by their OID (enums, domains,
// extension types); it refuses unsupported types by column name.
func (c *pgConn) planColumns(ctx context.Context, src string, fields []pgconn.FieldDescription, opts CSVOptions) ([]pgColumn, error) {
	var unknown []uint32
	for _, f := range fields {
		if _, ok := knownType(f.DataTypeOID); !ok && !slices.Contains(unknown, f.DataTypeOID) {
			unknown = append(unknown, f.DataTypeOID)
		}
	}
	types, err := c.lookupTypes(ctx, unknown)
	if err != nil {
		return nil, fmt.Errorf("%s: look up column types: %w", src, err)
	}
	cols := make([]pgColumn, len(fields))
	for i, f := range fields {
		col := &cols[i]
		col.raw.name = f.Name
		if slices.Contains(opts.Exclude, f.Name) {
			col.skip = true
			continue
		}
		t, ok := knownType(f.DataTypeOID)
		if !ok {
			t = types[f.DataTypeOID]
		}
		if t.kind == pgUnsupported {
			return nil, fmt.Errorf("%s: column %q has type %s, which driftd does not read: %s", src, f.Name, t.name, castAdvice(t, f.Name))
		}
		col.kind, col.trim = t.kind, t.bpchar
		asText := f.Name == opts.ID || slices.Contains(opts.Categorical, f.Name) && f.Name != opts.Target
		if t.kind == pgString || asText {
			col.text, col.raw.isStr = true, true
			col.intern = map[string]string{}
		}
	}
	return cols, nil
}

// castAdvice says how to make a column of an unsupported type readable.
func castAdvice(t pgType, col string) string {
	q := strconv.Quote(col)
	switch {
	case t.category == 'A':
		return fmt.Sprintf("select one element (%s[1]) or unnest it", q)
	case t.name == "json" || t.name == "jsonb":
		return fmt.Sprintf("extract a field, e.g. (%s->>'key')::float8 or %s->>'key'", q, q)
	case t.name == "bytea":
		return fmt.Sprintf("turn it into text, e.g. encode(%s, 'hex')", q)
	case t.category == 'T' || t.name == "time without time zone" || t.name == "time with time zone":
		return fmt.Sprintf("make it a number, e.g. extract(epoch from %s)", q)
	}
	return fmt.Sprintf("cast it in the query, e.g. %s::float8 or %s::text", q, q)
}
