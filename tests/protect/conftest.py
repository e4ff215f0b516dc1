from __future__ import annotations

import pytest

from bastion.core.store import Store
from bastion.crypto.keys import KeyManager, MasterSecret, Principal

ADMIN = Principal.of("alice", ["admin"])


@pytest.fixture
def keys(store: Store) -> KeyManager:
    km = KeyManager(store, "bank", secret=MasterSecret.passphrase("pw for tests", scrypt_n=2**10))
    km.create("tx", ADMIN)
    return km


@pytest.fixture
def admin() -> Principal:
    return ADMIN
