#!/bin/sh
# Side-by-side training benchmark: driftd against XGBoost, scikit-learn's
# HistGradientBoostingClassifier and LogisticRegression, on the same CSV
# files, in the same run (the machine is shared: only ratios count).
#
#   bench/train/run.sh            # all cases, 1 repeat each
#   REPEATS=3 bench/train/run.sh  # median of 3 fits on both sides
#   CASES="higgs_lr" bench/train/run.sh
#   CASES=higgs_leafwise PEERS=xgb_lg REPEATS=5 bench/train/run.sh   # the fit goal only
#
# Every fit validates on the test file after every round on both sides:
# driftd scores it (log loss and AUC, the progress line) and peer.py has
# XGBoost evaluate log loss and AUC on a test DMatrix built inside the timed
# fit (PEER_ARGS=--no-eval: XGBoost without per-round evaluation).
# scikit-learn's HistGradientBoostingClassifier takes no external
# validation set, so it evaluates nothing per round.
#
# Needs Debian's python3-xgboost python3-sklearn python3-numpy python3-pandas
# (run with /usr/bin/python3) and GNU time (/usr/bin/time -v) for peak RSS.
# Data: bench/train/gen_data.py writes /tmp/driftd-bench (kept between runs).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=${DIR:-/tmp/driftd-bench}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-1}
PEERS=${PEERS:-"xgb xgb_lg hgb logreg"}
PEER_ARGS=${PEER_ARGS:-}
CASES=${CASES:-"higgs_leafwise higgs_depthwise mixed_leafwise higgs_lr"}
PY=/usr/bin/python3
OUT="$DIR/results"
mkdir -p "$DIR" "$OUT"
: >"$OUT/results.jsonl"

for tool in /usr/bin/time "$PY" go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

echo "== data" >&2
"$PY" "$HERE/gen_data.py" --out "$DIR" >&2

echo "== build driftd" >&2
(cd "$ROOT" && go build -o "$DIR/driftd" .)

# peak_rss_mb FILE: the "Maximum resident set size" of a /usr/bin/time -v log, in MB.
peak_rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }

# ours NAME TRAIN TEST ARGS...: train driftd REPEATS times, then predict the test file.
ours() {
	name=$1 tr=$2 te=$3
	shift 3
	i=0
	fits=""
	while [ "$i" -lt "$REPEATS" ]; do
		echo "== driftd $name (run $((i + 1))/$REPEATS)" >&2
		/usr/bin/time -v -o "$OUT/$name.time" "$DIR/driftd" train --data "$DIR/$tr" --test "$DIR/$te" --target label \
			--threads "$THREADS" --out "$OUT/$name.model" --json "$@" >"$OUT/$name.json" 2>"$OUT/$name.progress"
		tail -n 2 "$OUT/$name.progress" >&2
		fits="$fits $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["fit_seconds"])' "$OUT/$name.json")"
		i=$((i + 1))
	done
	"$DIR/driftd" predict --model "$OUT/$name.model" --data "$DIR/$te" --out /dev/null 2>"$OUT/$name.predict"
	cat "$OUT/$name.predict" >&2
	"$PY" - "$name" "$OUT/$name.json" "$OUT/$name.predict" "$(peak_rss_mb "$OUT/$name.time")" "$fits" >>"$OUT/results.jsonl" <<'EOF'
import json, re, statistics, sys
name, js, pred, rss, fits = sys.argv[1:6]
s = json.load(open(js))
m = re.search(r"([0-9.]+) rows/s scoring", open(pred).read())
print(json.dumps({"case": name, "side": "driftd", "fit_s": statistics.median(float(f) for f in fits.split()),
                  "auc": s["metrics"].get("auc"), "logloss": s["metrics"].get("logloss"),
                  "pred_rows_per_s": float(m.group(1)) if m else None, "peak_rss_mb": float(rss),
                  "rounds": s["rounds"], "load_s": s["load_seconds"]}))
EOF
}

