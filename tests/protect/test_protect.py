"""Operators, vault, text and table protection, minimization and crypto-shredding of protected data."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.store import Store
from bastion.crypto.keys import AccessDenied, KeyManager, Principal
from bastion.data.protect import (
    OpSpec,
    ProtectError,
    Protector,
    TablePolicy,
    VaultError,
    minimize,
    protect_table,
    resolve_overlaps,
    unprotect_table,
)

CARDS = ["4111111111111111", "5500-0000-0000-0004", "4111111111111111"]


@dataclass
class E:
    entity_type: str
    start: int
    end: int
    score: float = 1.0


def test_one_way_operators(keys: KeyManager, admin: Principal) -> None:
    p = Protector(keys, admin, key_id="tx")
    assert p.protect_values(CARDS, {"op": "mask", "keep_last": 4})[1] == "****-****-****-0004"
    assert p.protect_values(["a@b.c"], "redact") == [""]
    assert p.protect_values(["a@b.c"], "placeholder", entity_type="EMAIL") == ["<EMAIL>"]
    h = p.protect_values(CARDS, "hmac")
    assert h[0] == h[2] != h[1] and len(h[0]) == 32
    assert Protector(keys, admin, key_id="tx").protect_values(CARDS[:1], "hmac") == h[:1]  # stable across runs
    other = p.protect_values(CARDS[:1], {"op": "hmac", "domain": "other"})
    assert other != h[:1]
    s = p.protect_values(["Jane Doe", "Jane Doe", "jane@corp.com"], {"op": "surrogate", "type": "PERSON"})
    assert s[0] == s[1] and s[0] != "Jane Doe" and " " in s[0]


def test_surrogates_keep_formats(keys: KeyManager, admin: Principal) -> None:
    from bastion.data._detect.validators import luhn as luhn_ok

    p = Protector(keys, admin, key_id="tx")
    [card] = p.protect_values(["4111 1111 1111 1111"], {"op": "surrogate", "type": "CREDIT_CARD"})
    assert card[0] == "4" and card.count(" ") == 3 and card != "4111 1111 1111 1111"
    assert luhn_ok(card.replace(" ", ""))
    [iban] = p.protect_values(["DE89370400440532013000"], {"op": "surrogate", "type": "IBAN_CODE"})
    assert iban.startswith("DE") and len(iban) == 22
    assert int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1
    [email] = p.protect_values(["x@y.org"], {"op": "surrogate", "type": "EMAIL_ADDRESS"})
    assert "@example." in email


def test_reversible_operators_round_trip(keys: KeyManager, admin: Principal) -> None:
    p = Protector(keys, admin, key_id="tx")
    for op in ("fpe", "encrypt", "tokenize"):
        out = p.protect_values(CARDS, op)
        assert out[0] != CARDS[0]
        assert p.reverse_values(out, op) == CARDS
    f = p.protect_values(CARDS, "fpe")
    assert f[0] == f[2] and len(f[1]) == len(CARDS[1]) and f[1][4] == "-"
    t = p.protect_values(CARDS, "tokenize")
    assert t[0] == t[2] and t[0].startswith("tok_")
    assert p.protect_values(CARDS[:1], "tokenize") == t[:1]  # the vault reuses tokens
    with pytest.raises(ProtectError, match="one-way"):
        p.reverse_values(["x"], "hmac")


def test_reversal_requires_rights(keys: KeyManager, store: Store) -> None:
    etl = Principal.of("etl", ["protector"])
    p = Protector(keys, etl, key_id="tx")
    tokens = p.protect_values(CARDS, "tokenize")
    fpe = p.protect_values(CARDS, "fpe")
    with pytest.raises(AccessDenied):
        p.reverse_values(tokens, "tokenize")
    with pytest.raises(AccessDenied):
        p.reverse_values(fpe, "fpe")
    owner = Protector(keys, Principal.of("olga", ["data-owner"]), key_id="tx")
    assert owner.reverse_values(tokens, "tokenize") == CARDS
    events = [e for e in store.audit.events("bank") if e.kind.startswith("vault.")]
    assert [e.kind for e in events] == ["vault.tokenized", "vault.detokenized"]
    assert events[1].data == {"tokens": 2}
    dumped = json.dumps([e.to_dict() for e in store.audit.events("bank")])
    assert not any(c in dumped or c[-8:] in dumped for c in CARDS)  # not "4111": timestamps can contain it


def test_missing_and_forged_tokens(keys: KeyManager, admin: Principal) -> None:
    p = Protector(keys, admin, key_id="tx")
    good = p.protect_values(["a1"], "tokenize")
    with pytest.raises(VaultError, match="1 of 2 tokens"):
        p.reverse_values([good[0], "tok_forged"], "tokenize")
    with pytest.raises(ProtectError, match="authentication"):
        p.reverse_values(["enc2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"], "encrypt")
    with pytest.raises(ProtectError, match="older 'enc:' format"):
        p.reverse_values(["enc:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"], "encrypt")
    with pytest.raises(ProtectError, match="FF1 needs at least"):
        p.protect_values(["12"], "fpe")
    assert p.protect_values(["12"], {"op": "fpe", "on_invalid": "keep"}) == ["12"]


def test_keyed_operator_without_key() -> None:
    p = Protector(None, Principal.of("x", ["admin"]))
    assert p.protect_values(["a@b.c"], "mask") == ["*@*.c"]
    with pytest.raises(ProtectError, match="needs a key"):
        p.protect_values(["a"], "hmac")


@pytest.mark.parametrize(
    "bad",
    [
        {"op": "nope"},
        {"op": "mask", "keep_last": -1},
        {"op": "hmac", "length": 4},
        {"op": "mask", "colour": "red"},
        {"op": "fpe", "on_invalid": "ignore"},
        42,
    ],
)
def test_bad_operator_specs(bad: object) -> None:
    with pytest.raises(ProtectError):
        OpSpec.parse(bad)


def test_overlaps_resolved_deterministically() -> None:
    ents = [E("PHONE", 5, 15, 0.9), E("NUMBER", 5, 10, 0.99), E("PERSON", 0, 4), E("CARD", 12, 20), E("X", 20, 22)]
    for perm in (ents, list(reversed(ents))):
        assert [e.entity_type for e in resolve_overlaps(perm)] == ["PERSON", "PHONE", "X"]
    tie = [E("B", 0, 5, 0.5), E("A", 0, 5, 0.5)]
    assert resolve_overlaps(tie)[0].entity_type == "A"


def test_text_protect_and_restore(keys: KeyManager, admin: Principal) -> None:
    p = Protector(
        keys,
        admin,
        key_id="tx",
        text_policy={"EMAIL_ADDRESS": "tokenize", "PERSON": "surrogate", "IBAN_CODE": "fpe", "*": "placeholder"},
    )
    prompt = (
        "Email john.smith@example-mail.com about IBAN DE89370400440532013000; ask John Smith to call +49 30 1234567."
    )
    safe = p.protect_text(prompt)
    assert "john.smith@" not in safe.text and "DE89370400440532013000" not in safe.text
    assert "<PHONE_NUMBER_1>" in safe.text
    assert safe.restore(safe.text) == prompt
    answer = f"Sure. I wrote to {safe.text.split()[1]} and noted <PHONE_NUMBER_1>."
    assert "john.smith@example-mail.com" in safe.restore(answer) and "+49 30 1234567" in safe.restore(answer)
    for ch in safe.changes:
        assert safe.text[ch.new_start : ch.new_end] in safe.mapping


def test_adjacent_entities_each_replaced(keys: KeyManager, admin: Principal) -> None:
    p = Protector(keys, admin, key_id="tx", text_policy={"*": "placeholder"})
    text = "AAAABBBB"
    out = p.protect_text(text, entities=[E("A", 0, 4), E("B", 4, 8)])
    assert out.text == "<A_1><B_1>" and out.restore(out.text) == text
    with pytest.raises(ProtectError, match="outside"):
        p.protect_text(text, entities=[E("A", 0, 99)])


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(alphabet="abc XYZ-0123", min_size=1, max_size=40),
    spans=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 8)), max_size=6),
)
def test_placeholder_round_trip_property(text: str, spans: list[tuple[int, int]]) -> None:
    from bastion.data._protect.operators import Keyring
    from bastion.data._protect.text import TextPolicy, protect_text

    ents = [E("T", s, min(s + n, len(text))) for s, n in spans if s < len(text)]
    ents = [e for e in ents if e.end > e.start]
    ring = Keyring(None, None, Principal.of("x", ["admin"]))
    out = protect_text(text, TextPolicy({"*": "placeholder"}), ring, entities=ents)
    if "<T_" not in text:
        assert out.restore(out.text) == text


POLICY: dict[str, Any] = {
    "key": "tx",
    "default": "keep",
    "columns": {
        "name": {"op": "surrogate", "type": "PERSON"},
        "email": "tokenize",
        "phone": {"op": "mask", "keep_last": 3},
        "iban": "hmac",
        "card": "fpe",
        "secret_note": "encrypt",
        "notes": {"op": "detect", "entities": {"*": "placeholder"}},
    },
}


def _write_csv(path: Path, rows: int = 30) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "email", "phone", "iban", "card", "secret_note", "notes", "amount"])
        for i in range(rows):
            w.writerow(
                [
                    f"{i:04d}",
                    f"Person {i % 7}",
                    f"user{i % 5}@example-mail.com",
                    f"+49 30 {1000000 + i}",
                    "DE89370400440532013000",
                    f"41111111111{i:05d}",
                    f'note, with "quotes" {i}' if i % 3 else "",
                    f"contact user{i}@example-mail.com" if i % 2 else "nothing here",
                    f"{i * 1.5:.2f}",
                ]
            )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_table_round_trip(keys: KeyManager, admin: Principal, store: Store, tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "tx.csv"
    _write_csv(src)
    if fmt != "csv":
        from bastion.data._protect.table import read_table, write_table

        t = read_table(src)
        src2 = tmp_path / f"tx.{fmt}"
        write_table(t, src2, set(t.columns))
        src = src2
    out = tmp_path / f"out.{fmt}"
    rep = protect_table(src, POLICY, out, keys=keys, who=admin, report_path=tmp_path / "r.json")
    cols = {c["column"]: c for c in rep.to_dict()["columns"]}
    assert rep.rows == 30 and cols["card"]["changed"] == 30 and cols["amount"]["op"] == "keep"
    assert cols["secret_note"]["empty"] == 10 and cols["notes"]["entities_replaced"] == 15
    body = out.read_bytes()
    assert b"example-mail.com" not in body and b"DE8937" not in body and b"4111111111100003" not in body
    assert json.loads((tmp_path / "r.json").read_text())["rows"] == 30
    back = tmp_path / f"back.{fmt}"
    unprotect_table(
        out,
        {**POLICY, "columns": {k: v for k, v in POLICY["columns"].items() if k != "notes"}},
        back,
        keys=keys,
        who=admin,
    )
    from bastion.data._protect.table import column_values, read_table

    a, b = read_table(src), read_table(back)
    for col in ("email", "card", "secret_note", "id", "amount"):
        assert [str(x) for x in column_values(a, col)] == [str(x) for x in column_values(b, col)], col
    assert any(e.kind == "data.protected" for e in store.audit.events("bank"))


def test_bad_tables_and_policies(keys: KeyManager, admin: Principal, tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ProtectError, match="row 3"):
        protect_table(src, {"columns": {}}, tmp_path / "o.csv", keys=keys, who=admin)
    src.write_text("a,b\n1,2\n")
    with pytest.raises(ProtectError, match="not in the dataset"):
        protect_table(src, {"columns": {"zzz": "redact"}}, tmp_path / "o.csv", keys=keys, who=admin)
    with pytest.raises(ProtectError, match="unknown policy field"):
        TablePolicy.load({"colums": {}})
    pol = tmp_path / "p.yaml"
    pol.write_text("columns: [unclosed")
    with pytest.raises(ProtectError, match="invalid YAML"):
        TablePolicy.load(pol)
    with pytest.raises(ProtectError, match="unsupported"):
        protect_table(src, {"columns": {}}, tmp_path / "o.xlsx", keys=keys, who=admin)
    with pytest.raises(ProtectError, match="overwrite"):
        protect_table(src, {"columns": {}}, src, keys=keys, who=admin)
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n[1,2]\n')
    with pytest.raises(ProtectError, match="line 2"):
        protect_table(tmp_path / "bad.jsonl", {"columns": {}}, tmp_path / "o.jsonl", keys=keys, who=admin)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1garbagePAR1")
    with pytest.raises(ProtectError, match="Parquet"):
        protect_table(tmp_path / "bad.parquet", {"columns": {}}, tmp_path / "o.parquet", keys=keys, who=admin)
    assert not (tmp_path / "o.csv").exists()


def test_shredding_makes_protected_data_unrecoverable(keys: KeyManager, admin: Principal, store: Store) -> None:
    p = Protector(keys, admin, key_id="tx")
    tokens = p.protect_values(CARDS, "tokenize")
    enc = p.protect_values(CARDS, "encrypt")
    result = keys.shred("tx", admin)
    assert result.vault_entries_destroyed == 2 and result.data_keys_destroyed >= 2
    fresh = Protector(keys, admin, key_id="tx")
    with pytest.raises(VaultError):
        fresh.reverse_values(tokens, "tokenize")
    with pytest.raises(ValueError):  # KeyShreddedError
        fresh.reverse_values(enc, "encrypt")
    assert store.audit.verify().ok
    assert next(e for e in store.audit.events("bank") if e.kind == "key.shredded").data["vault_entries_destroyed"] == 2


def test_minimization(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_text("name,email,amount,ts\nA,a@x.com,1,2020-01-01T00:00:00\nB,b@x.com,2,2026-01-01T00:00:00\n")
    rep = minimize(
        src,
        features=["amount", "email"],
        sensitive={"name": ["PERSON"], "email": ["EMAIL_ADDRESS"]},
        retention={"EMAIL_ADDRESS": 365},
        timestamp_column="ts",
        now=datetime(2026, 6, 1, tzinfo=UTC),
    )
    assert rep.unused_sensitive == ["name"]
    ids = sorted(f.rule_id for f in rep.findings)
    assert ids == [
        "data.minimize.retention-exceeded",
        "data.minimize.unused-sensitive-column",
        "data.minimize.unused-sensitive-column",
    ]
    assert rep.suggested_policy() == {"default": "keep", "columns": {"name": "redact"}}
    assert all("a@x.com" not in f.evidence for f in rep.findings)
    cfg = tmp_path / "train.yaml"
    cfg.write_text("features: [amount]\nlabel: is_fraud\n")
    from bastion.data.protect import features_from_config

    assert features_from_config(cfg) == ["amount", "is_fraud"]
    cfg.write_text("nothing: here\n")
    with pytest.raises(ProtectError, match="no 'features'"):
        features_from_config(cfg)


def test_minimize_rules_map_to_catalog() -> None:
    from bastion.core.controls import validate_refs
    from bastion.data.protect import MINIMIZE_RULES

    for rule in MINIMIZE_RULES.values():
        assert validate_refs(rule.controls) == [], rule.id


def test_vault_with_hostile_name(keys: KeyManager, admin: Principal) -> None:
    """Vault names reach COPY's text format and SQL parameters: escaping must hold on both databases."""
    p = Protector(keys, admin, key_id="tx")
    op = {"op": "tokenize", "vault": "v\t\\x\n\r'; drop table protect_vault; --"}
    toks = p.protect_values(["a", "b", "a"], op)
    assert toks[0] == toks[2] != toks[1]
    assert p.protect_values(["b"], op) == [toks[1]]
    assert p.reverse_values(toks, op) == ["a", "b", "a"]
    with pytest.raises(VaultError):
        p.reverse_values(toks, "tokenize")  # another vault under the same key


