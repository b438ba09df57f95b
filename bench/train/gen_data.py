#!/usr/bin/python3
"""Reproducible synthetic data for driftd's train benchmark (bench/train/run.sh).

numpy only, fixed seeds.  Writes CSV files (header row, label in column 0)
to an output directory OUTSIDE git (default /tmp/driftd-bench):

  higgs_1m_train.csv   1,000,000 rows  label + f0..f27
  higgs_test.csv         200,000 rows  label + f0..f27   (shared test set)
  mixed_train.csv        200,000 rows  label + 3 string categoricals + 10 numeric (5% empty = missing)
  mixed_test.csv          50,000 rows  same schema

Files already present are kept (delete them to regenerate).

Usage:  /usr/bin/python3 gen_data.py [--out /tmp/driftd-bench] [--only higgs|mixed]
"""
import argparse
import os
import sys
import time

import numpy as np

N_FEAT = 28
N_INFORMATIVE = 15
N_REDUNDANT = 6  # linear mixes of informative ones (+ noise)
N_NOISE = N_FEAT - N_INFORMATIVE - N_REDUNDANT  # 7 pure noise


def higgs_like(n, rng, mix):
    """28 numeric features, non-linear signal, Bayes AUC well below 1.

    - f0..f14 informative latent z (normal); some are passed through skewing
      monotone transforms (exp, cube) like kinematic features; trees don't
      care, linear models do.
    - f15..f20 redundant: fixed linear mixes of z + noise.
    - f21..f27 noise (normal, lognormal, uniform, a discrete-valued one).
    """
    z = rng.standard_normal((n, N_INFORMATIVE))
    logit = (
        0.8 * z[:, 0]
        - 0.6 * z[:, 1]
        + 0.9 * z[:, 2] * z[:, 3]                 # interaction
        + 1.0 * np.sin(2.0 * z[:, 4])             # oscillation
        + 0.7 * (np.abs(z[:, 5]) - 0.8)           # V shape
        + 1.2 * (z[:, 6] > 0.5)                   # step
        - 0.5 * (z[:, 7] ** 2 - 1.0)              # quadratic
        + 0.6 * np.tanh(3.0 * z[:, 8]) * (z[:, 9] > 0)  # gated
        + 0.4 * z[:, 10] - 0.4 * z[:, 11]
        + 0.5 * np.maximum(z[:, 12] + z[:, 13], 0.0)    # hinge on a sum
        - 0.3 * z[:, 14]
        - 0.45
    )
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.int8)

    X = np.empty((n, N_FEAT), dtype=np.float64)
    X[:, :N_INFORMATIVE] = z
    # skewing monotone transforms on a few informative columns
    X[:, 1] = np.exp(0.5 * z[:, 1])
    X[:, 5] = z[:, 5] ** 3
    X[:, 10] = np.exp(z[:, 10]) * 10.0 + 50.0
    X[:, N_INFORMATIVE:N_INFORMATIVE + N_REDUNDANT] = (
        z @ mix + 0.3 * rng.standard_normal((n, N_REDUNDANT))
    )
    o = N_INFORMATIVE + N_REDUNDANT
    X[:, o + 0] = rng.standard_normal(n)
    X[:, o + 1] = rng.standard_normal(n)
    X[:, o + 2] = rng.lognormal(0.0, 1.0, n)
    X[:, o + 3] = rng.random(n)
    X[:, o + 4] = rng.integers(0, 5, n)         # low-cardinality numeric
    X[:, o + 5] = rng.standard_t(3, n)           # heavy tails
    X[:, o + 6] = rng.standard_normal(n) * 100.0
    return X, y


def write_csv(path, y, X, header, chunk=100_000, fmt="%.6g"):
    """Fast-ish CSV: label as int, features with 6 significant digits."""
    t0 = time.time()
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for s in range(0, len(y), chunk):
            e = min(s + chunk, len(y))
            block = np.column_stack([y[s:e].astype(np.float64), X[s:e]])
            np.savetxt(f, block, fmt=["%d"] + [fmt] * X.shape[1], delimiter=",")
    print(f"wrote {path}: {len(y)} rows, {os.path.getsize(path)/1e6:.1f} MB, "
          f"{time.time()-t0:.1f}s, positive rate {y.mean():.4f}", flush=True)


def exists(out, *names):
    """True when every file is already there (generation is deterministic)."""
    if all(os.path.exists(os.path.join(out, n)) for n in names):
        print(f"kept existing {', '.join(names)}", flush=True)
        return True
    return False


