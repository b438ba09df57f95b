#!/usr/bin/python3
"""Peer side of driftd's train benchmark (bench/train/run.sh).

Trains one peer model on one data set, REPEATS times, and prints one JSON line
with median/min/max of every timing plus test metrics and memory.  Run each
model in its own process so peak-RSS numbers are attributable.

  /usr/bin/python3 peer.py --model xgb    --data higgs_1m [--repeats 3]
  models: xgb (hist, depthwise), xgb_lg (hist, lossguide 31 leaves),
          hgb (sklearn HistGradientBoostingClassifier), logreg
  data:   higgs_1m | mixed
          (CSV files from gen_data.py in --dir, default /tmp/driftd-bench)

Timings (seconds, wall clock, time.perf_counter):
  load_s      CSV -> numpy/pandas (once; excluded from fit)
  fit_s       everything needed to go from float matrix to trained model:
              xgb: DMatrix construction (train and test) + xgb.train
              (quantile sketch, binning and boosting all happen inside) with
              log loss and AUC on the test file after every round, as
              driftd's fit does (--no-eval: without); hgb: .fit() (binning
              included); logreg: StandardScaler fit/transform + lbfgs.
  prep_s      xgb: DMatrix construction only;  hgb: _BinMapper fit_transform
              only (binning cost, measured separately, not subtracted)
  pred_rows_per_s  batch predict_proba over the whole test set
  pred_1row_us     median latency of predicting a single row (1000 calls)
Memory: VmHWM reset via /proc/self/clear_refs before each fit; we report
  rss_before_fit_mb (VmRSS, includes loaded data) and peak_fit_mb (VmHWM).
"""
import argparse
import json
import os
import statistics
import sys
import time

THREADS = os.environ.get("PEER_THREADS", "2")
# must be set before numpy/sklearn/xgboost import (OpenMP + BLAS pools)
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(v, THREADS)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score  # noqa: E402

N_THREADS = int(THREADS)


# ------------------------------------------------------------------ memory
def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0  # MB
    return float("nan")


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ data
CAT_COLS = ["cat_region", "cat_device", "cat_merchant"]


def load(name, d):
    t0 = time.perf_counter()
    cats = None
    if name == "higgs_1m":
        tr = pd.read_csv(os.path.join(d, f"{name}_train.csv"), dtype=np.float64, engine="c")
        te = pd.read_csv(os.path.join(d, "higgs_test.csv"), dtype=np.float64, engine="c")
        ytr = tr.pop("label").to_numpy().astype(np.int32)
        yte = te.pop("label").to_numpy().astype(np.int32)
        Xtr, Xte = tr.to_numpy(), te.to_numpy()
    elif name == "mixed":
        dt = {c: "category" for c in CAT_COLS}
        tr = pd.read_csv(os.path.join(d, "mixed_train.csv"), dtype=dt)
        te = pd.read_csv(os.path.join(d, "mixed_test.csv"), dtype=dt)
        ytr = tr.pop("label").to_numpy().astype(np.int32)
        yte = te.pop("label").to_numpy().astype(np.int32)
        for c in CAT_COLS:  # same category universe in train and test
            te[c] = pd.Categorical(te[c], categories=tr[c].cat.categories)
        Xtr, Xte, cats = tr, te, CAT_COLS
    else:
        raise SystemExit(f"unknown data {name}")
    return Xtr, ytr, Xte, yte, cats, time.perf_counter() - t0


# ------------------------------------------------------------------ models
def make_xgb(lossguide, eval_every_round):
    import xgboost as xgb
    params = {
        "objective": "binary:logistic", "tree_method": "hist", "max_bin": 256,
        "eta": 0.1, "nthread": N_THREADS, "eval_metric": ["logloss", "auc"],
        "verbosity": 0,
    }
    if lossguide:
        params.update({"grow_policy": "lossguide", "max_leaves": 31, "max_depth": 0})
    else:
        params["max_depth"] = 6
    last_eval = {}

    def fit(Xtr, ytr, cats, Xte=None, yte=None):
        # driftd's fit bins the test file and scores it (log loss and AUC)
        # after every round; with eval_every_round XGBoost does the same
        # work: the test DMatrix is built inside the timed fit and evaluated
        # every round (XGBoost adds each new tree to its cached test margins,
        # as driftd does).
        t0 = time.perf_counter()
        dtr = xgb.DMatrix(Xtr, label=ytr, nthread=N_THREADS,
                          enable_categorical=cats is not None)
        prep = time.perf_counter() - t0
        evals, res = [], {}
        if eval_every_round:
            dte = xgb.DMatrix(Xte, label=yte, nthread=N_THREADS,
                              enable_categorical=cats is not None)
            evals = [(dte, "test")]
        bst = xgb.train(params, dtr, num_boost_round=100, evals=evals,
                        evals_result=res, verbose_eval=False)
        if res:
            last_eval.update({k: v[-1] for k, v in res["test"].items()})
            last_eval["rounds_evaluated"] = len(res["test"]["auc"])
        return bst, prep

    def predict(bst, X, cats):
        if cats is not None:  # inplace_predict on pandas categoricals is 2.x-only
            return bst.predict(xgb.DMatrix(X, nthread=N_THREADS, enable_categorical=True))
        return bst.inplace_predict(X)

    def info(bst):
        dump = bst.get_dump()
        return {"n_trees": len(dump),
                "n_leaves_total": sum(t.count("leaf=") for t in dump),
                "xgb_params": params, "eval_every_round": eval_every_round,
                "last_round_eval": dict(last_eval)}
    return fit, predict, info


