#!/bin/sh
# Side-by-side benchmark of `driftd drift` against the same computation in
# numpy/scipy (bench/drift/peer.py) on 1,000,000 x 28 reference and current
# CSVs. Checks that every number agrees to 1e-9 and prints the time ratio.
# Usage: bench/drift/run.sh [rows]   (data cached in $DATA, default /tmp/driftd-drift-bench)
set -eu
ROWS=${1:-1000000}
DATA=${DATA:-/tmp/driftd-drift-bench}
PY=${PY:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BIN:-/tmp/driftd}

echo "== build $BIN"
(cd "$ROOT" && go build -o "$BIN" .)
echo "== data: $ROWS x 28 in $DATA"
"$PY" "$HERE/peer.py" gen --out "$DATA" --rows "$ROWS"

now() { date +%s.%N; }

echo "== driftd drift"
t0=$(now)
"$BIN" drift --reference "$DATA/reference.csv" --current "$DATA/current.csv" --json >"$DATA/driftd.json"
t1=$(now)
echo "== numpy/scipy peer"
"$PY" "$HERE/peer.py" drift "$DATA/reference.csv" "$DATA/current.csv" >"$DATA/peer.json"
t2=$(now)

echo "== agreement"
"$PY" "$HERE/peer.py" check "$DATA/driftd.json" "$DATA/peer.json"
"$PY" - "$t0" "$t1" "$t2" <<'PYEOF'
import sys
t0, t1, t2 = map(float, sys.argv[1:])
d, p = t1 - t0, t2 - t1
print(f"driftd {d:.2f}s   numpy/scipy {p:.2f}s   ratio {p / d:.1f}x (goal >= 10x)")
PYEOF
