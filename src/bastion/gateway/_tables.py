"""The gateway's tables (created by migration 0002), in their own metadata.

They live here rather than in the core schema module because only the gateway
queries them; the core store test still sees them through the migration.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from bastion.core.store._schema import NAMING, UTCDateTime

metadata = MetaData(naming_convention=NAMING)

api_keys = Table(
    "gateway_api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("hint", String(16), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("models", JSON, nullable=False),
    Column("limits", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("rotated_from", String(40)),
    UniqueConstraint("key_hash"),
    Index(None, "project", "tenant"),
)

admins = Table(
    "gateway_admins",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("username", String(128), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("totp_seed", Text, nullable=False),
    Column("totp_last_step", BigInteger, nullable=False),
    Column("failed_count", Integer, nullable=False),
    Column("locked_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row per request, anchored in the audit chain: each batch of rows is covered by one
# `gateway.requests` chain event holding their count and SHA-256 digest, so a row that is
# edited, deleted or inserted afterwards breaks the digest (see `_audit.verify`).
requests = Table(
    "gateway_requests",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("tenant", String(64)),
    Column("route", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("decision", String(32), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("data", JSON, nullable=False),
    Column("anchor_seq", BigInteger, nullable=False),
    Index(None, "project", "ts"),
    Index(None, "anchor_seq"),
)
