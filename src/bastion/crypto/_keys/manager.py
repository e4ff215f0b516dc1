"""The key manager: envelope encryption over the store, with RBAC and an audit event per operation.

Data keys (DEKs, AES-256) are generated here, wrapped by the current version of a
key-encryption key (KEK) held by a provider, and stored wrapped in ``crypto_deks``.
Rotation makes a new KEK version, rewraps every DEK in one transaction and only then
destroys the old version, so data is never re-encrypted and never stranded. Shredding
deletes the wrapped DEKs and vault entries in one transaction (with its audit event)
and then destroys the KEK material: everything sealed under the key is unrecoverable,
while the audit chain, which holds ids and counts only, still verifies.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select, update

from bastion.core.types import utcnow
from bastion.crypto._errors import (
    AccessDenied,
    CryptoError,
    IntegrityError,
    KeyError_,
    KeyShreddedError,
)
from bastion.crypto._keys.keyring import Keyring, MasterSecret
from bastion.crypto._keys.providers import HybridProvider, KekProvider, KekRef, LocalProvider
from bastion.crypto._keys.rbac import Principal
from bastion.crypto._keys.schema import (
    crypto_deks,
    crypto_keys,
    protect_vault,
    protect_vault_index,
    protect_vault_segments,
)

if TYPE_CHECKING:
    from bastion.core.store import Store

KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
PROVIDERS = ("local", "hybrid-pq", "pkcs11")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    project: str
    provider: str
    version: int
    status: str
    created_by: str
    created_at: datetime
    rotated_at: datetime | None
    shredded_at: datetime | None
    data_keys: int
    pq_hybrid: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "project": self.project,
            "provider": self.provider,
            "version": self.version,
            "status": self.status,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "rotated_at": self.rotated_at.isoformat() if self.rotated_at else None,
            "shredded_at": self.shredded_at.isoformat() if self.shredded_at else None,
            "data_keys": self.data_keys,
            "post_quantum": "hybrid X25519+ML-KEM-768" if self.pq_hybrid else "classical",
        }


@dataclass(frozen=True, slots=True)
class DataKey:
    """An unwrapped data key. Keep it in memory only for as long as the operation needs it."""

    dek_id: str
    key_id: str
    material: bytes

    def __repr__(self) -> str:  # never print key material
        return f"DataKey(dek_id={self.dek_id!r}, key_id={self.key_id!r})"


@dataclass(frozen=True, slots=True)
class RotateResult:
    key_id: str
    old_version: int
    new_version: int
    rewrapped: int


@dataclass(frozen=True, slots=True)
class ShredResult:
    key_id: str
    data_keys_destroyed: int
    vault_entries_destroyed: int
    material_destroyed: bool


def _dek_aad(project: str, key_id: str, version: int, dek_id: str) -> bytes:
    return f"bastion-dek-v1|{project}|{key_id}|{version}|{dek_id}".encode()


class KeyManager:
    """Envelope keys for one project of a store."""

    def __init__(
        self,
        store: Store,
        project: str = "default",
        *,
        secret: MasterSecret | None = None,
        providers: Mapping[str, KekProvider] | None = None,
        provider_factory: Mapping[str, Callable[[], KekProvider]] | None = None,
    ) -> None:
        self.store = store
        self.project = project
        self._secret = secret if secret is not None else MasterSecret.from_env()
        self._providers: dict[str, KekProvider] = dict(providers or {})
        self._factory = dict(provider_factory or {})
        self._keyring: Keyring | None = None

    # -- providers ---------------------------------------------------------------------------

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = Keyring(self.store.state_dir / "keyring", self._secret)
        return self._keyring

    def provider(self, name: str) -> KekProvider:
        if name not in self._providers:
            if name in self._factory:
                self._providers[name] = self._factory[name]()
            elif name == "local":
                self._providers[name] = LocalProvider(self.keyring)
            elif name == "hybrid-pq":
                self._providers[name] = HybridProvider(self.keyring)
            elif name == "pkcs11":
                from bastion.crypto._keys.pkcs11 import Pkcs11Provider

                self._providers[name] = Pkcs11Provider()
            else:
                raise KeyError_(f"unknown key provider {name!r}; known: {', '.join(PROVIDERS)}")
        return self._providers[name]

    # -- access control ----------------------------------------------------------------------

    def _allow(self, who: Principal, permission: str, subject: str) -> None:
        if who.can(permission):
            return
        self.store.audit.append(
            self.project, "key.denied", who.name, subject, {"permission": permission, "roles": sorted(who.roles)}
        )
        raise AccessDenied(f"{who.name} (roles: {', '.join(sorted(who.roles)) or 'none'}) may not {permission}")

    # -- records -----------------------------------------------------------------------------

    def _row(self, conn: Connection, key_id: str) -> Any:
        row = conn.execute(
            select(crypto_keys).where(crypto_keys.c.project == self.project, crypto_keys.c.key_id == key_id)
        ).first()
        if row is None:
            raise KeyError_(f"no key {key_id!r} in project {self.project!r}")
        return row

    def _active(self, conn: Connection, key_id: str) -> Any:
        row = self._row(conn, key_id)
        if row.status == "shredded":
            raise KeyShreddedError(f"key {key_id!r} was crypto-shredded; data under it is unrecoverable")
        return row

    @staticmethod
    def _meta(row: Any, version: int) -> dict[str, Any]:
        meta: dict[str, Any] = dict((row.meta or {}).get("versions", {}).get(str(version), {}))
        return meta

    # -- operations --------------------------------------------------------------------------

    def create(self, key_id: str, who: Principal, *, provider: str = "local") -> KeyInfo:
        """Create a key (version 1). Key ids are stable names; a shredded id is never reused."""
        if not KEY_ID.match(key_id):
            raise KeyError_(f"invalid key id {key_id!r} (letters, digits, '_.:-', up to 128 chars)")
        if provider not in PROVIDERS and provider not in self._providers and provider not in self._factory:
            raise KeyError_(f"unknown key provider {provider!r}; known: {', '.join(PROVIDERS)}")
        self._allow(who, "key.create", key_id)
        with self.store._read() as conn:
            exists = conn.execute(
                select(crypto_keys.c.status).where(
                    crypto_keys.c.project == self.project, crypto_keys.c.key_id == key_id
                )
            ).first()
        if exists is not None:
            raise KeyError_(f"key {key_id!r} already exists ({exists.status})")
        prov = self.provider(provider)
        ref = KekRef(self.project, key_id, 1)
        meta = prov.create(ref)
        now = utcnow()
        try:
            with self.store._write() as conn:
                conn.execute(
                    crypto_keys.insert().values(
                        project=self.project,
                        key_id=key_id,
                        provider=provider,
                        version=1,
                        status="active",
                        meta={"versions": {"1": meta}, "pq_hybrid": bool(prov.pq_hybrid)},
                        created_by=who.name,
                        created_at=now,
                    )
                )
                self.store.audit.append(
                    self.project,
                    "key.created",
                    who.name,
                    key_id,
                    {"provider": provider, "version": 1, "pq_hybrid": bool(prov.pq_hybrid)},
                    session=conn,
                )
        except BaseException:
            prov.destroy(ref, meta)  # no record, no orphan material
            raise
        return self.get(key_id)

    def get(self, key_id: str) -> KeyInfo:
        with self.store._read() as conn:
            row = self._row(conn, key_id)
            n = conn.execute(
                select(func.count()).where(crypto_deks.c.project == self.project, crypto_deks.c.key_id == key_id)
            ).scalar_one()
        return _info(row, int(n))

    def list(self, who: Principal) -> list[KeyInfo]:
        self._allow(who, "key.list", "*")
        counts = (
            select(crypto_deks.c.key_id, func.count().label("n"))
            .where(crypto_deks.c.project == self.project)
            .group_by(crypto_deks.c.key_id)
            .subquery()
        )
        query = (
            select(crypto_keys, func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.key_id == crypto_keys.c.key_id)
            .where(crypto_keys.c.project == self.project)
            .order_by(crypto_keys.c.key_id)
        )
        with self.store._read() as conn:
            return [_info(r, int(r.n)) for r in conn.execute(query)]

    def new_data_key(self, key_id: str, who: Principal, *, asset: str | None = None) -> DataKey:
        """A fresh DEK under `key_id`, stored wrapped; one per asset or column."""
        dek = self._new_dek(key_id, who, asset, unless_exists=False)
        assert dek is not None  # only `unless_exists` returns None
        return dek

    def _new_dek(self, key_id: str, who: Principal, asset: str | None, *, unless_exists: bool) -> DataKey | None:
        """Create a DEK; with `unless_exists`, None if `asset` got one meanwhile (checked under the write lock)."""
        self._allow(who, "key.encrypt", key_id)
        with self.store._read() as conn:
            row = self._active(conn, key_id)
        version = int(row.version)
        dek_id = f"dek_{uuid.uuid4().hex}"
        material = os.urandom(32)
        prov = self.provider(row.provider)
        wrapped = prov.wrap(
            KekRef(self.project, key_id, version),
            self._meta(row, version),
            material,
            _dek_aad(self.project, key_id, version, dek_id),
        )
        with self.store._write() as conn:
            current = self._active(conn, key_id)
            if int(current.version) != version:  # rotated meanwhile: the wrap used a retired KEK
                raise CryptoError(f"key {key_id!r} was rotated during the operation; retry")
            if unless_exists and self._asset_dek(conn, key_id, asset or "") is not None:
                return None  # a concurrent first use won: everyone must share its DEK
            conn.execute(
                crypto_deks.insert().values(
                    id=dek_id,
                    project=self.project,
                    key_id=key_id,
                    kek_version=version,
                    wrapped=wrapped,
                    asset=(asset or None) and asset[:2048],
                    created_at=utcnow(),
                )
            )
            data: dict[str, Any] = {"dek_id": dek_id, "version": version}
            if asset:
                data["asset"] = asset[:512]
            self.store.audit.append(self.project, "key.dek_created", who.name, key_id, data, session=conn)
        return DataKey(dek_id, key_id, material)

    def data_key_for(self, key_id: str, asset: str, who: Principal) -> DataKey:
        """The stable DEK of a named use of a key (a vault, a keyed-hash domain), created on first use.

        Deterministic operators (keyed hashes, FF1, surrogates) need the same key on every
        run for joins to work, so they look their DEK up by `asset` instead of making a new one.
        Checked as `key.encrypt`: protecting data is not reading it back.
        """
        self._allow(who, "key.encrypt", key_id)
        with self.store._read() as conn:
            row = self._active(conn, key_id)
            dek = self._asset_dek(conn, key_id, asset)
        if dek is None:
            created = self._new_dek(key_id, who, asset, unless_exists=True)
            if created is not None:
                return created
            with self.store._read() as conn:
                dek = self._asset_dek(conn, key_id, asset)
            if dek is None:  # pragma: no cover - it existed under the write lock a moment ago
                raise CryptoError(f"data key for {asset[:80]!r} vanished (shredded meanwhile?)")
        version = int(dek.kek_version)
        material = self.provider(row.provider).unwrap(
            KekRef(self.project, key_id, version),
            self._meta(row, version),
            bytes(dek.wrapped),
            _dek_aad(self.project, key_id, version, dek.id),
        )
        self.store.audit.append(
            self.project, "key.dek_used", who.name, key_id, {"dek_id": dek.id, "asset": asset[:512]}
        )
        return DataKey(dek.id, key_id, material)

    def _asset_dek(self, conn: Connection, key_id: str, asset: str) -> Any:
        return conn.execute(
            select(crypto_deks)
            .where(crypto_deks.c.project == self.project, crypto_deks.c.key_id == key_id, crypto_deks.c.asset == asset)
            .order_by(crypto_deks.c.created_at, crypto_deks.c.id)
            .limit(1)
        ).first()

    def require(self, who: Principal, permission: str, subject: str) -> None:
        """RBAC check for engines built on the key manager (the vault, reversible operators)."""
        self._allow(who, permission, subject)

    def data_key(self, dek_id: str, who: Principal, *, key_id: str | None = None, purpose: str = "decrypt") -> DataKey:
        """Unwrap a stored DEK (RBAC `key.decrypt`, audited). `key_id` must match if given."""
        self._allow(who, "key.decrypt", key_id or dek_id)
        with self.store._read() as conn:
            dek = conn.execute(
                select(crypto_deks).where(crypto_deks.c.project == self.project, crypto_deks.c.id == dek_id)
            ).first()
            if dek is None:
                if key_id is not None:
                    self._active(conn, key_id)  # a shredded key says so
                raise KeyError_(f"no data key {dek_id!r} in project {self.project!r} (wrong store or project?)")
            if key_id is not None and dek.key_id != key_id:
                raise IntegrityError(f"data key {dek_id!r} belongs to key {dek.key_id!r}, not {key_id!r}")
            row = self._active(conn, dek.key_id)
        version = int(dek.kek_version)
        prov = self.provider(row.provider)
        material = prov.unwrap(
            KekRef(self.project, dek.key_id, version),
            self._meta(row, version),
            bytes(dek.wrapped),
            _dek_aad(self.project, dek.key_id, version, dek_id),
        )
        self.store.audit.append(
            self.project, "key.dek_unwrapped", who.name, dek.key_id, {"dek_id": dek_id, "purpose": purpose[:64]}
        )
        return DataKey(dek_id, dek.key_id, material)

    def rotate(self, key_id: str, who: Principal) -> RotateResult:
        """New KEK version; every DEK rewrapped in one transaction; the old version destroyed after commit."""
        self._allow(who, "key.rotate", key_id)
        with self.store._read() as conn:
            row = self._active(conn, key_id)
        prov = self.provider(row.provider)
        old = int(row.version)
        new = old + 1
        new_ref = KekRef(self.project, key_id, new)
        new_meta = prov.create(new_ref)
        try:
            with self.store._write() as conn:
                row = self._active(conn, key_id)
                if int(row.version) != old:
                    raise CryptoError(f"key {key_id!r} was rotated concurrently; retry")
                deks = conn.execute(
                    select(crypto_deks.c.id, crypto_deks.c.kek_version, crypto_deks.c.wrapped).where(
                        crypto_deks.c.project == self.project, crypto_deks.c.key_id == key_id
                    )
                ).all()
                for d in deks:
                    v = int(d.kek_version)
                    plain = prov.unwrap(
                        KekRef(self.project, key_id, v),
                        self._meta(row, v),
                        bytes(d.wrapped),
                        _dek_aad(self.project, key_id, v, d.id),
                    )
                    rewrapped = prov.wrap(new_ref, new_meta, plain, _dek_aad(self.project, key_id, new, d.id))
                    conn.execute(
                        update(crypto_deks).where(crypto_deks.c.id == d.id).values(wrapped=rewrapped, kek_version=new)
                    )
                meta = dict(row.meta or {})
                versions = dict(meta.get("versions", {}))
                versions[str(new)] = new_meta
                meta["versions"] = {str(new): new_meta}
                conn.execute(
                    update(crypto_keys)
                    .where(crypto_keys.c.id == row.id)
                    .values(version=new, rotated_at=utcnow(), meta=meta)
                )
                self.store.audit.append(
                    self.project,
                    "key.rotated",
                    who.name,
                    key_id,
                    {"from_version": old, "to_version": new, "rewrapped": len(deks)},
                    session=conn,
                )
        except BaseException:
            prov.destroy(new_ref, new_meta)
            raise
        for v, m in versions.items():
            if int(v) != new:
                prov.destroy(KekRef(self.project, key_id, int(v)), m)
        return RotateResult(key_id, old, new, len(deks))

    def shred(self, key_id: str, who: Principal) -> ShredResult:
        """Crypto-shred: wrapped DEKs, vault entries and KEK material destroyed; the audit records it."""
        self._allow(who, "key.shred", key_id)
        with self.store._read() as conn:
            row = self._active(conn, key_id)
        prov = self.provider(row.provider)
        # An absent token or a locked keyring fails here, before anything changes.
        prov.check(KekRef(self.project, key_id, int(row.version)), self._meta(row, int(row.version)))
        with self.store._write() as conn:
            row = self._active(conn, key_id)
            dek_ids = select(crypto_deks.c.id).where(
                crypto_deks.c.project == self.project, crypto_deks.c.key_id == key_id
            )
            segments = protect_vault_segments
            mine = (segments.c.project == self.project, segments.c.dek_id.in_(dek_ids))
            vault_n = conn.execute(select(func.coalesce(func.sum(segments.c.entries), 0)).where(*mine)).scalar_one()
            conn.execute(delete(segments).where(*mine))
            conn.execute(
                delete(protect_vault_index).where(
                    protect_vault_index.c.project == self.project, protect_vault_index.c.dek_id.in_(dek_ids)
                )
            )
            vault_n += conn.execute(
                delete(protect_vault).where(
                    protect_vault.c.project == self.project, protect_vault.c.dek_id.in_(dek_ids)
                )
            ).rowcount
            dek_n = conn.execute(
                delete(crypto_deks).where(crypto_deks.c.project == self.project, crypto_deks.c.key_id == key_id)
            ).rowcount
            conn.execute(
                update(crypto_keys).where(crypto_keys.c.id == row.id).values(status="shredded", shredded_at=utcnow())
            )
            self.store.audit.append(
                self.project,
                "key.shredded",
                who.name,
                key_id,
                {
                    "provider": row.provider,
                    "version": int(row.version),
                    "data_keys_destroyed": int(dek_n),
                    "vault_entries_destroyed": int(vault_n),
                },
                session=conn,
            )
        destroyed = False
        try:
            for v, m in (row.meta or {}).get("versions", {}).items():
                destroyed = prov.destroy(KekRef(self.project, key_id, int(v)), m) or destroyed
        except (CryptoError, OSError) as exc:
            raise CryptoError(
                f"key {key_id!r} records were shredded (its data is unrecoverable: no wrapped data keys remain), "
                f"but the provider could not destroy the KEK material: {exc}"
            ) from exc
        self.store.audit.checkpoint()
        return ShredResult(key_id, int(dek_n), int(vault_n), destroyed)

    def resolver(self, who: Principal, purpose: str = "decrypt") -> Callable[[str, str], bytes]:
        """A (key_id, dek_id) -> DEK function for stream and Parquet decryption."""

        def resolve(key_id: str, dek_id: str) -> bytes:
            return self.data_key(dek_id, who, key_id=key_id, purpose=purpose).material

        return resolve


def _info(row: Any, n: int) -> KeyInfo:
    return KeyInfo(
        key_id=row.key_id,
        project=row.project,
        provider=row.provider,
        version=int(row.version),
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        shredded_at=row.shredded_at,
        data_keys=n,
        pq_hybrid=bool((row.meta or {}).get("pq_hybrid")),
    )
