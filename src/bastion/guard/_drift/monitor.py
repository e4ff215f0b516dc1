"""The drift monitor: reference, sliding window, per-feature and multivariate tests, stored windows, alerts.

A window is evaluated every `step` observations over the last `window` rows.
What is stored is the reference-bin counts and test results of each evaluated
window (with an audit event), never the rows themselves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Integer, func, select

from bastion.core.types import utcnow
from bastion.guard._base import BadFeatures, as_matrix
from bastion.guard._drift import stats
from bastion.guard._schema import drift_windows, monitors

if TYPE_CHECKING:
    from bastion.core.store import Store
    from bastion.guard._alerts.dispatch import AlertDispatcher

PREDICTION = "__prediction__"


@dataclass(slots=True)
class FeatureDrift:
    feature: str
    kind: str  # "numeric" or "categorical"
    drifted: bool
    score: float  # a common 0..1 scale: 1 - p-value of the main test, capped by PSI
    tests: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class DriftReport:
    monitor: str
    seq: int
    rows: int
    drifted: bool
    features: list[FeatureDrift]
    multivariate: dict[str, float] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def max_score(self) -> float:
        return max((f.score for f in self.features), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "seq": self.seq,
            "rows": self.rows,
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "max_score": round(self.max_score, 4),
            "multivariate": self.multivariate,
            "features": [
                {"feature": f.feature, "kind": f.kind, "drifted": f.drifted, "score": round(f.score, 4),
                 "tests": {k: round(v, 6) for k, v in f.tests.items()}}
                for f in self.features
            ],
        }  # fmt: skip


class Monitor:
    """Drift monitor for one model's inputs (and optionally its predictions).

    `reference` is a matrix (rows x features) of training/validation inputs;
    `categorical` names (or indices of) columns whose values are category codes.
    Drift is declared per feature when the main test's p-value < `alpha`
    (Bonferroni-corrected over features) and the effect is material (PSI >=
    `psi_limit` or scaled Wasserstein >= `w_limit`), so that a huge window does
    not alarm on a negligible but "significant" shift.
    """

    def __init__(
        self,
        name: str,
        reference: Any,
        *,
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        prediction_reference: Any = None,
        prediction_categorical: bool = True,
        window: int = 500,
        step: int | None = None,
        alpha: float = 0.01,
        psi_limit: float = 0.1,
        w_limit: float = 0.1,
        multivariate: bool = True,
        store: Store | None = None,
        project: str = "default",
        alerts: AlertDispatcher | None = None,
        actor: str = "monitor",
    ) -> None:
        ref = as_matrix(reference)
        self.name = name
        self.features = features or [f"f{i}" for i in range(ref.shape[1])]
        if len(self.features) != ref.shape[1]:
            raise ValueError("features must name every reference column")
        self.categorical = set(categorical or [])
        self.ref = ref
        self.pred_ref = None if prediction_reference is None else np.asarray(prediction_reference, dtype=np.float64)
        if self.pred_ref is not None and (self.pred_ref.ndim != 1 or not np.isfinite(self.pred_ref).all()):
            raise BadFeatures("prediction reference must be a finite 1-D array")
        self.pred_categorical = prediction_categorical
        self.window = window
        self.step = step or window
        self.alpha = alpha
        self.psi_limit = psi_limit
        self.w_limit = w_limit
        self.multivariate = multivariate
        self.store = store
        self.project = project
        self.alerts = alerts
        self.actor = actor
        self._rows: deque[np.ndarray] = deque(maxlen=window)
        self._preds: deque[float] = deque(maxlen=window)
        self._since = 0
        self._seq = 0
        self._window_start: datetime | None = None
        self._edges: dict[str, list[float]] = {}
        self._cats: dict[str, list[float]] = {}
        for i, f in enumerate(self.features):
            self._bin_reference(f, ref[:, i])
        if self.pred_ref is not None:
            if self.pred_categorical:
                self.categorical.add(PREDICTION)
            self._bin_reference(PREDICTION, self.pred_ref)
        self._monitor_id: int | None = None
        if store is not None:
            self._monitor_id, self._seq = self._register()

    def _bin_reference(self, f: str, values: np.ndarray) -> None:
        if f in self.categorical:
            self._cats[f] = [float(v) for v in np.unique(values)[:1000]]
        else:
            self._edges[f] = stats.quantile_edges(values)

    def _counts(self, f: str, values: np.ndarray) -> np.ndarray:
        if f in self.categorical:
            cats = np.asarray(self._cats[f])
            pos = np.searchsorted(cats, values)
            known = (pos < len(cats)) & (cats[np.minimum(pos, len(cats) - 1)] == values)
            return np.bincount(np.where(known, pos, len(cats)), minlength=len(cats) + 1)
        return stats.bin_counts(values, self._edges[f])

    # -- observation --------------------------------------------------------------------------

    def observe(self, rows: Any, predictions: Any = None) -> list[DriftReport]:
        """Add rows (and their predictions); returns the reports of any windows evaluated."""
        x = as_matrix(rows, len(self.features))
        preds = None
        if predictions is not None:
            preds = np.asarray(predictions, dtype=np.float64).reshape(-1)
            if preds.shape[0] != x.shape[0] or not np.isfinite(preds).all():
                raise BadFeatures("predictions must be finite, one per row")
        reports = []
        for i, row in enumerate(x):
            if self._window_start is None:
                self._window_start = utcnow()
            self._rows.append(row)
            if preds is not None:
                self._preds.append(float(preds[i]))
            self._since += 1
            if len(self._rows) >= self.window and self._since >= self.step:
                reports.append(self.evaluate())
                self._since = 0
        return reports

    def evaluate(self) -> DriftReport:
        """Test the current window against the reference; store it and alert when drifted."""
        cur = np.asarray(self._rows)
        if cur.shape[0] < 2:
            raise ValueError("not enough rows in the window")
        columns = [(f, self.ref[:, i], cur[:, i]) for i, f in enumerate(self.features)]
        if self.pred_ref is not None and len(self._preds) >= 2:
            columns.append((PREDICTION, self.pred_ref, np.asarray(self._preds)))
        alpha = self.alpha / max(1, len(columns))
        results = [self._feature(f, r, c, alpha) for f, r, c in columns]
        multi: dict[str, float] = {}
        numeric = [i for i, f in enumerate(self.features) if f not in self.categorical]
        if self.multivariate and len(numeric) >= 2 and cur.shape[0] >= 20:
            _, p_rec = stats.reconstruction_test(self.ref[:, numeric], cur[:, numeric])
            auc, z = stats.classifier_test(self.ref[:, numeric], cur[:, numeric])
            multi = {"reconstruction_p": p_rec, "classifier_auc": auc, "classifier_z": z}
        multi_drift = bool(multi) and (multi["reconstruction_p"] < self.alpha or multi["classifier_z"] > 4.0)
        self._seq += 1
        report = DriftReport(
            monitor=self.name,
            seq=self._seq,
            rows=int(cur.shape[0]),
            drifted=any(r.drifted for r in results) or multi_drift,
            features=results,
            multivariate={k: round(float(v), 6) for k, v in multi.items()},
            started_at=self._window_start,
            ended_at=utcnow(),
        )
        self._window_start = None
        if self.store is not None:
            self._persist(report, {f: self._counts(f, c).tolist() for f, _, c in columns})
        if report.drifted and self.alerts is not None:
            self.alerts.raise_alert(
                "drift", self.name, "medium",
                {"monitor": self.name, "seq": report.seq, "features": report.drifted_features[:50],
                 "max_score": round(report.max_score, 4)},
            )  # fmt: skip
        return report

    def _feature(self, f: str, ref: np.ndarray, cur: np.ndarray, alpha: float) -> FeatureDrift:
        rc, cc = self._counts(f, ref), self._counts(f, cur)
        p_psi = stats.psi(rc, cc)
        if f in self.categorical:
            chi, p = stats.chi_square(rc, cc)
            tests = {"chi2": chi, "p_value": p, "psi": p_psi}
            material = p_psi >= self.psi_limit
            kind = "categorical"
        else:
            d, p = stats.ks(ref, cur)
            w = stats.wasserstein(ref, cur)
            tests = {"ks": d, "p_value": p, "psi": p_psi, "wasserstein": w}
            material = p_psi >= self.psi_limit or w >= self.w_limit
            kind = "numeric"
        drifted = p < alpha and material
        return FeatureDrift(f, kind, drifted, float(1.0 - p) if material else min(0.5, 1.0 - p), tests)

    # -- persistence --------------------------------------------------------------------------

    def _register(self) -> tuple[int, int]:
        assert self.store is not None
        config = {
            "features": self.features,
            "categorical": sorted(self.categorical),
            "window": self.window,
            "step": self.step,
            "alpha": self.alpha,
            "psi_limit": self.psi_limit,
            "reference_rows": int(self.ref.shape[0]),
            "edges": self._edges,
        }
        now = utcnow()
        with self.store._write() as conn:
            row = conn.execute(
                select(monitors.c.id).where(monitors.c.project == self.project, monitors.c.name == self.name)
            ).first()
            if row is None:
                res = conn.execute(
                    monitors.insert().values(
                        project=self.project, name=self.name, config=config, created_at=now, updated_at=now
                    )
                )
                mid = int((res.inserted_primary_key or (0,))[0])
                self.store.audit.append(
                    self.project, "monitor.created", self.actor, self.name,
                    {"features": len(self.features), "window": self.window}, session=conn,
                )  # fmt: skip
                return mid, 0
            mid = int(row.id)
            conn.execute(monitors.update().where(monitors.c.id == mid).values(config=config, updated_at=now))
            seq = conn.execute(select(func.max(drift_windows.c.seq)).where(drift_windows.c.monitor_id == mid)).scalar()
            self.store.audit.append(
                self.project, "monitor.updated", self.actor, self.name, {"features": len(self.features)}, session=conn
            )
            return mid, int(seq or 0)

    def _persist(self, report: DriftReport, counts: dict[str, list[int]]) -> None:
        assert self.store is not None
        full = report.to_dict()
        with self.store._write() as conn:
            conn.execute(
                drift_windows.insert().values(
                    monitor_id=self._monitor_id,
                    seq=report.seq,
                    started_at=report.started_at or utcnow(),
                    ended_at=report.ended_at or utcnow(),
                    rows=report.rows,
                    counts=counts,
                    results={"features": full["features"], "multivariate": full["multivariate"]},
                    drifted=report.drifted,
                    max_score=float(report.max_score),
                )
            )
            self.store.audit.append(
                self.project, "monitor.window", self.actor, self.name,
                {"seq": report.seq, "rows": report.rows, "drifted": report.drifted,
                 "drifted_features": len(report.drifted_features)},
                session=conn,
            )  # fmt: skip


def list_monitors(store: Store, project: str) -> list[dict[str, Any]]:
    """Each monitor with its latest window's summary (for `bastion monitor` and /metrics)."""
    out = []
    with store._read() as conn:
        for m in conn.execute(select(monitors).where(monitors.c.project == project).order_by(monitors.c.name)):
            last = conn.execute(
                select(drift_windows).where(drift_windows.c.monitor_id == m.id).order_by(drift_windows.c.seq.desc())
                .limit(1)
            ).first()  # fmt: skip
            total = conn.execute(
                select(func.count(), func.sum(drift_windows.c.drifted.cast(Integer))).where(
                    drift_windows.c.monitor_id == m.id
                )
            ).first()
            drifted_feats = []
            if last is not None:
                drifted_feats = [f["feature"] for f in last.results.get("features", []) if f.get("drifted")]
            out.append(
                {
                    "name": m.name,
                    "features": len(m.config.get("features", [])),
                    "windows": int(total[0] or 0) if total else 0,
                    "drifted_windows": int(total[1] or 0) if total else 0,
                    "last_seq": None if last is None else last.seq,
                    "last_drifted": None if last is None else bool(last.drifted),
                    "last_max_score": None if last is None else float(last.max_score),
                    "last_drifted_features": drifted_feats,
                    "last_ended_at": None if last is None else last.ended_at.isoformat(),
                }
            )
    return out
