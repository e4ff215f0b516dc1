"""Supply chain: trusted registry of artifacts, approvals, lifecycle transitions, signers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bastion.core.store._schema import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supply_artifacts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("signer", sa.String(256)),
        sa.Column("scan", sa.JSON, nullable=False),
        sa.Column("risk", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("registered_by", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supply_artifacts"),
        sa.UniqueConstraint("project", "name", "version", name="uq_supply_artifacts_project_name_version"),
    )
    op.create_index("ix_supply_artifacts_project_digest", "supply_artifacts", ["project", "digest"])
    op.create_table(
        "supply_approvals",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("artifact_id", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supply_approvals"),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["supply_artifacts.id"],
            name="fk_supply_approvals_artifact_id_supply_artifacts",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("artifact_id", "stage", "actor", name="uq_supply_approvals_artifact_id_stage_actor"),
    )
    op.create_table(
        "supply_transitions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("artifact_id", sa.Integer, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supply_transitions"),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["supply_artifacts.id"],
            name="fk_supply_transitions_artifact_id_supply_artifacts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_supply_transitions_artifact_id", "supply_transitions", ["artifact_id"])
    op.create_table(
        "supply_signers",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("identity", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("added_by", sa.String(256), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("revoked_by", sa.String(256)),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_supply_signers"),
        sa.UniqueConstraint("project", "fingerprint", name="uq_supply_signers_project_fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("supply_signers")
    op.drop_index("ix_supply_transitions_artifact_id", table_name="supply_transitions")
    op.drop_table("supply_transitions")
    op.drop_table("supply_approvals")
    op.drop_index("ix_supply_artifacts_project_digest", table_name="supply_artifacts")
    op.drop_table("supply_artifacts")
