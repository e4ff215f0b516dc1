"""Out-of-distribution and adversarial inputs: Mahalanobis and k-NN density for tabular, feature squeezing for images.

Tabular: an input far from the training distribution (shrunk-covariance
Mahalanobis distance, or distance to its k-th nearest reference row) gets a
score equal to the share of reference rows that are closer, so 0.99 means
"farther than 99% of the training data"; the threshold is a quantile, hence
calibrated by construction. Parameters save to and load from ``.npz`` with
``allow_pickle=False``.

Images: feature squeezing (Xu et al., 2018) compares the model's prediction on
the input with its predictions on bit-depth-reduced and median-smoothed copies;
adversarial perturbations are brittle under squeezing, natural images are not.
The threshold is set on benign inputs (`calibrate`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.guard._base import RULES, BadFeatures, as_matrix, failure_verdict, run_guarded

MAX_KNN_REFERENCE = 4000


class OODDetector:
    """Tabular OOD guard; `fit(reference)` first (or `load`)."""

    name = "ood"
    directions = frozenset({"input"})
    rules = {k: RULES[k] for k in ("guard.ood", "guard.bad_input")}

    def __init__(
        self, *, method: str = "mahalanobis", k: int = 10, threshold: float = 0.99, fail_closed: bool = True
    ) -> None:
        if method not in ("mahalanobis", "knn", "both"):
            raise ValueError("method must be mahalanobis, knn or both")
        self.method = method
        self.k = k
        self.threshold = threshold
        self.fail_closed = fail_closed
        self.mu: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.prec: np.ndarray | None = None
        self.ref: np.ndarray | None = None
        self.maha_ref: np.ndarray | None = None
        self.knn_ref: np.ndarray | None = None

    @property
    def width(self) -> int | None:
        return None if self.mu is None else int(self.mu.shape[0])

    def fit(self, reference: Any, *, seed: int = 0) -> OODDetector:
        ref = as_matrix(reference)
        if ref.shape[0] < max(20, self.k + 2):
            raise ValueError("OOD reference needs at least 20 rows")
        self.mu = ref.mean(axis=0)
        self.scale = ref.std(axis=0) + 1e-9
        z = (ref - self.mu) / self.scale
        d = z.shape[1]
        cov = np.cov(z, rowvar=False).reshape(d, d)
        self.prec = np.linalg.inv(0.95 * cov + 0.05 * np.eye(d))
        rng = np.random.default_rng(seed)
        if z.shape[0] > MAX_KNN_REFERENCE:
            z = z[rng.choice(z.shape[0], MAX_KNN_REFERENCE, replace=False)]
        self.ref = z
        self.maha_ref = np.sort(self._maha(z))
        half = z.shape[0] // 2  # k-NN reference scores from a split, so a row is never its own neighbour
        self.knn_ref = np.sort(self._knn(z[:half], z[half:]))
        return self

    def _maha(self, z: np.ndarray) -> np.ndarray:
        assert self.prec is not None
        return np.einsum("ij,jk,ik->i", z, self.prec, z)

    def _knn(self, z: np.ndarray, ref: np.ndarray) -> np.ndarray:
        k = min(self.k, ref.shape[0]) - 1
        d2 = (z * z).sum(1)[:, None] + (ref * ref).sum(1)[None, :] - 2.0 * z @ ref.T
        return np.sqrt(np.maximum(np.partition(d2, k, axis=1)[:, k], 0.0))

    def scores(self, features: Any) -> np.ndarray:
        """Per-row score in [0, 1]: the share of reference rows that are less extreme."""
        if self.mu is None or self.scale is None or self.ref is None:
            raise RuntimeError("OODDetector is not fitted")
        x = as_matrix(features, self.width)
        z = (x - self.mu) / self.scale
        out = np.zeros(z.shape[0])
        if self.method in ("mahalanobis", "both"):
            assert self.maha_ref is not None
            out = np.maximum(out, np.searchsorted(self.maha_ref, self._maha(z)) / self.maha_ref.shape[0])
        if self.method in ("knn", "both"):
            assert self.knn_ref is not None
            half = self.ref.shape[0] // 2
            out = np.maximum(out, np.searchsorted(self.knn_ref, self._knn(z, self.ref[half:])) / self.knn_ref.shape[0])
        return out

    def save(self, path: str | Path) -> None:
        if self.mu is None or self.scale is None or self.prec is None or self.ref is None:
            raise RuntimeError("OODDetector is not fitted")
        assert self.maha_ref is not None and self.knn_ref is not None
        np.savez_compressed(
            path, mu=self.mu, scale=self.scale, prec=self.prec, ref=self.ref, maha_ref=self.maha_ref,
            knn_ref=self.knn_ref, meta=np.asarray([self.k, self.threshold]),
        )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> OODDetector:
        with np.load(path, allow_pickle=False) as data:
            det = cls(k=int(data["meta"][0]), threshold=float(data["meta"][1]), **kwargs)
            det.mu, det.scale, det.prec = data["mu"], data["scale"], data["prec"]
            det.ref, det.maha_ref, det.knn_ref = data["ref"], data["maha_ref"], data["knn_ref"]
        if not all(np.isfinite(a).all() for a in (det.mu, det.scale, det.prec, det.ref)):
            raise BadFeatures("OOD parameters contain NaN or infinity")
        return det

    def check(self, item: GuardInput) -> GuardVerdict:
        return run_guarded(self.name, self.fail_closed, self._check, item)

    def _check(self, item: GuardInput) -> GuardVerdict:
        s = _row_scores(self, item)
        if isinstance(s, GuardVerdict):
            return s
        worst = float(s.max())
        n_out = int((s >= self.threshold).sum())
        reasons = [f"ood:{n_out}/{s.shape[0]} rows beyond q{self.threshold:g}"] if n_out else []
        return GuardVerdict(
            allowed=n_out == 0, score=worst, reasons=reasons,
            details={"rows": int(s.shape[0]), "flagged_rows": n_out, "max_score": round(worst, 4)},
        )  # fmt: skip


def _row_scores(guard: OODDetector | FeatureSqueezer, item: GuardInput) -> np.ndarray | GuardVerdict:
    """Per-row scores, or the verdict for absent features (skip) or bad ones (the guard's failure mode)."""
    if item.features is None:
        return GuardVerdict(allowed=True, details={"skipped": "no features"})
    try:
        return guard.scores(item.features)
    except BadFeatures as exc:
        return failure_verdict(guard.name, guard.fail_closed, f"bad features: {exc}")


def squeeze_bits(x: np.ndarray, bits: int) -> np.ndarray:
    levels = (1 << bits) - 1
    return np.round(np.clip(x, 0.0, 1.0) * levels) / levels


def median_filter(x: np.ndarray, size: int = 2) -> np.ndarray:
    """Median over a size x size neighbourhood of each (H, W) plane; x is (N, H, W) or (N, H, W, C)."""
    squeeze = x.ndim == 3
    a = x[..., None] if squeeze else x
    lo, hi = (size - 1) // 2, size // 2
    padded = np.pad(a, ((0, 0), (lo, hi), (lo, hi), (0, 0)), mode="reflect")
    h, w = a.shape[1], a.shape[2]
    stack = [padded[:, i : i + h, j : j + w, :] for i in range(size) for j in range(size)]
    out = np.median(np.stack(stack, axis=0), axis=0)
    return out[..., 0] if squeeze else out


class FeatureSqueezer:
    """Adversarial-example guard for image-like inputs around a prediction function.

    `predict` maps a batch (N, H, W[, C]) of values in [0, 1] to class
    probabilities (N, K). Score = max L1 distance between the prediction on the
    input and on its squeezed copies.
    """

    name = "feature_squeezing"
    directions = frozenset({"input"})
    rules = {k: RULES[k] for k in ("guard.ood", "guard.bad_input")}

    def __init__(
        self,
        predict: Callable[[np.ndarray], Any],
        *,
        bits: int = 4,
        median: int = 2,
        threshold: float = 0.5,
        shape: tuple[int, ...] | None = None,
        fail_closed: bool = True,
    ) -> None:
        self.predict = predict
        self.bits = bits
        self.median = median
        self.threshold = threshold
        self.shape = shape
        self.fail_closed = fail_closed

    def _batch(self, features: Any) -> np.ndarray:
        try:
            x = np.asarray(features, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadFeatures("image is not numeric") from None
        if self.shape is not None and x.shape == self.shape:
            x = x[None]
        if x.ndim not in (3, 4) or x.size == 0:
            raise BadFeatures(f"expected images (N, H, W[, C]), got shape {tuple(x.shape)}")
        if self.shape is not None and tuple(x.shape[1:]) != tuple(self.shape):
            raise BadFeatures(f"expected image shape {self.shape}, got {tuple(x.shape[1:])}")
        if not np.isfinite(x).all():
            raise BadFeatures("image contains NaN or infinity")
        return x

    def scores(self, features: Any) -> np.ndarray:
        x = self._batch(features)
        base = np.asarray(self.predict(x), dtype=np.float64)
        out = np.zeros(x.shape[0])
        for squeezed in (squeeze_bits(x, self.bits), median_filter(x, self.median)):
            p = np.asarray(self.predict(squeezed), dtype=np.float64)
            out = np.maximum(out, np.abs(base - p).sum(axis=1))
        return out

    def calibrate(self, benign: Any, *, target_fpr: float = 0.05) -> float:
        s = self.scores(benign)
        self.threshold = float(np.quantile(s, 1.0 - target_fpr)) + 1e-9
        return self.threshold

    def check(self, item: GuardInput) -> GuardVerdict:
        return run_guarded(self.name, self.fail_closed, self._check, item)

    def _check(self, item: GuardInput) -> GuardVerdict:
        s = _row_scores(self, item)
        if isinstance(s, GuardVerdict):
            return s
        n_out = int((s >= self.threshold).sum())
        return GuardVerdict(
            allowed=n_out == 0, score=float(min(1.0, s.max() / 2.0)),
            reasons=[f"adversarial:{n_out}/{s.shape[0]} rows"] if n_out else [],
            details={"rows": int(s.shape[0]), "flagged_rows": n_out, "max_l1": round(float(s.max()), 4)},
        )  # fmt: skip
