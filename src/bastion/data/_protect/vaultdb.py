"""Bulk reads and writes of the vault table at driver level, per database.

Tokenizing a column means looking up and inserting up to millions of vault rows in
one write transaction. Through SQLAlchemy's per-row parameter processing and
executemany that took ~111 s for a million new values, so the hot paths drop to the
driver inside the same transaction (the caller's `Store._write()`, which already
holds the audit-chain write lock, so lookups and inserts cannot race another writer):

- the layout (migration ``0006_vault_layout``) keys the table by (project, vault,
  16-byte fingerprint) and keeps one unique index on the raw token bytes;
- lookups pass one batch of binary keys per statement: bound ``IN (?, ...)`` parameters
  on SQLite (3.40 has no ``unhex`` for a JSON array of hex), a ``bytea[]`` expanded by
  ``unnest`` on PostgreSQL, probed one index lookup per element (``LATERAL ... LIMIT 1``):
  right after a bulk load the table has no statistics yet, and a plain join or ``= ANY``
  was then planned as a scan of the whole vault (8 s per 50k lookups against a 1M-entry vault);
- inserts are one ``executemany`` of plain tuples on SQLite (a C loop; the page cache is
  raised for the transaction so the indexes do not spill to the WAL mid-way), and
  ``COPY ... FROM STDIN (FORMAT BINARY)`` on PostgreSQL.

Column values are bound exactly as SQLAlchemy would bind them: constant columns
(project, vault, data-key id, timestamp) go through the table's own bind processors
once per batch, so rows written here read back identically through the ORM layer.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from bastion.crypto._keys.schema import protect_vault
from bastion.data._protect.errors import VaultError

LOOKUP_BATCH = 50_000
_SQLITE_LOOKUP_BATCH = 30_000  # bound parameters per statement stay under SQLite's 32766
_COPY_BLOCK = 10_000
_PG_ANALYZE_AFTER = 10_000
_COLUMNS = ("project", "vault", "fingerprint", "token", "dek_id", "sealed", "created_at")
TOKEN_PREFIX = "tok_"
_TOKEN_TEXT = re.compile(r"tok_[A-Za-z0-9_-]{22}(?:[A-Za-z0-9_-]{2})?")
_INT16, _INT32, _INT64 = struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">q")
_PG_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, header extension length
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
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


def token_text(raw: bytes) -> str:
    """The ``tok_`` form of stored token bytes (unpadded base64url: 18 bytes give 24 characters, legacy 16 give 22)."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def token_raw(text: str) -> bytes | None:
    """Stored bytes of a token, or None for anything that is not exactly a token this vault could have issued."""
    if not _TOKEN_TEXT.fullmatch(text):
        return None
    raw = base64.urlsafe_b64decode(text[4:] + "=" * (-len(text[4:]) % 4))
    return raw if token_text(raw) == text else None


def _sqlite_in(n: int) -> str:
    return ",".join("?" * n)


def find_tokens(conn: Connection, project: str, vault: str, fingerprints: Sequence[bytes]) -> dict[bytes, str]:
    """fingerprint -> token for the fingerprints already in the vault."""
    found: dict[bytes, str] = {}
    if not fingerprints:
        return found
    raw = _driver(conn)
    pg = conn.dialect.name == "postgresql"
    batch = LOOKUP_BATCH if pg else _SQLITE_LOOKUP_BATCH
    try:
        cur = raw.cursor()
        try:
            if pg:
                cur.execute("SELECT 1 FROM protect_vault WHERE project = %s AND vault = %s LIMIT 1", (project, vault))
            else:
                cur.execute("SELECT 1 FROM protect_vault WHERE project = ? AND vault = ? LIMIT 1", (project, vault))
            if cur.fetchone() is None:  # a new vault: nothing to look up
                return found
            for i in range(0, len(fingerprints), batch):
                chunk = list(fingerprints[i : i + batch])
                if pg:
                    cur.execute(
                        "SELECT q.fp, v.token FROM unnest(%s::bytea[]) AS q(fp) CROSS JOIN LATERAL "
                        "(SELECT token FROM protect_vault WHERE project = %s AND vault = %s AND fingerprint = q.fp "
                        "LIMIT 1) AS v",
                        (chunk, project, vault),
                    )
                else:
                    cur.execute(
                        "SELECT fingerprint, token FROM protect_vault WHERE project = ? AND vault = ? "
                        f"AND fingerprint IN ({_sqlite_in(len(chunk))})",
                        (project, vault, *chunk),
                    )
                found.update((bytes(fp), token_text(bytes(t))) for fp, t in cur.fetchall())
        finally:
            cur.close()
    except _driver_errors(conn) as exc:
        raise VaultError(f"vault lookup failed: {_reason(exc)}") from None
    return found


