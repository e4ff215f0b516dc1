"""The shipped linear model: plain arrays in a gzip file plus a JSON header, never a pickle.

Loading verifies the weights' SHA-256 and length against the header, so a
truncated or swapped file fails closed (`ModelError`) instead of scoring with
garbage. The weights are float16 on disk (half the size, no measurable loss for
a linear model) and float32 in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bastion.guard._base import sigmoid
from bastion.guard._injection.features import DENSE_NAMES, featurize

MODEL_DIR = Path(__file__).with_name("model")
HEADER = "injection.json"
WEIGHTS = "injection.f16.gz"
FORMAT = "bastion-linear-v1"


class ModelError(RuntimeError):
    """The classifier files are missing, corrupt or from another format."""


@dataclass(slots=True)
class LinearModel:
    weights: np.ndarray
    bias: float
    bits: int
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    def logit(self, text: str, dense: list[str]) -> float:
        idx, vals = featurize(text, dense, self.bits)
        return float(np.dot(self.weights[idx], vals)) + self.bias

    def score(self, text: str, dense: list[str]) -> float:
        return sigmoid(self.logit(text, dense))

    def save(self, folder: Path, meta: dict[str, Any]) -> None:
        """Write header and weights; used by the training script."""
        folder.mkdir(parents=True, exist_ok=True)
        raw = self.weights.astype("<f2").tobytes()
        with gzip.GzipFile(folder / WEIGHTS, "wb", mtime=0) as fh:
            fh.write(raw)
        header = {
            "format": FORMAT,
            "bits": self.bits,
            "bias": self.bias,
            "threshold": self.threshold,
            "dense_features": list(DENSE_NAMES),
            "weights_sha256": hashlib.sha256(raw).hexdigest(),
            "weights_count": int(self.weights.shape[0]),
            **meta,
        }
        (folder / HEADER).write_text(json.dumps(header, indent=2, sort_keys=True) + "\n")


def load(folder: Path | None = None) -> LinearModel:
    folder = MODEL_DIR if folder is None else Path(folder)
    try:
        header = json.loads((folder / HEADER).read_text())
        with gzip.open(folder / WEIGHTS, "rb") as fh:
            raw = fh.read(1 << 26)
    except (OSError, ValueError, EOFError) as exc:
        raise ModelError(f"injection model in {folder} cannot be read: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelError(f"injection model in {folder}: unknown format")
    if list(header.get("dense_features", [])) != list(DENSE_NAMES):
        raise ModelError("injection model was trained with other heuristic features; retrain it")
    if hashlib.sha256(raw).hexdigest() != header.get("weights_sha256"):
        raise ModelError("injection model weights do not match their checksum")
    bits = int(header["bits"])
    weights = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if weights.shape[0] != (1 << bits) or weights.shape[0] != int(header["weights_count"]):
        raise ModelError("injection model weights have the wrong length")
    meta = {k: v for k, v in header.items() if k not in ("bias", "bits", "threshold")}
    return LinearModel(weights, float(header["bias"]), bits, float(header["threshold"]), meta)
