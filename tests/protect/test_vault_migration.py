"""Migration 0006 (binary vault layout): a vault filled at 0005 still detokenizes and reuses its tokens."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import strategies as st

from bastion.core.store import Store, StoreError, _migrate
from bastion.core.store._schema import UTCDateTime
from bastion.core.types import utcnow
from bastion.crypto.keys import KeyManager, MasterSecret, Principal
from bastion.data._protect import vault as vault_mod
from bastion.data._protect.errors import VaultError
from bastion.data._protect.vaultdb import token_raw, token_text

ADMIN = Principal.of("alice", ["admin"])
SECRET = MasterSecret.passphrase("pw for tests", scrypt_n=2**10)
VALUES = ["4111111111111111", "alice@example.com", "ünïcødé ✓", ""]
# the current 18-byte form and the 16-byte form of earlier releases (secrets.token_urlsafe(16))
OLD_TOKENS = ["tok_" + "A" * 23 + "w", "tok_" + "b" * 21 + "A", "tok_" + "x" * 24, "tok_" + "-_" * 10 + "Ag"]

OLD_VAULT = sa.table(
    "protect_vault",
    sa.column("project", sa.String),
    sa.column("vault", sa.String),
    sa.column("token", sa.String),
    sa.column("fingerprint", sa.String),
    sa.column("dek_id", sa.String),
    sa.column("sealed", sa.LargeBinary),
    sa.column("created_at", UTCDateTime),
)


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(f"SELECT version_num FROM {_migrate.VERSION_TABLE}").scalar()
    finally:
        engine.dispose()


@pytest.fixture
def old_vault(db_url: str, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A database at revision 0005 whose vault ``tx`` holds VALUES under OLD_TOKENS, written the 0005 way."""
    engine = sa.create_engine(db_url)
    state_dir.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        command.upgrade(_migrate.alembic_config(conn), "0005")
    engine.dispose()
    monkeypatch.setattr(_migrate, "upgrade", lambda conn: None)  # keep it at 0005 while keys are made
    with Store.open(db_url, state_dir=state_dir) as store:
        keys = KeyManager(store, "bank", secret=SECRET)
        keys.create("tx", ADMIN)
        vault = vault_mod.Vault(keys, "tx", ADMIN)
        dek = vault._key()
        fp_key = vault_mod._derive(dek.material, "fingerprint")
        aead = vault_mod.AESGCM(vault_mod._derive(dek.material, "seal"))
        rows = []
        for value, token in zip(VALUES, OLD_TOKENS, strict=True):
            nonce = os.urandom(12)
            rows.append(
                {
                    "project": "bank",
                    "vault": "tx",
                    "token": token,
                    "fingerprint": hmac.digest(fp_key, value.encode(), "sha256").hex(),
                    "dek_id": dek.dek_id,
                    "sealed": nonce + aead.encrypt(nonce, value.encode(), token.encode()),
                    "created_at": utcnow(),
                }
            )
        with store._write() as conn:
            conn.execute(sa.insert(OLD_VAULT), rows)
    monkeypatch.undo()
    assert _revision(db_url) == "0005"
    yield db_url, OLD_TOKENS


def test_upgrade_keeps_every_entry(old_vault: tuple[str, list[str]], state_dir: Path) -> None:
    url, tokens = old_vault
    with Store.open(url, state_dir=state_dir) as store:
        assert _revision(url) == _migrate.head_revision()
        keys = KeyManager(store, "bank", secret=SECRET)
        vault = vault_mod.Vault(keys, "tx", ADMIN)
        assert vault.detokenize_many(tokens) == VALUES
        assert vault.tokenize_many([*VALUES, "new"])[:4] == tokens  # same value, same (old) token
        fresh = vault.tokenize_many(["new", "newer"])
        assert fresh[0] not in tokens and len(fresh[0]) == 28 and fresh[1] != fresh[0]
        assert vault.detokenize_many([*fresh, *tokens]) == ["new", "newer", *VALUES]
        with store._read() as conn:
            names = set(sa.inspect(conn).get_table_names())
            stored = conn.exec_driver_sql("SELECT token, fingerprint FROM protect_vault").all()
            segments = conn.exec_driver_sql("SELECT entries FROM protect_vault_segments").all()
        assert "protect_vault_0005" not in names
        # old entries stay in the 0006 table (read-only since 0007); new ones go to segments
        assert sorted(token_text(bytes(t)) for t, _ in stored) == sorted(tokens)
        assert all(len(bytes(fp)) == 16 for _, fp in stored)
        assert sorted(n for (n,) in segments) == [1, 1]
        assert keys.shred("tx", ADMIN).vault_entries_destroyed == 6
        with pytest.raises(VaultError):
            vault.detokenize_many(tokens[:1])


