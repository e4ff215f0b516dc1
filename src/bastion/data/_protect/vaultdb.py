"""Bulk reads and writes of the vault table at driver level, per database.

Tokenizing a column means looking up and inserting up to millions of vault rows in
one write transaction. Through SQLAlchemy's per-row parameter processing and
executemany that took ~111 s for a million new values, so the hot paths drop to the
driver inside the same transaction (the caller's `Store._write()`, which already
holds the audit-chain write lock, so lookups and inserts cannot race another writer):

- lookups pass one whole batch of fingerprints as a single parameter: a JSON array
  read by ``json_each`` on SQLite, a ``text[]`` expanded by ``unnest`` on PostgreSQL,
  probed one index lookup per element (``LATERAL ... LIMIT 1``): right after a bulk
  load the table has no statistics yet, and a plain join or ``= ANY`` was then planned
  as a scan of the whole vault (8 s per 50k lookups against a 1M-entry vault);
- inserts are one ``executemany`` of plain tuples on SQLite (a C loop; the page cache is
  raised for the transaction so the two unique indexes do not spill to the WAL mid-way),
  and ``COPY ... FROM STDIN`` on PostgreSQL.

Column values are bound exactly as SQLAlchemy would bind them: constant columns
(project, vault, data-key id, timestamp) go through the table's own bind processors
once per batch, so rows written here read back identically through the ORM layer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bastion.crypto._keys.schema import protect_vault
from bastion.data._protect.errors import VaultError

LOOKUP_BATCH = 50_000
_COPY_BLOCK = 10_000
_PG_ANALYZE_AFTER = 10_000
_COLUMNS = ("project", "vault", "token", "fingerprint", "dek_id", "sealed", "created_at")
_SQLITE_CACHE_KIB_CAP = 256 * 1024
_SQLITE_BYTES_PER_ROW = 512


def _driver(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only after invalidation
        raise VaultError("vault: the database connection is closed")
    return raw


def _bind(conn: Connection, column: str, value: Any) -> Any:
    """The value as SQLAlchemy would send it to this driver (e.g. UTC timestamps as SQLite text)."""
    dialect = conn.dialect
    proc = protect_vault.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return proc(value) if proc is not None else value


def _driver_errors(conn: Connection) -> type[BaseException]:
    error: type[BaseException] = conn.dialect.loaded_dbapi.Error
    return error


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def find_tokens(conn: Connection, project: str, vault: str, fingerprints: Sequence[str]) -> dict[str, str]:
    """fingerprint -> token for the fingerprints already in the vault."""
    found: dict[str, str] = {}
    if not fingerprints:
        return found
    raw = _driver(conn)
    pg = conn.dialect.name == "postgresql"
    try:
        cur = raw.cursor()
        try:
            if pg:
                cur.execute("SELECT 1 FROM protect_vault WHERE project = %s AND vault = %s LIMIT 1", (project, vault))
            else:
                cur.execute("SELECT 1 FROM protect_vault WHERE project = ? AND vault = ? LIMIT 1", (project, vault))
            if cur.fetchone() is None:  # a new vault: nothing to look up
                return found
            for i in range(0, len(fingerprints), LOOKUP_BATCH):
                chunk = list(fingerprints[i : i + LOOKUP_BATCH])
                if pg:
                    cur.execute(
                        "SELECT q.fp, v.token FROM unnest(%s::text[]) AS q(fp) CROSS JOIN LATERAL "
                        "(SELECT token FROM protect_vault WHERE project = %s AND vault = %s AND fingerprint = q.fp "
                        "LIMIT 1) AS v",
                        (chunk, project, vault),
                    )
                else:
                    cur.execute(
                        "SELECT fingerprint, token FROM protect_vault WHERE project = ? AND vault = ? "
                        "AND fingerprint IN (SELECT value FROM json_each(?))",
                        (project, vault, json.dumps(chunk)),
                    )
                found.update(cur.fetchall())
        finally:
            cur.close()
    except _driver_errors(conn) as exc:
        raise VaultError(f"vault lookup failed: {_reason(exc)}") from None
    return found


def find_sealed(conn: Connection, project: str, vault: str, tokens: Sequence[str]) -> dict[str, bytes]:
    """token -> sealed original for the tokens present in the vault."""
    found: dict[str, bytes] = {}
    raw = _driver(conn)
    pg = conn.dialect.name == "postgresql"
    try:
        cur = raw.cursor()
        try:
            for i in range(0, len(tokens), LOOKUP_BATCH):
                chunk = list(tokens[i : i + LOOKUP_BATCH])
                if pg:
                    cur.execute(
                        "SELECT q.tok, v.sealed FROM unnest(%s::text[]) AS q(tok) CROSS JOIN LATERAL "
                        "(SELECT sealed FROM protect_vault WHERE project = %s AND vault = %s AND token = q.tok "
                        "LIMIT 1) AS v",
                        (chunk, project, vault),
                    )
                else:
                    cur.execute(
                        "SELECT token, sealed FROM protect_vault WHERE project = ? AND vault = ? "
                        "AND token IN (SELECT value FROM json_each(?))",
                        (project, vault, json.dumps(chunk)),
                    )
                found.update((t, bytes(s)) for t, s in cur.fetchall())
        finally:
            cur.close()
    except _driver_errors(conn) as exc:
        raise VaultError(f"vault lookup failed: {_reason(exc)}") from None
    return found


def insert_entries(
    conn: Connection,
    *,
    project: str,
    vault: str,
    dek_id: str,
    created_at: datetime,
    rows: Iterable[tuple[str, str, bytes]],
    count: int,
) -> None:
    """Insert (token, fingerprint, sealed) rows; all or nothing with the caller's transaction.

    A duplicate token or fingerprint (which the unique indexes reject) raises `VaultError`
    and, as the exception leaves `Store._write()`, rolls the whole batch back.
    """
    if count == 0:
        return
    consts = {c: _bind(conn, c, v) for c, v in (("project", project), ("vault", vault), ("dek_id", dek_id))}
    when = _bind(conn, "created_at", created_at)
    raw = _driver(conn)
    try:
        if conn.dialect.name == "postgresql":
            _copy_pg(raw, consts, when, rows)
            if count >= _PG_ANALYZE_AFTER:
                # Fresh statistics, or the planner, believing the vault tiny, probes tokens
                # through the fingerprint index and filters: a full vault scan per token.
                with raw.cursor() as cur:
                    cur.execute("ANALYZE protect_vault")
        else:
            _executemany_sqlite(raw, consts, when, rows, count)
    except _driver_errors(conn) as exc:
        raise VaultError(f"vault write failed: {_reason(exc)}") from None


def _copy_text(value: str) -> str:
    """Escape a field for COPY's text format (backslash, tab, newline, carriage return)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_pg(raw: Any, consts: dict[str, Any], when: Any, rows: Iterable[tuple[str, str, bytes]]) -> None:
    """COPY in COPY's text format, built as one string per block of rows.

    Per-row `Copy.write_row` costs about as much client CPU as sealing the value; here the
    only per-row work is one f-string and a hex dump. Tokens (``tok_`` + base64url) and
    fingerprints (hex) never need escaping; the constant columns are escaped once.
    """
    head = f"{_copy_text(str(consts['project']))}\t{_copy_text(str(consts['vault']))}\t"
    mid = f"\t{_copy_text(str(consts['dek_id']))}\t\\\\x"
    tail = f"\t{_copy_text(when.isoformat() if isinstance(when, datetime) else str(when))}\n"
    block: list[str] = []
    with raw.cursor() as cur, cur.copy(f"COPY protect_vault ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
        for token, fp, sealed in rows:
            block.append(f"{head}{token}\t{fp}{mid}{sealed.hex()}{tail}")
            if len(block) >= _COPY_BLOCK:
                copy.write("".join(block))
                block.clear()
        if block:
            copy.write("".join(block))


def _executemany_sqlite(
    raw: Any, consts: dict[str, Any], when: Any, rows: Iterable[tuple[str, str, bytes]], count: int
) -> None:
    p, v, d = consts["project"], consts["vault"], consts["dek_id"]
    (old_cache,) = raw.execute("PRAGMA cache_size").fetchone()
    (page_size,) = raw.execute("PRAGMA page_size").fetchone()
    have_kib = int(old_cache) * int(page_size) // 1024 if old_cache >= 0 else -int(old_cache)  # pages or -KiB
    want = min(_SQLITE_CACHE_KIB_CAP, count * _SQLITE_BYTES_PER_ROW // 1024)
    grow = want > have_kib
    if grow:
        raw.execute(f"PRAGMA cache_size = -{int(want)}")
    try:
        raw.executemany(
            f"INSERT INTO protect_vault ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((p, v, token, fp, d, sealed, when) for token, fp, sealed in rows),
        )
    finally:
        if grow:
            raw.execute(f"PRAGMA cache_size = {int(old_cache)}")
