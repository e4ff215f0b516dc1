"""Per-client model-extraction detection.

PRADA (Juuti et al., 2019) observed that a benign client's queries, being
natural data, have minimum distances to its own earlier queries that are
roughly normally distributed, while synthetic extraction queries (Jacobian
augmentation, random probing, interpolation) are not. We keep each client's
recent queries, record each new query's minimum L2 distance to them, and test
normality with the Shapiro-Francia W' statistic (a close, dependency-free
approximation of Shapiro-Wilk). Two cheaper signals join it, because a
KnockoffNets-style attacker that draws natural images from another
distribution can look normal to PRADA: the share of the client's queries that
lie off the reference (training) distribution, and raw query volume.

PRADA's threshold is calibrated on the reference when one is given: W' of
min-distances is noisy at 100-300 queries and its spread depends on the
feature dimension and the data's shape, so a fixed delta that catches
synthetic probing in one deployment flags natural clients in another. We
replay simulated benign clients drawn from the reference through exactly the
sequential test the detector runs (tested at every query from `min_queries`
on) and put delta below the lowest W' any of them reached, with a margin.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from bastion.core.plugins import GuardInput, GuardVerdict
from bastion.guard._base import RULES, BadFeatures, as_matrix, failure_verdict, run_guarded

_NORMAL = NormalDist()
DEFAULT_DELTA = 0.85


@functools.lru_cache(maxsize=1024)
def _normal_scores(n: int) -> np.ndarray:
    """Blom's approximation of expected normal order statistics; cached because every test of size n reuses it."""
    m = np.asarray([_NORMAL.inv_cdf((i - 0.375) / (n + 0.25)) for i in range(1, n + 1)])
    m.setflags(write=False)
    return m


def shapiro_francia(x: np.ndarray) -> float:
    """W' in (0, 1]: the squared correlation of the sorted sample with expected normal order statistics."""
    n = x.shape[0]
    if n < 5:
        return 1.0
    xs = np.sort(x)
    m = _normal_scores(n)
    xc = xs - xs.mean()
    denom = float(np.dot(xc, xc)) * float(np.dot(m, m))
    if denom <= 0.0:
        return 0.0  # all distances equal: nothing natural looks like that
    return float(np.dot(m, xc) ** 2 / denom)


@dataclass(slots=True)
class ClientState:
    queries: deque[np.ndarray]
    distances: deque[float]
    times: deque[float]
    offdist: deque[bool]
    total: int = 0
    flagged_at: int | None = None
    signals: dict[str, float] = field(default_factory=dict)


