#!/usr/bin/python3
"""Generates isotonic_fixture.json for drift/isotonic_test.go.

Run once with Debian's python3-sklearn (apt-get install -y python3-sklearn):

    /usr/bin/python3 drift/testdata/gen_isotonic.py > drift/testdata/isotonic_fixture.json

Each case fits sklearn.isotonic.IsotonicRegression(y_min=0, y_max=1,
out_of_bounds="clip") -- the calibrator of CalibratedClassifierCV -- to
scores and 0/1 labels, and records its predictions on query points that
include ties, the training scores themselves and points beyond both ends.
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.isotonic import IsotonicRegression


def case(name, x, y, rng):
    ir = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
    ir.fit(x, y)
    q = np.concatenate([
        x[:50],
        rng.uniform(x.min() - 0.1, x.max() + 0.1, 200),
        [x.min() - 1, x.max() + 1, x.min(), x.max()],
    ])
    return {
        "name": name,
        "x": x.tolist(),
        "y": y.tolist(),
        "query": q.tolist(),
        "predict": ir.predict(q).tolist(),
        "thresholds_x": ir.X_thresholds_.tolist(),
        "thresholds_y": ir.y_thresholds_.tolist(),
    }


def main():
    rng = np.random.default_rng(20240516)
    cases = []
    # Miscalibrated scores: true probability is score**2.
    s = rng.uniform(0, 1, 2000)
    cases.append(case("squared", s, (rng.uniform(0, 1, 2000) < s**2).astype(float), rng))
    # Scores rounded to 2 decimals: many ties, pooled before PAVA.
    s = np.round(rng.beta(2, 5, 1500), 2)
    p = 1 / (1 + np.exp(-8 * (s - 0.3)))
    cases.append(case("ties", s, (rng.uniform(0, 1, 1500) < p).astype(float), rng))
    # A small hand-checkable one.
    x = np.array([0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    y = np.array([0, 1, 0, 0, 1, 0, 1, 1], dtype=float)
    cases.append(case("small", x, y, rng))
    json.dump({"sklearn": sklearn.__version__, "cases": cases}, sys.stdout)


if __name__ == "__main__":
    main()
