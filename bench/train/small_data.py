#!/usr/bin/python3
"""Small data: driftd's default GBDT against XGBoost's defaults.

The data sets Debian's python3-sklearn ships (no download): diabetes
(regression), breast cancer (binary), iris, wine and digits (multiclass), each
with a fixed 75/25 split (random_state 0, stratified for classes). Both sides
get the same training CSV, 100 rounds and 2 threads, and nothing else: each
keeps its own defaults (XGBoost 1.7: depth-wise, max_depth 6, eta 0.3,
min_child_weight 1; driftd: leaf-wise, 31 leaves, learning rate 0.1 and the
min_samples_leaf rule of train.DefaultParams). Neither looks at the test
split while training. Prints one table row per data set:
RMSE for regression, accuracy and log loss for classification.

    /usr/bin/python3 bench/train/small_data.py --driftd ./driftd [--min-samples-leaf N]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn import datasets
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error
from sklearn.model_selection import train_test_split

SETS = [
    ("diabetes", datasets.load_diabetes, "regression"),
    ("breast_cancer", datasets.load_breast_cancer, "binary"),
    ("iris", datasets.load_iris, "multiclass"),
    ("wine", datasets.load_wine, "multiclass"),
    ("digits", datasets.load_digits, "multiclass"),
]


def split(load, objective):
    d = load()
    x = pd.DataFrame(d.data, columns=[f"x{i}" for i in range(d.data.shape[1])])
    y = d.target
    strat = None if objective == "regression" else y
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=strat)


def run_xgb(objective, xtr, ytr, xte, yte):
    common = dict(n_estimators=100, n_jobs=2, random_state=0)
    if objective == "regression":
        m = xgb.XGBRegressor(**common).fit(xtr, ytr)
        return {"rmse": math.sqrt(mean_squared_error(yte, m.predict(xte)))}
    m = xgb.XGBClassifier(**common).fit(xtr, ytr)
    p = m.predict_proba(xte)
    return {"accuracy": accuracy_score(yte, p.argmax(axis=1)), "logloss": log_loss(yte, p, labels=sorted(set(ytr)))}


def run_driftd(binary, objective, xtr, ytr, xte, yte, extra):
    with tempfile.TemporaryDirectory() as tmp:
        tr, te = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
        xtr.assign(y=ytr).to_csv(tr, index=False)
        xte.assign(y=yte).to_csv(te, index=False)
        out = os.path.join(tmp, "m.drift")
        args = [binary, "train", "--data", tr, "--target", "y", "--valid-fraction", "0", "--objective", objective,
                "--rounds", "100", "--threads", "2", "--out", out, "--json"] + extra
        fit = subprocess.run(args, capture_output=True, text=True)
        if fit.returncode != 0:
            sys.exit(f"driftd train failed: {fit.stderr}")
        pred = os.path.join(tmp, "pred.csv")
        p = subprocess.run([binary, "predict", "--model", out, "--data", te, "--out", pred], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"driftd predict failed: {p.stderr}")
        got = pd.read_csv(pred)
    if objective == "regression":
        return {"rmse": math.sqrt(mean_squared_error(yte, got["prediction"]))}
    classes = sorted(set(ytr))
    if objective == "binary":
        p1 = got["score"].to_numpy()
        proba = np.column_stack([1 - p1, p1])
    else:
        proba = got[[f"p_{c}" for c in classes]].to_numpy()
    return {"accuracy": accuracy_score(yte, np.array(classes)[proba.argmax(axis=1)]), "logloss": log_loss(yte, proba, labels=classes)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driftd", required=True)
    ap.add_argument("--min-samples-leaf", type=int, default=None, help="override driftd's default")
    a = ap.parse_args()
    extra = [] if a.min_samples_leaf is None else ["--min-samples-leaf", str(a.min_samples_leaf)]
    print(f"{'data set':14} {'rows':>5} {'metric':9} {'xgboost':>9} {'driftd':>9} {'change':>8}")
    for name, load, objective in SETS:
        xtr, xte, ytr, yte = split(load, objective)
        ours = run_driftd(a.driftd, objective, xtr, ytr, xte, yte, extra)
        theirs = run_xgb(objective, xtr, ytr, xte, yte)
        for metric in ours:
            o, t = ours[metric], theirs[metric]
            change = (o - t) / t * 100 if metric != "accuracy" else (o - t) * 100
            unit = "%" if metric != "accuracy" else " pt"
            print(f"{name:14} {len(xtr):5d} {metric:9} {t:9.4f} {o:9.4f} {change:+7.1f}{unit}")
        print(json.dumps({"set": name, "rows": len(xtr), "xgboost": theirs, "driftd": ours}), file=sys.stderr)


if __name__ == "__main__":
    main()
