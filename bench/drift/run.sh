#!/bin/sh
# Side-by-side benchmark of `driftd drift` against the same computation in
# numpy/scipy (bench/drift/peer.py) on 1,000,000 x 28 reference and current
# CSVs. Checks that every number agrees to 1e-9 and prints the wall-clock and
# CPU-time ratios (CPU time is the fairer figure on a shared machine).
# Usage: bench/drift/run.sh [rows]   (data cached in $DATA, default /tmp/driftd-drift-bench)
set -eu
ROWS=${1:-1000000}
DATA=${DATA:-/tmp/driftd-drift-bench}
PY=${PY:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BIN:-/tmp/driftd}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

echo "== build $BIN"
(cd "$ROOT" && go build -o "$BIN" .)
echo "== data: $ROWS x 28 in $DATA"
"$PY" "$HERE/peer.py" gen --out "$DATA" --rows "$ROWS"

echo "== driftd drift --json"
"$TIME" -f "%e %U %S" -o "$DATA/driftd.time" \
	"$BIN" drift --reference "$DATA/reference.csv" --current "$DATA/current.csv" --json >"$DATA/driftd.json"
echo "== numpy/scipy peer"
"$TIME" -f "%e %U %S" -o "$DATA/peer.time" \
	"$PY" "$HERE/peer.py" drift "$DATA/reference.csv" "$DATA/current.csv" >"$DATA/peer.json"

echo "== agreement"
"$PY" "$HERE/peer.py" check "$DATA/driftd.json" "$DATA/peer.json"

# Agreement only (not timed) for the other binning and tests, on 5,000 rows.
SMALL="$DATA/small"
"$PY" "$HERE/peer.py" gen --out "$SMALL" --rows 5000 2>/dev/null
for opts in "--binning uniform" "--test ks" "--test chisquare" "--test hellinger" "--test kl" "--test psi" "--bins 7 --test jensenshannon"; do
	# shellcheck disable=SC2086
	"$BIN" drift --reference "$SMALL/reference.csv" --current "$SMALL/current.csv" --json $opts >"$SMALL/driftd.json" 2>/dev/null
	# shellcheck disable=SC2086
	"$PY" "$HERE/peer.py" drift "$SMALL/reference.csv" "$SMALL/current.csv" $opts >"$SMALL/peer.json" 2>/dev/null
	printf '%s: ' "$opts"
	"$PY" "$HERE/peer.py" check "$SMALL/driftd.json" "$SMALL/peer.json"
done
echo "== timing (1M x 28, default options)"
"$PY" - "$DATA/driftd.time" "$DATA/peer.time" <<'PYEOF'
import sys
d = [float(x) for x in open(sys.argv[1]).read().split()[-3:]]
p = [float(x) for x in open(sys.argv[2]).read().split()[-3:]]
dc, pc = d[1] + d[2], p[1] + p[2]
print(f"wall: driftd {d[0]:.2f}s  numpy/scipy {p[0]:.2f}s  ratio {p[0] / d[0]:.1f}x")
print(f"cpu:  driftd {dc:.2f}s  numpy/scipy {pc:.2f}s  ratio {pc / dc:.1f}x   (goal >= 10x)")
PYEOF
