"""Gateway: API keys (hashes only), administrator accounts (Argon2 + encrypted TOTP seed), request log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bastion.core.store._schema import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_api_keys",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("limits", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
        sa.Column("rotated_from", sa.String(40)),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_gateway_api_keys_key_hash"),
    )
    op.create_index("ix_gateway_api_keys_project_tenant", "gateway_api_keys", ["project", "tenant"])
    op.create_table(
        "gateway_admins",
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("totp_seed", sa.Text, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=False),
        sa.Column("failed_count", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("project", "username", name="pk_gateway_admins"),
    )
    op.create_table(
        "gateway_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True, nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("anchor_seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_requests"),
    )
    op.create_index("ix_gateway_requests_project_ts", "gateway_requests", ["project", "ts"])
    op.create_index("ix_gateway_requests_anchor_seq", "gateway_requests", ["anchor_seq"])


def downgrade() -> None:
    op.drop_index("ix_gateway_requests_anchor_seq", table_name="gateway_requests")
    op.drop_index("ix_gateway_requests_project_ts", table_name="gateway_requests")
    op.drop_table("gateway_requests")
    op.drop_table("gateway_admins")
    op.drop_index("ix_gateway_api_keys_project_tenant", table_name="gateway_api_keys")
    op.drop_table("gateway_api_keys")
