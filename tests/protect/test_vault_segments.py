"""The segment vault (migration 0007): bulk layout, tamper detection, rollback, shredding."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from bastion.core.store import Store
from bastion.crypto.keys import KeyManager, MasterSecret, Principal
from bastion.data._protect import vault as vault_mod
from bastion.data._protect import vaultdb
from bastion.data._protect.errors import VaultError
from bastion.data._protect.vaultdb import token_raw
from bastion.data.protect import Protector


def _rows(store: Store, sql: str, **params: object) -> list[sa.Row[object]]:
    with store._read() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def _entries(store: Store, kind: str) -> dict[int, bytes]:
    rows = _rows(store, "SELECT bucket, entries FROM protect_vault_index WHERE vault = 'tx' AND kind = :k", k=kind)
    return {int(b): bytes(e) for b, e in rows}


def test_bulk_tokenize_dedupes_audits_counts_and_layout(keys: KeyManager, admin: Principal, store: Store) -> None:
    p = Protector(keys, admin, key_id="tx")
    values = [f"value-{i % 700:04d}" for i in range(2000)]
    tokens = p.protect_values(values, "tokenize")
    assert len(set(tokens)) == 700 and all(t.startswith("tok_") and len(t) == 28 for t in tokens)
    assert all(tokens[i] == tokens[i % 700] for i in range(2000))
    again = p.protect_values(["new-one", *values[:800]], "tokenize")
    assert again[1:] == tokens[:800] and again[0] not in tokens
    ev = [e for e in store.audit.events("bank") if e.kind == "vault.tokenized"]
    assert ev[0].data == {"values": 2000, "distinct": 700, "new": 700, "reused": 0}
    assert ev[1].data == {"values": 801, "distinct": 701, "new": 1, "reused": 700}
    assert "value-" not in json.dumps([e.to_dict() for e in ev])  # counts only
    segs = _rows(store, "SELECT segment, entries, sealed FROM protect_vault_segments ORDER BY segment")
    assert [(s, n) for s, n, _ in segs] == [(0, 700), (1, 1)]
    assert all(b"value-" not in bytes(sealed) and b"new-one" not in bytes(sealed) for *_, sealed in segs)
    for kind, width in (("f", 34), ("t", 26)):  # every entry indexed once, each in the bucket its key names
        entries = _entries(store, kind)
        keys_seen = [
            blob[i : i + (16 if kind == "f" else 18)] for blob in entries.values() for i in range(0, len(blob), width)
        ]
        assert len(keys_seen) == len(set(keys_seen)) == 701
        assert all(vaultdb.bucket_of(blob[i:]) == b for b, blob in entries.items() for i in range(0, len(blob), width))
    assert p.reverse_values(again, "tokenize") == ["new-one", *values[:800]]
    assert _rows(store, "SELECT count(*) FROM protect_vault")[0][0] == 0  # nothing in the 0006 table


def test_entries_span_segments(
    keys: KeyManager, admin: Principal, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vault_mod, "SEGMENT_ENTRIES", 100)
    monkeypatch.setattr(vaultdb, "SEGMENT_ENTRIES", 100)
    vault = vault_mod.Vault(keys, "tx", admin)
    values = [f"v{i}" for i in range(250)]
    tokens = vault.tokenize_many(values)
    more = vault.tokenize_many([f"w{i}" for i in range(30)])
    segs = _rows(store, "SELECT segment, entries FROM protect_vault_segments ORDER BY segment")
    assert [tuple(r) for r in segs] == [(0, 100), (1, 100), (2, 50), (3, 30)]
    picks = [tokens[0], tokens[99], tokens[100], tokens[249], more[29], tokens[150]]
    assert vault.detokenize_many(picks) == ["v0", "v99", "v100", "v249", "w29", "v150"]


def _rows_of(token: bytes, n: int) -> np.ndarray:
    return np.frombuffer(token * n, np.uint8).reshape(n, len(token))


def _tamper(store: Store, sql: str, **params: object) -> None:
    with store._write() as conn:
        conn.execute(sa.text(sql), params)


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1 :]


def test_tampered_segment_fails_closed(keys: KeyManager, admin: Principal, store: Store) -> None:
    vault = vault_mod.Vault(keys, "tx", admin)
    tokens = vault.tokenize_many(["4111111111111111", "alice@example.com"])
    (sealed,) = _rows(store, "SELECT sealed FROM protect_vault_segments")[0]
    _tamper(store, "UPDATE protect_vault_segments SET sealed = :s", s=_flip(bytes(sealed), 30))
    with pytest.raises(VaultError, match="tampered"):
        vault.detokenize_many(tokens[:1])
    _tamper(store, "UPDATE protect_vault_segments SET sealed = :s", s=bytes(sealed))
    assert vault.detokenize_many(tokens) == ["4111111111111111", "alice@example.com"]
    _tamper(store, "UPDATE protect_vault_segments SET segment = 5")  # moved: the AAD names its number
    with pytest.raises(VaultError, match="tampered"):
        vault.detokenize_many(tokens[:1])


def test_index_entry_pointing_at_another_record_is_caught(keys: KeyManager, admin: Principal, store: Store) -> None:
    vault = vault_mod.Vault(keys, "tx", admin)
    tokens = vault.tokenize_many(["first", "second"])
    raw = token_raw(tokens[0])
    assert raw is not None
    bucket = vaultdb.bucket_of(raw)
    blob = _entries(store, "t")[bucket]
    at = blob.index(raw)
    slot = int.from_bytes(blob[at + 22 : at + 26], "little")
    swapped = blob[: at + 22] + (1 - slot).to_bytes(4, "little") + blob[at + 26 :]
    _tamper(store, "UPDATE protect_vault_index SET entries = :e WHERE kind = 't' AND bucket = :b", e=swapped, b=bucket)
    with pytest.raises(VaultError, match="tampered"):
        vault.detokenize_many(tokens[:1])
    assert vault.detokenize_many(tokens[1:]) == ["second"]


def test_truncated_index_bucket_is_an_error(
    keys: KeyManager, admin: Principal, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = vault_mod.Vault(keys, "tx", admin)
    tokens = vault.tokenize_many(["first"])
    raw = token_raw(tokens[0])
    assert raw is not None
    _tamper(store, "UPDATE protect_vault_index SET entries = :e WHERE kind = 't'", e=raw[:10])
    with pytest.raises(VaultError, match="corrupt"):
        vault.detokenize_many(tokens)
    forced = raw[:2] + b"\x00" * 16  # a new token in the corrupt bucket: the write reads it and refuses
    monkeypatch.setattr(vault_mod, "_random_tokens", lambda n: (["tok_" + "A" * 24] * n, _rows_of(forced, n)))
    with pytest.raises(VaultError, match="corrupt"):
        vault.tokenize_many(["another"])


def test_failed_write_rolls_back_everything(
    keys: KeyManager, admin: Principal, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token already in the vault stops the batch: no segment, no index change, no audit event."""
    p = Protector(keys, admin, key_id="tx")
    [first] = p.protect_values(["first"], "tokenize")
    before = (_entries(store, "f"), _entries(store, "t"), _rows(store, "SELECT count(*) FROM protect_vault_segments"))
    raw = token_raw(first)
    assert raw is not None
    monkeypatch.setattr(vault_mod, "_random_tokens", lambda n: ([first] * n, _rows_of(raw, n)))
    with pytest.raises(VaultError, match="already in the vault"):
        p.protect_values(["x"], "tokenize")
    with pytest.raises(VaultError, match="repeats within the batch"):
        p.protect_values(["x", "y"], "tokenize")
    monkeypatch.undo()
    after = (_entries(store, "f"), _entries(store, "t"), _rows(store, "SELECT count(*) FROM protect_vault_segments"))
    assert after == before
    assert sum(e.kind == "vault.tokenized" for e in store.audit.events("bank")) == 1
    fresh = p.protect_values(["x", "first"], "tokenize")
    assert fresh[1] == first and fresh[0] != first
    assert store.audit.verify().ok