def make_hgb():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    from sklearn.preprocessing import OrdinalEncoder

    enc = {}

    def to_numeric(X, cats, fit_enc):
        if cats is None:
            return X, None
        if fit_enc:
            enc["e"] = OrdinalEncoder(handle_unknown="use_encoded_value",
                                      unknown_value=np.nan, dtype=np.float64)
            enc["e"].fit(X[cats])
        num = X.drop(columns=cats).to_numpy(dtype=np.float64)
        return np.hstack([enc["e"].transform(X[cats]), num]), list(range(len(cats)))

    def fit(Xtr, ytr, cats, Xte=None, yte=None):  # no per-round evaluation
        t0 = time.perf_counter()
        Xn, cat_idx = to_numeric(Xtr, cats, True)
        m = HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=31, max_bins=255,
            early_stopping=False, categorical_features=cat_idx, random_state=0)
        m.fit(Xn, ytr)
        fit.prep_extra = time.perf_counter() - t0
        return m, None

    def binning_time(Xtr, cats):
        Xn, _ = to_numeric(Xtr, cats, True)
        t0 = time.perf_counter()
        _BinMapper(n_bins=256, subsample=int(2e5), random_state=0,
                   n_threads=N_THREADS).fit_transform(Xn)
        return time.perf_counter() - t0

    def predict(m, X, cats):
        Xn, _ = to_numeric(X, cats, False)
        return m.predict_proba(Xn)[:, 1]

    def info(m):
        leaves = sum(p[0].get_n_leaf_nodes() for p in m._predictors)
        return {"n_trees": len(m._predictors), "n_leaves_total": int(leaves),
                "hgb_params": {k: v for k, v in m.get_params().items()
                               if k in ("max_iter", "learning_rate", "max_leaf_nodes",
                                        "max_bins", "min_samples_leaf",
                                        "l2_regularization", "max_depth")}}
    fit.binning_time = binning_time
    return fit, predict, info


def make_logreg():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def fit(Xtr, ytr, cats, Xte=None, yte=None):  # iterative solver, no rounds
        t0 = time.perf_counter()
        if cats is None:
            pre = StandardScaler()
        else:
            num = [c for c in Xtr.columns if c not in cats]
            pre = ColumnTransformer([
                ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
                ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                      StandardScaler()), num)])
        m = make_pipeline(pre, LogisticRegression(solver="lbfgs", C=1.0, max_iter=1000))
        m.fit(Xtr, ytr)
        return m, None

    def predict(m, X, cats):
        return m.predict_proba(X)[:, 1]

    def info(m):
        return {"n_iter": int(m[-1].n_iter_[0])}
    return fit, predict, info


# ------------------------------------------------------------------ main
def med(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=["xgb", "xgb_lg", "hgb", "logreg"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--dir", default="/tmp/driftd-bench")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", help="append the JSON line to this file")
    ap.add_argument("--no-eval", action="store_true",
                    help="xgb, xgb_lg: no per-round evaluation on the test file (default: log loss "
                         "and AUC on it after every round, as driftd's fit does)")
    a = ap.parse_args()

    Xtr, ytr, Xte, yte, cats, load_s = load(a.data, a.dir)
    if a.model in ("xgb", "xgb_lg"):
        fit, predict, info = make_xgb(a.model == "xgb_lg", not a.no_eval)
    elif a.model == "hgb":
        fit, predict, info = make_hgb()
    else:
        fit, predict, info = make_logreg()

    fit_s, prep_s, peaks, rss0 = [], [], [], []
    model = None
    for _ in range(a.repeats):
        model = None
        rss0.append(_status("VmRSS"))
        reset_peak()
        t0 = time.perf_counter()
        model, prep = fit(Xtr, ytr, cats, Xte, yte)
        fit_s.append(time.perf_counter() - t0)
        peaks.append(_status("VmHWM"))
        if prep is not None:
            prep_s.append(prep)
    if hasattr(fit, "binning_time"):
        prep_s = [fit.binning_time(Xtr, cats) for _ in range(a.repeats)]

    p = predict(model, Xte, cats)
    p = np.clip(p, 1e-15, 1 - 1e-15)
    pred_s = []
    for _ in range(max(3, a.repeats)):
        t0 = time.perf_counter()
        predict(model, Xte, cats)
        pred_s.append(time.perf_counter() - t0)
    n_te = len(yte)
    # single-row latency
    one = Xte.iloc[[0]] if hasattr(Xte, "iloc") else Xte[:1]
    lat = []
    for _ in range(1000):
        t0 = time.perf_counter()
        predict(model, one, cats)
        lat.append(time.perf_counter() - t0)

    import sklearn
    import xgboost
    res = {
        "model": a.model, "data": a.data, "threads": N_THREADS,
        "n_train": int(len(ytr)), "n_test": int(n_te),
        "n_features": int(Xtr.shape[1]),
        "load_s": round(load_s, 3),
        "fit_s": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in med(fit_s).items()},
        "prep_s": ({k: (round(v, 3) if isinstance(v, float) else v) for k, v in med(prep_s).items()}
                   if prep_s else None),
        "auc": round(float(roc_auc_score(yte, p)), 5),
        "accuracy": round(float(accuracy_score(yte, p >= 0.5)), 5),
        "logloss": round(float(log_loss(yte, p)), 5),
        "pred_rows_per_s": round(n_te / statistics.median(pred_s)),
        "pred_s_median": round(statistics.median(pred_s), 4),
        "pred_1row_us": round(statistics.median(lat) * 1e6, 1),
        "rss_before_fit_mb": round(statistics.median(rss0), 1),
        "peak_fit_mb": round(max(peaks), 1),
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                     "sklearn": sklearn.__version__, "xgboost": xgboost.__version__},
    }
    res.update(info(model))
    line = json.dumps(res)
    print(line, flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
