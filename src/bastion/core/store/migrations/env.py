"""Alembic environment for Bastion's store.

Bastion runs migrations from code (`Store.open`), handing over a connection that
already holds the migration lock inside an open transaction; this file only
binds that connection. Running `alembic` by hand works too, given
``-x url=<database url>``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bastion.core.store._schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
        version_table=config.get_main_option("version_table") or "bastion_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - manual use only
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database url: alembic -x url=... upgrade head")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
