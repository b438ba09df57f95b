#!/usr/bin/python3
"""Generate the XGBoost import fixtures used by train/import_xgboost_test.go.

Run once with Debian's python3-xgboost (1.7.4), python3-pandas and numpy, and
commit the output:

    /usr/bin/python3 train/testdata/import/make_xgboost.py

For each model NAME it writes, next to this script:

  xgb_NAME.json      the model, Booster.save_model("xgb_NAME.json")
  xgb_NAME.ubj       the same model as UBJSON (binary and categorical only)
  xgb_NAME_data.csv  held-out rows: a header of feature names, one row per
                     line, full-precision float64 values (repr), an empty
                     cell for a missing value; categorical columns hold the
                     integer category code
  xgb_NAME_pred.csv  XGBoost's own predictions for those rows: "pred" (or
                     p0..pK-1 for multi:softprob) from Booster.predict and
                     "margin" (or m0..mK-1) from predict(output_margin=True),
                     the float32 results written as exact float64 values

The held-out rows are random rows with about 20% missing values, plus rows
built around the split conditions of every tree's first two levels: a row
of the held-out set with the split feature set to the float32 condition c,
its float32 neighbours, and the float64 values at, just below and just
above the midpoints between them (where float32 rounding changes side).
That checks the float32 "< c" rule of XGBoost against driftd's float64
"<= threshold" conversion on values that round to either side.

Refusal fixtures (no data): xgb_dart_weighted.json (dart whose tree weights
are not all 1) and xgb_gblinear.json. xgb_dart_plain.json is a dart model
whose weights are all 1, which is imported, with data and predictions.
"""
import json
import os

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(19)


def f32_neighbours(c):
    """Float64 values around the float32 value c where float32 rounding flips."""
    c32 = np.float32(c)
    lo = np.nextafter(c32, np.float32(-np.inf))
    hi = np.nextafter(c32, np.float32(np.inf))
    out = [float(c32), float(lo), float(hi)]
    for a, b in ((lo, c32), (c32, hi)):
        if not (np.isfinite(a) and np.isfinite(b)):
            continue
        mid = (float(a) + float(b)) / 2  # exact in float64
        out += [mid, float(np.nextafter(mid, -np.inf)), float(np.nextafter(mid, np.inf))]
    return out


def edge_rows(booster, base, numeric):
    """Rows of base with the feature of each depth-0/1 split set to edge values."""
    rows = []
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]
    if "gbtree" in trees:
        trees = trees["gbtree"]
    for t, tree in enumerate(trees["model"]["trees"]):
        left, right = tree["left_children"], tree["right_children"]
        feat, cond, kind = tree["split_indices"], tree["split_conditions"], tree["split_type"]
        for node in (0, left[0], right[0]):
            if node < 0 or left[node] < 0 or kind[node] != 0 or not numeric[feat[node]]:
                continue
            r = base[(t * 7 + node) % len(base)].copy()
            if node != 0 and feat[0] != feat[node] and kind[0] == 0:
                # send the row to this child of the root
                c0 = cond[0]
                r[feat[0]] = c0 - 1 - abs(c0) if node == left[0] else c0 + 1 + abs(c0)
            for v in f32_neighbours(cond[node]):
                e = r.copy()
                e[feat[node]] = v
                rows.append(e)
    return np.array(rows)


def with_missing(X, frac=0.2):
    X = X.copy()
    X[rng.random(X.shape) < frac] = np.nan
    return X


def write_data(name, names, X, categorical=()):
    def cell(j, v):
        if np.isnan(v):
            return ""
        return str(int(v)) if j in categorical else repr(float(v))

    with open(os.path.join(HERE, f"xgb_{name}_data.csv"), "w") as f:
        f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join(cell(j, v) for j, v in enumerate(row)) + "\n")


