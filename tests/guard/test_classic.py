from __future__ import annotations

import math

import numpy as np
import pytest

from bastion.core.plugins import Guard, GuardInput
from bastion.guard import ExtractionDetector, FeatureSqueezer, OODDetector, shapiro_francia

RNG = np.random.default_rng(7)
REF = RNG.normal(size=(2000, 6))


def gi(features: object, client: str = "c1") -> GuardInput:
    return GuardInput(direction="input", features=features, client_id=client)


def test_shapiro_francia() -> None:
    assert shapiro_francia(RNG.normal(size=300)) > 0.98
    assert shapiro_francia(np.concatenate([np.zeros(150), np.ones(150) * 5])) < 0.8
    assert shapiro_francia(np.ones(50)) == 0.0


def test_benign_client_not_flagged_random_prober_flagged() -> None:
    det = ExtractionDetector(reference=REF[:1000])
    assert isinstance(det, Guard)
    for row in REF[1000:1400]:
        v = det.check(gi(row, "benign"))
        assert v.allowed
    flagged_at = None
    for i in range(400):
        v = det.check(gi(RNG.uniform(-6, 6, size=6), "attacker"))
        if not v.allowed:
            flagged_at = i
            break
    assert flagged_at is not None and flagged_at < 100


def test_jacobian_style_small_steps_flagged_by_prada() -> None:
    det = ExtractionDetector(min_queries=50)  # no reference: PRADA alone
    seeds = REF[:10]
    rows = [seeds]
    for _ in range(6):
        step = rows[-1] + 0.05 * np.sign(RNG.normal(size=rows[-1].shape))
        rows.append(step)
    res = None
    for batch in rows:
        for r in batch:
            res = det.observe("jbda", r)
    assert res is not None and res["flagged"] and "prada" in res["reasons"]


def test_volume_signal() -> None:
    t = [0.0]
    det = ExtractionDetector(max_rate=10, rate_window_s=60, clock=lambda: t[0])
    for _ in range(11):
        res = det.observe("fast", RNG.normal(size=6))
    assert "volume" in res["reasons"]
    t[0] = 1000.0
    assert "volume" not in det.observe("fast", RNG.normal(size=6))["reasons"]


@pytest.mark.parametrize("bad", [[math.nan] * 6, [1.0] * 5, "xyz", [[]], None])
def test_extraction_bad_features(bad: object) -> None:
    det = ExtractionDetector(reference=REF[:200], fail_closed=True)
    v = det.check(gi(bad))
    if bad is None:
        assert v.allowed and v.details.get("skipped")
    else:
        assert not v.allowed and "bad features" in v.details["error"]


def test_client_state_is_bounded() -> None:
    det = ExtractionDetector(max_clients=5, history=10)
    for i in range(20):
        det.observe(f"c{i}", RNG.normal(size=3))
    assert len(det._clients) == 5 and det.status("c0") is None


def test_ood_tabular(tmp_path) -> None:  # type: ignore[no-untyped-def]
    det = OODDetector(method="both").fit(REF)
    inside = det.check(gi(REF[:5]))
    far = det.check(gi(np.full((1, 6), 8.0)))
    assert inside.allowed or inside.details["flagged_rows"] <= 1
    assert not far.allowed and far.score >= 0.99
    benign = det.scores(RNG.normal(size=(1000, 6)))
    assert (benign >= det.threshold).mean() < 0.03
    det.save(tmp_path / "ood.npz")
    again = OODDetector.load(tmp_path / "ood.npz", method="both")
    assert np.allclose(again.scores(REF[:50]), det.scores(REF[:50]))
    wrong = det.check(gi(np.zeros((1, 4))))
    assert not wrong.allowed and "expected 6" in wrong.details["error"]
    with pytest.raises(ValueError):
        OODDetector().fit(REF[:5])


def _toy_predict(x: np.ndarray) -> np.ndarray:
    # A "model" that is very sensitive to the lowest bit of one pixel: what adversarial noise exploits.
    flat = x.reshape(x.shape[0], -1)
    logit = 40.0 * (flat[:, 0] * 255 % 2 - 0.5) + (flat.mean(axis=1) - 0.5)
    p = 1 / (1 + np.exp(-logit))
    return np.stack([1 - p, p], axis=1)


def test_feature_squeezing() -> None:
    benign = np.round(RNG.uniform(size=(50, 8, 8)) * 15) / 15  # already at 4-bit depth
    fs = FeatureSqueezer(_toy_predict, shape=(8, 8), median=1)
    fs.calibrate(benign, target_fpr=0.05)
    adv = benign.copy()
    adv[:, 0, 0] += 1 / 255
    assert (fs.scores(adv) >= fs.threshold).mean() > 0.5
    bad = fs.check(gi(np.full((8, 8), np.nan)))
    assert not bad.allowed
    assert not fs.check(gi(np.zeros((3, 4)))).allowed


def test_prada_delta_calibrated_on_reference_keeps_natural_clients_clean() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(1500, 8)) @ rng.normal(size=(8, 8))  # correlated, like real tabular data
    det = ExtractionDetector(reference=ref, calibration_clients=20)
    assert det.calibrated_low_w is not None and 0.5 <= det.delta <= 0.85
    assert det.delta <= det.calibrated_low_w  # margin below the lowest W' a simulated natural client reached
    for c in range(3):
        sample = ref[rng.choice(len(ref), 300, replace=False)]
        for row in sample:
            res = det.observe(f"natural-{c}", row)
        assert not res["flagged"], res
    # Jacobian-style augmentation still fails the (loosened) normality test.
    seeds = ref[:10]
    batches = [seeds]
    for _ in range(15):
        batches.append(batches[-1] + 0.05 * np.sign(rng.normal(size=batches[-1].shape)))
    for batch in batches:
        for r in batch:
            res = det.observe("jbda", r)
    assert "prada" in res["reasons"]


def test_prada_explicit_delta_and_small_reference_are_not_calibrated() -> None:
    assert ExtractionDetector(reference=REF[:1000], delta=0.9).delta == 0.9
    small = ExtractionDetector(reference=REF[:120])
    assert small.delta == 0.85 and small.calibrated_low_w is None