def test_vault_name_bound_to_one_key(keys: KeyManager, admin: Principal) -> None:
    keys.create("other", admin)
    vault_mod.Vault(keys, "tx", admin, name="shared").tokenize_many(["a"])
    with pytest.raises(VaultError, match="belongs to another key"):
        vault_mod.Vault(keys, "other", admin, name="shared").tokenize_many(["b"])


def test_shred_removes_segments_and_index(keys: KeyManager, admin: Principal, store: Store) -> None:
    keys.create("keep", admin)
    kept = vault_mod.Vault(keys, "keep", admin)
    kept_tokens = kept.tokenize_many(["stay"])
    vault = vault_mod.Vault(keys, "tx", admin)
    tokens = vault.tokenize_many([f"v{i}" for i in range(300)])
    result = keys.shred("tx", admin)
    assert result.vault_entries_destroyed == 300
    assert _rows(store, "SELECT count(*) FROM protect_vault_segments WHERE vault = 'tx'")[0][0] == 0
    assert _rows(store, "SELECT count(*) FROM protect_vault_index WHERE vault = 'tx'")[0][0] == 0
    with pytest.raises(Exception):  # noqa: B017 - the key is gone: refused before any lookup
        vault.detokenize_many(tokens[:1])
    assert kept.detokenize_many(kept_tokens) == ["stay"]
    assert store.audit.verify().ok


