#!/usr/bin/python3
"""numpy/scipy peer of `driftd drift`, for bench/drift/run.sh.

  peer.py gen --out DIR [--rows 1000000]   deterministic reference.csv and current.csv (28 columns)
  peer.py drift REF CUR [--bins 10] [--binning quantile|uniform] [--test auto|ks|chisquare|wasserstein|jensenshannon|hellinger|kl|psi]
                                           the same computation as `driftd drift --json`
  peer.py check DRIFTD.json PEER.json      compare the two outputs (tolerance 1e-9)

Same conventions as driftd (see drift/CONVENTIONS.md): quantile edges at
1/B..(B-1)/B with numpy's default linear interpolation, duplicates dropped,
outer edges infinite, right-closed bins, a missing bin, PSI with empty
shares floored at 0.0001; companion test chosen like Evidently (reference
> 1000 values: normed Wasserstein for numeric features with > 5 values,
Jensen-Shannon distance on the PSI bins otherwise).
"""
import json
import math
import os
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

N_FEAT = 28


def gen(out, rows):
    os.makedirs(out, exist_ok=True)
    for name, seed, drift in (("reference", 1, False), ("current", 2, True)):
        path = os.path.join(out, f"{name}.csv")
        if os.path.exists(path):
            print(f"{path} exists, kept", file=sys.stderr)
            continue
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((rows, N_FEAT))
        X[:, 20] = rng.lognormal(0, 1, rows)
        X[:, 21] = rng.uniform(-3, 3, rows)
        X[:, 22] = rng.integers(0, 4, rows)        # 4 values: Jensen-Shannon
        X[:, 23] = rng.integers(0, 2, rows)        # binary
        X[:, 24] = np.round(rng.exponential(2, rows))  # ties
        if drift:  # a third of the features drift
            X[:, 0:9] += np.linspace(0.02, 0.5, 9)
            X[:, 20] *= 1.3
            X[:, 22] = rng.choice(4, rows, p=[0.4, 0.3, 0.2, 0.1])
        miss = rng.random(rows) < 0.05
        X[miss, 25] = np.nan
        df = pd.DataFrame(X, columns=[f"f{i}" for i in range(N_FEAT)])
        t = time.time()
        df.to_csv(path, index=False, float_format="%.6g", na_rep="")
        print(f"wrote {path} in {time.time() - t:.1f}s", file=sys.stderr)


def bins_of(values, edges):
    """Bin indices: 0 = missing, 1 + number of edges strictly below the value."""
    b = np.searchsorted(edges, values, side="left") + 1
    b[np.isnan(values)] = 0
    return b


def psi(ref_counts, cur_counts):
    e = ref_counts / ref_counts.sum()
    a = cur_counts / cur_counts.sum()
    e = np.where(ref_counts == 0, 0.0001, e)
    a = np.where(cur_counts == 0, 0.0001, a)
    return float(np.sum((a - e) * np.log(a / e)))


def level(p):
    return "major" if p >= 0.25 else "moderate" if p >= 0.1 else "stable"


def chosen(test, n_ref, nunique):
    if test != "auto":
        return test
    if n_ref <= 1000:
        return "ks" if nunique > 5 else "chisquare" if nunique > 2 else "z"
    return "wasserstein" if nunique > 5 else "jensenshannon"


def run_test(test, rv, cv, rc, cc):
    """Returns (statistic, p-value or None, drifted)."""
    if test == "ks":
        res = stats.ks_2samp(rv, cv)
        return float(res.statistic), float(res.pvalue), bool(res.pvalue < 0.05)
    if test == "chisquare":
        keep = (rc + cc) > 0
        st, p, _, _ = stats.chi2_contingency(np.array([rc[keep], cc[keep]]), correction=False)
        return float(st), float(p), bool(p < 0.05)
    if test == "wasserstein":
        s = float(stats.wasserstein_distance(rv, cv) / max(np.std(rv), 0.001))
    elif test == "jensenshannon":
        s = float(distance.jensenshannon(rc, cc))
    elif test == "hellinger":
        p, q = rc / rc.sum(), cc / cc.sum()
        s = float(np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2))
    elif test == "kl":
        p = np.where(rc == 0, 0.0001, rc / rc.sum())
        q = np.where(cc == 0, 0.0001, cc / cc.sum())
        s = float(stats.entropy(p, q))
    elif test == "psi":
        s = psi(rc, cc)
    else:
        raise SystemExit(f"peer does not implement test {test}")
    return s, None, bool(s >= 0.1)


