"""Guard: drift monitors, drift windows (binned counts and results only) and alert de-duplication.

Revision ID: 0005
Revises: 0004
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bastion.core.store._schema import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guard_monitors",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_guard_monitors"),
        sa.UniqueConstraint("project", "name", name="uq_guard_monitors_project_name"),
    )
    op.create_table(
        "guard_drift_windows",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
        sa.Column("drifted", sa.Boolean, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_guard_drift_windows"),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["guard_monitors.id"],
            name="fk_guard_drift_windows_monitor_id_guard_monitors",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("monitor_id", "seq", name="uq_guard_drift_windows_monitor_id_seq"),
    )
    op.create_table(
        "guard_alerts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("dedup_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("last_sent", UTCDateTime),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_guard_alerts"),
        sa.UniqueConstraint("project", "dedup_key", name="uq_guard_alerts_project_dedup_key"),
    )
    op.create_index("ix_guard_alerts_project_last_seen", "guard_alerts", ["project", "last_seen"])


def downgrade() -> None:
    op.drop_index("ix_guard_alerts_project_last_seen", table_name="guard_alerts")
    op.drop_table("guard_alerts")
    op.drop_table("guard_drift_windows")
    op.drop_table("guard_monitors")