@pytest.mark.parametrize(
    ("column", "bad"),
    [("token", "tok_short"), ("token", "tok_" + "A" * 21 + "B"), ("token", "value"), ("fingerprint", "ab" * 20)],
)
def test_unconvertible_row_fails_the_upgrade_and_changes_nothing(
    old_vault: tuple[str, list[str]], state_dir: Path, column: str, bad: str
) -> None:
    """Fail closed: a token or fingerprint that does not convert exactly stops the upgrade at 0005."""
    url, tokens = old_vault
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(OLD_VAULT).where(OLD_VAULT.c.token == tokens[0]).values({column: bad}))
    engine.dispose()
    with pytest.raises(StoreError):
        Store.open(url, state_dir=state_dir)
    assert _revision(url) == "0005"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(OLD_VAULT)).scalar() == len(VALUES)
    engine.dispose()


def test_downgrade_only_from_an_empty_vault(store: Store, keys: KeyManager, admin: Principal) -> None:
    """Widening 16-byte fingerprints back is impossible, so only an empty vault goes down to 0005."""
    with store._write() as conn:
        command.downgrade(_migrate.alembic_config(conn), "0005")
        command.upgrade(_migrate.alembic_config(conn), "head")
    vault_mod.Vault(keys, "tx", admin).tokenize_many(["x"])
    with pytest.raises(Exception, match="cannot be moved back"), store._write() as conn:
        command.downgrade(_migrate.alembic_config(conn), "0005")


def test_malformed_tokens_are_simply_absent(keys: KeyManager, admin: Principal) -> None:
    vault = vault_mod.Vault(keys, "tx", admin)
    [good] = vault.tokenize_many(["v"])
    for bad in ["", "tok_", good + "=", good[:-1], good.upper(), "tok_" + "A" * 21 + "B", good[4:], "x" * 10_000]:
        with pytest.raises(VaultError, match="1 of 2 tokens"):
            vault.detokenize_many([good, bad])


@given(st.binary(min_size=16, max_size=18).filter(lambda b: len(b) != 17))
def test_token_text_round_trips(raw: bytes) -> None:
    text = token_text(raw)
    assert token_raw(text) == raw and len(text) in (26, 28)


@given(st.text(max_size=40))
def test_token_raw_never_raises(text: str) -> None:
    raw = token_raw(text)
    assert raw is None or token_text(raw) == text


def test_sqlite_token_lookup_uses_token_index(store: Store) -> None:
    """Not the primary key's (project, vault) prefix: that would scan the whole vault per batch."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT token, sealed FROM protect_vault WHERE token IN (?, ?) "
            "AND +project = ? AND +vault = ?",
            (b"a", b"b", "bank", "tx"),
        ).all()
    assert "(token=?)" in " ".join(str(r[-1]) for r in plan), plan


def test_no_entries_for_a_data_key_that_is_gone(keys: KeyManager, admin: Principal, store: Store) -> None:
    """Without a per-row foreign key, the writer itself refuses entries whose data key was deleted."""
    vault = vault_mod.Vault(keys, "tx", admin)
    [tok] = vault.tokenize_many(["kept"])
    dek_id = vault._key().dek_id
    with store._write() as conn:
        for table in ("protect_vault_segments", "protect_vault_index"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE dek_id = :d"), {"d": dek_id})
        conn.execute(sa.text("DELETE FROM crypto_deks WHERE id = :d"), {"d": dek_id})
    with pytest.raises(VaultError, match="data key no longer exists"):
        vault.tokenize_many(["new value"])
    with store._read() as conn:
        for table in ("protect_vault_segments", "protect_vault_index"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0
    assert tok.startswith("tok_")
