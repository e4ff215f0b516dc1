"""Bulk reads and writes of the tokenization vault at driver level, per database.

Tokenizing a column means looking up and storing up to millions of entries in one write
transaction (the caller's `Store._write()`, which holds the audit-chain write lock, so
lookups and writes cannot race another writer). One database row per entry (the 0006
layout) made that cost a million inserts into two B-trees, 8-10 s of database work alone,
so since migration 0007 a batch is a few thousand rows:

- ``protect_vault_segments``: up to `SEGMENT_ENTRIES` originals per row, sealed together
  by the caller (`bastion.data._protect.vault`); an entry is addressed as (segment, slot);
- ``protect_vault_index``: per vault and kind, `BUCKETS` hash buckets, each one row of
  fixed-width entries in no particular order: kind ``f`` is fingerprint(16) | token(18),
  kind ``t`` is token(18) | segment(u32 LE) | slot(u32 LE). A bucket is the top 12 bits of
  the fingerprint or token, both uniformly random, so buckets fill evenly. A write reads
  the buckets it touches, appends, and writes them back (one upsert per bucket).

Entries of the 0006 layout (table ``protect_vault``, HMAC-SHA-256 fingerprints) are still
looked up after the new index, when the vault has any; nothing new is written there.

Uniqueness: a fingerprint is looked up before it is added (under the write lock), so a
value has one token per vault. Tokens are 144 random bits; a repeat among a vault's
n entries has probability about n^2 / 2^145 (2^-105 at a million), and a batch with a
repeat inside itself is refused.
"""

from __future__ import annotations

import base64
import contextlib
import re
import struct
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection

from bastion.crypto._keys.schema import protect_vault
from bastion.data._protect.errors import VaultError

BUCKET_SHIFT = 4  # top 12 bits of a 16-bit prefix
BUCKETS = 1 << (16 - BUCKET_SHIFT)
SEGMENT_ENTRIES = 65_536
FP_BYTES, TOKEN_BYTES = 16, 18
_F_WIDTH = FP_BYTES + TOKEN_BYTES
_T_WIDTH = TOKEN_BYTES + 8
_LOC = struct.Struct("<II")
_PARAM_BATCH = 30_000  # bound parameters per statement stay under SQLite's 32766
TOKEN_PREFIX = "tok_"
_TOKEN_TEXT = re.compile(r"tok_[A-Za-z0-9_-]{22}(?:[A-Za-z0-9_-]{2})?")


class Located(NamedTuple):
    """Where a token's original lives: a segment slot (0007) or a per-entry sealed value (0006)."""

    segment: int | None
    slot: int
    legacy_sealed: bytes | None