def drift(ref_path, cur_path, nbins, binning="quantile", test="auto"):
    t0 = time.time()
    ref = pd.read_csv(ref_path)
    cur = pd.read_csv(cur_path)
    t1 = time.time()
    feats = []
    for name in ref.columns:
        r = ref[name].to_numpy(dtype=np.float64)
        c = cur[name].to_numpy(dtype=np.float64)
        rv = r[~np.isnan(r)]
        cv = c[~np.isnan(c)]
        if binning == "uniform":
            edges = np.unique(np.linspace(rv.min(), rv.max(), nbins + 1)[1:-1])
        else:
            edges = np.unique(np.quantile(rv, np.arange(1, nbins) / nbins))
        nb = len(edges) + 2
        rc = np.bincount(bins_of(r, edges), minlength=nb)
        cc = np.bincount(bins_of(c, edges), minlength=nb)
        p = psi(rc, cc)
        nunique = pd.concat([pd.Series(rv), pd.Series(cv)]).nunique()
        t = chosen(test, len(rv), nunique)
        stat, pv, drifted = run_test(t, rv, cv, rc, cc)
        feats.append({"name": name, "type": "numeric", "psi": p, "level": level(p), "test": t,
                      "statistic": stat, "p_value": pv, "drifted": drifted})
    t2 = time.time()
    share = sum(f["drifted"] for f in feats) / len(feats)
    out = {"rows_reference": len(ref), "rows_current": len(cur), "features": feats,
           "drift_share": share, "dataset_drift": share >= 0.5}
    json.dump(out, sys.stdout, indent=1)
    print(f"peer: read {t1 - t0:.2f}s, compute {t2 - t1:.2f}s", file=sys.stderr)


def check(a_path, b_path):
    a = json.load(open(a_path))
    b = json.load(open(b_path))
    bad = 0
    worst = 0.0
    for k in ("rows_reference", "rows_current", "dataset_drift"):
        if a[k] != b[k]:
            print(f"MISMATCH {k}: driftd {a[k]} peer {b[k]}")
            bad += 1
    for fa, fb in zip(a["features"], b["features"], strict=True):
        for k in ("name", "type", "level", "test", "drifted"):
            if fa[k] != fb[k]:
                print(f"MISMATCH {fa['name']}.{k}: driftd {fa[k]} peer {fb[k]}")
                bad += 1
        for k in ("psi", "statistic", "p_value"):
            x, y = fa[k], fb[k]
            if x is None or y is None:
                if x is not y:
                    print(f"MISMATCH {fa['name']}.{k}: driftd {x} peer {y}")
                    bad += 1
                continue
            d = abs(x - y)
            worst = max(worst, d)
            if d > 1e-9:
                print(f"MISMATCH {fa['name']}.{k}: driftd {x!r} peer {y!r} (diff {d:.3g})")
                bad += 1
    print(f"compared {len(a['features'])} features: {bad} mismatches, largest difference {worst:.3g}")
    return 1 if bad else 0


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "gen":
        out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "/tmp/driftd-drift-bench"
        rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 1_000_000
        gen(out, rows)
    elif cmd == "drift":
        def opt(name, default):
            return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default
        drift(sys.argv[2], sys.argv[3], int(opt("--bins", "10")), opt("--binning", "quantile"), opt("--test", "auto"))
    elif cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        print(__doc__)
        sys.exit(2)
