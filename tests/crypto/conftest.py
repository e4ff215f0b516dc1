"""Crypto fixtures: a key manager on the shared `store` fixture, and a SoftHSM2 token."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.core.store import Store
from bastion.crypto.keys import KeyManager, MasterSecret, Principal

ADMIN = Principal.of("alice", ["admin"])
FAST = MasterSecret.passphrase("correct horse battery staple", scrypt_n=2**10)


@pytest.fixture
def keys(store: Store) -> KeyManager:
    return KeyManager(store, "bank", secret=FAST)


@pytest.fixture(scope="session")
def softhsm(softhsm2: Any) -> dict[str, str]:
    """A SoftHSM2 token for the key-provider tests, in the session's shared SoftHSM2 folder."""
    return {
        "module": softhsm2.module,
        "token": softhsm2.labels["keys"],
        "pin": softhsm2.PIN,
        "conf": str(softhsm2.conf),
    }
