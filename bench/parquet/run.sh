#!/bin/sh
# Parquet against CSV: the time and peak memory of reading the 1M × 28
# training set of bench/train as CSV and as Parquet, in the same run (the
# machine may be shared: only the ratios inside one run mean anything).
#
#   bench/parquet/run.sh                 # 3 runs of each, medians
#   REPEATS=5 DIR=/tmp/x bench/parquet/run.sh
#
# 1. The CSV: bench/train/gen_data.py --only higgs (1,000,000 rows, label +
#    f0..f27, 6 significant digits), kept in DIR between runs.
# 2. Its Parquet twin, written by DuckDB (a writer other than the library
#    driftd reads with; Debian 12 has no python3-pyarrow): snappy, row groups
#    of 131,072 rows, the types DuckDB's CSV sniffer gives (DOUBLE, and
#    BIGINT for label and the integer-valued f25).
# 3. For each file, REPEATS times:
#    - `load` (bench/parquet/load): the read alone, as `driftd train` reads
#      (train.ReadDataFileContext), under /usr/bin/time -v: wall seconds,
#      CPU seconds (user + system), peak RSS;
#    - `driftd train --rounds 1 --json`: its load_seconds, and the peak RSS
#      of the whole process (one round of training included).
# Then the medians and the ratios CSV / Parquet.
#
# Needs Go, /usr/bin/python3 with numpy (Debian: python3-numpy), GNU time
# (Debian: time), node and npm (Debian: nodejs npm); DuckDB's Node.js package
# is installed into DIR by npm the first time.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=${DIR:-/tmp/driftd-bench}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
DUCKDB_VERSION=1.5.6-r.1
PY=/usr/bin/python3
OUT="$DIR/parquet-results"
mkdir -p "$DIR" "$OUT"

for tool in /usr/bin/time "$PY" go node npm; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

CSV="$DIR/higgs_1m_train.csv"
PQ="$DIR/higgs_1m_train.parquet"

echo "== data" >&2
"$PY" "$ROOT/bench/train/gen_data.py" --out "$DIR" --only higgs >&2

if [ ! -f "$DIR/duckdb-node/node_modules/@duckdb/node-api/package.json" ]; then
	echo "== install DuckDB's Node.js package $DUCKDB_VERSION into $DIR/duckdb-node" >&2
	npm install --silent --no-audit --no-fund --prefix "$DIR/duckdb-node" "@duckdb/node-api@$DUCKDB_VERSION" >&2
fi
if [ ! -f "$PQ" ] || [ "$CSV" -nt "$PQ" ]; then
	echo "== write the Parquet twin with DuckDB" >&2
	node - "$DIR/duckdb-node" "$CSV" "$PQ.tmp" <<'EOF'
const { createRequire } = require('node:module');
const [dir, csv, pq] = process.argv.slice(2);
const { DuckDBInstance } = createRequire(dir + '/node_modules/')('@duckdb/node-api');
const q = (s) => "'" + s.replaceAll("'", "''") + "'";
(async () => {
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  await c.run(`COPY (SELECT * FROM read_csv(${q(csv)}, header = true)) TO ${q(pq)}
    (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 131072)`);
  const r = await c.runAndReadAll(`SELECT count(DISTINCT row_group_id) AS groups, max(row_group_num_rows) AS rows_per_group
    FROM parquet_metadata(${q(pq)})`);
  console.error('parquet twin:', JSON.stringify(r.getRowObjectsJson()[0]));
})().catch((e) => { console.error(e); process.exit(1); });
EOF
	mv "$PQ.tmp" "$PQ"
fi
ls -l "$CSV" "$PQ" >&2

echo "== build" >&2
(cd "$ROOT" && go build -o "$DIR/driftd" . && go build -o "$DIR/pqload" ./bench/parquet/load)

# peak_rss_mb FILE: the "Maximum resident set size" of a /usr/bin/time -v log, in MB.
peak_rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }
# cpu_s FILE: user + system seconds of a /usr/bin/time -v log.
cpu_s() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$1"; }
# json_field FILE FIELD: a number from a JSON object.
json_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

: >"$OUT/runs.tsv"
i=1
while [ "$i" -le "$REPEATS" ]; do
	for kind in csv parquet; do
		f=$CSV
		[ "$kind" = parquet ] && f=$PQ
		echo "== run $i/$REPEATS: $kind" >&2
		GOMAXPROCS=$THREADS /usr/bin/time -v -o "$OUT/load.$kind.time" "$DIR/pqload" --data "$f" >"$OUT/load.$kind.json"
		/usr/bin/time -v -o "$OUT/train.$kind.time" "$DIR/driftd" train --data "$f" --target label --rounds 1 \
			--threads "$THREADS" --json --out "$OUT/m.$kind.bin" >"$OUT/train.$kind.json" 2>"$OUT/train.$kind.log"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" \
			"$(json_field "$OUT/load.$kind.json" load_seconds)" "$(cpu_s "$OUT/load.$kind.time")" "$(peak_rss_mb "$OUT/load.$kind.time")" \
			"$(json_field "$OUT/train.$kind.json" load_seconds)" "$(peak_rss_mb "$OUT/train.$kind.time")" >>"$OUT/runs.tsv"
	done
	i=$((i + 1))
done

"$PY" - "$OUT/runs.tsv" "$CSV" "$PQ" <<'EOF'
import os, statistics, sys
runs, csv, pq = sys.argv[1:4]
rows = [l.split("\t") for l in open(runs).read().split("\n") if l]
med = {}
for kind in ("csv", "parquet"):
    cols = list(zip(*[[float(x) for x in r[1:]] for r in rows if r[0] == kind]))
    med[kind] = [statistics.median(c) for c in cols]
print("file sizes: csv %.1f MB, parquet %.1f MB (%d runs each, medians)" % (
    os.path.getsize(csv) / 1e6, os.path.getsize(pq) / 1e6, len(rows) // 2))
fmt = "{:<10} {:>10} {:>12} {:>13} {:>14} {:>14}"
print(fmt.format("format", "load_s", "load_cpu_s", "load_rss_mb", "train_load_s", "train_rss_mb"))
for kind in ("csv", "parquet"):
    m = med[kind]
    print(fmt.format(kind, "%.3f" % m[0], "%.2f" % m[1], "%.0f" % m[2], "%.3f" % m[3], "%.0f" % m[4]))
c, p = med["csv"], med["parquet"]
print(fmt.format("csv/pq", *["%.2fx" % (a / b) for a, b in zip(c, p)]))
print("\nload = bench/parquet/load, the read alone (train.ReadDataFileContext): wall seconds, CPU seconds")
print("(user + system, of the whole process) and peak RSS; train = driftd train --rounds 1: its")
print("load_seconds (the read and the validation split) and the peak RSS of the whole process (the")
print("split's copy and one round of training included). On a shared machine the CPU seconds are the")
print("steadier measure: wall time also counts the waits for other processes.")
EOF
