#!/usr/bin/python3
"""Generate drift/testdata/scipy_fixtures.json with Debian's python3-scipy.

Run ONCE (the output is committed):  /usr/bin/python3 drift/testdata/gen_fixtures.py
Data are rounded to 4 decimals so the JSON text is exact and ties occur.
"""
import json
import os

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

rng = np.random.default_rng(20261126)


def r(x):
    return [float(v) for v in np.round(np.asarray(x, dtype=float), 4)]


out = {"scipy": scipy.__version__, "numpy": np.__version__}

# Two-sample KS on data (exact and asymptotic regimes of method="auto").
ks = []
for n1, n2, shift, scale in [
    (20, 20, 0.0, 1.0), (20, 20, 1.0, 1.0), (30, 45, 0.3, 1.0), (7, 300, 0.5, 1.0),
    (100, 80, 0.0, 1.5), (500, 500, 0.1, 1.0), (1000, 1300, 0.05, 1.0),
    (3000, 2000, 0.08, 1.0), (9000, 10000, 0.02, 1.0),
    (12000, 3000, 0.03, 1.0), (15000, 11000, 0.02, 1.0), (20000, 60, 0.2, 1.0),
]:
    a = r(rng.normal(0, 1, n1))
    b = r(rng.normal(shift, scale, n2))
    res = stats.ks_2samp(a, b)
    ks.append({"a": a, "b": b, "d": float(res.statistic), "p": float(res.pvalue)})
# Heavy ties.
a = r(rng.integers(0, 8, 400))
b = r(rng.integers(0, 9, 350))
res = stats.ks_2samp(a, b)
ks.append({"a": a, "b": b, "d": float(res.statistic), "p": float(res.pvalue)})
out["ks"] = ks

# kstwo.sf over every branch of scipy's _kolmogn.
kstwo = []
for n in [5, 30, 100, 140, 141, 500, 2000, 5000, 50000, 100000, 100001, 500000]:
    for d in [0.5 / n + 1e-9, 0.8 / n, 1.5 / n, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.9]:
        if d >= 1:
            continue
        kstwo.append({"n": n, "d": float(d), "sf": float(stats.kstwo.sf(d, n))})
out["kstwo"] = kstwo

# Chi-square test of homogeneity (2 x k, no correction).
chi = []
for k in [2, 3, 5, 12]:
    for shift in [0.0, 0.2]:
        pr = rng.dirichlet(np.ones(k))
        pc = np.abs(pr + shift * rng.normal(0, 1.0 / k, k))
        pc /= pc.sum()
        refc = rng.multinomial(int(rng.integers(50, 5000)), pr)
        curc = rng.multinomial(int(rng.integers(50, 5000)), pc)
        keep = (refc + curc) > 0
        table = np.array([refc[keep], curc[keep]])
        st, p, dof, _ = stats.chi2_contingency(table, correction=False)
        chi.append({"ref": [int(v) for v in refc], "cur": [int(v) for v in curc], "stat": float(st), "p": float(p)})
out["chisquare"] = chi

# Wasserstein-1 (and normed by the reference population std) on data.
ws = []
for n1, n2, shift in [(10, 13, 0.5), (200, 300, 0.1), (5000, 4000, 0.05), (1000, 1000, 2.0)]:
    a = r(rng.normal(0, 2, n1))
    b = r(rng.normal(shift, 2, n2))
    w = stats.wasserstein_distance(a, b)
    ws.append({"a": a, "b": b, "w": float(w), "normed": float(w / max(np.std(a), 0.001))})
out["wasserstein"] = ws

# Jensen-Shannon distance, Hellinger, KL (entropy of floored shares) on counts.
dist = []
for k in [2, 4, 10, 11]:
    refc = rng.multinomial(1000, rng.dirichlet(np.ones(k)))
    curc = rng.multinomial(700, rng.dirichlet(np.ones(k)))
    if k == 11:
        refc[3] = 0
        curc[7] = 0
    p = refc / refc.sum()
    q = curc / curc.sum()
    pf = np.where(refc == 0, 0.0001, p)
    qf = np.where(curc == 0, 0.0001, q)
    dist.append({
        "ref": [int(v) for v in refc], "cur": [int(v) for v in curc],
        "js": float(distance.jensenshannon(refc, curc)),
        "hellinger": float(np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2)),
        "kl": float(stats.entropy(pf, qf)),
        "psi": float(np.sum((qf - pf) * np.log(qf / pf))),
    })
out["distances"] = dist

# numpy.quantile (linear) edges with ties, and the resulting bin counts.
qs = []
for data in [r(rng.normal(0, 1, 997)), r(rng.integers(0, 4, 301)), r(rng.exponential(1, 50))]:
    arr = np.asarray(data)
    edges = np.unique(np.quantile(arr, np.arange(1, 10) / 10))
    counts = np.bincount(np.searchsorted(edges, arr, side="left"), minlength=len(edges) + 1)
    qs.append({"data": data, "edges": [float(e) for e in edges], "counts": [int(c) for c in counts]})
out["quantiles"] = qs

# numpy.linspace (uniform) edges, and the two-proportion z-test (Evidently's formula).
uni = []
for data in [r(rng.normal(5, 3, 200)), r(rng.uniform(-1, 1, 77)), [2.5, 2.5, 2.5]]:
    arr = np.asarray(data)
    edges = np.unique(np.linspace(arr.min(), arr.max(), 11)[1:-1])
    uni.append({"data": [float(v) for v in data], "edges": [float(e) for e in edges]})
out["uniform"] = uni
zt = []
for n1, p1, n2, p2 in [(500, 0.3, 400, 0.35), (2000, 0.5, 100, 0.4), (50, 0.1, 60, 0.5)]:
    a = int(rng.binomial(n1, p1))
    b = int(rng.binomial(n2, p2))
    q1, q2 = a / n1, b / n2
    P = (q1 * n1 + q2 * n2) / (n1 + n2)
    z = (q1 - q2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
    zt.append({"ref": [0, a, n1 - a], "cur": [0, b, n2 - b], "z": float(z),
               "p": float(2 * stats.norm.sf(abs(z)))})
out["ztest"] = zt

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scipy_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", path, os.path.getsize(path), "bytes")
