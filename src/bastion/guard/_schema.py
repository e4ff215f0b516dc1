"""Tables of the guard package: drift monitors and their windows, and alert de-duplication state.

Defined on their own `MetaData` (same naming convention as the core store) and
created by migration ``0005_guard``. Windows persist binned counts and test
results only, never raw feature values: drift state must not become a second
copy of the (possibly sensitive) traffic.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from bastion.core.store._schema import NAMING, UTCDateTime

metadata = MetaData(naming_convention=NAMING)

monitors = Table(
    "guard_monitors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "name"),
)

drift_windows = Table(
    "guard_drift_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", Integer, ForeignKey("guard_monitors.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("results", JSON, nullable=False),
    Column("drifted", Boolean, nullable=False),
    Column("max_score", Float, nullable=False),
    UniqueConstraint("monitor_id", "seq"),
)

alerts = Table(
    "guard_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("dedup_key", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("last_sent", UTCDateTime),
    Column("count", Integer, nullable=False),
    Column("data", JSON, nullable=False),
    UniqueConstraint("project", "dedup_key"),
    Index(None, "project", "last_seen"),
)