class ExtractionDetector:
    """One detector per model; per-client state in memory (bounded), fed with every prediction request.

    `reference` (a sample of training inputs) enables the off-distribution
    signal and PRADA calibration; without it only PRADA (at a fixed delta) and
    volume apply. `delta` is PRADA's threshold on W' (the paper used 0.87-0.96
    on images), tested once a client has `min_queries` distances. Left as
    ``None`` with a reference of at least `min_queries` + 50 rows, it is
    calibrated: `calibration_clients` simulated benign clients of up to
    `history` queries each are drawn from the reference, and delta becomes
    their lowest sequential W' minus `calibration_margin` (capped at 0.85 so
    calibration only ever loosens a noisy test; the result is `self.delta`).
    """

    name = "extraction"
    directions = frozenset({"input"})
    rules = {k: RULES[k] for k in ("guard.extraction", "guard.bad_input")}

    def __init__(
        self,
        *,
        reference: Any = None,
        delta: float | None = None,
        min_queries: int = 100,
        history: int = 500,
        test_window: int = 300,
        offdist_quantile: float = 0.99,
        offdist_limit: float = 0.30,
        max_rate: float | None = None,
        rate_window_s: float = 60.0,
        max_clients: int = 10_000,
        block: bool = True,
        fail_closed: bool = False,
        clock: Any = time.monotonic,
        calibration_clients: int = 60,
        calibration_margin: float = 0.03,
        seed: int = 0,
    ) -> None:
        self.delta = DEFAULT_DELTA if delta is None else float(delta)
        self.min_queries = min_queries
        self.history = history
        self.test_window = test_window
        self.offdist_limit = offdist_limit
        self.max_rate = max_rate
        self.rate_window_s = rate_window_s
        self.max_clients = max_clients
        self.block = block
        self.fail_closed = fail_closed
        self._clock = clock
        self._clients: OrderedDict[str, ClientState] = OrderedDict()
        self._lock = threading.Lock()
        self.width: int | None = None
        self._mu: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._prec: np.ndarray | None = None
        self._cut = np.inf
        self.calibrated_low_w: float | None = None
        if reference is not None:
            ref = as_matrix(reference)
            self.width = ref.shape[1]
            self._mu = ref.mean(axis=0)
            self._scale = ref.std(axis=0) + 1e-9
            z = (ref - self._mu) / self._scale
            cov = np.cov(z, rowvar=False).reshape(self.width, self.width)
            cov = 0.9 * cov + 0.1 * np.eye(self.width)  # shrinkage: stable with few rows or collinear features
            self._prec = np.linalg.inv(cov)
            d = np.einsum("ij,jk,ik->i", z, self._prec, z)
            self._cut = float(np.quantile(d, offdist_quantile))
            if delta is None and z.shape[0] >= min_queries + 50:
                low = self._calibrate_prada(z, calibration_clients, np.random.default_rng(seed))
                self.delta = min(DEFAULT_DELTA, max(0.5, low - calibration_margin))
                self.calibrated_low_w = low

    def _calibrate_prada(self, z: np.ndarray, clients: int, rng: np.random.Generator) -> float:
        """Lowest W' that simulated natural clients reach over the whole sequential test."""
        n = min(self.history, z.shape[0] - 1)
        lowest = 1.0
        for _ in range(max(1, clients)):
            q = z[rng.choice(z.shape[0], n, replace=False)]
            sq = (q * q).sum(axis=1)
            d2 = sq[:, None] + sq[None, :] - 2.0 * (q @ q.T)
            d2[np.triu_indices(n)] = np.inf  # only distances to earlier queries count
            mins = np.sqrt(np.maximum(d2[1:].min(axis=1), 0.0))
            for k in range(self.min_queries, mins.shape[0] + 1):
                lowest = min(lowest, shapiro_francia(mins[max(0, k - self.test_window) : k]))
        return lowest

    def _z(self, x: np.ndarray) -> np.ndarray:
        if self._mu is None or self._scale is None:
            return x
        return (x - self._mu) / self._scale

    def _state(self, key: str) -> ClientState:
        st = self._clients.get(key)
        if st is None:
            st = ClientState(deque(maxlen=self.history), deque(maxlen=self.test_window), deque(), deque(maxlen=200))
            self._clients[key] = st
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return st

    def observe(self, client: str, features: Any) -> dict[str, Any]:
        """Record a client's query (one row or a batch); return its current signals and verdict."""
        rows = as_matrix(features, self.width)
        now = self._clock()
        with self._lock:
            st = self._state(client)
            for row in rows:
                z = self._z(row)
                if st.queries:
                    past = np.asarray(st.queries)
                    st.distances.append(float(np.sqrt(((past - z) ** 2).sum(axis=1)).min()))
                st.queries.append(z)
                if self._prec is not None:
                    st.offdist.append(float(z @ self._prec @ z) > self._cut)
                st.total += 1
                st.times.append(now)
            while st.times and now - st.times[0] > self.rate_window_s:
                st.times.popleft()
            return self._judge(st)

    def _judge(self, st: ClientState) -> dict[str, Any]:
        signals: dict[str, float] = {}
        reasons: list[str] = []
        if len(st.distances) >= self.min_queries:
            w = shapiro_francia(np.asarray(st.distances))
            signals["prada_w"] = round(w, 4)
            if w < self.delta:
                reasons.append("prada")
        if len(st.offdist) >= 25:
            share = float(np.mean(st.offdist))
            signals["offdist_share"] = round(share, 4)
            if share > self.offdist_limit:
                reasons.append("off_distribution")
        if self.max_rate is not None:
            rate = len(st.times)
            signals["rate"] = float(rate)
            if rate > self.max_rate:
                reasons.append("volume")
        if reasons and st.flagged_at is None:
            st.flagged_at = st.total
        st.signals = signals
        score = 0.0
        if "prada_w" in signals:
            score = max(score, min(1.0, max(0.0, (1.0 - signals["prada_w"]) / max(1e-9, 1.0 - self.delta) / 2)))
        if "offdist_share" in signals:
            score = max(score, min(1.0, signals["offdist_share"] / max(1e-9, 2 * self.offdist_limit)))
        if reasons:
            score = max(score, 0.5 + 0.5 * min(1.0, len(reasons) / 3))
        return {"flagged": bool(reasons), "reasons": reasons, "signals": signals, "queries": st.total,
                "flagged_at": st.flagged_at, "score": round(score, 4)}  # fmt: skip

    def status(self, client: str) -> dict[str, Any] | None:
        with self._lock:
            st = self._clients.get(client)
            return None if st is None else self._judge(st)

    def reset(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)

    def check(self, item: GuardInput) -> GuardVerdict:
        return run_guarded(self.name, self.fail_closed, self._check, item)

    def _check(self, item: GuardInput) -> GuardVerdict:
        if item.features is None:
            return GuardVerdict(allowed=True, details={"skipped": "no features"})
        key = f"{item.tenant}:{item.client_id or 'anonymous'}"
        try:
            res = self.observe(key, item.features)
        except BadFeatures as exc:
            return failure_verdict(self.name, self.fail_closed, f"bad features: {exc}")
        reasons = [f"extraction:{r}" for r in res["reasons"]]
        return GuardVerdict(
            allowed=not (res["flagged"] and self.block), score=res["score"], reasons=reasons, details=res
        )
