"""Vault segments: originals sealed per segment, lookups through packed per-bucket indexes.

One database row per vault entry (0006) capped bulk tokenization at the database's
per-row insert cost: a million new values meant a million rows in two B-trees, about
8-10 s of SQLite or PostgreSQL work alone. Since 0007 a batch of new entries is written as

- ``protect_vault_segments``: one row per up to 65,536 entries, their originals sealed
  together with AES-256-GCM (associated data binds project, vault, segment and data key);
- ``protect_vault_index``: one row per (vault, kind, bucket) of 4,096 hash buckets, holding
  fixed-width entries: kind ``f`` fingerprint -> token, kind ``t`` token -> (segment, slot).

so a million entries are a few thousand rows. Existing 0006 rows stay where they are and
are still found and detokenized (their sealed values cannot be re-sealed without keys,
which a migration does not hold); new entries go only to the new tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bastion.core.store._schema import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "protect_vault_segments",
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("vault", sa.String(128), nullable=False),
        sa.Column("segment", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("dek_id", sa.String(40), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("project", "vault", "segment", name="pk_protect_vault_segments"),
    )
    op.create_index("ix_protect_vault_segments_dek_id", "protect_vault_segments", ["dek_id"])
    op.create_table(
        "protect_vault_index",
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("vault", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("bucket", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("dek_id", sa.String(40), nullable=False),
        sa.Column("entries", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("project", "vault", "kind", "bucket", name="pk_protect_vault_index"),
    )
    op.create_index("ix_protect_vault_index_dek_id", "protect_vault_index", ["dek_id"])


def downgrade() -> None:
    """Only empty segment tables go back: their entries have no place in the 0006 layout."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM protect_vault_segments LIMIT 1")).first() is not None:
        raise RuntimeError("protect_vault_segments is not empty: segment entries cannot be moved back to 0006")
    op.drop_table("protect_vault_index")
    op.drop_table("protect_vault_segments")
