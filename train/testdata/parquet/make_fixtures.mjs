// Writes the Parquet fixtures of train/parquet_fixtures_test.go with a writer
// other than the one driftd reads with: DuckDB's (C++), through its Node.js
// package. Debian 12 packages no Parquet writer for Python (there is no
// python3-pyarrow, and pandas has no engine without it); DuckDB's package
// installs with npm and brings its own binary.
//
//   sh train/testdata/parquet/install_duckdb.sh   # into ~/.cache/driftd/duckdb-node
//   node train/testdata/parquet/make_fixtures.mjs    # DRIFTD_DUCKDB_NODE=dir for another place
//
// The data is deterministic (formulas of the row number); the outputs are
// committed, so the tests need neither Node nor DuckDB. Files, in this
// directory:
//
//   types.csv                every type driftd maps, with nulls, as driftd
//                            should read it (see below)
//   types_snappy.parquet     data pages v1, snappy
//   types_gzip.parquet       the same with gzip
//   types_zstd.parquet       data pages v2 (delta and byte-stream-split
//                            encodings), zstd
//   groups.csv               a few columns over three row groups (DuckDB's
//                            row groups hold at least 2048 rows, so these
//                            rows are many and the columns few, to keep
//                            the files small)
//   groups_snappy.parquet    data pages v1, snappy
//   groups_zstd.parquet      data pages v2, zstd
//   infinite.parquet         a double column holding +Inf at its third row
//   nested.parquet           a LIST column and a STRUCT column
//   interval.parquet         an INTERVAL column
//   uint_delta.parquet       a UINT32 column, data pages v2, whose page
//                            starts above 2^31: DuckDB writes the first
//                            value of DELTA_BINARY_PACKED unsigned, which
//                            parquet-go refuses (so count_u of types_* is
//                            small at its first row)
//
// types.csv is the twin of the types_* files: the same rows, with what
// driftd makes of each Parquet type spelled out as CSV text: booleans 0/1,
// FLOAT widened to double, timestamps and dates as seconds since the Unix
// epoch, decimals and UUIDs as text, nulls as empty cells.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = process.env.DRIFTD_DUCKDB_NODE || join(homedir(), '.cache/driftd/duckdb-node');
const require = createRequire(join(prefix, 'node_modules') + '/');
const { DuckDBInstance } = require('@duckdb/node-api');

const out = process.argv[2] || here;
mkdirSync(out, { recursive: true });
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
const run = (sql) => c.run(sql);
const q = (s) => `'${s.replaceAll("'", "''")}'`;

const rows = 700;
// Every column but the target and the id has nulls, at rows that differ
// from column to column.
await run(`CREATE TABLE t AS SELECT
  9007199254740993 + i * 1000003                                      AS id,
  CASE WHEN i % 11 = 3 THEN NULL ELSE (18 + (i * 37) % 60)::INTEGER END AS age,
  CASE WHEN i % 13 = 5 THEN NULL ELSE ((i * i * 31) % 100000 - 5000)::BIGINT END AS visits,
  CASE WHEN i % 7 = 2 THEN NULL ELSE (((i * 17) % 1000) / 7.0)::FLOAT END AS ratio,
  CASE WHEN i % 9 = 4 THEN NULL ELSE sin(i) * 100000 END             AS income,
  CASE WHEN i % 17 = 1 THEN NULL ELSE i % 3 = 0 END                  AS active,
  CASE WHEN i % 10 = 7 THEN NULL ELSE
    ['Lyon', 'São Paulo', 'a,b city', 'say "hi"', 'Oslo', 'Kyiv', 'Lima', ''][(i * 5) % 8 + 1] END AS city,
  CASE WHEN i % 12 = 6 THEN NULL ELSE 'note-' || i || '-' || ((i * i) % 977) END AS note,
  CASE WHEN i % 19 = 0 THEN NULL ELSE make_timestamp(1704067200000000 + i * 3600123457) END AS seen_at,
  CASE WHEN i % 21 = 1 THEN NULL ELSE make_timestamp(1600000000000000 + i * 86400001000)::TIMESTAMP_MS END AS seen_ms,
  CASE WHEN i % 22 = 2 THEN NULL ELSE make_timestamp(1500000000000000 + i * 1000001)::TIMESTAMP_NS END AS seen_ns,
  CASE WHEN i % 23 = 0 THEN NULL ELSE DATE '2020-01-01' + ((i * 3) % 1500)::INTEGER END AS day,
  CASE WHEN i % 29 = 0 THEN NULL ELSE (((i * 7919) % 1000000) / 100.0 - 2500)::DECIMAL(9,2) END AS price,
  CASE WHEN i % 31 = 0 THEN NULL ELSE (((i * 104729) % 10000000000) / 10000.0)::DECIMAL(18,4) END AS amount,
  CASE WHEN i % 37 = 0 THEN NULL ELSE ('123456789012345678901.5'::DECIMAL(38,6) * (i % 50 - 25) + (i / 1000000)::DECIMAL(38,6))::DECIMAL(38,6) END AS big_dec,
  CASE WHEN i % 41 = 0 THEN NULL ELSE ('00000000-0000-4000-8000-' || lpad(printf('%x', (i * 2654435761) % 281474976710656), 12, '0'))::UUID END AS uid,
  CASE WHEN i % 43 = 0 THEN NULL WHEN i = 1 THEN 7 ELSE (3000000000 + i * 7)::UINTEGER END AS count_u,
  CASE WHEN (i * 7) % 10 < 4 OR i % 5 = 0 THEN 'yes' ELSE 'no' END   AS label
FROM range(${rows}) r(i) ORDER BY i`);