ADMIN = Principal.of("alice", ["admin"])
_WORKER = textwrap.dedent(
    """
    import json, random, sys
    from pathlib import Path
    from bastion.core.store import Store
    from bastion.crypto.keys import KeyManager, MasterSecret, Principal
    from bastion.data._protect.vault import Vault

    url, state, seed = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    with Store.open(url, state_dir=state) as store:
        keys = KeyManager(store, "bank", secret=MasterSecret.passphrase("pw for tests", scrypt_n=2**10))
        vault = Vault(keys, "tx", Principal.of("alice", ["admin"]))
        seen = {}
        for _ in range(8):  # overlapping batches: every worker meets values the others are adding
            batch = [f"v{rng.randrange(600)}" for _ in range(150)]
            seen.update(zip(batch, vault.tokenize_many(batch)))
    print(json.dumps(seen))
    """
)


def test_concurrent_writers_agree_on_one_token_per_value(db_url: str, state_dir: Path) -> None:
    """Bucket rows are read, extended and written back: concurrent writers must serialise, not lose entries."""
    with Store.open(db_url, state_dir=state_dir) as store:
        keys = KeyManager(store, "bank", secret=MasterSecret.passphrase("pw for tests", scrypt_n=2**10))
        keys.create("tx", ADMIN)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, db_url, str(state_dir), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in range(3)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
        results.append(json.loads(out))
    token_of: dict[str, str] = {}
    for seen in results:
        for value, token in seen.items():
            assert token_of.setdefault(value, token) == token, value
    with Store.open(db_url, state_dir=state_dir) as store:
        keys = KeyManager(store, "bank", secret=MasterSecret.passphrase("pw for tests", scrypt_n=2**10))
        assert len(_entries(store, "f")) and sum(len(b) for b in _entries(store, "f").values()) == 34 * len(token_of)
        assert sum(len(b) for b in _entries(store, "t").values()) == 26 * len(token_of)
        values = sorted(token_of)
        assert vault_mod.Vault(keys, "tx", ADMIN).detokenize_many([token_of[v] for v in values]) == values
        assert store.audit.verify().ok


def test_first_use_of_a_named_data_key_is_created_once(keys: KeyManager, admin: Principal) -> None:
    """The race the concurrent test exposed: a second first use, checked under the write lock, creates nothing."""
    first = keys.data_key_for("tx", "vault:race", admin)
    assert keys._new_dek("tx", admin, "vault:race", unless_exists=True) is None
    assert keys.data_key_for("tx", "vault:race", admin).dek_id == first.dek_id
    assert keys._new_dek("tx", admin, "vault:other", unless_exists=True) is not None
