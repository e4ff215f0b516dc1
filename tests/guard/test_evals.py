"""Checks of the guard evals' own machinery (the evals themselves are too slow for the test suite)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from evals.guard import drift_eval  # noqa: E402


def test_drift_scenarios_shift_what_they_say() -> None:
    rng = np.random.default_rng(0)
    scen = drift_eval.scenarios()
    null = scen["null"](rng, 4000)
    assert null.shape == (4000, drift_eval.NUM + 2)
    assert abs(null[:, 0].mean()) < 0.1 and abs(np.corrcoef(null[:, 0], null[:, 1])[0, 1] - 0.5) < 0.06
    shifted = scen["mean_shift_0.5sd"](rng, 4000)
    assert abs(shifted[:, 0].mean() - 0.5) < 0.1 and abs(shifted[:, 1].mean()) < 0.1
    cat = scen["categorical_+20pts"](rng, 4000)
    assert abs((cat[:, drift_eval.NUM] == 0).mean() - 0.5) < 0.04  # 30% + 20 points
    decor = scen["correlation_0.5_to_0.0"](rng, 4000)
    assert abs(np.corrcoef(decor[:, 0], decor[:, 1])[0, 1]) < 0.06
    assert abs(decor[:, 0].std() - 1.0) < 0.06  # marginals unchanged


def test_drift_eval_runs_and_separates_null_from_large_shift(monkeypatch: pytest.MonkeyPatch) -> None:
    full = drift_eval.scenarios()
    monkeypatch.setattr(drift_eval, "scenarios", lambda: {k: full[k] for k in ("null", "mean_shift_0.5sd")})
    out = drift_eval.run(trials=3, window=300, seed=1)
    res = out["scenarios"]
    assert isinstance(res, dict)
    assert res["null"]["flag_rate"] <= 1 / 3 and res["mean_shift_0.5sd"]["flag_rate"] == 1.0


def test_adversarial_attacks_stay_in_the_eps_ball() -> None:
    torch = pytest.importorskip("torch")
    from evals.guard import adversarial_eval as adv

    model = adv.victim(0)
    model.eval()
    x = torch.rand(8, 1, 8, 8)
    y = torch.randint(0, 10, (8,))
    for eps in (0.05, 0.2):
        for out in (adv.fgsm(model, x, y, eps), adv.pgd(model, x, y, eps, 3, 0)):
            assert float((out - x).abs().max()) <= eps + 1e-6
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1.0
    moved = adv.pgd(model, x, y, 0.2, 3, 0, mask) - x
    assert float(moved[..., 0, :].abs().max()) == 0.0  # masked-out border untouched
