#!/bin/sh
# Batch prediction side by side: driftd against XGBoost's inplace_predict on
# the same model shape (100 leaf-wise trees of 31 leaves, 256 bins, learning
# rate 0.1) trained on the same file, scoring the same rows with the same
# number of threads, in the same run (the machine is shared: only the ratio
# counts).
#
#   bench/train/predict.sh                    # 1M rows scored, 5 turns, 2 threads
#   REPEATS=9 THREADS=2 bench/train/predict.sh
#   SCORE=higgs_test.csv bench/train/predict.sh   # score the 200k test file instead
#   KEEP_MODELS=1 bench/train/predict.sh          # reuse both models of the last run
#
# driftd's figure is the rows_per_second of `driftd predict --json` (the
# scoring phase: rows filled from the loaded columns and scored, CSV reading
# and writing excluded); XGBoost's is rows / the wall time of
# Booster.inplace_predict on the same rows already in a float64 matrix
# (CSV reading excluded). The two sides run in turn, REPEATS times, so that
# both see the same load; each side's median and the ratios are reported.
#
# Needs Debian's python3-xgboost python3-numpy python3-pandas (run with
# /usr/bin/python3) and Go. Data: bench/train/gen_data.py writes DIR (kept).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=${DIR:-/tmp/driftd-bench}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-5}
TRAIN=${TRAIN:-higgs_1m_train.csv}
SCORE=${SCORE:-higgs_1m_train.csv}
PY=/usr/bin/python3
OUT="$DIR/predict"
mkdir -p "$OUT"

for tool in "$PY" go; do
	command -v "$tool" >/dev/null || { echo "predict.sh: $tool not found" >&2; exit 1; }
done

echo "== data" >&2
"$PY" "$HERE/gen_data.py" --out "$DIR" --only higgs >&2

echo "== build driftd" >&2
(cd "$ROOT" && go build -o "$OUT/driftd" .)

KEEP_MODELS=${KEEP_MODELS:-}
if [ -z "$KEEP_MODELS" ] || [ ! -f "$OUT/driftd.model" ]; then
	echo "== train driftd: 100 leaf-wise trees, 31 leaves" >&2
	"$OUT/driftd" train --data "$DIR/$TRAIN" --target label --grow leafwise --max-leaves 31 --max-bins 255 \
	--rounds 100 --learning-rate 0.1 --threads "$THREADS" --out "$OUT/driftd.model" --json >"$OUT/train.json" 2>"$OUT/train.log"
fi

echo "== XGBoost: train the same shape; then $REPEATS turns of inplace_predict and driftd predict" >&2
"$PY" - "$DIR/$TRAIN" "$DIR/$SCORE" "$THREADS" "$REPEATS" "$OUT/driftd" "$OUT/driftd.model" "$OUT/xgb.ubj" "$KEEP_MODELS" \
	>"$OUT/result.json" <<'PYEOF'
import json, os, subprocess, sys, time
import numpy as np, pandas as pd, xgboost as xgb
train, score, threads, repeats, driftd, model, xgb_model, keep = sys.argv[1:9]
threads, repeats = int(threads), int(repeats)
if keep and os.path.exists(xgb_model):
    bst = xgb.Booster(model_file=xgb_model)
else:
    tr = pd.read_csv(train, dtype=np.float64, engine="c")
    y = tr.pop("label").to_numpy()
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_bin": 256, "eta": 0.1,
              "grow_policy": "lossguide", "max_leaves": 31, "max_depth": 0, "nthread": threads, "verbosity": 0}
    bst = xgb.train(params, xgb.DMatrix(tr.to_numpy(), label=y, nthread=threads), num_boost_round=100)
    bst.save_model(xgb_model)
    del tr
X = np.ascontiguousarray(pd.read_csv(score, dtype=np.float64, engine="c").drop(columns=["label"]).to_numpy())
bst.set_param({"nthread": threads})
bst.inplace_predict(X[:1000])  # warm up
xr, dr = [], []
for _ in range(repeats):  # the two sides in turn, so that both see the same load
    t0 = time.perf_counter()
    bst.inplace_predict(X)
    xr.append(len(X) / (time.perf_counter() - t0))
    out = subprocess.run([driftd, "predict", "--model", model, "--data", score, "--out", "/dev/null", "--json"],
                         check=True, capture_output=True, text=True, env={"GOMAXPROCS": str(threads)})
    d = json.loads(out.stdout)
    if d["rows"] != len(X):
        raise SystemExit(f"driftd scored {d['rows']} rows, XGBoost {len(X)}")
    dr.append(d["rows_per_second"])
dump = bst.get_dump()
print(json.dumps({"rows": len(X), "threads": threads, "xgboost": xgb.__version__, "trees": len(dump),
                  "leaves": sum(t.count("leaf=") for t in dump), "xgb_rows_per_second": xr,
                  "driftd_rows_per_second": dr}))
PYEOF

"$PY" - "$OUT/result.json" <<'PYEOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
x, d = r["xgb_rows_per_second"], r["driftd_rows_per_second"]
print(f"rows scored {r['rows']}, threads {r['threads']}, XGBoost {r['xgboost']} ({r['trees']} trees, {r['leaves']} leaves)")
print("{:<24} {:>13}  {}".format("side", "median rows/s", "turns"))
print("{:<24} {:>13.0f}  {}".format("xgboost inplace_predict", statistics.median(x), " ".join(f"{v:.0f}" for v in x)))
print("{:<24} {:>13.0f}  {}".format("driftd predict", statistics.median(d), " ".join(f"{v:.0f}" for v in d)))
ratios = [b / a for a, b in zip(x, d)]
print(f"driftd / xgboost: {statistics.median(d) / statistics.median(x):.2f}x (medians); "
      f"per turn {' '.join(f'{q:.2f}' for q in ratios)}, median {statistics.median(ratios):.2f}x")
PYEOF
