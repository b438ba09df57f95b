#!/usr/bin/python3
"""Generate the logistic-regression fixture used by train/logistic_test.go.

Run once with Debian's python3-sklearn (1.2.1) and commit the output:

    /usr/bin/python3 train/testdata/gen_logistic_fixture.py

Writes train/testdata/logistic.csv (300 rows: numeric x0..x2 with missing
values in x2 and a large-mean x1, a categorical "color" with missing values,
a binary "label" and a three-class "grade") and train/testdata/logistic.json
with scikit-learn's LogisticRegression(lbfgs, C=1) solution on the encoding
driftd uses: numeric columns standardised with the mean and population
standard deviation of the non-missing values, missing numeric -> 0 after
standardisation, categoricals one-hot (unscaled), missing categorical -> all
zeros. Inputs are named "x0" or "color=red" so the test can match them
whatever level order the CSV reader picks.
"""
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
n = 300
x0 = rng.standard_normal(n)
x1 = np.exp(0.5 * rng.standard_normal(n)) * 10 + 50
x2 = rng.standard_normal(n)
colors = np.array(["red", "green", "blue"])
color = colors[rng.integers(0, 3, n)]
eff = {"red": 0.8, "green": -0.4, "blue": 0.0}
logit = 1.2 * x0 - 0.08 * (x1 - 55) + 0.7 * x2 + np.array([eff[c] for c in color]) - 0.2
label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
s = logit + 0.8 * rng.standard_normal(n)
grade = np.where(s < -0.7, "A", np.where(s < 0.6, "B", "C"))
x2[rng.random(n) < 0.1] = np.nan
cmiss = rng.random(n) < 0.05
color = np.where(cmiss, "", color)

with open(os.path.join(HERE, "logistic.csv"), "w") as f:
    f.write("x0,x1,x2,color,label,grade\n")
    for i in range(n):
        v2 = "" if np.isnan(x2[i]) else "%.6f" % x2[i]
        f.write("%.6f,%.6f,%s,%s,%d,%s\n" % (x0[i], x1[i], v2, color[i], label[i], grade[i]))

# Re-read what was written (6 decimals) so the fit sees exactly the CSV values.
raw = np.genfromtxt(os.path.join(HERE, "logistic.csv"), delimiter=",", skip_header=1,
                    usecols=(0, 1, 2), missing_values="", filling_values=np.nan)
names, cols = [], []
for j in range(3):
    c = raw[:, j]
    mu, sd = np.nanmean(c), np.nanstd(c)
    z = (c - mu) / sd
    z[np.isnan(z)] = 0.0
    names.append("x%d" % j)
    cols.append(z)
for lv in ["blue", "green", "red"]:
    names.append("color=" + lv)
    cols.append((color == lv).astype(float))
X = np.column_stack(cols)

out = {"sklearn": __import__("sklearn").__version__, "inputs": names}
for target, y in (("label", label), ("grade", grade)):
    m = LogisticRegression(solver="lbfgs", C=1.0, tol=1e-10, max_iter=10000).fit(X, y)
    p = m.predict_proba(X)
    res = {
        "classes": [str(c) for c in m.classes_],
        "coef": m.coef_.tolist(),
        "intercept": m.intercept_.tolist(),
        "proba": p.tolist(),
        "logloss": log_loss(y, p),
    }
    if len(m.classes_) == 2:
        res["auc"] = roc_auc_score(y, p[:, 1])
    out[target] = res

with open(os.path.join(HERE, "logistic.json"), "w") as f:
    json.dump(out, f, indent=1)
print("wrote logistic.csv and logistic.json")
