"""Engines, connection settings and the write lock, per database dialect.

Every state change goes with one audit event, and audit events form a single
hash chain, so writers must be serialised: two transactions appending at the same
head would fork the chain. SQLite gets there with `BEGIN IMMEDIATE` on write
transactions (the database write lock is taken up front, and `busy_timeout` makes
other processes wait for it instead of failing); PostgreSQL with a
transaction-scoped advisory lock. Read transactions stay deferred, so `verify`,
`list_*` and exports never block writers under WAL.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bastion.core.store._errors import StoreError

# Arbitrary but fixed: the advisory lock key every Bastion writer takes on PostgreSQL.
PG_CHAIN_LOCK = 0x42A57105
WRITE_OPTION = "bastion_write"
BUSY_TIMEOUT_MS = 30_000


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"invalid database url: {exc}") from None


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def prepare_sqlite_file(url: URL, state_dir: Path) -> None:
    """Create private folders and an owner-only database file before SQLite touches it."""
    private_dir(state_dir)
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a database file")
    private_dir(path.parent)
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreError(f"{path}: cannot create database file: {exc.strerror or exc}") from None
        os.close(fd)
    elif not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"{path}: database file is not readable and writable by this user")


def private_dir(path: Path) -> None:
    try:
        existed = path.exists()
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not existed:
            path.chmod(0o700)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create folder: {exc.strerror or exc}") from None


def build_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5},
        )
    raise StoreError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook, not the driver, decide how transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode and str(mode[0]).lower() not in ("wal", "memory"):
                raise sqlite3.OperationalError(f"cannot switch to WAL journal mode (got {mode[0]})")
            cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def lock_for_write(conn: Connection) -> None:
    """Take the chain lock inside the current write transaction.

    SQLite already holds the database write lock (`BEGIN IMMEDIATE`); PostgreSQL
    takes a transaction-scoped advisory lock, released at commit or rollback.
    Re-taking it in the same transaction is harmless.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_CHAIN_LOCK})
