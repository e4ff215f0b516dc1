"""Crypto fixtures: a key manager on the shared `store` fixture, and a SoftHSM2 token."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from bastion.core.store import Store
from bastion.crypto.keys import KeyManager, MasterSecret, Principal

ADMIN = Principal.of("alice", ["admin"])
FAST = MasterSecret.passphrase("correct horse battery staple", scrypt_n=2**10)


@pytest.fixture
def keys(store: Store) -> KeyManager:
    return KeyManager(store, "bank", secret=FAST)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh SoftHSM2 token in a temp dir; skipped locally, failed under CI=true, if softhsm2 is missing."""
    from bastion.crypto._keys.pkcs11 import default_module

    util = shutil.which("softhsm2-util")
    module = default_module()
    if util is None or module is None:
        msg = "softhsm2 is not installed (apt-get install softhsm2)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{msg}; CI=true requires the PKCS#11 tests to run")
        pytest.skip(msg)
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [util, "--init-token", "--free", "--label", "bastion-test", "--so-pin", "12345678", "--pin", "87654321"],
        check=True,
        capture_output=True,
    )
    try:
        yield {"module": module, "token": "bastion-test", "pin": "87654321", "conf": str(conf)}
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old
