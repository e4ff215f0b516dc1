#!/usr/bin/env python3
"""Drift-detection power at given shifts, and the false-alarm rate with no shift, for `bastion.guard.Monitor`.

Why: a drift monitor is only useful if it alarms on shifts that matter and stays
quiet otherwise, and "matters" depends on window size. For every scenario we
draw `--trials` independent windows from a known shifted distribution, run the
monitor's own per-feature tests (KS, chi-square, PSI, Wasserstein with its
Bonferroni correction and materiality limits) and its multivariate tests (PCA
reconstruction error, domain classifier), and report the share of windows
flagged: the power at that shift, or the false-positive rate for the null.

Reference: 5,000 rows of 8 correlated Gaussian features (pairwise correlation
0.5) plus 2 categorical features (5 and 3 levels). Scenarios (shift sizes in
reference standard deviations):

* null                       same distribution (false-positive rate)
* mean shift                 feature 0 moved by 0.1 / 0.2 / 0.3 / 0.5 sd
* scale change               feature 0 spread x1.2 / x1.5
* categorical                one level's share moved by +5 / +10 / +20 points
* correlation (multivariate) all marginals unchanged, correlation 0.5 -> 0.0 / 0.8
* many small shifts          every numeric feature moved by 0.1 sd

Run: .venv/bin/python evals/guard/drift_eval.py [--trials 100] [--window 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from bastion.guard import Monitor  # noqa: E402

NUM, CAT_LEVELS = 8, (5, 3)
CAT_P = (np.asarray([0.3, 0.25, 0.2, 0.15, 0.1]), np.asarray([0.5, 0.3, 0.2]))


def _cov(rho: float) -> np.ndarray:
    return np.full((NUM, NUM), rho) + (1.0 - rho) * np.eye(NUM)


def sample(
    rng: np.random.Generator,
    n: int,
    *,
    mean: np.ndarray | None = None,
    scale0: float = 1.0,
    rho: float = 0.5,
    cat_shift: float = 0.0,
) -> np.ndarray:
    x = rng.multivariate_normal(np.zeros(NUM) if mean is None else mean, _cov(rho), size=n)
    x[:, 0] *= scale0
    cats = []
    for j, p in enumerate(CAT_P):
        q = p.copy()
        if j == 0 and cat_shift:
            q[0] += cat_shift  # the first level gains share, the others lose it proportionally
            q[1:] *= (1.0 - q[0]) / q[1:].sum()
        cats.append(rng.choice(len(q), size=n, p=q).astype(np.float64))
    return np.column_stack([x, *cats])


Scenario = Callable[[np.random.Generator, int], np.ndarray]


def _scenario(**kwargs: Any) -> Scenario:
    def draw(rng: np.random.Generator, n: int) -> np.ndarray:
        return sample(rng, n, **kwargs)

    return draw


def scenarios() -> dict[str, Scenario]:
    def mean0(d: float) -> np.ndarray:
        m = np.zeros(NUM)
        m[0] = d
        return m

    out: dict[str, Scenario] = {"null": _scenario()}
    for d in (0.1, 0.2, 0.3, 0.5):
        out[f"mean_shift_{d}sd"] = _scenario(mean=mean0(d))
    for s in (1.2, 1.5):
        out[f"scale_x{s}"] = _scenario(scale0=s)
    for c in (0.05, 0.10, 0.20):
        out[f"categorical_+{int(c * 100)}pts"] = _scenario(cat_shift=c)
    for rho in (0.0, 0.8):
        out[f"correlation_0.5_to_{rho}"] = _scenario(rho=rho)
    out["all_features_0.1sd"] = _scenario(mean=np.full(NUM, 0.1))
    return out


def run(trials: int, window: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    ref = sample(rng, 5000)
    names = [f"x{i}" for i in range(NUM)] + ["c0", "c1"]
    results: dict[str, object] = {}
    for name, gen in scenarios().items():
        any_flag = univariate = multivariate = 0
        for_feature = {"ks_p": 0, "psi": 0, "wasserstein": 0, "chi2_p": 0}
        t0 = time.perf_counter()
        for _ in range(trials):
            mon = Monitor("eval", ref, features=names, categorical=["c0", "c1"], window=window)
            rep = mon.observe(gen(rng, window))[-1]
            any_flag += rep.drifted
            univariate += bool(rep.drifted_features)
            m = rep.multivariate
            multivariate += bool(m) and (m["reconstruction_p"] < mon.alpha or m["classifier_z"] > 4.0)
            alpha = mon.alpha / len(rep.features)  # which single statistic alone fired on some feature
            feats = rep.features
            for_feature["ks_p"] += any(f.kind == "numeric" and f.tests["p_value"] < alpha for f in feats)
            for_feature["psi"] += any(f.tests.get("psi", 0.0) >= mon.psi_limit for f in feats)
            for_feature["wasserstein"] += any(f.tests.get("wasserstein", 0.0) >= mon.w_limit for f in feats)
            for_feature["chi2_p"] += any(f.kind == "categorical" and f.tests["p_value"] < alpha for f in feats)
        results[name] = {
            "flag_rate": any_flag / trials,
            "univariate_rate": univariate / trials,
            "multivariate_rate": multivariate / trials,
            "single_statistic_rates": {k: v / trials for k, v in for_feature.items()},
            "ms_per_window": round((time.perf_counter() - t0) / trials * 1000, 1),
        }
    return {"trials": trials, "window": window, "reference_rows": 5000, "seed": seed, "scenarios": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--window", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = run(args.trials, args.window, args.seed)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
