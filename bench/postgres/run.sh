#!/usr/bin/env bash
# PostgreSQL loading benchmark: a 1M-row × 28-column query read into a
# driftd dataset (`driftd train --query ... --json`, its load_seconds)
# against psql's `COPY (query) TO STDOUT` piped to /dev/null, on the same
# throwaway server in the same run. Issue 15's goal: driftd within 2× of
# COPY. Only the ratio counts: the machine is shared.
#
#   bench/postgres/run.sh               # 1,000,000 rows, median of 3 runs
#   ROWS=200000 REPEATS=5 bench/postgres/run.sh
#
# Needs Debian's postgresql (the server binaries under
# /usr/lib/postgresql/N/bin), GNU date, awk and go. Self-contained: it starts
# its own cluster in a temporary directory on a free port (as the
# postgres user when run as root) and removes it at the end.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROWS=${ROWS:-1000000}
REPEATS=${REPEATS:-3}
COLS=28

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$BIN/postgres" ] || { echo "run.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
command -v go >/dev/null || { echo "run.sh: go not found" >&2; exit 1; }

WORK=$(mktemp -d /tmp/driftd-bench-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chmod 755 "$WORK"; chown postgres: "$WORK"; fi
# A free port: nothing answers on it.
while PORT=$((20000 + RANDOM % 20000)); (: </dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; do :; done
cleanup() {
	as_pg "$BIN/pg_ctl" stop -D "$WORK/data" -m immediate >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "== cluster in $WORK on 127.0.0.1:$PORT" >&2
as_pg "$BIN/initdb" -D "$WORK/data" -U bench -E UTF8 --locale=C --auth=trust --no-sync >/dev/null
as_pg "$BIN/pg_ctl" start -D "$WORK/data" -l "$WORK/server.log" -w -t 60 \
	-o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=512MB" >/dev/null
PSQL=("$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U bench -d postgres -v ON_ERROR_STOP=1)

cols=""
for ((i = 0; i < COLS; i++)); do cols="$cols, f$i"; done
cols=${cols#, }
echo "== table: $ROWS rows × $COLS double precision columns + label" >&2
gen=""
for ((i = 0; i < COLS; i++)); do gen="$gen, random() * 100 - 50 as f$i"; done
"${PSQL[@]}" -c "create unlogged table bench as select g as id$gen, (random() > 0.5)::int as label from generate_series(1, $ROWS) g"
"${PSQL[@]}" -c "vacuum analyze bench" -c "select count(*) from bench" >/dev/null # the table in the caches
QUERY="select $cols, label from bench"

echo "== build driftd" >&2
(cd "$ROOT" && go build -o "$WORK/driftd" .)

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

copy_text=() copy_binary=() driftd=()
for ((r = 1; r <= REPEATS; r++)); do
	t0=$(now)
	"${PSQL[@]}" -c "COPY ($QUERY) TO STDOUT" >/dev/null
	t1=$(now)
	"${PSQL[@]}" -c "COPY ($QUERY) TO STDOUT (FORMAT binary)" >/dev/null
	t2=$(now)
	copy_text+=("$(awk "BEGIN {print $t1 - $t0}")")
	copy_binary+=("$(awk "BEGIN {print $t2 - $t1}")")
	load=$("$WORK/driftd" train --dsn "postgres://bench@127.0.0.1:$PORT/postgres?sslmode=disable" --query "$QUERY" \
		--target label --rounds 1 --valid-fraction 0 --threads 2 --json --out "$WORK/m.drift" 2>/dev/null |
		sed -n 's/.*"load_seconds": *\([0-9.e+-]*\).*/\1/p')
	driftd+=("$load")
	echo "run $r: COPY text ${copy_text[-1]}s, COPY binary ${copy_binary[-1]}s, driftd load ${load}s" >&2
done

ct=$(printf '%s\n' "${copy_text[@]}" | median)
cb=$(printf '%s\n' "${copy_binary[@]}" | median)
dl=$(printf '%s\n' "${driftd[@]}" | median)
printf '{"rows": %d, "columns": %d, "repeats": %d, "copy_text_s": %.3f, "copy_binary_s": %.3f, "driftd_load_s": %.3f, "ratio_vs_copy_text": %.2f, "ratio_vs_copy_binary": %.2f}\n' \
	"$ROWS" "$((COLS + 1))" "$REPEATS" "$ct" "$cb" "$dl" "$(awk "BEGIN {print $dl / $ct}")" "$(awk "BEGIN {print $dl / $cb}")"
