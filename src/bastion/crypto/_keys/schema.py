"""Tables of the key engine: key records, wrapped data keys and the tokenization vault.

They live in their own `MetaData` (same naming convention as the core schema) so the
crypto engine owns its tables; migration ``0003_crypto`` creates them (``0006_vault_layout``
re-lays the vault). Key-encryption key material is never stored here: only provider
references and public keys.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, LargeBinary, MetaData, String, Table, UniqueConstraint

from bastion.core.store._schema import NAMING, UTCDateTime

metadata = MetaData(naming_convention=NAMING)

crypto_keys = Table(
    "crypto_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(64), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("meta", JSON, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("rotated_at", UTCDateTime),
    Column("shredded_at", UTCDateTime),
    UniqueConstraint("project", "key_id"),
)

crypto_deks = Table(
    "crypto_deks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project", String(64), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("asset", String(2048)),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "project", "key_id"),
)

protect_vault = Table(
    "protect_vault",
    metadata,
    # Per-entry layout of migration 0006, read-only since 0007 (entries written before it are
    # still found and detokenized; shredding deletes them). The key (project, vault, 16-byte
    # keyed fingerprint) is the table itself on SQLite (WITHOUT ROWID).
    Column("project", String(64), primary_key=True),
    Column("vault", String(128), primary_key=True),
    Column("fingerprint", LargeBinary(16), primary_key=True),
    Column("token", LargeBinary(32), nullable=False),
    Column("dek_id", String(40), nullable=False),  # no FK (a per-row check); see migration 0006
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("token"),
    sqlite_with_rowid=False,
)

protect_vault_segments = Table(
    "protect_vault_segments",
    metadata,
    # Migration 0007: originals sealed a segment (up to 65,536 entries) at a time; see
    # bastion.data._protect.vaultdb for the layout.
    Column("project", String(64), primary_key=True),
    Column("vault", String(128), primary_key=True),
    Column("segment", Integer, primary_key=True, autoincrement=False),
    Column("dek_id", String(40), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "dek_id"),
)

protect_vault_index = Table(
    "protect_vault_index",
    metadata,
    # Migration 0007: fixed-width entries packed per hash bucket; kind "f" maps fingerprint
    # -> token, kind "t" maps token -> (segment, slot).
    Column("project", String(64), primary_key=True),
    Column("vault", String(128), primary_key=True),
    Column("kind", String(1), primary_key=True),
    Column("bucket", Integer, primary_key=True, autoincrement=False),
    Column("dek_id", String(40), nullable=False),
    Column("entries", LargeBinary, nullable=False),
    Index(None, "dek_id"),
)
