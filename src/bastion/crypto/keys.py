"""Envelope keys: data keys (AES-256) wrapped by key-encryption keys from a provider.

Providers: ``local`` (keyring file sealed by a passphrase via scrypt or by an
environment secret; classical AES-256-GCM wrapping), ``hybrid-pq`` (X25519 +
ML-KEM-768 hybrid KEM wrapping, where the installed `cryptography` offers ML-KEM)
and ``pkcs11`` (an HSM; tested against SoftHSM2). Every operation is RBAC-checked
against the caller's `Principal` and appends one audit event (ids and counts only).

    keys = KeyManager(store, "bank")
    admin = Principal.of("alice", ["admin"])
    keys.create("transactions", admin)
    dk = keys.new_data_key("transactions", admin, asset="data/tx.parquet")
    keys.rotate("transactions", admin)        # rewraps DEKs, data untouched
    keys.shred("transactions", admin)         # everything under it is gone
"""

from __future__ import annotations

from bastion.crypto._errors import (
    AccessDenied,
    CryptoError,
    IntegrityError,
    KeyError_,
    KeyringError,
    KeyShreddedError,
    ProviderUnavailable,
)
from bastion.crypto._keys.keyring import PASSPHRASE_ENV, SECRET_ENV, Keyring, MasterSecret
from bastion.crypto._keys.manager import PROVIDERS, DataKey, KeyInfo, KeyManager, RotateResult, ShredResult
from bastion.crypto._keys.providers import KekProvider, KekRef, mlkem_available
from bastion.crypto._keys.rbac import PERMISSIONS, ROLES, Principal

KeyNotFound = KeyError_

__all__ = [
    "PASSPHRASE_ENV",
    "PERMISSIONS",
    "PROVIDERS",
    "ROLES",
    "SECRET_ENV",
    "AccessDenied",
    "CryptoError",
    "DataKey",
    "IntegrityError",
    "KekProvider",
    "KekRef",
    "KeyInfo",
    "KeyManager",
    "KeyNotFound",
    "KeyShreddedError",
    "Keyring",
    "KeyringError",
    "MasterSecret",
    "Principal",
    "ProviderUnavailable",
    "RotateResult",
    "ShredResult",
    "mlkem_available",
]
