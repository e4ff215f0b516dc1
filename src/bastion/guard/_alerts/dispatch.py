"""Alert de-duplication and fan-out.

An alert's identity is (kind, subject, sorted data keys' values that matter);
within `dedup_s` of the last delivery a repeat only bumps a counter, so a
drifting feature or a flagged client does not page someone every second. With
a store, the de-dup state lives in the ``guard_alerts`` table (shared by every
gateway replica) and each change appends one audit event; without one it is
kept in memory.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bastion.core.types import utcnow
from bastion.guard._alerts.sinks import AlertSink
from bastion.guard._schema import alerts

if TYPE_CHECKING:
    from bastion.core.store import Store


@dataclass(slots=True)
class AlertResult:
    key: str
    sent: bool
    deduplicated: bool
    count: int
    errors: list[str] = field(default_factory=list)


def dedup_key(kind: str, subject: str, identity: Sequence[Any] = ()) -> str:
    raw = json.dumps([kind, subject, list(identity)], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:64]


class AlertDispatcher:
    def __init__(
        self,
        sinks: Iterable[AlertSink] = (),
        *,
        store: Store | None = None,
        project: str = "default",
        dedup_s: float = 3600.0,
        actor: str = "guard",
    ) -> None:
        self.sinks = list(sinks)
        self.store = store
        self.project = project
        self.dedup = timedelta(seconds=dedup_s)
        self.actor = actor
        self._mem: dict[str, tuple[datetime, int]] = {}
        self._lock = threading.Lock()

    def raise_alert(
        self, kind: str, subject: str, severity: str, data: Mapping[str, Any], *, identity: Sequence[Any] = ()
    ) -> AlertResult:
        key = dedup_key(kind, subject, identity)
        now = utcnow()
        send, count = self._record(key, kind, subject[:512], severity, dict(data), now)
        result = AlertResult(key=key, sent=False, deduplicated=not send, count=count)
        if not send:
            return result
        payload = {"kind": kind, "subject": subject[:512], "severity": severity, "project": self.project,
                   "ts": now.isoformat(), "dedup_key": key, "count": count, "data": dict(data)}  # fmt: skip
        for sink in self.sinks:
            try:
                sink.send(payload)
                result.sent = True
            except Exception as exc:  # one broken sink must not stop the others
                result.errors.append(f"{sink.name}: {type(exc).__name__}: {str(exc)[:200]}")
        return result

    def _record(
        self, key: str, kind: str, subject: str, severity: str, data: dict[str, Any], now: datetime
    ) -> tuple[bool, int]:
        if self.store is None:
            with self._lock:
                last, count = self._mem.get(key, (None, 0))
                send = last is None or now - last >= self.dedup
                self._mem[key] = (now if send else last, count + 1)  # type: ignore[assignment]
                return send, count + 1
        with self.store._write() as conn:
            row = conn.execute(
                select(alerts).where(alerts.c.project == self.project, alerts.c.dedup_key == key)
            ).first()
            if row is None:
                conn.execute(
                    alerts.insert().values(
                        project=self.project, dedup_key=key, kind=kind, subject=subject, severity=severity,
                        first_seen=now, last_seen=now, last_sent=now, count=1, data=data,
                    )
                )  # fmt: skip
                self.store.audit.append(self.project, "alert.raised", self.actor, key, {"kind": kind}, session=conn)
                return True, 1
            send = row.last_sent is None or now - row.last_sent >= self.dedup
            count = int(row._mapping["count"]) + 1
            values: dict[str, Any] = {"last_seen": now, "count": count, "data": data, "severity": severity}
            if send:
                values["last_sent"] = now
            conn.execute(alerts.update().where(alerts.c.id == row.id).values(**values))
            self.store.audit.append(
                self.project, "alert.raised" if send else "alert.suppressed", self.actor, key,
                {"kind": kind, "count": count}, session=conn,
            )  # fmt: skip
            return send, count


def list_alerts(store: Store, project: str, *, limit: int = 50) -> list[dict[str, Any]]:
    with store._read() as conn:
        rows = conn.execute(
            select(alerts).where(alerts.c.project == project).order_by(alerts.c.last_seen.desc()).limit(limit)
        ).all()
    return [
        {"kind": r.kind, "subject": r.subject, "severity": r.severity, "count": int(r._mapping["count"]),
         "first_seen": r.first_seen.isoformat(), "last_seen": r.last_seen.isoformat(), "dedup_key": r.dedup_key}
        for r in rows
    ]  # fmt: skip