const parquet = (table, name, opts) =>
  run(`COPY ${table} TO ${q(join(out, name))} (FORMAT parquet, ROW_GROUP_SIZE 2048, ${opts})`);
await parquet('t', 'types_snappy.parquet', 'COMPRESSION snappy');
await parquet('t', 'types_gzip.parquet', 'COMPRESSION gzip');
await parquet('t', 'types_zstd.parquet', "COMPRESSION zstd, PARQUET_VERSION 'V2'");

await run(`COPY (SELECT
  id, age, visits, ratio::DOUBLE AS ratio, income, active::INTEGER AS active, city, note,
  epoch_us(seen_at) / 1e6 AS seen_at,
  epoch_ms(seen_ms) / 1e3 AS seen_ms,
  epoch_ns(seen_ns) / 1e9 AS seen_ns,
  (day - DATE '1970-01-01') * 86400 AS day,
  price, amount, big_dec, uid, count_u, label
FROM t ORDER BY id) TO ${q(join(out, 'types.csv'))} (HEADER, DELIMITER ',')`);

await run(`CREATE TABLE g AS SELECT
  CASE WHEN i % 9 = 4 THEN NULL ELSE ((i * 37) % 1000)::INTEGER END      AS n,
  CASE WHEN i % 7 = 2 THEN NULL ELSE ((i * 53) % 4000) / 8 END           AS x,
  CASE WHEN i % 10 = 7 THEN NULL ELSE 'c' || ((i * 5) % 12) END         AS cat,
  ((i * 7) % 10 < 4)::INTEGER                                             AS label
FROM range(5000) r(i) ORDER BY i`);
await parquet('g', 'groups_snappy.parquet', 'COMPRESSION snappy');
await parquet('g', 'groups_zstd.parquet', "COMPRESSION zstd, PARQUET_VERSION 'V2'");
await run(`COPY g TO ${q(join(out, 'groups.csv'))} (HEADER, DELIMITER ',')`);

await run(`COPY (SELECT i::DOUBLE AS x, CASE WHEN i = 2 THEN 'inf'::DOUBLE ELSE i * 0.5 END AS y, i % 2 AS label
  FROM range(5) r(i)) TO ${q(join(out, 'infinite.parquet'))} (FORMAT parquet)`);
await run(`COPY (SELECT i AS x, [i, i + 1] AS xs, {'a': i} AS s FROM range(3) r(i))
  TO ${q(join(out, 'nested.parquet'))} (FORMAT parquet)`);
await run(`COPY (SELECT (3000000000 + i)::UINTEGER AS n FROM range(3) r(i))
  TO ${q(join(out, 'uint_delta.parquet'))} (FORMAT parquet, PARQUET_VERSION 'V2')`);
await run(`COPY (SELECT i AS x, to_days(i::INTEGER) AS span FROM range(3) r(i))
  TO ${q(join(out, 'interval.parquet'))} (FORMAT parquet)`);
console.log(`wrote the fixtures to ${out}`);