# peer NAME MODEL DATA: one peer process under /usr/bin/time (MODEL must be in PEERS).
peer() {
	name=$1 model=$2 data=$3
	case " $PEERS " in *" $model "*) ;; *) return 0 ;; esac
	echo "== peer $model on $data" >&2
	PEER_THREADS=$THREADS /usr/bin/time -v -o "$OUT/$name.$model.time" "$PY" "$HERE/peer.py" --model "$model" --data "$data" \
		--dir "$DIR" --repeats "$REPEATS" $PEER_ARGS >"$OUT/$name.$model.json"
	"$PY" - "$name" "$model" "$OUT/$name.$model.json" "$(peak_rss_mb "$OUT/$name.$model.time")" >>"$OUT/results.jsonl" <<'EOF'
import json, sys
name, model, js, rss = sys.argv[1:5]
r = json.loads(open(js).read().strip().splitlines()[-1])
print(json.dumps({"case": name, "side": model, "fit_s": r["fit_s"]["median"], "auc": r["auc"], "logloss": r["logloss"],
                  "pred_rows_per_s": r["pred_rows_per_s"], "peak_rss_mb": float(rss), "load_s": r["load_s"]}))
EOF
}

for c in $CASES; do
	case $c in
	higgs_leafwise)
		ours "$c" higgs_1m_train.csv higgs_test.csv --grow leafwise --max-leaves 31 --max-bins 255 --rounds 100 --learning-rate 0.1
		peer "$c" xgb_lg higgs_1m
		peer "$c" hgb higgs_1m
		;;
	higgs_depthwise)
		ours "$c" higgs_1m_train.csv higgs_test.csv --grow depthwise --max-depth 6 --max-leaves 64 --max-bins 255 --rounds 100 --learning-rate 0.1
		peer "$c" xgb higgs_1m
		;;
	mixed_leafwise)
		ours "$c" mixed_train.csv mixed_test.csv --grow leafwise --max-leaves 31 --max-bins 255 --rounds 100 --learning-rate 0.1
		peer "$c" xgb_lg mixed
		peer "$c" hgb mixed
		;;
	higgs_lr)
		ours "$c" higgs_1m_train.csv higgs_test.csv --algo logistic
		peer "$c" logreg higgs_1m
		;;
	*)
		echo "run.sh: unknown case $c" >&2
		exit 2
		;;
	esac
done

"$PY" - "$OUT/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cases = []
for r in rows:
    if r["case"] not in cases:
        cases.append(r["case"])
fmt = "{:<16} {:<8} {:>8} {:>7} {:>8} {:>8} {:>9} {:>12} {:>9}"
print(fmt.format("case", "side", "fit_s", "ratio", "auc", "d_auc", "logloss", "pred_rows/s", "rss_mb"))
for c in cases:
    ours = next((r for r in rows if r["case"] == c and r["side"] == "driftd"), None)
    for r in [x for x in rows if x["case"] == c]:
        ratio = dauc = ""
        if ours and r is not ours:
            ratio = "%.2fx" % (ours["fit_s"] / r["fit_s"])
            if ours["auc"] is not None and r["auc"] is not None:
                dauc = "%+.4f" % (ours["auc"] - r["auc"])
        print(fmt.format(c, r["side"], "%.2f" % r["fit_s"], ratio,
                         "%.4f" % r["auc"] if r["auc"] is not None else "-", dauc,
                         "%.5f" % r["logloss"] if r.get("logloss") is not None else "-",
                         "%.0f" % r["pred_rows_per_s"] if r["pred_rows_per_s"] else "-",
                         "%.0f" % r["peak_rss_mb"]))
print("\nratio = driftd fit time / peer fit time (<1 is faster); d_auc = driftd AUC - peer AUC;")
print("fit excludes CSV loading on both sides; driftd and XGBoost score the test file (log loss, AUC) after every")
print("round inside the fit; rss = peak RSS of the whole process (loading included).")
EOF