def write_pred(name, pred, margin):
    pred, margin = np.asarray(pred), np.asarray(margin)
    if pred.ndim == 1:
        cols, pred = ["pred"], pred[:, None]
    else:
        cols = [f"p{k}" for k in range(pred.shape[1])]
    if margin.ndim == 1:
        cols, margin = cols + ["margin"], margin[:, None]
    else:
        cols += [f"m{k}" for k in range(margin.shape[1])]
    with open(os.path.join(HERE, f"xgb_{name}_pred.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for p, m in zip(pred, margin):
            f.write(",".join(repr(float(v)) for v in list(p) + list(m)) + "\n")


def save(name, booster, ubj=False):
    booster.save_model(os.path.join(HERE, f"xgb_{name}.json"))
    if ubj:
        booster.save_model(os.path.join(HERE, f"xgb_{name}.ubj"))


def numeric_model(name, params, X, y, rounds, names=None, ubj=False):
    dtrain = xgb.DMatrix(with_missing(X), label=y, feature_names=names)
    b = xgb.train(params, dtrain, num_boost_round=rounds)
    save(name, b, ubj)
    hold = with_missing(rng.normal(size=(150, X.shape[1])) * X.std(axis=0) + X.mean(axis=0))
    hold = np.vstack([hold, edge_rows(b, hold, [True] * X.shape[1])])
    d = xgb.DMatrix(hold, feature_names=names)
    write_data(name, names or [f"f{i}" for i in range(X.shape[1])], hold)
    write_pred(name, b.predict(d), b.predict(d, output_margin=True))


def main():
    n = 400
    # binary:logistic, named features, base_score 0.3 (margin logit(0.3)), hist
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] - 0.5 * X[:, 1] + X[:, 2] * X[:, 3] + rng.normal(size=n) * 0.5 > 0).astype(int)
    numeric_model("binary", {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3,
                             "tree_method": "hist", "base_score": 0.3, "seed": 1},
                  X, y, 30, names=["age", "income", "score", "tenure", "visits", "balance"], ubj=True)

    # multi:softprob, 3 classes, unnamed features (f0..), approx
    X = rng.normal(size=(n, 5))
    y = np.digitize(X[:, 0] + 0.7 * X[:, 1] + rng.normal(size=n) * 0.3, [-0.5, 0.5])
    numeric_model("softprob", {"objective": "multi:softprob", "num_class": 3, "max_depth": 3,
                               "eta": 0.3, "tree_method": "approx", "seed": 1}, X, y, 12)

    # multi:softmax, 4 classes, two parallel trees per class and round, exact
    X = rng.normal(size=(n, 4))
    y = np.digitize(X[:, 0] - X[:, 2] + rng.normal(size=n) * 0.4, [-1, 0, 1])
    numeric_model("softmax", {"objective": "multi:softmax", "num_class": 4, "max_depth": 3,
                              "eta": 0.4, "tree_method": "exact", "num_parallel_tree": 2,
                              "subsample": 0.8, "seed": 1}, X, y, 5)

    # reg:squarederror on a target of a few hundred, base_score 250
    X = rng.normal(size=(n, 5)) * [1, 10, 100, 0.01, 1] + [0, 50, 1000, 0, -3]
    y = 250 + 40 * X[:, 0] + 2 * X[:, 1] - 0.1 * X[:, 2] + 3000 * X[:, 3] + rng.normal(size=n) * 5
    numeric_model("regression", {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.2,
                                 "tree_method": "hist", "base_score": 250, "seed": 1}, X, y, 40)

    # dart with all tree weights 1 (rate_drop 0): imported like gbtree
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + rng.normal(size=n) * 0.5 > 0).astype(int)
    numeric_model("dart_plain", {"booster": "dart", "objective": "binary:logistic", "max_depth": 2,
                                 "rate_drop": 0.0, "seed": 1}, X, y, 4)

    # refused: dart with weights, gblinear
    d = xgb.DMatrix(X, label=y)
    b = xgb.train({"booster": "dart", "objective": "binary:logistic", "max_depth": 1,
                   "rate_drop": 0.5, "normalize_type": "forest", "seed": 1}, d, num_boost_round=4)
    w = json.loads(b.save_raw("json"))["learner"]["gradient_booster"]["weight_drop"]
    assert any(v != 1 for v in w), w
    save("dart_weighted", b)
    save("gblinear", xgb.train({"booster": "gblinear", "objective": "binary:logistic"}, d,
                               num_boost_round=2))

    categorical_model()


def categorical_model():
    """binary:logistic with categorical splits: "flag" (3 categories, one-hot
    splits), "color" (8, partition splits), "zone" (70: a bitset of more than
    one 64-bit word) and two numeric features, all with missing values."""
    n = 600
    flag = rng.integers(0, 3, n)
    color = rng.integers(0, 8, n)
    zone = rng.integers(0, 70, n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    logit = (flag == 1) * 1.5 + np.isin(color, [1, 4, 6]) * 1.2 + ((zone * 7) % 11 > 5) * 1.5 + x1 - 1.5
    y = (logit + rng.normal(size=n) * 0.3 > 0).astype(int)

    def frame(flag, color, zone, x1, x2, ncat=(3, 8, 70)):
        df = pd.DataFrame({
            "flag": pd.Categorical(flag, categories=list(range(ncat[0]))),
            "color": pd.Categorical(color, categories=list(range(ncat[1]))),
            "zone": pd.Categorical(zone, categories=list(range(ncat[2]))),
            "x1": x1, "x2": x2})
        for c in df.columns:
            df.loc[rng.random(len(df)) < 0.15, c] = np.nan
        return df

    train = frame(flag, color, zone, x1, x2)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "tree_method": "hist",
                   "max_cat_to_onehot": 4, "seed": 1},
                  xgb.DMatrix(train, label=y, enable_categorical=True), num_boost_round=25)
    save("categorical", b, ubj=True)
    m = 300
    # held-out codes include categories never seen in training (3, 8..9, 70..99)
    hold = frame(rng.integers(0, 4, m), rng.integers(0, 10, m), rng.integers(0, 100, m),
                 rng.normal(size=m), rng.normal(size=m), ncat=(4, 10, 100))
    d = xgb.DMatrix(hold, enable_categorical=True)
    cols = ["flag", "color", "zone", "x1", "x2"]
    X = np.column_stack([hold[c].astype(float).to_numpy() for c in cols])
    write_data("categorical", cols, X, categorical=(0, 1, 2))
    write_pred("categorical", b.predict(d), b.predict(d, output_margin=True))


if __name__ == "__main__":
    main()
