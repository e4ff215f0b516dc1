"""The store: assets, scans and findings, each change written with its audit event.

Writes go through `_write()`, one transaction that takes the chain lock first, so
the state change and its audit event commit or roll back together and concurrent
writers (processes, hosts) queue instead of forking the chain.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bastion.core._audit.hashing import canonical
from bastion.core._audit.model import FORBIDDEN_KEYS
from bastion.core.store import _engine, _migrate
from bastion.core.store._errors import StoreError
from bastion.core.store._schema import assets, findings, scans
from bastion.core.types import Asset, AssetKind, Finding, Location, Severity, utcnow

if TYPE_CHECKING:
    from bastion.core.audit import AuditLog

# Asset fields compared to decide "changed"; `project` and `uri` are the identity.
_ASSET_FIELDS = (
    "kind",
    "format",
    "digest",
    "size",
    "owner",
    "framework",
    "classification",
    "lineage",
    "tags",
    "risk",
    "risk_reasons",
    "confidence",
)
MAX_FINDINGS_FINGERPRINTS = 1000


class Store:
    """One database for every engine and surface; open it with `Store.open`."""

    audit: AuditLog

    def __init__(self, engine: Engine, state_dir: Path, url: str) -> None:
        from bastion.core.audit import AuditLog  # here, not at import time: audit imports the schema

        self.engine = engine
        self.state_dir = state_dir
        self.url = url
        self._writer = engine.execution_options(**{_engine.WRITE_OPTION: True})
        self.audit = AuditLog(engine, state_dir)

    @classmethod
    def open(cls, url: str, *, state_dir: Path) -> Store:
        """Open (creating if needed) and migrate; `StoreError` with a one-line reason otherwise."""
        parsed = _engine.parse_url(url)
        safe = _engine.safe_url(parsed)
        state_dir = Path(state_dir)
        if parsed.get_backend_name() == "sqlite":
            _engine.prepare_sqlite_file(parsed, state_dir)
        else:
            _engine.private_dir(state_dir)
        engine = _engine.build_engine(parsed)
        try:
            with engine.execution_options(**{_engine.WRITE_OPTION: True}).begin() as conn:
                _engine.lock_for_write(conn)
                _migrate.upgrade(conn)
        except StoreError:
            engine.dispose()
            raise
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            engine.dispose()
            raise StoreError(f"cannot open database {safe}: {_reason(exc)}") from None
        except Exception as exc:  # alembic and drivers raise assorted types on garbage
            engine.dispose()
            raise StoreError(f"cannot open database {safe}: {_reason(exc)}") from None
        return cls(engine, state_dir, safe)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                _engine.lock_for_write(conn)
                yield conn
        except DBAPIError as exc:
            raise StoreError(f"database write failed: {_reason(exc)}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StoreError(f"database read failed: {_reason(exc)}") from exc

    # -- assets -----------------------------------------------------------------------------

    def upsert_asset(self, asset: Asset, *, actor: str, mtime: float | None = None) -> bool:
        """Record an asset; True (and one audit event) only if it is new, changed or back from vanished."""
        values = _asset_values(asset)
        now = utcnow()
        with self._write() as conn:
            row = conn.execute(
                select(assets).where(assets.c.project == asset.project, assets.c.uri == asset.uri)
            ).first()
            if row is None:
                conn.execute(
                    assets.insert().values(
                        project=asset.project,
                        uri=asset.uri,
                        mtime=mtime,
                        first_seen=now,
                        last_seen=now,
                        vanished_at=None,
                        **values,
                    )
                )
                self.audit.append(
                    asset.project,
                    "asset.registered",
                    actor,
                    asset.uri,
                    {"kind": values["kind"], "format": values["format"], "digest": values["digest"]},
                    session=conn,
                )
                return True
            changed = [k for k in _ASSET_FIELDS if row._mapping[k] != values[k]]
            if row.mtime != mtime:
                changed.append("mtime")
            reappeared = row.vanished_at is not None
            update: dict[str, Any] = {"last_seen": now}
            if changed or reappeared:
                update.update(values, mtime=mtime, vanished_at=None)
            conn.execute(assets.update().where(assets.c.id == row.id).values(**update))
            if not changed and not reappeared:
                return False
            data: dict[str, Any] = {"changed": sorted(changed), "digest": values["digest"]}
            if reappeared:
                data["reappeared"] = True
            self.audit.append(asset.project, "asset.updated", actor, asset.uri, data, session=conn)
            return True

    def get_asset(self, project: str, uri: str) -> Asset | None:
        with self._read() as conn:
            row = conn.execute(select(assets).where(assets.c.project == project, assets.c.uri == uri)).first()
        return _asset(row) if row else None

    def list_assets(
        self, project: str, *, kind: AssetKind | None = None, include_vanished: bool = False
    ) -> list[Asset]:
        query = select(assets).where(assets.c.project == project).order_by(assets.c.uri)
        if kind is not None:
            query = query.where(assets.c.kind == AssetKind(kind).value)
        if not include_vanished:
            query = query.where(assets.c.vanished_at.is_(None))
        with self._read() as conn:
            return [_asset(r) for r in conn.execute(query)]

    def asset_state(self, project: str, uri: str) -> tuple[int | None, float | None, str | None] | None:
        """(size, mtime, digest) as last recorded, so a rescan can skip unchanged files."""
        with self._read() as conn:
            row = conn.execute(
                select(assets.c.size, assets.c.mtime, assets.c.digest).where(
                    assets.c.project == project, assets.c.uri == uri
                )
            ).first()
        return (row.size, row.mtime, row.digest) if row else None

    def mark_vanished(self, project: str, uris: Iterable[str], *, actor: str) -> int:
        """Mark assets gone (kept for history); returns how many were present and are now vanished."""
        wanted = list(dict.fromkeys(uris))
        if not wanted:
            return 0
        now = utcnow()
        count = 0
        with self._write() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    select(assets.c.id, assets.c.uri).where(
                        assets.c.project == project, assets.c.uri.in_(chunk), assets.c.vanished_at.is_(None)
                    )
                ).all()
                for row in rows:
                    conn.execute(assets.update().where(assets.c.id == row.id).values(vanished_at=now))
                    self.audit.append(project, "asset.vanished", actor, row.uri, {}, session=conn)
                    count += 1
        return count

    # -- scans and findings -----------------------------------------------------------------

    def start_scan(self, project: str, root: str, *, actor: str) -> str:
        scan_id = str(uuid.uuid4())
        with self._write() as conn:
            conn.execute(
                scans.insert().values(
                    id=scan_id, project=project, root=root, actor=actor, started_at=utcnow(), status="running"
                )
            )
            self.audit.append(project, "scan.started", actor, scan_id, {"root": root[:512]}, session=conn)
        return scan_id

    def add_findings(self, project: str, scan_id: str, findings_: Sequence[Finding], *, actor: str) -> int:
        """Store findings of one scan; the audit event carries count and fingerprints, never evidence."""
        if not findings_:
            return 0
        rows = [_finding_values(project, scan_id, f) for f in findings_]
        with self._write() as conn:
            self._scan_project(conn, scan_id, project)
            conn.execute(findings.insert(), rows)
            prints = sorted({r["fingerprint"] for r in rows})
            data: dict[str, Any] = {
                "count": len(rows),
                "fingerprints": prints[:MAX_FINDINGS_FINGERPRINTS],
                "max_severity": Severity(max(r["severity"] for r in rows)).label,
            }
            if len(prints) > MAX_FINDINGS_FINGERPRINTS:
                data["fingerprints_truncated"] = len(prints) - MAX_FINDINGS_FINGERPRINTS
            self.audit.append(project, "findings.recorded", actor, scan_id, data, session=conn)
        return len(rows)

    def finish_scan(
        self, scan_id: str, *, status: str, summary: dict[str, Any], decision: dict[str, Any] | None, actor: str
    ) -> None:
        with self._write() as conn:
            row = conn.execute(select(scans.c.project).where(scans.c.id == scan_id)).first()
            if row is None:
                raise StoreError(f"unknown scan {scan_id}")
            conn.execute(
                scans.update()
                .where(scans.c.id == scan_id)
                .values(status=status, summary=summary, decision=decision, finished_at=utcnow())
            )
            self.audit.append(
                row.project,
                "scan.finished",
                actor,
                scan_id,
                {"status": status, "summary": _digest_of(summary)},
                session=conn,
            )
            if decision is not None:
                self.audit.append(row.project, "policy.decision", actor, scan_id, _digest_of(decision), session=conn)
        self.audit.checkpoint()

    def list_findings(
        self,
        project: str,
        *,
        scan_id: str | None = None,
        asset_uri: str | None = None,
        min_severity: Severity | None = None,
    ) -> list[Finding]:
        query = select(findings).where(findings.c.project == project).order_by(findings.c.id)
        if scan_id is not None:
            query = query.where(findings.c.scan_id == scan_id)
        if asset_uri is not None:
            query = query.where(findings.c.asset_uri == asset_uri)
        if min_severity is not None:
            query = query.where(findings.c.severity >= int(Severity.parse(min_severity)))
        with self._read() as conn:
            return [_finding(r) for r in conn.execute(query)]

    def list_scans(self, project: str, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, each with its finding count."""
        counts = select(findings.c.scan_id, func.count().label("n")).group_by(findings.c.scan_id).subquery()
        query = (
            select(scans, func.coalesce(counts.c.n, 0).label("findings"))
            .outerjoin(counts, counts.c.scan_id == scans.c.id)
            .where(scans.c.project == project)
            .order_by(scans.c.started_at.desc(), scans.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_scan(r) for r in conn.execute(query)]

    def latest_scan(self, project: str) -> dict[str, Any] | None:
        found = self.list_scans(project, limit=1)
        return found[0] if found else None

    def _scan_project(self, conn: Connection, scan_id: str, project: str) -> None:
        owner = conn.execute(select(scans.c.project).where(scans.c.id == scan_id)).scalar()
        if owner is None:
            raise StoreError(f"unknown scan {scan_id}")
        if owner != project:
            raise StoreError(f"scan {scan_id} belongs to another project")

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(text("SELECT 1"))


def _digest_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a summary or decision: short scalars, and a digest of the whole.

    The full document lives in the `scans` row; the digest binds it to the chain
    without copying lists of findings (or anything an engine put there) into a log
    that is kept for years.
    """
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        if key.lower() in FORBIDDEN_KEYS:
            continue
        if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 200):
            kept[key] = value
    try:
        kept["sha256"] = hashlib.sha256(canonical(doc)).hexdigest()
    except (TypeError, ValueError) as exc:
        raise StoreError(f"scan summary/decision is not plain JSON: {exc}") from None
    return kept


def _asset_values(asset: Asset) -> dict[str, Any]:
    return {
        "kind": AssetKind(asset.kind).value,
        "format": asset.format,
        "digest": asset.digest,
        "size": asset.size,
        "owner": asset.owner,
        "framework": asset.framework,
        "classification": list(asset.classification),
        "lineage": list(asset.lineage),
        "tags": dict(asset.tags),
        "risk": asset.risk,
        "risk_reasons": list(asset.risk_reasons),
        "confidence": asset.confidence,
    }


def _asset(row: Row[Any]) -> Asset:
    m = row._mapping
    return Asset(
        uri=m["uri"],
        kind=AssetKind(m["kind"]),
        format=m["format"],
        project=m["project"],
        digest=m["digest"],
        size=m["size"],
        owner=m["owner"],
        framework=m["framework"],
        classification=list(m["classification"] or []),
        lineage=list(m["lineage"] or []),
        tags=dict(m["tags"] or {}),
        risk=m["risk"],
        risk_reasons=list(m["risk_reasons"] or []),
        confidence=m["confidence"],
    )


def _finding_values(project: str, scan_id: str, f: Finding) -> dict[str, Any]:
    return {
        "project": project,
        "scan_id": scan_id,
        "asset_uri": f.asset_uri,
        "rule_id": f.rule_id,
        "title": f.title,
        "severity": int(f.severity),
        "confidence": float(f.confidence),
        "location": f.location.to_dict(),
        "scanner": f.scanner,
        "evidence": f.evidence,
        "remediation": f.remediation,
        "controls": list(f.controls),
        "properties": dict(f.properties),
        "fingerprint": f.fingerprint,
    }


def _finding(row: Row[Any]) -> Finding:
    m = row._mapping
    return Finding(
        rule_id=m["rule_id"],
        title=m["title"],
        severity=Severity(m["severity"]),
        asset_uri=m["asset_uri"],
        location=Location.from_dict(m["location"]),
        scanner=m["scanner"],
        confidence=m["confidence"],
        evidence=m["evidence"],
        remediation=m["remediation"],
        controls=tuple(m["controls"] or ()),
        properties=dict(m["properties"] or {}),
    )


def _scan(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "project": m["project"],
        "root": m["root"],
        "actor": m["actor"],
        "started_at": m["started_at"].isoformat(),
        "finished_at": m["finished_at"].isoformat() if m["finished_at"] else None,
        "status": m["status"],
        "summary": m["summary"],
        "decision": m["decision"],
        "findings": int(m["findings"]),
    }


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip()
    line = text_.splitlines()[0] if text_ else type(exc).__name__
    return line[:300]
