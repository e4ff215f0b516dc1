"""API keys: `bst_` + 192 random bits + a CRC32 checksum, stored only as SHA-256 hashes.

The prefix makes a leaked key recognisable to secret scanners; the checksum lets
the gateway refuse typos and brute-force guesses without a database lookup. Keys
are high-entropy, so a plain SHA-256 is enough to store them (no password hash
needed) and allows an indexed lookup. Rotation issues a new key with the same
attributes and lets the old one live for an overlap window, so deployments can
roll without an outage.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update

from bastion.core.types import utcnow
from bastion.gateway._auth.principal import Principal
from bastion.gateway._tables import api_keys

if TYPE_CHECKING:
    from bastion.core.store import Store

PREFIX = "bst_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 33  # 24 random bytes in base62
_SUM_LEN = 6
KEY_RE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{_BODY_LEN + _SUM_LEN}}}$")
KNOWN_ROLES = ("admin", "security_officer", "data_scientist", "application")
KNOWN_SCOPES = ("llm", "predict", "embeddings", "admin")


class KeyError_(ValueError):
    """A key operation that cannot be done (unknown id, bad attribute)."""


def _b62(number: int, width: int) -> str:
    out = []
    while number:
        number, rem = divmod(number, 62)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _b62(zlib.crc32(body.encode()), _SUM_LEN)


def generate_key() -> str:
    body = _b62(int.from_bytes(secrets.token_bytes(24), "big"), _BODY_LEN)
    return f"{PREFIX}{body}{_checksum(body)}"


def well_formed(key: str) -> bool:
    """Prefix, length, alphabet and checksum: a cheap filter before any lookup."""
    if not KEY_RE.match(key):
        return False
    body, check = key[len(PREFIX) : len(PREFIX) + _BODY_LEN], key[-_SUM_LEN:]
    return secrets.compare_digest(_checksum(body), check)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    tenant: str
    name: str
    hint: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    models: tuple[str, ...] | None
    limits: dict[str, Any]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: str | None

    def active(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def principal(self) -> Principal:
        return Principal(
            kind="key",
            id=self.id,
            tenant=self.tenant,
            roles=self.roles,
            scopes=frozenset(self.scopes),
            models=self.models,
            limits=dict(self.limits),
        )

    def to_dict(self) -> dict[str, Any]:
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {
            "id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "hint": self.hint,
            "roles": list(self.roles),
            "scopes": list(self.scopes),
            "models": None if self.models is None else list(self.models),
            "limits": self.limits,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
            "rotated_from": self.rotated_from,
            "active": self.active(),
        }


def _record(row: Any) -> KeyRecord:
    m = row._mapping
    models = m["models"]
    return KeyRecord(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        hint=m["hint"],
        roles=tuple(m["roles"]),
        scopes=tuple(m["scopes"]),
        models=None if models is None or models == ["*"] else tuple(models),
        limits=dict(m["limits"] or {}),
        created_at=m["created_at"],
        created_by=m["created_by"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        last_used_at=m["last_used_at"],
        rotated_from=m["rotated_from"],
    )


def _check_names(values: Iterable[str], known: tuple[str, ...], what: str) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(values))
    bad = [v for v in out if v not in known]
    if bad:
        raise KeyError_(f"unknown {what}: {', '.join(bad)} (known: {', '.join(known)})")
    return out


class KeyStore:
    """API keys of one project, in the shared store, each change with its audit event.

    Lookups are cached for `cache_s` seconds (positive and negative), which keeps
    the database off the request path; a revocation therefore takes effect on
    other replicas within that time.
    """

    def __init__(self, store: Store, project: str, *, cache_s: float = 5.0) -> None:
        self.store = store
        self.project = project
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()
        self._touched: dict[str, datetime] = {}
        self._principals: dict[str, tuple[KeyRecord, Principal]] = {}
        self._refreshing: set[str] = set()
        self._foreign: dict[str, str] = {}  # key hash -> the other project it belongs to
        self._generation = 0

    # -- management ------------------------------------------------------------------------

    def create(
        self,
        *,
        tenant: str,
        name: str,
        roles: Iterable[str],
        scopes: Iterable[str] = ("llm", "predict", "embeddings"),
        models: Iterable[str] | None = None,
        limits: Mapping[str, Any] | None = None,
        expires_in: timedelta | None = None,
        actor: str,
        rotated_from: str | None = None,
    ) -> tuple[str, KeyRecord]:
        """Issue a key; the plaintext is returned once and never stored."""
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", tenant):
            raise KeyError_(f"invalid tenant {tenant!r}")
        if not name or len(name) > 128:
            raise KeyError_("key name must be 1-128 characters")
        roles_ = _check_names(roles, KNOWN_ROLES, "role")
        if not roles_:
            raise KeyError_("a key needs at least one role")
        scopes_ = _check_names(scopes, KNOWN_SCOPES, "scope")
        plain = generate_key()
        now = utcnow()
        key_id = f"key_{uuid.uuid4().hex[:20]}"
        values: dict[str, Any] = {
            "id": key_id,
            "project": self.project,
            "tenant": tenant,
            "name": name,
            "key_hash": key_hash(plain),
            "hint": plain[:8] + "…" + plain[-4:],
            "roles": list(roles_),
            "scopes": list(scopes_),
            "models": ["*"] if models is None else list(dict.fromkeys(models)),
            "limits": dict(limits or {}),
            "created_at": now,
            "created_by": actor,
            "expires_at": now + expires_in if expires_in is not None else None,
            "revoked_at": None,
            "last_used_at": None,
            "rotated_from": rotated_from,
        }
        with self.store._write() as conn:
            conn.execute(api_keys.insert().values(**values))
            self.store.audit.append(
                self.project,
                "gateway.key.created",
                actor,
                key_id,
                {"tenant": tenant, "roles": list(roles_), "scopes": list(scopes_), "rotated_from": rotated_from},
                session=conn,
            )
        record = self.get(key_id)
        assert record is not None
        return plain, record

    def get(self, key_id: str) -> KeyRecord | None:
        with self.store._read() as conn:
            row = conn.execute(
                select(api_keys).where(api_keys.c.project == self.project, api_keys.c.id == key_id)
            ).first()
        return _record(row) if row else None

    def list(self, tenant: str | None = None) -> list[KeyRecord]:
        query = select(api_keys).where(api_keys.c.project == self.project).order_by(api_keys.c.created_at)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with self.store._read() as conn:
            return [_record(r) for r in conn.execute(query)]

    def revoke(self, key_id: str, *, actor: str) -> KeyRecord:
        with self.store._write() as conn:
            row = conn.execute(
                select(api_keys).where(api_keys.c.project == self.project, api_keys.c.id == key_id)
            ).first()
            if row is None:
                raise KeyError_(f"unknown key {key_id}")
            if row.revoked_at is None:
                conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=utcnow()))
                self.store.audit.append(
                    self.project, "gateway.key.revoked", actor, key_id, {"tenant": row.tenant}, session=conn
                )
        self._forget()
        record = self.get(key_id)
        assert record is not None
        return record

    def rotate(self, key_id: str, *, overlap: timedelta, actor: str) -> tuple[str, KeyRecord]:
        """New key, same attributes; the old one now expires after `overlap` (or sooner, if it already did)."""
        old = self.get(key_id)
        if old is None:
            raise KeyError_(f"unknown key {key_id}")
        if not old.active():
            raise KeyError_(f"key {key_id} is revoked or expired; issue a new one instead")
        remaining = None if old.expires_at is None else old.expires_at - utcnow()
        plain, new = self.create(
            tenant=old.tenant,
            name=old.name,
            roles=old.roles,
            scopes=old.scopes,
            models=old.models,
            limits=old.limits,
            expires_in=remaining,
            actor=actor,
            rotated_from=old.id,
        )
        end = utcnow() + overlap
        if old.expires_at is None or old.expires_at > end:
            with self.store._write() as conn:
                conn.execute(update(api_keys).where(api_keys.c.id == old.id).values(expires_at=end))
                self.store.audit.append(
                    self.project,
                    "gateway.key.rotated",
                    actor,
                    old.id,
                    {"successor": new.id, "overlap_s": int(overlap.total_seconds())},
                    session=conn,
                )
        self._forget()
        return plain, new

    # -- request path ----------------------------------------------------------------------

    def authenticate(self, plain: str) -> KeyRecord | None:
        """The active record for a presented key, or None. Never raises on garbage."""
        if not well_formed(plain):
            return None
        digest = key_hash(plain)
        now_mono = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        record = hit[1] if hit is not None and now_mono - hit[0] < self.cache_s else self._load(digest)
        if record is None or not record.active():
            return None
        with self._lock:
            self._touched[record.id] = utcnow()
        return record

    def _load(self, digest: str) -> KeyRecord | None:
        started = time.monotonic()  # the entry's age counts from before the read: never older than it says
        generation = self._generation
        with self.store._read() as conn:
            # key_hash is unique across projects: one lookup tells "unknown" from "another project's key".
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == digest)).first()
        foreign = row.project if row is not None and row.project != self.project else None
        record = _record(row) if row is not None and foreign is None else None
        with self._lock:
            if generation != self._generation:  # revoked or rotated meanwhile: this read may be stale
                return record
            if len(self._cache) > 50_000:
                self._cache.clear()
                self._foreign.clear()
            self._cache[digest] = (started, record)
            if foreign is not None:
                self._foreign[digest] = foreign
        return record

    def foreign_project(self, plain: str) -> str | None:
        """The project a refused key belongs to, when it is a real key of another project; else None.

        A key created without `--project` lands in `bastion.toml`'s project, and a gateway
        whose gateway.yaml names another one used to answer a bare 401: the operator
        could not tell a wrong key from a right key in the wrong project. Only a holder of
        a genuine key learns its project name; nothing about the key itself is revealed.
        """
        return self._foreign.get(key_hash(plain))

    def refresh_due(self, plain: str) -> bool:
        """True (once) when a cached entry is in the last fifth of its life: refresh it ahead of expiry.

        Under steady traffic every lookup then stays a cache hit; without this, each
        expiry sends every request in flight for that key to the database at once.
        """
        digest = key_hash(plain)
        hit = self._cache.get(digest)
        if hit is None or time.monotonic() - hit[0] < 0.8 * self.cache_s:
            return False
        with self._lock:
            if digest in self._refreshing:
                return False
            self._refreshing.add(digest)
        return True

    def refresh(self, plain: str) -> None:
        """Re-read one key into the cache (a background task; `refresh_due` said it was time)."""
        digest = key_hash(plain)
        try:
            self._load(digest)
        finally:
            with self._lock:
                self._refreshing.discard(digest)

    def cached(self, plain: str) -> KeyRecord | Literal[False] | None:
        """The answer `authenticate` would give, if the cache holds it; False when it does not.

        A hit costs one SHA-256 and one dict lookup; the checksum (a pure-Python base-62
        conversion) only runs on a miss, where it still keeps garbage away from the database.
        """
        hit = self._cache.get(key_hash(plain))  # dict reads are atomic: no lock on the hot path
        if hit is None or time.monotonic() - hit[0] >= self.cache_s:
            return None if not well_formed(plain) else False
        record = hit[1]
        if record is None or not record.active():
            return None
        with self._lock:
            self._touched[record.id] = utcnow()
        return record

    def principal_of(self, record: KeyRecord) -> Principal:
        """The record's principal, built once per cached record rather than per request."""
        memo = self._principals.get(record.id)
        if memo is not None and memo[0] is record:
            return memo[1]
        principal = record.principal()
        if len(self._principals) > 50_000:
            self._principals.clear()
        self._principals[record.id] = (record, principal)
        return principal

    def flush_last_used(self) -> int:
        """Write the batched last-used times (bookkeeping, not a state change worth an event)."""
        with self._lock:
            touched, self._touched = self._touched, {}
        if not touched:
            return 0
        with self.store._write() as conn:
            for key_id, when in touched.items():
                conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=when))
        return len(touched)

    def _forget(self) -> None:
        """Revocation and rotation drop every cached answer in this process at once."""
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._principals.clear()
            self._foreign.clear()