def test_unprotect_ignores_a_planted_symlink_and_writes_owner_only(
    keys: KeyManager, admin: Principal, tmp_path: Path
) -> None:
    """Restored personal data: no write through a symlink at a guessable temp name, and mode 0600."""
    import stat

    src = tmp_path / "tx.csv"
    _write_csv(src, rows=5)
    safe = tmp_path / "safe.csv"
    policy = {"key": "tx", "default": "keep", "columns": {"email": "tokenize", "card": "fpe"}}
    protect_table(src, policy, safe, keys=keys, who=admin)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"untouched")
    back = tmp_path / "restored" / "back.csv"
    back.parent.mkdir()
    link = back.with_name(f".{back.name}.{os.getpid()}.partial")  # the old predictable temp name
    link.symlink_to(victim)
    unprotect_table(safe, policy, back, keys=keys, who=admin)
    assert victim.read_bytes() == b"untouched"
    assert back.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(back.stat().st_mode) == 0o600


def _table_policy(**encrypt: Any) -> dict[str, Any]:
    return {
        "key": "tx",
        "default": "keep",
        "columns": {"secret_note": {"op": "encrypt", **encrypt}, "notes": "encrypt"},
    }


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _rewrite(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_encrypted_value_moved_to_another_column_fails_restore(
    keys: KeyManager, admin: Principal, tmp_path: Path
) -> None:
    """`encrypt` binds the column name: a ciphertext copied into another encrypted column is refused."""
    src, safe, back = tmp_path / "tx.csv", tmp_path / "safe.csv", tmp_path / "back.csv"
    _write_csv(src, rows=6)
    policy = _table_policy()
    protect_table(src, policy, safe, keys=keys, who=admin)
    rows = _rows(safe)
    assert rows[1]["secret_note"].startswith("enc2:")
    unprotect_table(safe, policy, back, keys=keys, who=admin)  # untouched: restores
    assert _rows(back) == _rows(src)
    rows[0]["notes"] = rows[1]["secret_note"]  # same key, same domain, other column
    _rewrite(safe, rows)
    with pytest.raises(ProtectError, match="column 'notes' fails authentication"):
        unprotect_table(safe, policy, tmp_path / "back2.csv", keys=keys, who=admin)
    assert not (tmp_path / "back2.csv").exists()


def test_encrypted_value_moved_to_another_row_fails_restore_with_row_key(
    keys: KeyManager, admin: Principal, tmp_path: Path
) -> None:
    """With `row_key: id` the row's key is bound too: swapping two rows' ciphertexts is refused."""
    src, safe = tmp_path / "tx.csv", tmp_path / "safe.csv"
    _write_csv(src, rows=6)
    policy = _table_policy(row_key="id")
    protect_table(src, policy, safe, keys=keys, who=admin)
    unprotect_table(safe, policy, tmp_path / "ok.csv", keys=keys, who=admin)
    assert _rows(tmp_path / "ok.csv") == _rows(src)
    rows = _rows(safe)
    rows[1]["secret_note"], rows[2]["secret_note"] = rows[2]["secret_note"], rows[1]["secret_note"]
    _rewrite(safe, rows)
    with pytest.raises(ProtectError, match="column 'secret_note' fails authentication"):
        unprotect_table(safe, policy, tmp_path / "back.csv", keys=keys, who=admin)
    # Without a row key only the column is bound: the same swap restores (documented limit).
    protect_table(src, _table_policy(), safe, keys=keys, who=admin)
    rows = _rows(safe)
    rows[1]["secret_note"], rows[2]["secret_note"] = rows[2]["secret_note"], rows[1]["secret_note"]
    _rewrite(safe, rows)
    unprotect_table(safe, _table_policy(), tmp_path / "swapped.csv", keys=keys, who=admin)


def test_row_key_policy_errors(keys: KeyManager, admin: Principal, tmp_path: Path) -> None:
    src = tmp_path / "tx.csv"
    _write_csv(src, rows=2)
    with pytest.raises(ProtectError, match="row_key 'nope' is not a column"):
        protect_table(src, _table_policy(row_key="nope"), tmp_path / "o.csv", keys=keys, who=admin)
    cyclic = {
        "key": "tx",
        "columns": {"secret_note": {"op": "encrypt", "row_key": "id"}, "id": {"op": "encrypt", "row_key": "name"}},
    }
    with pytest.raises(ProtectError, match="itself encrypted with a row_key"):
        protect_table(src, cyclic, tmp_path / "o.csv", keys=keys, who=admin)
    with pytest.raises(ProtectError, match="row_key must be"):
        protect_table(src, _table_policy(row_key=3), tmp_path / "o.csv", keys=keys, who=admin)


def test_row_key_column_protected_too(keys: KeyManager, admin: Principal, tmp_path: Path) -> None:
    """The row key is bound as stored in the protected file, so it may itself be tokenized."""
    src, safe, back = tmp_path / "tx.csv", tmp_path / "safe.csv", tmp_path / "back.csv"
    _write_csv(src, rows=6)
    policy = {
        "key": "tx",
        "columns": {"secret_note": {"op": "encrypt", "row_key": "email"}, "email": "tokenize"},
    }
    protect_table(src, policy, safe, keys=keys, who=admin)
    unprotect_table(safe, policy, back, keys=keys, who=admin)
    assert _rows(back) == _rows(src)


def test_v1_values_restore_only_when_the_policy_accepts_them(keys: KeyManager, admin: Principal) -> None:
    """Values written before column binding ('enc:', AAD = domain) need an explicit accept_v1."""
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    p = Protector(keys, admin, key_id="tx")
    key = p.ring.material("encrypt", "default")
    nonce = os.urandom(12)
    v1 = "enc:" + base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, b"4111", b"default")).decode()
    with pytest.raises(ProtectError, match="accept_v1"):
        p.reverse_values([v1], "encrypt")
    assert p.reverse_values([v1], {"op": "encrypt", "accept_v1": True}) == ["4111"]
