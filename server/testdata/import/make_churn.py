#!/usr/bin/python3
"""Generate the XGBoost fixture of driftd's import tests (server/api_import_test.go,
cmd_import_test.go and the README's "Bring your own model").

Run once with Debian's python3-xgboost (1.7.4), python3-pandas and numpy, and
commit the output:

    /usr/bin/python3 server/testdata/import/make_churn.py

It trains a binary:logistic model on churn-like data, as a team would in a
notebook: four numeric features and one categorical ("plan", integer codes
0..3, a pandas Categorical), each with missing values. It writes, next to
this script:

  churn.json            the model, Booster.save_model("churn.json")
  churn_reference.csv   validation rows (not trained on) with the label
                        "churned": the reference data of the import
  churn_heldout.csv     new rows to score, with an "id", whose
                        support_calls are shifted up by 3 (the drift the
                        monitor must see); no label
  churn_pred.csv        XGBoost's own predictions for churn_heldout.csv:
                        "id" and "pred" (Booster.predict, the float32
                        results written as exact float64 values)

Values are written with repr (full float64 precision), an empty cell for a
missing value; plan is written as its integer code.
"""
import os

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2024)
FEATURES = ["tenure", "monthly_charges", "support_calls", "age", "plan"]
PLANS = 4


def frame(n, calls_shift=0.0):
    """n rows of the features (with missing values) and the label."""
    tenure = rng.gamma(2.0, 12.0, n)
    charges = rng.normal(70, 20, n)
    calls = rng.poisson(2.0, n).astype(float) + calls_shift
    age = rng.normal(45, 12, n)
    plan = rng.integers(0, PLANS, n)
    logit = (-0.05 * tenure + 0.03 * (charges - 70) + 0.45 * (calls - 2)
             + np.array([0.8, 0.0, -0.4, -1.0])[plan] - 0.3)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame({"tenure": tenure, "monthly_charges": charges, "support_calls": calls,
                       "age": age, "plan": pd.Categorical(plan, categories=list(range(PLANS)))})
    for c, frac in (("monthly_charges", 0.1), ("support_calls", 0.08), ("age", 0.05), ("plan", 0.1)):
        df.loc[rng.random(n) < frac, c] = np.nan
    return df, y


def cells(df, i):
    out = []
    for c in FEATURES:
        v = df[c].iloc[i]
        if pd.isna(v):
            out.append("")
        elif c == "plan":
            out.append(str(int(v)))
        else:
            out.append(repr(float(v)))
    return out


def main():
    train, y = frame(3000)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.2, "tree_method": "hist",
                   "max_cat_to_onehot": 1, "seed": 7},
                  xgb.DMatrix(train, label=y, enable_categorical=True), num_boost_round=60)
    b.save_model(os.path.join(HERE, "churn.json"))

    ref, yref = frame(1000)
    with open(os.path.join(HERE, "churn_reference.csv"), "w") as f:
        f.write(",".join(FEATURES + ["churned"]) + "\n")
        for i in range(len(ref)):
            f.write(",".join(cells(ref, i) + [str(yref[i])]) + "\n")

    hold, _ = frame(300, calls_shift=3.0)
    pred = b.predict(xgb.DMatrix(hold, enable_categorical=True))
    with open(os.path.join(HERE, "churn_heldout.csv"), "w") as f, \
            open(os.path.join(HERE, "churn_pred.csv"), "w") as p:
        f.write(",".join(["id"] + FEATURES) + "\n")
        p.write("id,pred\n")
        for i in range(len(hold)):
            f.write(",".join([f"c{i + 1}"] + cells(hold, i)) + "\n")
            p.write(f"c{i + 1},{float(pred[i])!r}\n")


if __name__ == "__main__":
    main()
