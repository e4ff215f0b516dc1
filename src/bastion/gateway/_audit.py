"""The request audit: one record per request, written off the request path, never dropped.

Handlers enqueue a value-free record (caller, model, decision, guard outcomes,
latency) and return; a writer thread stores batches in `gateway_requests`, and
each batch is anchored in the store's hash chain by one `gateway.requests`
event carrying the batch's row count and SHA-256 digest, in the same
transaction. A chain event per request would cost more than a millisecond of
CPU each (and the GIL with it) at hundreds of requests per second; the anchor
keeps the same tamper evidence: `verify` recomputes every batch digest, so an
edited, deleted or inserted row shows. If the database is unavailable the
batch is kept and retried; if the in-memory queue passes its bound, records
spill to an append-only JSONL file in the state folder and are replayed when
the writer catches up. `close()` drains everything before returning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bastion.core.audit import canonical
from bastion.core.types import utcnow
from bastion.gateway._tables import requests

if TYPE_CHECKING:
    from bastion.core.store import Store

log = logging.getLogger("bastion.gateway.audit")
KIND = "gateway.requests"
_FIELDS = ("ts", "actor", "tenant", "route", "status", "decision", "latency_ms", "data")


def _content(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in _FIELDS}
    out["ts"] = row["ts"].isoformat()
    return out


def batch_digest(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(canonical(_content(row)))
        h.update(b"\n")
    return h.hexdigest()


class RequestAudit:
    def __init__(
        self,
        store: Store,
        project: str,
        *,
        max_queue: int,
        spill: Path,
        on_idle: Callable[[], object] | None = None,
        batch: int = 500,
        interval_s: float = 0.1,
    ) -> None:
        self.store = store
        self.project = project
        self.max_queue = max_queue
        self.spill = spill
        self.on_idle = on_idle
        self.batch = batch
        self.interval_s = interval_s
        self.written = 0
        self.failures = 0
        # A deque, not a queue.Queue: append/popleft are atomic under the GIL, and the writer
        # polls every `interval_s` instead of being woken per record (a wake-up per request
        # costs a GIL hand-over on the event loop's thread).
        self._q: deque[dict[str, Any]] = deque()
        self._inflight = 0
        self._stop = threading.Event()
        self._spill_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="bastion-gateway-audit", daemon=True)
        self._started = False
        self._last_idle = 0.0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    @property
    def backlog(self) -> int:
        return len(self._q) + self._inflight

    def record(self, actor: str, route: str, data: dict[str, Any]) -> None:
        """Enqueue one request record; O(1), never blocks on the database."""
        row = {
            "project": self.project,
            "ts": utcnow(),
            "actor": actor[:256],
            "tenant": (str(data.pop("tenant"))[:64] if data.get("tenant") else None),
            "route": route[:64],
            "status": int(data.pop("status", 0)),
            "decision": str(data.pop("decision", ""))[:32],
            "latency_ms": float(data.pop("latency_ms", 0.0)),
            "data": data,
        }
        if len(self._q) >= self.max_queue:
            self._spill_one(row)
            return
        self._q.append(row)

    def _spill_one(self, row: dict[str, Any]) -> None:
        line = json.dumps({**row, "ts": row["ts"].isoformat()}, separators=(",", ":")) + "\n"
        with self._spill_lock:
            fd = os.open(self.spill, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.interval_s)  # amortise one transaction over many requests
            while self._q:
                items: list[dict[str, Any]] = []
                while self._q and len(items) < self.batch:
                    self._inflight += 1  # counted before it leaves the deque: `flush` never sees a gap
                    items.append(self._q.popleft())
                self._write(items)
                self._inflight = 0
            if stopping:
                break
            self._replay_spill()
            self._idle()
        self._replay_spill()
        self._idle(force=True)

    def _write(self, items: list[dict[str, Any]]) -> None:
        delay = 0.1
        digest = batch_digest(items)
        anchor = {
            "count": len(items),
            "digest": digest,
            "first_request": str(items[0]["data"].get("request_id", ""))[:32],
            "statuses": _histogram(items),
        }
        while True:
            try:
                with self.store._write() as conn:
                    event = self.store.audit.append(
                        self.project, KIND, "gateway", f"{len(items)} requests", anchor, session=conn
                    )
                    conn.execute(requests.insert(), [{**row, "anchor_seq": event.seq} for row in items])
                self.written += len(items)
                return
            except Exception as exc:  # keep the batch and retry: the audit trail must not lose requests
                self.failures += 1
                log.warning("audit write failed (%s); retrying %d events", type(exc).__name__, len(items))
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _replay_spill(self) -> None:
        with self._spill_lock:
            if not self.spill.exists():
                return
            work = self.spill.with_suffix(".replaying")
            os.replace(self.spill, work)
        lines = work.read_text(encoding="utf-8").splitlines()
        items = []
        for line in lines:
            try:
                rec = json.loads(line)
                rec["ts"] = datetime.fromisoformat(rec["ts"])
                items.append(rec)
            except (ValueError, KeyError, TypeError):  # a torn last line from a crash: record that it existed
                items.append(
                    {
                        "project": self.project,
                        "ts": utcnow(),
                        "actor": "gateway",
                        "tenant": None,
                        "route": "spill",
                        "status": 0,
                        "decision": "unreadable",
                        "latency_ms": 0.0,
                        "data": {"spill_line_unreadable": True},
                    }
                )
        for start in range(0, len(items), self.batch):
            self._write(items[start : start + self.batch])
        work.unlink()

    def _idle(self, force: bool = False) -> None:
        if self.on_idle is None:
            return
        now = time.monotonic()
        if force or now - self._last_idle > 2.0:
            self._last_idle = now
            try:
                self.on_idle()
            except Exception as exc:
                log.warning("gateway idle task failed: %s", type(exc).__name__)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything enqueued so far is written (tests, shutdown)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self._q and self._inflight == 0 and not self.spill.exists():
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        if self._started:
            self._stop.set()
            self._thread.join(timeout=60)
            self._started = False


def _histogram(items: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in items:
        key = str(row["status"])
        out[key] = out.get(key, 0) + 1
    return out


def request_log(store: Store, project: str, *, limit: int = 100, tenant: str | None = None) -> list[dict[str, Any]]:
    """The newest request records (oldest first), optionally of one tenant."""
    query = select(requests).where(requests.c.project == project).order_by(requests.c.id.desc()).limit(limit)
    if tenant is not None:
        query = query.where(requests.c.tenant == tenant)
    with store._read() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in reversed(rows):
        m = dict(r._mapping)
        m["ts"] = m["ts"].isoformat()
        out.append(m)
    return out


def verify(store: Store, project: str) -> list[str]:
    """Problems found re-checking every anchored batch against its chain event; empty when intact."""
    problems: list[str] = []
    anchors = {e.seq: e for e in store.audit.events(project) if e.kind == KIND}
    with store._read() as conn:
        rows = conn.execute(
            select(requests).where(requests.c.project == project).order_by(requests.c.anchor_seq, requests.c.id)
        ).all()
    batches: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        batches.setdefault(int(r.anchor_seq), []).append(dict(r._mapping))
    for seq, batch in batches.items():
        event = anchors.get(seq)
        if event is None:
            problems.append(f"{len(batch)} request record(s) claim audit event {seq}, which is not a request anchor")
            continue
        if event.data.get("count") != len(batch):
            problems.append(f"audit event {seq}: {event.data.get('count')} requests anchored, {len(batch)} present")
        elif event.data.get("digest") != batch_digest(batch):
            problems.append(f"audit event {seq}: request records were altered")
    for seq, event in anchors.items():
        if seq not in batches:
            problems.append(f"audit event {seq}: its {event.data.get('count')} request records are missing")
    return problems
