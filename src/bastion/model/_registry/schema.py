"""Tables of the trusted registry, in their own `MetaData`; migration ``0004_supply`` creates them."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from bastion.core.store._schema import NAMING, UTCDateTime

metadata = MetaData(naming_convention=NAMING)

supply_artifacts = Table(
    "supply_artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("version", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("uri", Text, nullable=False),
    Column("digest", String(128), nullable=False),
    Column("signer", String(256)),
    Column("scan", JSON, nullable=False),
    Column("risk", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("registered_by", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("meta", JSON, nullable=False),
    UniqueConstraint("project", "name", "version"),
    Index(None, "project", "digest"),
)

supply_approvals = Table(
    "supply_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("artifact_id", Integer, ForeignKey("supply_artifacts.id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False),
    UniqueConstraint("artifact_id", "stage", "actor"),
)

supply_transitions = Table(
    "supply_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("artifact_id", Integer, ForeignKey("supply_artifacts.id", ondelete="CASCADE"), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False),
    Index(None, "artifact_id"),
)

supply_signers = Table(
    "supply_signers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("identity", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("added_by", String(256), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    Column("revoked_by", String(256)),
    Column("revoked_at", UTCDateTime),
    Column("reason", Text),
    UniqueConstraint("project", "fingerprint"),
)
