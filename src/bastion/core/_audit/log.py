"""The audit chain: append, checkpoint, read, export.

Appends are serialised by the store's write lock (SQLite `BEGIN IMMEDIATE`,
PostgreSQL advisory lock), so the head read and the insert of the next event
happen atomically and the chain stays linear across processes and hosts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bastion.core._audit.hashing import canonical, checkpoint_message, event_hash
from bastion.core._audit.keys import KeyRing
from bastion.core._audit.model import FORBIDDEN_KEYS, ZERO_HASH, AuditDataError, AuditError, Checkpoint, VerifyReport
from bastion.core.store._engine import WRITE_OPTION, lock_for_write
from bastion.core.store._schema import audit_checkpoints, audit_events
from bastion.core.types import Event, utcnow

CHECKPOINT_EVERY = 1000

# Keys that say "this is a raw value", refused anywhere in event data: the log is
# kept for years and shipped to auditors, so it records ids, counts and
# fingerprints, never the sensitive values themselves.
MAX_STRING = 1024
MAX_DATA_BYTES = 64 * 1024


def check_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return `data` as it will be stored (JSON round-tripped), or raise `AuditDataError`."""
    if not isinstance(data, Mapping):
        raise AuditDataError("audit data must be a mapping")
    _check_value(data, "data")
    try:
        encoded = canonical(data)
    except (TypeError, ValueError) as exc:
        raise AuditDataError(f"audit data is not plain JSON: {exc}") from None
    if len(encoded) > MAX_DATA_BYTES:
        raise AuditDataError(f"audit data is {len(encoded)} bytes; the limit is {MAX_DATA_BYTES}")
    loaded: dict[str, Any] = json.loads(encoded)
    return loaded


def _check_value(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditDataError(f"{where}: keys must be strings")
            if key.lower() in FORBIDDEN_KEYS:
                raise AuditDataError(f"{where}.{key}: raw values must not enter the audit log")
            _check_value(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]")
    elif isinstance(value, str) and len(value) > MAX_STRING:
        raise AuditDataError(f"{where}: string of {len(value)} chars; record an id or fingerprint instead")


def _event(row: Row[Any] | Mapping[str, Any]) -> Event:
    m = row._mapping if isinstance(row, Row) else row
    return Event(
        seq=int(m["seq"]),
        ts=m["ts"],
        project=m["project"],
        kind=m["kind"],
        actor=m["actor"],
        subject=m["subject"],
        data=m["data"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
    )


def _checkpoint(row: Row[Any]) -> Checkpoint:
    m = row._mapping
    return Checkpoint(
        id=int(m["id"]),
        seq=int(m["seq"]),
        hash=m["hash"],
        ts=m["ts"],
        signature=m["signature"],
        key_id=m["key_id"],
    )


class AuditLog:
    """The hash-chained, checkpoint-signed log of every state change.

    Callers record ids, counts and fingerprints only; `append` refuses data with
    keys such as ``evidence`` or ``password`` and strings longer than 1024 chars.
    """

    def __init__(self, engine: Engine, state_dir: Path) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self.keys = KeyRing(state_dir / "keys")

    @contextmanager
    def _write(self, session: Session | Connection | None) -> Iterator[Connection]:
        if session is None:
            with self._writer.begin() as conn:
                lock_for_write(conn)
                yield conn
            return
        conn = session.connection() if isinstance(session, Session) else session
        lock_for_write(conn)
        yield conn

    def append(
        self,
        project: str,
        kind: str,
        actor: str,
        subject: str,
        data: Mapping[str, Any],
        *,
        session: Session | Connection | None = None,
    ) -> Event:
        """Append one event; with `session`, inside the caller's transaction (which must be a write one)."""
        stored = check_data(data)
        if session is not None:  # the caller's transaction: its error handling applies
            with self._write(session) as conn:
                return self._append(conn, project, kind, actor, subject, stored)
        try:
            with self._write(None) as conn:
                return self._append(conn, project, kind, actor, subject, stored)
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot append to the audit log: {_one_line(exc)}") from exc

    def _append(
        self, conn: Connection, project: str, kind: str, actor: str, subject: str, data: dict[str, Any]
    ) -> Event:
        head = conn.execute(
            select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
        ).first()
        seq = int(head.seq) + 1 if head else 1
        prev = head.hash if head else ZERO_HASH
        ts = utcnow()
        digest = event_hash(
            seq=seq, ts=ts, project=project, kind=kind, actor=actor, subject=subject, data=data, prev_hash=prev
        )
        values = {
            "seq": seq,
            "ts": ts,
            "project": project,
            "kind": kind,
            "actor": actor,
            "subject": subject,
            "data": data,
            "prev_hash": prev,
            "hash": digest,
        }
        conn.execute(audit_events.insert().values(**values))
        if seq % CHECKPOINT_EVERY == 0:
            self._checkpoint(conn, seq, digest)
        return _event(values)

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head; None when the log is empty."""
        try:
            with self._writer.begin() as conn:
                lock_for_write(conn)
                head = conn.execute(
                    select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
                ).first()
                if head is None:
                    return None
                last = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id.desc()).limit(1)).first()
                if last is not None and last.seq == head.seq and last.hash == head.hash:
                    return _checkpoint(last)
                return self._checkpoint(conn, int(head.seq), head.hash)
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot write an audit checkpoint: {_one_line(exc)}") from exc

    def _checkpoint(self, conn: Connection, seq: int, digest: str) -> Checkpoint:
        key, kid = self.keys.signer()
        ts = utcnow()
        signature = key.sign(checkpoint_message(seq=seq, hash=digest, ts=ts, key_id=kid)).hex()
        result = conn.execute(
            audit_checkpoints.insert().values(seq=seq, hash=digest, ts=ts, signature=signature, key_id=kid)
        )
        (cid,) = result.inserted_primary_key or (0,)
        return Checkpoint(id=int(cid), seq=seq, hash=digest, ts=ts, signature=signature, key_id=kid)

    def events(self, project: str | None = None, since_seq: int = 0, *, limit: int | None = None) -> Iterator[Event]:
        """Events in seq order, after `since_seq`; streamed, so exports of any size stay flat in memory."""
        query = select(audit_events).where(audit_events.c.seq > since_seq).order_by(audit_events.c.seq)
        if project is not None:
            query = query.where(audit_events.c.project == project)
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query):
                yield _event(row)

    def tail(self, limit: int = 20, project: str | None = None) -> list[Event]:
        """The newest `limit` events, oldest first."""
        query = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
        if project is not None:
            query = query.where(audit_events.c.project == project)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_event(r) for r in reversed(rows)]

    def checkpoints(self) -> list[Checkpoint]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id)).all()
        return [_checkpoint(r) for r in rows]

    def export(self, out: TextIO, project: str | None = None) -> int:
        """Write events as JSON Lines (one event per line, hashes included); returns the count."""
        count = 0
        for ev in self.events(project):
            out.write(json.dumps(ev.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
        return count

    def verify(self) -> VerifyReport:
        """Recompute the whole chain and check every checkpoint signature; see `_audit.verify`."""
        from bastion.core._audit.verify import verify_chain

        try:
            with self._engine.connect() as conn:
                checkpoints = [
                    _checkpoint(r) for r in conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id))
                ]
                rows = conn.execution_options(yield_per=2000).execute(select(audit_events).order_by(audit_events.c.seq))
                return verify_chain((_event(r) for r in rows), checkpoints, self.keys.trusted())
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot read the audit log: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
