"""Two-sample drift statistics in numpy alone (no SciPy in the core install).

Per feature: Kolmogorov-Smirnov (asymptotic p-value), chi-square on category
counts (p-value from the regularised incomplete gamma), PSI on reference-quantile
bins, and the 1-Wasserstein distance scaled by the reference's standard
deviation. Multivariate: a PCA reconstruction-error test and a domain
classifier test (logistic regression; AUC with the Hanley-McNeil error).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

EPS = 1e-4


def ks(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    ref, cur = np.sort(ref), np.sort(cur)
    n, m = ref.shape[0], cur.shape[0]
    if n == 0 or m == 0:
        return 0.0, 1.0
    allv = np.concatenate([ref, cur])
    d = float(np.max(np.abs(np.searchsorted(ref, allv, "right") / n - np.searchsorted(cur, allv, "right") / m)))
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 0.2:
        return d, 1.0
    p = 2.0 * sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101))
    return d, float(min(1.0, max(0.0, p)))


def _gammq(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) (Numerical Recipes)."""
    if x <= 0:
        return 1.0
    gln = math.lgamma(a)
    if x < a + 1.0:
        ap, s, delta = a, 1.0 / a, 1.0 / a
        for _ in range(500):
            ap += 1.0
            delta *= x / ap
            s += delta
            if abs(delta) < abs(s) * 1e-12:
                break
        return max(0.0, 1.0 - s * math.exp(-x + a * math.log(x) - gln))
    b, c, d = x + 1.0 - a, 1.0 / 1e-300, 1.0 / (x + 1.0 - a)
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - gln) * h)


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of the current counts against the reference proportions."""
    n = cur_counts.sum()
    if n == 0:
        return 0.0, 1.0
    expected = (ref_counts + EPS) / (ref_counts + EPS).sum() * n
    stat = float(((cur_counts - expected) ** 2 / expected).sum())
    dof = max(1, int((ref_counts + cur_counts > 0).sum()) - 1)
    return stat, _gammq(dof / 2.0, stat / 2.0)


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    p = (ref_counts + EPS) / (ref_counts + EPS).sum()
    q = (cur_counts + EPS) / (cur_counts + EPS).sum()
    return float(((q - p) * np.log(q / p)).sum())


def wasserstein(ref: np.ndarray, cur: np.ndarray) -> float:
    """W1 between the two samples, in units of the reference's standard deviation."""
    if ref.size == 0 or cur.size == 0:
        return 0.0
    u = np.linspace(0.0, 1.0, 513)[1:-1]
    w = float(np.mean(np.abs(np.quantile(ref, u) - np.quantile(cur, u))))
    return w / (float(ref.std()) + 1e-12)


def quantile_edges(ref: np.ndarray, bins: int = 10) -> list[float]:
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    return [float(e) for e in edges]


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    return np.bincount(np.searchsorted(np.asarray(edges), values, side="right"), minlength=len(edges) + 1)


def _standardise(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = ref.mean(axis=0), ref.std(axis=0) + 1e-9
    return (ref - mu) / sd, (cur - mu) / sd


def reconstruction_test(ref: np.ndarray, cur: np.ndarray, var: float = 0.9) -> tuple[float, float]:
    """KS on PCA reconstruction errors: catches changes in how features co-vary, not only marginals."""
    zr, zc = _standardise(ref, cur)
    half = zr.shape[0] // 2
    fit, hold = zr[:half], zr[half:]
    _, s, vt = np.linalg.svd(fit - fit.mean(axis=0), full_matrices=False)
    explained = np.cumsum(s**2) / max(float((s**2).sum()), 1e-12)
    k = int(np.searchsorted(explained, var) + 1)
    comp = vt[: min(k, max(1, zr.shape[1] - 1))]

    def err(z: np.ndarray) -> np.ndarray:
        c = z - fit.mean(axis=0)
        return np.sqrt(((c - c @ comp.T @ comp) ** 2).sum(axis=1))

    return ks(err(hold), err(zc))


def classifier_test(ref: np.ndarray, cur: np.ndarray, *, seed: int = 0, steps: int = 300) -> tuple[float, float]:
    """(AUC, z-score) of a logistic domain classifier told to separate reference from current rows."""
    zr, zc = _standardise(ref, cur)
    x = np.vstack([zr, zc])
    x = np.hstack([x, x**2])
    y = np.concatenate([np.zeros(zr.shape[0]), np.ones(zc.shape[0])])
    rng = np.random.default_rng(seed)
    idx = rng.permutation(x.shape[0])
    tr, te = idx[: len(idx) // 2], idx[len(idx) // 2 :]
    w, b = np.zeros(x.shape[1]), 0.0
    pos_w = (y[tr] == 0).sum() / max(1, (y[tr] == 1).sum())
    sw = np.where(y[tr] == 1, pos_w, 1.0)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x[tr] @ w + b, -30, 30)))
        g = (p - y[tr]) * sw
        w -= 0.1 * (x[tr].T @ g / len(tr) + 1e-3 * w)
        b -= 0.1 * float(g.mean())
    s = x[te] @ w + b
    yt = y[te]
    n1, n0 = int(yt.sum()), int((1 - yt).sum())
    if n1 == 0 or n0 == 0:
        return 0.5, 0.0
    ranks = np.argsort(np.argsort(s)) + 1
    auc = float((ranks[yt == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    se = math.sqrt(max(1e-12, (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)))
    return auc, (auc - 0.5) / se
