"""Key-encryption-key providers: where a KEK lives and how it wraps data keys.

A provider never hands KEK material to the caller: it wraps and unwraps 32-byte
data keys (DEKs). `aad` binds each wrapped DEK to its project, key id, version
and DEK id, so a wrapped blob copied onto another record fails to unwrap.

- ``local``: AES-256-GCM with a random KEK sealed in the local keyring (classical).
- ``hybrid-pq``: X25519 + ML-KEM-768 key encapsulation, both shared secrets combined
  by HKDF, then AES-256-GCM (hybrid: safe while either X25519 or ML-KEM holds).
- ``pkcs11``: an AES-256 key generated inside an HSM (non-extractable), AES-GCM done
  by the token (classical).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bastion.crypto._errors import IntegrityError, KeyError_, ProviderUnavailable
from bastion.crypto._keys.keyring import Keyring


@dataclass(frozen=True, slots=True)
class KekRef:
    """One version of one key: the unit a provider creates, uses and destroys."""

    project: str
    key_id: str
    version: int

    @property
    def name(self) -> str:
        return f"{self.project}/{self.key_id}/v{self.version}"


class KekProvider(Protocol):
    name: str
    pq_hybrid: bool

    def create(self, ref: KekRef) -> dict[str, Any]:
        """Make the KEK; returns public metadata (stored in the database, never secret)."""
        ...

    def wrap(self, ref: KekRef, meta: dict[str, Any], dek: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, ref: KekRef, meta: dict[str, Any], wrapped: bytes, aad: bytes) -> bytes: ...

    def destroy(self, ref: KekRef, meta: dict[str, Any]) -> bool:
        """Destroy the KEK material; True if something was destroyed."""
        ...

    def check(self, ref: KekRef, meta: dict[str, Any]) -> None:
        """Raise unless the KEK is reachable now (unlocked keyring, present token)."""
        ...


def _open(kek: bytes, wrapped: bytes, aad: bytes) -> bytes:
    if len(wrapped) < 12 + 16:
        raise IntegrityError("wrapped data key is truncated")
    try:
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad)
    except InvalidTag:
        raise IntegrityError("data key does not unwrap: wrong key-encryption key or tampered record") from None


def _seal(kek: bytes, dek: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(kek).encrypt(nonce, dek, aad)


class LocalProvider:
    """KEKs as random AES-256 keys in the local keyring."""

    name = "local"
    pq_hybrid = False

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def create(self, ref: KekRef) -> dict[str, Any]:
        self.keyring.put(ref.name, os.urandom(32))
        return {}

    def wrap(self, ref: KekRef, meta: dict[str, Any], dek: bytes, aad: bytes) -> bytes:
        return _seal(self.keyring.get(ref.name), dek, aad)

    def unwrap(self, ref: KekRef, meta: dict[str, Any], wrapped: bytes, aad: bytes) -> bytes:
        return _open(self.keyring.get(ref.name), wrapped, aad)

    def destroy(self, ref: KekRef, meta: dict[str, Any]) -> bool:
        return self.keyring.delete(ref.name)

    def check(self, ref: KekRef, meta: dict[str, Any]) -> None:
        self.keyring.get(ref.name)


def mlkem_available() -> bool:
    try:
        from cryptography.hazmat.primitives.asymmetric import mlkem

        mlkem.MLKEM768PrivateKey.generate()
    except Exception:
        return False
    return True


_HYBRID_INFO = b"bastion-hybrid-kem-v1:X25519+ML-KEM-768"
_X_LEN = 32
_MLKEM768_CT = 1088


class HybridProvider:
    """X25519 + ML-KEM-768 hybrid KEM; private keys sealed in the local keyring.

    Wrapping a DEK: a fresh X25519 ephemeral key and an ML-KEM encapsulation give two
    shared secrets; HKDF over both secrets, both ciphertexts and both recipient public
    keys (the X-Wing / TLS hybrid pattern) yields the AES-256-GCM key that seals the DEK.
    An attacker must break both X25519 and ML-KEM-768 to unwrap.
    """

    name = "hybrid-pq"
    pq_hybrid = True

    def __init__(self, keyring: Keyring) -> None:
        if not mlkem_available():
            raise ProviderUnavailable("the installed 'cryptography' offers no ML-KEM; hybrid-pq keys are unavailable")
        self.keyring = keyring

    def create(self, ref: KekRef) -> dict[str, Any]:
        from cryptography.hazmat.primitives.asymmetric import mlkem

        x_priv = X25519PrivateKey.generate()
        seed = os.urandom(64)
        m_priv = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
        self.keyring.put(ref.name, x_priv.private_bytes_raw() + seed)
        return {
            "x25519_public": x_priv.public_key().public_bytes_raw().hex(),
            "mlkem768_public_sha256": _sha256(m_priv.public_key().public_bytes_raw()),
            "algorithm": "X25519+ML-KEM-768/HKDF-SHA256/AES-256-GCM",
        }

    def _private(self, ref: KekRef) -> tuple[X25519PrivateKey, Any]:
        from cryptography.hazmat.primitives.asymmetric import mlkem

        blob = self.keyring.get(ref.name)
        if len(blob) != 32 + 64:
            raise KeyError_(f"keyring entry for {ref.name} is not a hybrid key")
        return X25519PrivateKey.from_private_bytes(blob[:32]), mlkem.MLKEM768PrivateKey.from_seed_bytes(blob[32:])

    @staticmethod
    def _kdf(ss_m: bytes, ss_x: bytes, ct_m: bytes, eph: bytes, x_pub: bytes, m_pub: bytes, aad: bytes) -> bytes:
        info = _HYBRID_INFO + ct_m + eph + x_pub + _sha256(m_pub).encode() + aad
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ss_m + ss_x)

    def wrap(self, ref: KekRef, meta: dict[str, Any], dek: bytes, aad: bytes) -> bytes:
        x_priv, m_priv = self._private(ref)
        x_pub = x_priv.public_key()
        m_pub = m_priv.public_key()
        eph = X25519PrivateKey.generate()
        ss_x = eph.exchange(x_pub)
        ss_m, ct_m = m_pub.encapsulate()
        eph_pub = eph.public_key().public_bytes_raw()
        kek = self._kdf(ss_m, ss_x, ct_m, eph_pub, x_pub.public_bytes_raw(), m_pub.public_bytes_raw(), aad)
        return eph_pub + ct_m + _seal(kek, dek, aad)

    def unwrap(self, ref: KekRef, meta: dict[str, Any], wrapped: bytes, aad: bytes) -> bytes:
        if len(wrapped) < _X_LEN + _MLKEM768_CT + 28:
            raise IntegrityError("wrapped data key is truncated")
        x_priv, m_priv = self._private(ref)
        eph_pub = wrapped[:_X_LEN]
        ct_m = wrapped[_X_LEN : _X_LEN + _MLKEM768_CT]
        try:
            ss_x = x_priv.exchange(X25519PublicKey.from_public_bytes(eph_pub))
            ss_m = m_priv.decapsulate(ct_m)  # implicit rejection: a bad ct yields a wrong secret
        except ValueError:
            raise IntegrityError("wrapped data key is malformed") from None
        kek = self._kdf(
            ss_m,
            ss_x,
            ct_m,
            eph_pub,
            x_priv.public_key().public_bytes_raw(),
            m_priv.public_key().public_bytes_raw(),
            aad,
        )
        return _open(kek, wrapped[_X_LEN + _MLKEM768_CT :], aad)

    def destroy(self, ref: KekRef, meta: dict[str, Any]) -> bool:
        return self.keyring.delete(ref.name)

    def check(self, ref: KekRef, meta: dict[str, Any]) -> None:
        self.keyring.get(ref.name)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
