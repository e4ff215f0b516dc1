"""The request audit: one event per request, written off the request path, never dropped.

Handlers enqueue a value-free record (caller, model, decision, guard outcomes,
latency) and return; a writer thread appends batches to the store's hash chain
in one transaction each. If the database is unavailable the batch is kept and
retried; if the in-memory queue passes its bound, records spill to an
append-only JSONL file in the state folder and are replayed into the chain
when the writer catches up. `close()` drains everything before returning.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.core.store import Store

log = logging.getLogger("bastion.gateway.audit")
KIND = "gateway.request"


class RequestAudit:
    def __init__(
        self,
        store: Store,
        project: str,
        *,
        max_queue: int,
        spill: Path,
        on_idle: Callable[[], None] | None = None,
        batch: int = 500,
        interval_s: float = 0.05,
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
        self._q: queue.SimpleQueue[tuple[str, str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
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
        return self._pending

    def record(self, actor: str, subject: str, data: dict[str, Any]) -> None:
        """Enqueue one event; O(1), never blocks on the database."""
        with self._lock:
            over = self._pending >= self.max_queue
            if not over:
                self._pending += 1
        if over:
            self._spill_one(actor, subject, data)
            return
        self._q.put((actor, subject, data))

    def _spill_one(self, actor: str, subject: str, data: dict[str, Any]) -> None:
        line = json.dumps({"actor": actor, "subject": subject, "data": data}, separators=(",", ":")) + "\n"
        with self._spill_lock:
            fd = os.open(self.spill, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def _run(self) -> None:
        stop = False
        while not stop:
            items: list[tuple[str, str, dict[str, Any]]] = []
            try:
                first = self._q.get(timeout=self.interval_s)
            except queue.Empty:
                first = None
                self._replay_spill()
                self._idle()
                continue
            if first is None:
                stop = True
            else:
                items.append(first)
            while len(items) < self.batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
            if items:
                self._write(items)
                with self._lock:
                    self._pending -= len(items)
        self._replay_spill()
        self._idle(force=True)

    def _write(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        delay = 0.1
        while True:
            try:
                with self.store._write() as conn:
                    for actor, subject, data in items:
                        self.store.audit.append(self.project, KIND, actor, subject, data, session=conn)
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
                items.append((rec["actor"], rec["subject"], rec["data"]))
            except (ValueError, KeyError):  # a torn last line from a crash: keep what it says it was
                items.append(("gateway", "spill", {"spill_line_unreadable": True}))
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
            if self._pending == 0 and not self.spill.exists():
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        if self._started:
            self._q.put(None)
            self._thread.join(timeout=60)
            self._started = False
