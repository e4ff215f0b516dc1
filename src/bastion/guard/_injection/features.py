"""Hashed character and word n-grams, computed with numpy so a 1 KB prompt costs well under a millisecond.

Why hand-rolled rather than scikit-learn's HashingVectorizer: the shipped model
must load and run with numpy alone (the core install has no scikit-learn), and
training and inference must hash identically, which is easiest when both call
this one function. Character n-grams are taken over UTF-8 bytes of the
lowercased text with a polynomial rolling hash (vectorised over positions);
words and word pairs use CRC-32. All indices share one 2**bits space; a few
reserved slots carry the heuristic and obfuscation flags.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence

import numpy as np

from bastion.guard._injection.heuristics import NAMES as HEURISTIC_NAMES

CHAR_NS = (3, 4, 5)
FLAG_NAMES = (
    "tag_chars",
    "invisible_chars",
    "bidi_controls",
    "control_chars",
    "confusables",
    "base64",
    "hex",
    "percent_encoding",
    "rot13",
    "decoded_variant",
)
DENSE_NAMES: tuple[str, ...] = tuple(f"h:{n}" for n in HEURISTIC_NAMES) + tuple(f"f:{n}" for n in FLAG_NAMES)
_MULT = np.uint64(0x100000001B3)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_WORD = re.compile(r"[a-z0-9']+")


def _char_hashes(data: np.ndarray) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    n_bytes = data.shape[0]
    for n in CHAR_NS:
        if n_bytes < n:
            continue
        h = np.full(n_bytes - n + 1, np.uint64(n * 7919), dtype=np.uint64)
        for k in range(n):
            h = h * _MULT + data[k : n_bytes - n + 1 + k]
        out.append(h)
    return out


def _word_hashes(text: str) -> np.ndarray:
    words = _WORD.findall(text)
    if not words:
        return np.zeros(0, dtype=np.uint64)
    uni = [zlib.crc32(w.encode()) for w in words]
    bi = [(a * 1_000_003) ^ b ^ 0x5BD1E995 for a, b in itertools.pairwise(uni)]
    arr = np.asarray(uni + bi, dtype=np.uint64)
    arr[: len(uni)] += np.uint64(1 << 40)
    arr[len(uni) :] += np.uint64(2 << 40)
    return arr


def featurize(text: str, dense: Sequence[str], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Sparse feature vector as (indices, values), L2-normalised, sublinear term frequency.

    `dense` names the heuristic/obfuscation features that fired; they take the
    top `len(DENSE_NAMES)` slots and keep value 1 (not normalised away), so the
    classifier can weigh them directly.
    """
    lowered = text.lower()
    data = np.frombuffer(lowered.encode("utf-8", "surrogatepass"), dtype=np.uint8).astype(np.uint64)
    parts = [*_char_hashes(data), _word_hashes(lowered)]
    size = 1 << bits
    n_dense = len(DENSE_NAMES)
    if any(p.size for p in parts):
        hashed = np.concatenate(parts) * _GOLD
        idx = (hashed >> np.uint64(64 - bits)).astype(np.int64)
        idx = idx % (size - n_dense)
        uniq, counts = np.unique(idx, return_counts=True)
        vals = 1.0 + np.log(counts.astype(np.float64))
        vals /= np.sqrt(np.dot(vals, vals))
    else:
        uniq = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0, dtype=np.float64)
    if dense:
        pos = {n: i for i, n in enumerate(DENSE_NAMES)}
        extra = np.asarray(sorted({size - n_dense + pos[d] for d in dense if d in pos}), dtype=np.int64)
        uniq = np.concatenate([uniq, extra])
        vals = np.concatenate([vals, np.ones(extra.shape[0])])
    return uniq, vals
