"""Vault layout for cheap bulk inserts: binary 16-byte fingerprints and binary tokens.

Tokenizing a million new values spent most of its database time maintaining the two
unique indexes of ``protect_vault`` (64-character hex fingerprints, 28-character text
tokens, plus a rowid/serial key nobody looks up by). The new layout keeps both lookups
and both uniqueness guarantees, on narrower keys:

- primary key (project, vault, fingerprint) with the fingerprint as the first 16 bytes
  of the keyed HMAC-SHA-256 (a 128-bit collision needs ~2^64 values per vault); bulk
  inserts arrive sorted by it, so the key grows in order. On SQLite the table is
  ``WITHOUT ROWID`` (the primary key *is* the table: no separate rowid B-tree);
- a unique index on the raw token bytes alone (16 or 18 random bytes; the ``tok_`` text
  form is derived from them), which is stricter than per-vault uniqueness and is the one
  index still written in random order, now with keys a third of the old width;
- no foreign key from ``dek_id`` to ``crypto_deks``: on PostgreSQL its per-row check
  (a locking lookup per inserted row) cost 3 s of server CPU per million rows. Nothing
  relied on its cascade: crypto-shredding deletes the vault entries itself, and the bulk
  writer checks once per batch, under the store's write lock (which shredding also takes),
  that the data key still exists.

Existing rows are converted in place (data-preserving): the fingerprint keeps the first
16 bytes of the stored HMAC, the token text is decoded to its bytes and must re-encode to
exactly the same text, because sealed originals use that text as associated data. A row
that does not convert fails the whole upgrade (nothing is half-migrated).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from bastion.core.store._schema import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "protect_vault_0005"
_OLD_INDEXES = (
    "pk_protect_vault",
    "uq_protect_vault_project_vault_token",
    "uq_protect_vault_project_vault_fingerprint",
)
_TOKEN_TEXT = re.compile(r"tok_[A-Za-z0-9_-]{22}(?:[A-Za-z0-9_-]{2})?")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BATCH = 10_000


class VaultMigrationError(RuntimeError):
    """A stored vault row cannot be converted; the upgrade stops and changes nothing."""


def token_bytes(text: str) -> bytes:
    """The raw bytes of a stored token; only forms that re-encode to the same text are accepted."""
    if not _TOKEN_TEXT.fullmatch(text):
        raise VaultMigrationError("protect_vault holds a token that is not a tok_ token; upgrade refused")
    body = text[4:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != body:
        raise VaultMigrationError("protect_vault holds a non-canonical token; upgrade refused")
    return raw


def fingerprint_bytes(hexed: str) -> bytes:
    if not _HEX64.fullmatch(hexed):
        raise VaultMigrationError("protect_vault holds a fingerprint that is not HMAC-SHA-256 hex; upgrade refused")
    return bytes.fromhex(hexed)[:16]


def _new_table() -> list[Any]:
    return [
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("vault", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(16), nullable=False),
        sa.Column("token", sa.LargeBinary(32), nullable=False),
        sa.Column("dek_id", sa.String(40), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("project", "vault", "fingerprint", name="pk_protect_vault"),
        sa.UniqueConstraint("token", name="uq_protect_vault_token"),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    op.rename_table("protect_vault", _OLD)
    if bind.dialect.name == "postgresql":  # index names are schema-wide there: free them for the new table
        for name in _OLD_INDEXES:
            op.execute(f"ALTER INDEX {name} RENAME TO {name}_0005")
    new = op.create_table("protect_vault", *_new_table(), sqlite_with_rowid=False)
    assert new is not None
    old = sa.table(
        _OLD,
        sa.column("id", sa.Integer),
        sa.column("project", sa.String),
        sa.column("vault", sa.String),
        sa.column("token", sa.String),
        sa.column("fingerprint", sa.String),
        sa.column("dek_id", sa.String),
        sa.column("sealed", sa.LargeBinary),
        sa.column("created_at", UTCDateTime),
    )
    last = 0
    while True:
        rows = bind.execute(sa.select(old).where(old.c.id > last).order_by(old.c.id).limit(_BATCH)).all()
        if not rows:
            break
        last = rows[-1].id
        bind.execute(
            sa.insert(new),
            [
                {
                    "project": r.project,
                    "vault": r.vault,
                    "fingerprint": fingerprint_bytes(r.fingerprint),
                    "token": token_bytes(r.token),
                    "dek_id": r.dek_id,
                    "sealed": bytes(r.sealed),
                    "created_at": r.created_at,
                }
                for r in rows
            ],
        )
    op.drop_table(_OLD)


def downgrade() -> None:
    """Only an empty vault goes back: the old layout needs full fingerprints, which are not kept."""
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT 1 FROM protect_vault LIMIT 1")).first() is not None:
        raise VaultMigrationError("protect_vault is not empty: its 16-byte fingerprints cannot be widened back")
    op.drop_table("protect_vault")
    op.create_table(
        "protect_vault",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("vault", sa.String(128), nullable=False),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("dek_id", sa.String(40), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_protect_vault"),
        sa.ForeignKeyConstraint(
            ["dek_id"], ["crypto_deks.id"], name="fk_protect_vault_dek_id_crypto_deks", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("project", "vault", "token", name="uq_protect_vault_project_vault_token"),
        sa.UniqueConstraint("project", "vault", "fingerprint", name="uq_protect_vault_project_vault_fingerprint"),
    )