def _driver(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only after invalidation
        raise VaultError("vault: the database connection is closed")
    return raw


def _bind(conn: Connection, table: Any, column: str, value: Any) -> Any:
    """The value as SQLAlchemy would send it to this driver (e.g. UTC timestamps as SQLite text)."""
    dialect = conn.dialect
    proc = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return proc(value) if proc is not None else value


@contextlib.contextmanager
def _cursor(conn: Connection, action: str = "lookup") -> Iterator[tuple[Any, _Sql]]:
    """A driver cursor on the caller's transaction; driver errors become `VaultError`s naming `action`."""
    sql = _Sql(conn)
    try:
        cur = _driver(conn).cursor()
        try:
            yield cur, sql
        finally:
            cur.close()
    except _driver_errors(conn) as exc:
        raise VaultError(f"vault {action} failed: {_reason(exc)}") from None


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


def bucket_of(key: bytes) -> int:
    return (key[0] << 8 | key[1]) >> BUCKET_SHIFT


def _buckets(rows: np.ndarray) -> np.ndarray:
    """`bucket_of` for every row of an (n, width) uint8 array."""
    return (rows[:, 0].astype(np.int64) << 8 | rows[:, 1]) >> BUCKET_SHIFT


def _group(keys: Iterable[bytes]) -> dict[int, list[bytes]]:
    groups: defaultdict[int, list[bytes]] = defaultdict(list)
    for k in keys:
        groups[bucket_of(k)].append(k)
    return groups


class _Sql:
    """Placeholders and list binding for the connection's driver."""

    def __init__(self, conn: Connection) -> None:
        self.pg = conn.dialect.name == "postgresql"
        self.p = "%s" if self.pg else "?"

    def in_list(self, column: str, n: int) -> str:
        return f"{column} = ANY({self.p})" if self.pg else f"{column} IN ({','.join('?' * n)})"

    def params(self, values: list[Any]) -> tuple[Any, ...]:
        return (values,) if self.pg else tuple(values)


def _read_buckets(cur: Any, sql: _Sql, project: str, vault: str, kind: str, buckets: list[int]) -> dict[int, bytes]:
    """Stored entries of the given buckets (absent buckets are left out)."""
    out: dict[int, bytes] = {}
    p = sql.p
    for i in range(0, len(buckets), _PARAM_BATCH):
        chunk = buckets[i : i + _PARAM_BATCH]
        cur.execute(
            f"SELECT bucket, entries FROM protect_vault_index WHERE project = {p} AND vault = {p} AND kind = {p} "
            f"AND {sql.in_list('bucket', len(chunk))}",
            (project, vault, kind, *sql.params(chunk)),
        )
        width = _F_WIDTH if kind == "f" else _T_WIDTH
        for bucket, entries in cur.fetchall():
            blob = bytes(entries)
            if len(blob) % width:
                raise VaultError(f"vault {vault!r}: index bucket {bucket} is corrupt (tampered or truncated)")
            out[int(bucket)] = blob
    return out


def _vault_has(cur: Any, sql: _Sql, table: str, project: str, vault: str) -> bool:
    cur.execute(f"SELECT 1 FROM {table} WHERE project = {sql.p} AND vault = {sql.p} LIMIT 1", (project, vault))
    return cur.fetchone() is not None


def find_tokens(conn: Connection, project: str, vault: str, fingerprints: np.ndarray) -> dict[int, str]:
    """row index -> token text for the fingerprints (an (n, 16) array) already in the vault."""
    found: dict[int, str] = {}
    if not len(fingerprints):
        return found
    with _cursor(conn) as (cur, sql):
        if not _vault_has(cur, sql, "protect_vault_index", project, vault):
            return found
        buckets = _buckets(fingerprints)
        flat = np.ascontiguousarray(fingerprints).tobytes()
        stored = _read_buckets(cur, sql, project, vault, "f", np.flatnonzero(np.bincount(buckets)).tolist())
        for bucket, blob in stored.items():
            index = {blob[i : i + FP_BYTES]: i for i in range(0, len(blob), _F_WIDTH)}
            for row in np.flatnonzero(buckets == bucket).tolist():
                at = index.get(flat[row * FP_BYTES : row * FP_BYTES + FP_BYTES])
                if at is not None:
                    found[row] = token_text(blob[at + FP_BYTES : at + _F_WIDTH])
    return found


def find_legacy_tokens(conn: Connection, project: str, vault: str, fingerprints: Sequence[bytes]) -> dict[bytes, str]:
    """fingerprint -> token text among the vault's 0006 entries, whose fingerprints are HMAC-SHA-256
    (nothing to do, and no fingerprints worth computing, when the vault has none: see `has_legacy`)."""
    with _cursor(conn) as (cur, sql):
        return _legacy_tokens(cur, sql, project, vault, list(fingerprints))


def has_legacy(conn: Connection, project: str, vault: str) -> bool:
    with _cursor(conn) as (cur, sql):
        return _vault_has(cur, sql, "protect_vault", project, vault)


def locate(conn: Connection, project: str, vault: str, tokens: Sequence[str]) -> dict[str, Located]:
    """token text -> where its original is, for the tokens present (malformed tokens are simply absent)."""
    wanted = {r: t for t in tokens if (r := token_raw(t)) is not None}
    found: dict[str, Located] = {}
    if not wanted:
        return found
    with _cursor(conn) as (cur, sql):
        groups = _group(r for r in wanted if len(r) == TOKEN_BYTES)
        for bucket, blob in _read_buckets(cur, sql, project, vault, "t", sorted(groups)).items():
            index = {blob[i : i + TOKEN_BYTES]: i for i in range(0, len(blob), _T_WIDTH)}
            for raw in groups[bucket]:
                at = index.get(raw)
                if at is not None:
                    seg, slot = _LOC.unpack_from(blob, at + TOKEN_BYTES)
                    found[wanted[raw]] = Located(seg, slot, None)
        rest = [r for r, t in wanted.items() if t not in found]
        if rest and _vault_has(cur, sql, "protect_vault", project, vault):
            for raw, sealed in _legacy_sealed(cur, sql, project, vault, rest):
                found[wanted[raw]] = Located(None, 0, sealed)
    return found


def read_segments(conn: Connection, project: str, vault: str, segments: Sequence[int]) -> dict[int, tuple[str, bytes]]:
    """segment -> (data-key id, sealed bytes) for the segments present."""
    out: dict[int, tuple[str, bytes]] = {}
    with _cursor(conn) as (cur, sql):
        ids = sorted(set(segments))
        for i in range(0, len(ids), _PARAM_BATCH):
            chunk = ids[i : i + _PARAM_BATCH]
            cur.execute(
                f"SELECT segment, dek_id, sealed FROM protect_vault_segments WHERE project = {sql.p} "
                f"AND vault = {sql.p} AND {sql.in_list('segment', len(chunk))}",
                (project, vault, *sql.params(chunk)),
            )
            out.update((int(s), (str(d), bytes(b))) for s, d, b in cur.fetchall())
    return out


def next_segment(conn: Connection, project: str, vault: str) -> int:
    with _cursor(conn) as (cur, sql):
        cur.execute(
            f"SELECT max(segment) FROM protect_vault_segments WHERE project = {sql.p} AND vault = {sql.p}",
            (project, vault),
        )
        (top,) = cur.fetchone()
    return 0 if top is None else int(top) + 1


def write_entries(
    conn: Connection,
    *,
    project: str,
    vault: str,
    dek_id: str,
    created_at: datetime,
    fingerprints: np.ndarray,
    tokens: np.ndarray,
    first_segment: int,
    segments: Sequence[tuple[int, bytes]],
) -> None:
    """Store new entries: entry i has ``fingerprints[i]`` and ``tokens[i]`` ((n, 16) and (n, 18)
    arrays) and lives in segment ``first_segment + i // SEGMENT_ENTRIES`` at slot
    ``i % SEGMENT_ENTRIES``; ``segments`` are (entries, sealed) in that order. All or nothing
    with the caller's transaction.
    """
    n = len(tokens)
    if n == 0:
        return
    if fingerprints.shape != (n, FP_BYTES) or tokens.shape != (n, TOKEN_BYTES) or sum(c for c, _ in segments) != n:
        raise VaultError("vault write refused: entries, tokens and segments do not line up")
    if _repeat_within(tokens):
        raise VaultError("vault write refused: a token repeats within the batch")
    when = _bind(conn, protect_vault, "created_at", created_at)
    with _cursor(conn, "write") as (cur, sql):
        p = sql.p
        # No foreign key to the data key: one check per batch, under the write lock that
        # crypto-shredding also takes, keeps orphans out.
        cur.execute(f"SELECT 1 FROM crypto_deks WHERE id = {p}", (dek_id,))
        if cur.fetchone() is None:
            raise VaultError("vault write refused: its data key no longer exists (shredded)")
        cur.execute(
            f"SELECT 1 FROM protect_vault_segments WHERE project = {p} AND vault = {p} AND dek_id <> {p} LIMIT 1",
            (project, vault, dek_id),
        )
        if cur.fetchone() is not None:
            raise VaultError(f"vault write refused: vault {vault!r} belongs to another key")
        cur.executemany(
            "INSERT INTO protect_vault_segments (project, vault, segment, dek_id, entries, sealed, created_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})",
            [(project, vault, first_segment + k, dek_id, c, b, when) for k, (c, b) in enumerate(segments)],
        )
        where = np.empty((n, 2), "<u4")
        where[:, 0], where[:, 1] = np.divmod(np.arange(n, dtype=np.int64), SEGMENT_ENTRIES)
        where[:, 0] += first_segment
        loc = where.view(np.uint8).reshape(n, 8)
        for kind, rows in (("f", np.hstack((fingerprints, tokens))), ("t", np.hstack((tokens, loc)))):
            new = _by_bucket(rows)
            old = _read_buckets(cur, sql, project, vault, kind, sorted(new))
            if kind == "t" and any(_repeats(blob, new[b]) for b, blob in old.items()):
                raise VaultError("vault write refused: a new token is already in the vault")
            cur.executemany(
                "INSERT INTO protect_vault_index (project, vault, kind, bucket, dek_id, entries) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (project, vault, kind, bucket) "
                "DO UPDATE SET entries = excluded.entries",
                [(project, vault, kind, b, dek_id, old.get(b, b"") + e) for b, e in new.items()],
            )


def _repeat_within(tokens: np.ndarray) -> bool:
    """Whether two rows are equal; the 8-byte prefixes decide unless two of them collide."""
    prefix = np.sort(np.ascontiguousarray(tokens[:, :8]).view(np.uint64).ravel())
    if not (prefix[1:] == prefix[:-1]).any():
        return False
    return bool(np.unique(np.ascontiguousarray(tokens).view(f"V{tokens.shape[1]}").ravel()).size != len(tokens))


def _by_bucket(rows: np.ndarray) -> dict[int, bytes]:
    """Fixed-width entries (one per row, keyed by their first bytes) packed per bucket, vectorised."""
    buckets = _buckets(rows)
    order = np.argsort(buckets, kind="stable")
    packed = np.ascontiguousarray(rows[order]).tobytes()
    counts = np.bincount(buckets, minlength=BUCKETS)
    ends = np.cumsum(counts)
    width = rows.shape[1]
    return {int(b): packed[(ends[b] - counts[b]) * width : ends[b] * width] for b in np.flatnonzero(counts)}


def _repeats(blob: bytes, entries: bytes) -> bool:
    have = {blob[i : i + TOKEN_BYTES] for i in range(0, len(blob), _T_WIDTH)}
    return any(entries[i : i + TOKEN_BYTES] in have for i in range(0, len(entries), _T_WIDTH))


def _legacy_tokens(cur: Any, sql: _Sql, project: str, vault: str, fps: list[bytes]) -> dict[bytes, str]:
    """Fingerprint lookups in the 0006 per-entry table (probed one index lookup per key on PostgreSQL:
    right after a bulk load a plain join or ``= ANY`` was planned as a scan of the whole table)."""
    found: dict[bytes, str] = {}
    for i in range(0, len(fps), _PARAM_BATCH):
        chunk = fps[i : i + _PARAM_BATCH]
        if sql.pg:
            cur.execute(
                "SELECT q.fp, v.token FROM unnest(%s::bytea[]) AS q(fp) CROSS JOIN LATERAL "
                "(SELECT token FROM protect_vault WHERE project = %s AND vault = %s AND fingerprint = q.fp "
                "LIMIT 1) AS v",
                (chunk, project, vault),
            )
        else:
            cur.execute(
                "SELECT fingerprint, token FROM protect_vault WHERE project = ? AND vault = ? "
                f"AND fingerprint IN ({','.join('?' * len(chunk))})",
                (project, vault, *chunk),
            )
        found.update((bytes(fp), token_text(bytes(t))) for fp, t in cur.fetchall())
    return found


def _legacy_sealed(cur: Any, sql: _Sql, project: str, vault: str, raws: list[bytes]) -> list[tuple[bytes, bytes]]:
    """(token bytes, sealed) from the 0006 per-entry table."""
    out: list[tuple[bytes, bytes]] = []
    for i in range(0, len(raws), _PARAM_BATCH):
        chunk = raws[i : i + _PARAM_BATCH]
        if sql.pg:
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
                f"SELECT token, sealed FROM protect_vault WHERE token IN ({','.join('?' * len(chunk))}) "
                "AND +project = ? AND +vault = ?",
                (*chunk, project, vault),
            )
        out.extend((bytes(t), bytes(s)) for t, s in cur.fetchall())
    return out
