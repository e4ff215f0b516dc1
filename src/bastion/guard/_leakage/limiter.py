"""Confidence limiting for classic models: return less than the model knows.

Full probability vectors are what membership-inference, model-inversion and
extraction attacks feed on; top-k with rounding keeps the answer useful while
removing most of that signal (Tramèr et al. 2016; Shokri et al. 2017). Rows
keep their shape (other classes become 0) unless `labels_only` is set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.guard._base import RULES, BadFeatures, failure_verdict, run_guarded


class ConfidenceLimiter:
    name = "confidence_limiter"
    directions = frozenset({"output"})
    rules = {"guard.bad_input": RULES["guard.bad_input"]}

    def __init__(self, *, top_k: int = 1, decimals: int = 2, labels_only: bool = False, fail_closed: bool = True):
        if top_k < 1 or decimals < 0:
            raise ValueError("top_k must be >= 1 and decimals >= 0")
        self.top_k = top_k
        self.decimals = decimals
        self.labels_only = labels_only
        self.fail_closed = fail_closed

    def limit(self, outputs: Any) -> Any:
        """Limited copy of `outputs` (one row or a batch), same nesting as given (lists)."""
        arr = np.asarray(outputs, dtype=np.float64)
        single = arr.ndim == 1
        if single:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.size == 0:
            raise BadFeatures(f"outputs must be score rows, got shape {tuple(arr.shape)}")
        if not np.isfinite(arr).all():
            raise BadFeatures("outputs contain NaN or infinity")
        if self.labels_only:
            labels = arr.argmax(axis=1).tolist()
            return labels[0] if single else labels
        k = min(self.top_k, arr.shape[1])
        top = np.argsort(-arr, axis=1, kind="stable")[:, :k]
        out = np.zeros_like(arr)
        rows = np.arange(arr.shape[0])[:, None]
        out[rows, top] = np.round(arr[rows, top], self.decimals)
        result = out.tolist()
        return result[0] if single else result

    def check(self, item: GuardInput) -> GuardVerdict:
        return run_guarded(self.name, self.fail_closed, self._check, item)

    def _check(self, item: GuardInput) -> GuardVerdict:
        if item.outputs is None:
            return GuardVerdict(allowed=True, details={"skipped": "no outputs"})
        try:
            limited = self.limit(item.outputs)
        except BadFeatures as exc:
            return failure_verdict(self.name, self.fail_closed, str(exc))
        return GuardVerdict(allowed=True, outputs=limited, details={"top_k": self.top_k, "decimals": self.decimals})
