"""Bring a database to the schema this code knows, from code, without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from bastion.core.store._errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "bastion_alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - packaging error
        raise StoreError("no migrations are packaged with bastion")
    return head


def upgrade(conn: Connection) -> None:
    """Upgrade inside the caller's (locked) transaction; refuse a schema from a newer bastion."""
    script = ScriptDirectory.from_config(alembic_config())
    current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    head = script.get_current_head()
    if current == head:
        return
    if current is not None:
        known = {rev.revision for rev in script.walk_revisions()}
        if current not in known:
            raise StoreError(
                f"database schema revision {current!r} is newer than this bastion knows (head {head!r}); "
                "upgrade bastion"
            )
    command.upgrade(alembic_config(conn), "head")