def gen_higgs(out):
    if exists(out, "higgs_1m_train.csv", "higgs_test.csv"):
        return
    mix = np.random.default_rng(12345).standard_normal((N_INFORMATIVE, N_REDUNDANT)) / np.sqrt(N_INFORMATIVE)
    header = ["label"] + [f"f{i}" for i in range(N_FEAT)]
    rng_train = np.random.default_rng(20240601)
    Xtr, ytr = higgs_like(1_000_000, rng_train, mix)
    write_csv(os.path.join(out, "higgs_1m_train.csv"), ytr, Xtr, header)
    rng_test = np.random.default_rng(20240602)
    Xte, yte = higgs_like(200_000, rng_test, mix)
    write_csv(os.path.join(out, "higgs_test.csv"), yte, Xte, header)


# ---------------------------------------------------------------- mixed set
CAT_SPECS = [  # name, n_levels, zipf exponent
    ("cat_region", 5, 0.5),
    ("cat_device", 20, 1.0),
    ("cat_merchant", 200, 1.1),
]
N_NUM = 10
MISSING_RATE = 0.05


def mixed(n, rng, effects):
    cols = {}
    logit = np.full(n, -0.3)
    for (name, k, a), eff in zip(CAT_SPECS, effects):
        w = 1.0 / np.arange(1, k + 1) ** a
        w /= w.sum()
        idx = rng.choice(k, size=n, p=w)
        cols[name] = idx
        logit += eff[idx]
    Z = rng.standard_normal((n, N_NUM))
    logit += (0.7 * Z[:, 0] - 0.5 * Z[:, 1] + 0.6 * Z[:, 2] * Z[:, 3]
              + 0.8 * (Z[:, 4] > 1.0) + 0.5 * np.sin(2 * Z[:, 5]))
    # categorical x numeric interaction: device level 0 flips sign of Z6
    logit += np.where(cols["cat_device"] == 0, 0.8, -0.3) * Z[:, 6]
    Xn = Z.copy()
    Xn[:, 7] = np.exp(Z[:, 7])           # skewed, non-informative
    Xn[:, 8] = np.round(Z[:, 8] * 3)     # discrete-ish, non-informative
    miss = rng.random((n, N_NUM)) < MISSING_RATE
    # informative missingness on column 0: missing rows skew positive
    logit += 0.6 * miss[:, 0]
    Xn[miss] = np.nan
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.int8)
    return cols, Xn, y


def write_mixed(path, cols, Xn, y):
    t0 = time.time()
    header = ["label"] + [c[0] for c in CAT_SPECS] + [f"x{i}" for i in range(N_NUM)]
    prefixes = {"cat_region": "R", "cat_device": "dev_", "cat_merchant": "m"}
    cat_str = [np.char.add(prefixes[name], cols[name].astype(str)) for name, _, _ in CAT_SPECS]
    num_str = np.char.mod("%.6g", Xn)
    num_str[np.isnan(Xn)] = ""          # missing = empty field
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for i in range(len(y)):
            f.write(f"{y[i]},{cat_str[0][i]},{cat_str[1][i]},{cat_str[2][i]},"
                    + ",".join(num_str[i]) + "\n")
    print(f"wrote {path}: {len(y)} rows, {os.path.getsize(path)/1e6:.1f} MB, "
          f"{time.time()-t0:.1f}s, positive rate {y.mean():.4f}", flush=True)


def gen_mixed(out):
    if exists(out, "mixed_train.csv", "mixed_test.csv"):
        return
    erng = np.random.default_rng(777)
    effects = [erng.normal(0, s, k) for (_, k, _), s in zip(CAT_SPECS, (0.5, 0.6, 0.8))]
    cols, Xn, y = mixed(200_000, np.random.default_rng(31337), effects)
    write_mixed(os.path.join(out, "mixed_train.csv"), cols, Xn, y)
    cols, Xn, y = mixed(50_000, np.random.default_rng(31338), effects)
    write_mixed(os.path.join(out, "mixed_test.csv"), cols, Xn, y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/driftd-bench")
    ap.add_argument("--only", choices=["higgs", "mixed"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}", flush=True)
    if a.only in (None, "higgs"):
        gen_higgs(a.out)
    if a.only in (None, "mixed"):
        gen_mixed(a.out)


if __name__ == "__main__":
    main()
