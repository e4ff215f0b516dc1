"""Crypto: key records (provider references only), wrapped data keys, tokenization vault.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bastion.core.store._schema import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crypto_keys",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("rotated_at", UTCDateTime),
        sa.Column("shredded_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_crypto_keys"),
        sa.UniqueConstraint("project", "key_id", name="uq_crypto_keys_project_key_id"),
    )
    op.create_table(
        "crypto_deks",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("kek_version", sa.Integer, nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("asset", sa.String(2048)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crypto_deks"),
    )
    op.create_index("ix_crypto_deks_project_key_id", "crypto_deks", ["project", "key_id"])
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


def downgrade() -> None:
    op.drop_table("protect_vault")
    op.drop_index("ix_crypto_deks_project_key_id", table_name="crypto_deks")
    op.drop_table("crypto_deks")
    op.drop_table("crypto_keys")
