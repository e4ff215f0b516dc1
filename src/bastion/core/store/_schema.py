"""Table definitions: the single description of the schema that code queries against.

Alembic migrations are written out by hand (see `migrations/versions`) rather than
generated at run time, so an old database is always brought forward by the same,
reviewed steps; `tests/core/test_store.py` checks that the migrated schema matches
these tables.

Types are chosen to behave identically on SQLite and PostgreSQL: plain `JSON`
(not JSONB, which would renormalise numbers and break audit hashes), and
`UTCDateTime`, which always hands back timezone-aware UTC values even though
SQLite stores no zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored as UTC and always read back as aware UTC.

    The audit chain hashes the ISO form of each timestamp, so a value must read
    back exactly as it was written on both databases (microseconds included).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - defensive
            value = datetime.fromisoformat(str(value))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("uri", String(2048), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("format", String(64), nullable=False),
    Column("digest", String(128)),
    Column("size", BigInteger),
    Column("mtime", Float),
    Column("owner", String(256)),
    Column("framework", String(64)),
    Column("classification", JSON, nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("risk", Float),
    Column("risk_reasons", JSON, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("vanished_at", UTCDateTime),
    UniqueConstraint("project", "uri"),
    Index(None, "project", "kind"),
)

scans = Table(
    "scans",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project", String(64), nullable=False),
    Column("root", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(32), nullable=False),
    Column("summary", JSON),
    Column("decision", JSON),
    Index(None, "project", "started_at"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("scan_id", String(36), ForeignKey("scans.id", ondelete="CASCADE"), nullable=False),
    Column("asset_uri", String(2048), nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", Integer, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("location", JSON, nullable=False),
    Column("scanner", String(128), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("remediation", Text, nullable=False),
    Column("controls", JSON, nullable=False),
    Column("properties", JSON, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Index(None, "project", "scan_id"),
    Index(None, "project", "fingerprint"),
)

audit_events = Table(
    "audit_events",
    metadata,
    # Assigned by the chain (head + 1 under a lock), never by the database, so a
    # gap always means a deletion.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("project", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("subject", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "project", "seq"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("signature", String(128), nullable=False),
    Column("key_id", String(64), nullable=False),
    Index(None, "seq"),
)
