"""A small character-n-gram logistic model: "is this capitalised token part of a person's name?"

Why: a gazetteer only knows the names it lists (recall 0.46 on held-out names);
name *shape* generalises (-son, -ez, -ski, -ine, Mc-, consonant clusters), and a
linear model over hashed character n-grams learns it from ~11k shipped names vs.
~40k ordinary words and places. It ships as plain arrays (`names_model.npz`,
loaded with `allow_pickle=False`; no pickle, no code) built by
`evals/detect/train_names_model.py` from the same MIT-licensed Faker lists as the
gazetteer, *without* the names the eval holds out. Scoring a token is ~25 CRC32
look-ups and a sum, a few microseconds, so it fits the 1 KB prompt budget.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import IO

NGRAMS = (2, 3, 4)
BUCKET_BITS = 17
FORMAT_VERSION = 1


def features(token: str, bits: int = BUCKET_BITS) -> list[int]:
    """Hashed n-gram ids of a token (shared by training and inference, so they cannot drift)."""
    mask = (1 << bits) - 1
    s = f"<{token.lower()}>"
    out = []
    for n in NGRAMS:
        for i in range(len(s) - n + 1):
            out.append(zlib.crc32(s[i : i + n].encode("utf-8")) & mask)
    out.append(zlib.crc32(f"len={min(len(token), 12)}".encode()) & mask)
    return out


@dataclass(frozen=True)
class NameModel:
    weights: list[float]
    bias: float
    bits: int

    @classmethod
    def from_arrays(cls, weights: object, bias: float, bits: int) -> NameModel:
        import numpy as np

        w = np.asarray(weights, dtype=np.float32)
        if w.ndim != 1 or w.shape[0] != 1 << bits:
            raise ValueError(f"names model: expected {1 << bits} weights, got shape {w.shape}")
        return cls(weights=w.tolist(), bias=float(bias), bits=bits)

    def logit(self, token: str) -> float:
        w = self.weights
        return self.bias + sum(w[i] for i in features(token, self.bits))

    def prob(self, token: str) -> float:
        z = self.logit(token)
        return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0


def read_model(fh: IO[bytes]) -> NameModel | None:
    """A model from an `.npz` stream, or None when it is not one this code can trust and use.

    `allow_pickle=False`: an object array (a pickle inside the archive) is refused, not loaded.
    """
    import zipfile

    import numpy as np

    try:
        with np.load(fh, allow_pickle=False) as z:
            if int(z["version"]) != FORMAT_VERSION:
                return None
            return NameModel.from_arrays(z["weights"], float(z["bias"]), int(z["bits"]))
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        return None


@cache
def load_model() -> NameModel | None:
    """The shipped model, or None when its file is absent or malformed (the layer then runs gazetteer-only)."""
    ref = resources.files("bastion.data._detect") / "resources" / "names_model.npz"
    try:
        with ref.open("rb") as fh:
            return read_model(fh)
    except (FileNotFoundError, OSError):
        return None
