"""Bring a database to the schema this code knows, from code, without an alembic.ini.

Alembic is imported only when a database is behind (or ahead): every CLI command
opens the store, and importing Alembic to learn that nothing needs doing cost about
0.12 s per command. `HEAD` names the newest packaged revision; a test keeps it equal
to what Alembic finds in the migrations folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect

from bastion.core.store._errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "bastion_alembic_version"
HEAD = "0007"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - packaging error
        raise StoreError("no migrations are packaged with bastion")
    return head


def recorded_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, read without Alembic (None for an empty database)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    value = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    return None if value is None else str(value)


def upgrade(conn: Connection) -> None:
    """Upgrade inside the caller's (locked) transaction; refuse a schema from a newer bastion."""
    if recorded_revision(conn) == HEAD:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

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
