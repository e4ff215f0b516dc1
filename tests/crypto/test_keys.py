"""Envelope keys on the store (SQLite and PostgreSQL): lifecycle, RBAC, audit, providers, failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.core.store import Store
from bastion.crypto import aead
from bastion.crypto.keys import (
    AccessDenied,
    IntegrityError,
    KekRef,
    KeyManager,
    KeyNotFound,
    KeyringError,
    KeyShreddedError,
    MasterSecret,
    Principal,
    ProviderUnavailable,
    mlkem_available,
)

ADMIN = Principal.of("alice", ["admin"])
FAST = MasterSecret.passphrase("correct horse battery staple", scrypt_n=2**10)


def corrupt(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def kinds(store: Store) -> list[str]:
    return [e.kind for e in store.audit.events("bank")]


def test_lifecycle_create_list_rotate_shred(keys: KeyManager, store: Store, tmp_path: Path) -> None:
    info = keys.create("transactions", ADMIN)
    assert (info.version, info.status, info.provider) == (1, "active", "local")
    src = tmp_path / "tx.csv"
    src.write_bytes(b"id,card\n1,4111111111111111\n" * 1000)
    aead.encrypt_file(src, tmp_path / "tx.csv.benc", keys=keys, key_id="transactions", who=ADMIN)
    assert b"4111" not in (tmp_path / "tx.csv.benc").read_bytes()
    before = (tmp_path / "tx.csv.benc").read_bytes()

    rot = keys.rotate("transactions", ADMIN)
    assert (rot.old_version, rot.new_version, rot.rewrapped) == (1, 2, 1)
    assert (tmp_path / "tx.csv.benc").read_bytes() == before  # data not re-encrypted
    assert keys.keyring.names() == ["bank/transactions/v2"]  # old KEK version destroyed
    out = tmp_path / "plain.csv"
    aead.decrypt_file(tmp_path / "tx.csv.benc", out, keys=keys, who=ADMIN)
    assert out.read_bytes() == src.read_bytes()

    [listed] = keys.list(ADMIN)
    assert listed.data_keys == 1 and listed.version == 2

    shred = keys.shred("transactions", ADMIN)
    assert shred.data_keys_destroyed == 1 and shred.material_destroyed
    assert keys.keyring.names() == []
    out.unlink()
    with pytest.raises((KeyShreddedError, KeyNotFound)):
        aead.decrypt_file(tmp_path / "tx.csv.benc", out, keys=keys, who=ADMIN)
    assert not out.exists()
    with pytest.raises(KeyShreddedError):
        keys.new_data_key("transactions", ADMIN)
    with pytest.raises(KeyNotFound, match="already exists"):
        keys.create("transactions", ADMIN)  # shredded ids are never reused
    assert kinds(store) == [
        "key.created",
        "key.dek_created",
        "key.rotated",
        "key.dek_unwrapped",
        "key.shredded",
    ]
    assert store.audit.verify().ok
    shredded = next(e for e in store.audit.events("bank") if e.kind == "key.shredded")
    assert shredded.data["data_keys_destroyed"] == 1


def test_rbac_separates_duties(keys: KeyManager, store: Store) -> None:
    keys.create("k", ADMIN)
    keyadmin = Principal.of("kim", ["key-admin"])
    protector = Principal.of("etl", ["protector"])
    owner = Principal.of("olga", ["data-owner"])
    dk = keys.new_data_key("k", protector)
    with pytest.raises(AccessDenied):
        keys.data_key(dk.dek_id, protector)
    with pytest.raises(AccessDenied):
        keys.data_key(dk.dek_id, keyadmin)
    assert keys.data_key(dk.dek_id, owner).material == dk.material
    with pytest.raises(AccessDenied):
        keys.shred("k", owner)
    with pytest.raises(AccessDenied):
        keys.create("k2", Principal.of("nobody", []))
    with pytest.raises(ValueError, match="unknown role"):
        Principal.of("x", ["root"])
    denied = [e for e in store.audit.events("bank") if e.kind == "key.denied"]
    assert len(denied) == 4 and denied[0].data["permission"] == "key.decrypt"


def test_wrong_passphrase_and_missing_secret(store: Store) -> None:
    KeyManager(store, "bank", secret=FAST).create("k", ADMIN)
    wrong = KeyManager(store, "bank", secret=MasterSecret.passphrase("nope", scrypt_n=2**10))
    with pytest.raises(KeyringError, match="wrong passphrase"):
        wrong.new_data_key("k", ADMIN)
    with pytest.raises(KeyringError, match="wrong passphrase"):
        wrong.create("k2", ADMIN)
    with pytest.raises(KeyringError, match="wrong passphrase"):
        wrong.shred("k", ADMIN)  # a locked keyring stops the shred before anything changes
    fresh = KeyManager(store, "bank", secret=FAST)  # a new process: the master key is derived again
    assert [k.key_id for k in fresh.list(ADMIN)] == ["k"]
    dk = fresh.new_data_key("k", ADMIN)
    assert KeyManager(store, "bank", secret=FAST).data_key(dk.dek_id, ADMIN).material == dk.material
    env = KeyManager(store, "bank", secret=MasterSecret.secret(os.urandom(32).hex()))
    with pytest.raises(KeyringError, match="sealed by a passphrase"):
        env.new_data_key("k", ADMIN)


def test_env_secret_keyring(store: Store) -> None:
    keys = KeyManager(store, "bank", secret=MasterSecret.from_env({"BASTION_KEYRING_SECRET": "ab" * 32}))
    keys.create("k", ADMIN)
    dk = keys.new_data_key("k", ADMIN)
    assert keys.data_key(dk.dek_id, ADMIN).material == dk.material
    with pytest.raises(KeyringError, match="at least 32 bytes"):
        MasterSecret.secret("abcd")


def test_loose_keyring_permissions_refused(keys: KeyManager) -> None:
    keys.create("k", ADMIN)
    path = keys.keyring.path
    path.chmod(0o644)
    with pytest.raises(KeyringError, match="too open"):
        keys.new_data_key("k", ADMIN)
    path.chmod(0o600)
    keys.keyring.dir.chmod(0o755)
    with pytest.raises(KeyringError, match="chmod 700"):
        keys.new_data_key("k", ADMIN)
    keys.keyring.dir.chmod(0o700)
    keys.new_data_key("k", ADMIN)


def test_corrupt_keyring(keys: KeyManager) -> None:
    keys.create("k", ADMIN)
    keys.keyring.path.write_text("{not json")
    with pytest.raises(KeyringError, match="corrupt"):
        KeyManager(keys.store, "bank", secret=FAST).new_data_key("k", ADMIN)


def test_bad_key_ids_and_providers(keys: KeyManager) -> None:
    for bad in ("", "../x", "a b", "x" * 200):
        with pytest.raises(KeyNotFound, match="invalid key id"):
            keys.create(bad, ADMIN)
    with pytest.raises(KeyNotFound, match="unknown key provider"):
        keys.create("k", ADMIN, provider="aws")
    with pytest.raises(KeyNotFound, match="no key"):
        keys.new_data_key("missing", ADMIN)


def test_wrapped_dek_bound_to_its_record(keys: KeyManager, store: Store) -> None:
    from sqlalchemy import select, update

    from bastion.crypto._keys.schema import crypto_deks

    keys.create("k", ADMIN)
    a = keys.new_data_key("k", ADMIN)
    b = keys.new_data_key("k", ADMIN)
    with store.engine.begin() as conn:
        wrapped_a = conn.execute(select(crypto_deks.c.wrapped).where(crypto_deks.c.id == a.dek_id)).scalar_one()
        conn.execute(update(crypto_deks).where(crypto_deks.c.id == b.dek_id).values(wrapped=wrapped_a))
    with pytest.raises(IntegrityError):
        keys.data_key(b.dek_id, ADMIN)


def test_tampered_file_leaves_no_plaintext(keys: KeyManager, tmp_path: Path) -> None:
    keys.create("k", ADMIN)
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 11))
    enc = tmp_path / "a.benc"
    aead.encrypt_file(src, enc, keys=keys, key_id="k", who=ADMIN)
    corrupt(enc, enc.stat().st_size - 5)  # last chunk: earlier chunks verify first
    out = tmp_path / "out.bin"
    with pytest.raises(IntegrityError):
        aead.decrypt_file(enc, out, keys=keys, who=ADMIN)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_folder_round_trip(keys: KeyManager, tmp_path: Path) -> None:
    keys.create("k", ADMIN)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("beta")
    results = aead.encrypt_tree(src, tmp_path / "enc", keys=keys, key_id="k", who=ADMIN)
    assert len({r.dek_id for r in results}) == 2  # one data key per file
    (tmp_path / "enc" / "junk.benc").write_bytes(b"not ours")
    with pytest.raises(aead.FormatError, match="junk"):
        aead.decrypt_tree(tmp_path / "enc", tmp_path / "dec", keys=keys, who=ADMIN)
    assert not (tmp_path / "dec").exists()  # headers are checked before anything is written
    (tmp_path / "enc" / "junk.benc").unlink()
    aead.decrypt_tree(tmp_path / "enc", tmp_path / "dec", keys=keys, who=ADMIN)
    assert (tmp_path / "dec" / "sub" / "b.txt").read_text() == "beta"


@pytest.mark.skipif(not mlkem_available(), reason="cryptography without ML-KEM")
def test_hybrid_pq_provider(keys: KeyManager, store: Store) -> None:
    info = keys.create("pq", ADMIN, provider="hybrid-pq")
    assert info.pq_hybrid and info.to_dict()["post_quantum"].startswith("hybrid")
    blob = aead.encrypt_bytes(b"quantum-safe", keys=keys, key_id="pq", who=ADMIN)
    keys.rotate("pq", ADMIN)
    assert aead.decrypt_bytes(blob, keys=keys, who=ADMIN) == b"quantum-safe"
    keys.shred("pq", ADMIN)
    with pytest.raises((KeyShreddedError, KeyNotFound)):
        aead.decrypt_bytes(blob, keys=keys, who=ADMIN)
    assert store.audit.verify().ok


def test_parquet_column_encryption(keys: KeyManager, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys.create("footer", ADMIN)
    keys.create("pii", ADMIN)
    table = pa.table({"card": ["4111111111111111", "5500000000000004"], "amount": [1.5, 2.5]})
    path = tmp_path / "t.parquet"
    aead.write_parquet_encrypted(table, path, keys=keys, who=ADMIN, column_keys={"pii": ["card"]}, footer_key="footer")
    assert b"4111111111111111" not in path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - pyarrow raises OSError subclasses here
        pq.read_table(path)
    keys.rotate("pii", ADMIN)
    assert aead.read_parquet_encrypted(path, keys=keys, who=ADMIN).equals(table)
    keys.shred("pii", ADMIN)
    with pytest.raises((IntegrityError, KeyShreddedError, KeyNotFound)):
        aead.read_parquet_encrypted(path, keys=keys, who=ADMIN, columns=["card"])


def test_pkcs11_provider(store: Store, softhsm: dict[str, str], tmp_path: Path) -> None:
    from bastion.crypto._keys.pkcs11 import Pkcs11Provider

    hsm = Pkcs11Provider(softhsm["module"], softhsm["token"], softhsm["pin"])
    keys = KeyManager(store, "bank", secret=FAST, providers={"pkcs11": hsm})
    key_id = f"hsm-{os.urandom(4).hex()}"  # the token is shared by both database backends
    keys.create(key_id, ADMIN, provider="pkcs11")
    blob = aead.encrypt_bytes(b"in the hsm", keys=keys, key_id=key_id, who=ADMIN)
    keys.rotate(key_id, ADMIN)
    assert aead.decrypt_bytes(blob, keys=keys, who=ADMIN) == b"in the hsm"
    assert not keys.keyring.path.exists()  # no KEK material outside the token

    absent = KeyManager(
        store, "bank", secret=FAST, providers={"pkcs11": Pkcs11Provider(softhsm["module"], "no-such-token", "1")}
    )
    with pytest.raises(ProviderUnavailable, match="not present"):
        absent.new_data_key(key_id, ADMIN)
    with pytest.raises(ProviderUnavailable, match="not present"):
        absent.shred(key_id, ADMIN)
    assert aead.decrypt_bytes(blob, keys=keys, who=ADMIN) == b"in the hsm"  # nothing lost
    wrong_pin = Pkcs11Provider(softhsm["module"], softhsm["token"], "00000000")
    with pytest.raises(ProviderUnavailable, match="wrong PIN"):
        KeyManager(store, "bank", secret=FAST, providers={"pkcs11": wrong_pin}).new_data_key(key_id, ADMIN)

    assert keys.shred(key_id, ADMIN).material_destroyed
    with pytest.raises((KeyShreddedError, KeyNotFound)):
        aead.decrypt_bytes(blob, keys=keys, who=ADMIN)
    assert store.audit.verify().ok


def test_pkcs11_unconfigured() -> None:
    from bastion.crypto._keys.pkcs11 import Pkcs11Provider

    with pytest.raises(ProviderUnavailable, match="not found"):
        Pkcs11Provider("/nonexistent/libpkcs11.so", "t", "1").create(KekRef("p", "k", 1))