def find_sealed(conn: Connection, project: str, vault: str, tokens: Sequence[str]) -> dict[str, bytes]:
    """token -> sealed original for the tokens present in the vault (malformed tokens are simply absent)."""
    found: dict[str, bytes] = {}
    wanted = {r: t for t in tokens if (r := token_raw(t)) is not None}
    keys = list(wanted)
    raw = _driver(conn)
    pg = conn.dialect.name == "postgresql"
    batch = LOOKUP_BATCH if pg else _SQLITE_LOOKUP_BATCH
    try:
        cur = raw.cursor()
        try:
            for i in range(0, len(keys), batch):
                chunk = keys[i : i + batch]
                if pg:
                    cur.execute(
                        "SELECT q.tok, v.sealed FROM unnest(%s::bytea[]) AS q(tok) CROSS JOIN LATERAL "
                        "(SELECT sealed FROM protect_vault WHERE token = q.tok AND project = %s AND vault = %s "
                        "LIMIT 1) AS v",
                        (chunk, project, vault),
                    )
                else:
                    # Unary + keeps SQLite from answering through the primary key's (project, vault)
                    # prefix, a scan of the whole vault: tokens are found through their own index.
                    cur.execute(
                        f"SELECT token, sealed FROM protect_vault WHERE token IN ({_sqlite_in(len(chunk))}) "
                        "AND +project = ? AND +vault = ?",
                        (*chunk, project, vault),
                    )
                found.update((wanted[bytes(t)], bytes(s)) for t, s in cur.fetchall())
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
    rows: Iterable[tuple[bytes, bytes, bytes]],
    count: int,
) -> None:
    """Insert (fingerprint, token bytes, sealed) rows; all or nothing with the caller's transaction.

    A duplicate token or fingerprint (which the primary key and the unique token index reject)
    raises `VaultError` and, as the exception leaves `Store._write()`, rolls the whole batch back.
    """
    if count == 0:
        return
    consts = {c: _bind(conn, c, v) for c, v in (("project", project), ("vault", vault), ("dek_id", dek_id))}
    when = _bind(conn, "created_at", created_at)
    raw = _driver(conn)
    pg = conn.dialect.name == "postgresql"
    try:
        # The vault has no per-row foreign key to its data key (migration 0006): one check per
        # batch, under the write lock that crypto-shredding also takes, keeps orphans out.
        check = raw.execute(f"SELECT 1 FROM crypto_deks WHERE id = {'%s' if pg else '?'}", (consts["dek_id"],))
        if check.fetchone() is None:
            raise VaultError("vault write refused: its data key no longer exists (shredded)")
        if pg:
            _copy_pg(raw, consts, when, rows)
            if count >= _PG_ANALYZE_AFTER:
                # Fresh statistics, or the planner, believing the vault tiny, may plan lookups
                # as scans of the whole vault.
                with raw.cursor() as cur:
                    cur.execute("ANALYZE protect_vault")
        else:
            _executemany_sqlite(raw, consts, when, rows, count)
    except _driver_errors(conn) as exc:
        raise VaultError(f"vault write failed: {_reason(exc)}") from None


def _field(value: bytes) -> bytes:
    return _INT32.pack(len(value)) + value


def _copy_pg(raw: Any, consts: dict[str, Any], when: Any, rows: Iterable[tuple[bytes, bytes, bytes]]) -> None:
    """COPY in PostgreSQL's binary format, built as one bytes string per block of rows.

    Binary needs no escaping (hostile vault names included) and no hex dump of the sealed
    bytes; the constant columns (project, vault, data-key id, timestamp) are encoded once.
    Rows are pulled from `rows` block by block, so the client seals block n+1 while the
    server inserts block n.
    """
    if not isinstance(when, datetime) or when.tzinfo is None:  # pragma: no cover - UTCDateTime guarantees it
        raise VaultError("vault: created_at must be an aware datetime")
    micros = (when - _PG_EPOCH) // timedelta(microseconds=1)
    head = _INT16.pack(7) + _field(str(consts["project"]).encode()) + _field(str(consts["vault"]).encode())
    mid = _field(str(consts["dek_id"]).encode())
    tail = _INT32.pack(8) + _INT64.pack(micros)
    fp_len = _INT32.pack(16)
    pack = _INT32.pack
    block: list[bytes] = [_PG_BINARY_HEADER]
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY protect_vault ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        for fp, token, sealed in rows:
            if len(fp) != 16:
                raise VaultError("vault: fingerprints are 16 bytes")
            block.append(b"".join((head, fp_len, fp, pack(len(token)), token, mid, pack(len(sealed)), sealed, tail)))
            if len(block) >= _COPY_BLOCK:
                copy.write(b"".join(block))
                block.clear()
        block.append(b"\xff\xff")
        copy.write(b"".join(block))


def _executemany_sqlite(
    raw: Any, consts: dict[str, Any], when: Any, rows: Iterable[tuple[bytes, bytes, bytes]], count: int
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
            ((p, v, fp, token, d, sealed, when) for fp, token, sealed in rows),
        )
    finally:
        if grow:
            raw.execute(f"PRAGMA cache_size = {int(old_cache)}")
