"""The audit chain: hashing, refusal of raw values, checkpoints, tamper detection (both DBs), CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from bastion.cli._common import state as cli_state
from bastion.cli.app import app
from bastion.core import audit as audit_mod
from bastion.core._audit.hashing import checkpoint_message
from bastion.core._audit.keys import key_id
from bastion.core._audit.verify import verify_chain
from bastion.core.audit import ZERO_HASH, AuditDataError, Event, Problem, event_hash
from bastion.core.store import Store

# -- helpers ------------------------------------------------------------------------------


def _fill(store: Store, n: int, project: str = "default") -> list[Event]:
    return [
        store.audit.append(project, "test.event", f"actor{i % 3}", f"subject-{i}", {"i": i, "f": i / 3})
        for i in range(n)
    ]


def _sql(store: Store, *statements: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s), params)


def _problems(store: Store) -> list[tuple[int, str]]:
    report = store.audit.verify()
    return [(p.seq, p.kind) for p in report.problems]


def _insert_row(conn: Connection, ev: Event) -> None:
    conn.execute(
        text(
            "INSERT INTO audit_events (seq, ts, project, kind, actor, subject, data, prev_hash, hash) "
            "VALUES (:seq, :ts, :project, :kind, :actor, :subject, :data, :prev_hash, :hash)"
        ),
        {
            **ev.to_dict(),
            "ts": ev.ts.replace(tzinfo=None) if conn.dialect.name == "sqlite" else ev.ts,
            "data": json.dumps(ev.data),
        },
    )


def _shift_up(conn: Connection, from_seq: int, by: int) -> None:
    """Renumber seq >= from_seq by +by, the way an attacker makes room (via a detour past the PK)."""
    conn.execute(text("UPDATE audit_events SET seq = -seq WHERE seq >= :s"), {"s": from_seq})
    conn.execute(text("UPDATE audit_events SET seq = -seq + :by WHERE seq < 0"), {"by": by})


# -- hashing and appends ------------------------------------------------------------------


def test_hash_is_the_documented_canonical_sha256(store: Store) -> None:
    first, second = _fill(store, 2)
    assert first.seq == 1 and first.prev_hash == ZERO_HASH and second.prev_hash == first.hash
    body = {
        "seq": 2,
        "ts": second.ts.astimezone(UTC).isoformat(timespec="microseconds"),
        "project": "default",
        "kind": "test.event",
        "actor": "actor1",
        "subject": "subject-1",
        "data": {"i": 1, "f": 1 / 3},
        "prev_hash": first.hash,
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(raw).hexdigest() == second.hash
    # What is read back hashes the same (timestamps and floats survive the database).
    stored = list(store.audit.events())
    assert stored == [first, second]
    assert stored[1].ts == second.ts and stored[1].ts.tzinfo is not None


@pytest.mark.parametrize(
    "data",
    [
        {"evidence": "4111 1111 1111 1111"},
        {"nested": {"Password": "x"}},
        {"items": [{"raw": "x"}]},
        {"note": "x" * 5000},
        {"n": float("nan")},
        {"obj": object()},
        {1: "non-string key"},
    ],
    ids=["evidence", "password", "raw-in-list", "long-string", "nan", "object", "int-key"],
)
def test_raw_or_non_json_data_is_refused(store: Store, data: dict[Any, Any]) -> None:
    with pytest.raises(AuditDataError):
        store.audit.append("default", "x", "me", "s", data)
    assert list(store.audit.events()) == []


def test_oversized_data_is_refused(store: Store) -> None:
    with pytest.raises(AuditDataError, match="limit"):
        store.audit.append("default", "x", "me", "s", {"ids": [f"id-{i:08d}" for i in range(10_000)]})


def test_append_joins_the_callers_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store._write() as conn:
        store.audit.append("default", "x", "me", "s", {"n": 1}, session=conn)
        raise RuntimeError("roll back")
    assert list(store.audit.events()) == []
    with store._write() as conn:
        store.audit.append("default", "x", "me", "s", {"n": 1}, session=conn)
    assert len(list(store.audit.events())) == 1


def test_events_iteration_and_export(store: Store) -> None:
    _fill(store, 3, project="a")
    _fill(store, 2, project="b")
    assert [e.seq for e in store.audit.events(since_seq=3)] == [4, 5]
    assert [e.seq for e in store.audit.tail(2)] == [4, 5]
    out = StringIO()
    assert store.audit.export(out, project="b") == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [4, 5]
    # Anyone can recheck an exported chain from the documented formula.
    full = StringIO()
    assert store.audit.export(full) == 5
    prev = ZERO_HASH
    for line in full.getvalue().splitlines():
        ev = json.loads(line)
        assert ev["prev_hash"] == prev
        args = {k: ev[k] for k in ("seq", "project", "kind", "actor", "subject", "data", "prev_hash")}
        assert event_hash(ts=datetime.fromisoformat(ev["ts"]), **args) == ev["hash"]
        prev = ev["hash"]


# -- checkpoints and keys -------------------------------------------------------------------


def test_checkpoint_key_files_and_signature(store: Store, state_dir: Path) -> None:
    assert store.audit.checkpoint() is None  # nothing to sign yet
    events = _fill(store, 3)
    cp = store.audit.checkpoint()
    assert cp is not None and (cp.seq, cp.hash) == (3, events[-1].hash)
    assert store.audit.checkpoint() == cp  # same head: no duplicate checkpoint
    keys = state_dir / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "audit-ed25519.pem").stat().st_mode) == 0o600
    assert (keys / "audit-ed25519.pub.pem").is_file()
    report = store.audit.verify()
    assert report.ok and report.checkpoints_checked == 1 and report.events_checked == 3
    # The key stays outside the database.
    with store.engine.connect() as conn:
        dumped = str(conn.execute(text("SELECT * FROM audit_checkpoints")).all())
    assert "PRIVATE" not in dumped


def test_automatic_checkpoints(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bastion.core._audit.log.CHECKPOINT_EVERY", 4)
    _fill(store, 9)
    assert [c.seq for c in store.audit.checkpoints()] == [4, 8]
    assert store.audit.verify().ok


def test_missing_public_key_fails_closed(store: Store, state_dir: Path) -> None:
    _fill(store, 2)
    store.audit.checkpoint()
    shutil.rmtree(state_dir / "keys")
    fresh = Store.open(store.engine.url.render_as_string(hide_password=False), state_dir=state_dir)
    try:
        report = fresh.audit.verify()
    finally:
        fresh.close()
    assert [(p.seq, p.kind) for p in report.problems] == [(2, "bad_signature")]
    assert "no public key" in report.problems[0].message


# -- tampering, on both databases -----------------------------------------------------------


def test_intact_chain_verifies(store: Store) -> None:
    _fill(store, 12)
    store.audit.checkpoint()
    report = store.audit.verify()
    assert report.ok and report.events_checked == 12 and report.head_seq == 12


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", '{"i": 999, "f": 0.0}'),
        ("actor", "mallory"),
        ("subject", "other"),
        ("kind", "asset.vanished"),
        ("project", "elsewhere"),
        ("hash", "f" * 64),
        ("prev_hash", "e" * 64),
    ],
)
def test_modified_event_is_named(store: Store, column: str, value: str) -> None:
    _fill(store, 10)
    _sql(store, f"UPDATE audit_events SET {column} = :v WHERE seq = 5", v=value)
    assert _problems(store) == [(5, "modified")]


def test_modified_timestamp_is_named(store: Store) -> None:
    _fill(store, 10)
    ev = next(e for e in store.audit.events() if e.seq == 7)
    with store.engine.begin() as conn:
        ts = ev.ts + timedelta(seconds=1)
        conn.execute(
            text("UPDATE audit_events SET ts = :ts WHERE seq = 7"),
            {"ts": ts.replace(tzinfo=None) if conn.dialect.name == "sqlite" else ts},
        )
    assert _problems(store) == [(7, "modified")]


def test_modified_with_recomputed_hash_is_named(store: Store) -> None:
    events = _fill(store, 10)
    e = events[4]
    forged = dict(e.to_dict(), data={"i": 999, "f": 0.0})
    forged.pop("hash")
    forged["ts"] = e.ts
    new_hash = event_hash(**forged)
    _sql(
        store,
        "UPDATE audit_events SET data = :d, hash = :h WHERE seq = 5",
        d=json.dumps({"i": 999, "f": 0.0}),
        h=new_hash,
    )
    assert _problems(store) == [(5, "modified")]


@pytest.mark.parametrize("renumber", [False, True], ids=["gap", "renumbered"])
def test_deleted_event_is_named(store: Store, renumber: bool) -> None:
    _fill(store, 10)
    stmts = ["DELETE FROM audit_events WHERE seq IN (5, 6)"]
    if renumber:
        stmts += [
            "UPDATE audit_events SET seq = -seq WHERE seq > 6",
            "UPDATE audit_events SET seq = -seq - 2 WHERE seq < 0",
        ]
    _sql(store, *stmts)
    report = store.audit.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(5, "deleted")]
    assert "5-6" in report.problems[0].message


@pytest.mark.parametrize("forge_hash", [True, False], ids=["valid-hash", "garbage-hash"])
def test_inserted_event_is_named(store: Store, forge_hash: bool) -> None:
    events = _fill(store, 10)
    before = events[3]
    ts = before.ts + timedelta(microseconds=1)
    fields: dict[str, Any] = {
        "seq": 5,
        "project": "default",
        "kind": "asset.registered",
        "actor": "mallory",
        "subject": "backdoor.pt",
        "data": {"i": -1},
        "prev_hash": before.hash,
    }
    digest = event_hash(ts=ts, **fields) if forge_hash else "a" * 64
    with store.engine.begin() as conn:
        _shift_up(conn, 5, 1)
        _insert_row(conn, Event(ts=ts, hash=digest, **fields))
    assert _problems(store) == [(5, "inserted")]


def test_reordered_events_are_named(store: Store) -> None:
    _fill(store, 10)
    _sql(
        store,
        "UPDATE audit_events SET seq = -5 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -5",
    )
    report = store.audit.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(5, "reordered"), (6, "reordered")]
    assert "written as seq 6" in report.problems[0].message


def test_event_moved_far_is_reordered(store: Store) -> None:
    _fill(store, 30)
    _sql(store, "UPDATE audit_events SET seq = 100 WHERE seq = 3")
    assert _problems(store) == [(100, "reordered")]


def test_truncated_tail_after_checkpoint(store: Store) -> None:
    _fill(store, 10)
    store.audit.checkpoint()
    _sql(store, "DELETE FROM audit_events WHERE seq > 7")
    report = store.audit.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(8, "truncated")]
    assert "8-10" in report.problems[0].message


def test_rewritten_chain_is_caught_by_checkpoint(store: Store) -> None:
    """An attacker who recomputes every hash from seq 4 on still cannot match the signed head."""
    events = _fill(store, 8)
    store.audit.checkpoint()
    prev = events[2].hash
    with store.engine.begin() as conn:
        for e in events[3:]:
            fields = dict(e.to_dict(), actor="mallory", prev_hash=prev, ts=e.ts)
            fields.pop("hash")
            new = event_hash(**fields)
            conn.execute(
                text("UPDATE audit_events SET actor = 'mallory', prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": new, "s": e.seq},
            )
            prev = new
    assert _problems(store) == [(8, "modified")]


def test_forged_checkpoints_are_named(store: Store) -> None:
    _fill(store, 6)
    store.audit.checkpoint()
    _fill(store, 2)
    store.audit.checkpoint()
    # 1) a checkpoint edited to vouch for another hash
    _sql(store, "UPDATE audit_checkpoints SET hash = :h WHERE seq = 6", h="b" * 64)
    # 2) a checkpoint signed by a key that is not ours
    other = Ed25519PrivateKey.generate()
    kid = key_id(other.public_key())
    ts = datetime.now(UTC)
    sig = other.sign(checkpoint_message(seq=8, hash="c" * 64, ts=ts, key_id=kid)).hex()
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_checkpoints (seq, hash, ts, signature, key_id) VALUES (8, :h, :ts, :s, :k)"),
            {"h": "c" * 64, "ts": ts.replace(tzinfo=None) if conn.dialect.name == "sqlite" else ts, "s": sig, "k": kid},
        )
    report = store.audit.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(6, "bad_signature"), (8, "bad_signature")]
    assert "unknown key" in report.problems[1].message


# -- verification logic without a database (property tests) ------------------------------------


def _chain(n: int) -> list[Event]:
    out: list[Event] = []
    prev = ZERO_HASH
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        fields: dict[str, Any] = {
            "seq": i,
            "ts": t0 + timedelta(seconds=i),
            "project": "p",
            "kind": "k",
            "actor": "a",
            "subject": f"s{i}",
            "data": {"i": i},
            "prev_hash": prev,
        }
        prev = event_hash(**fields)
        out.append(Event(hash=prev, **fields))
    return out


def _renumber(events: list[Event]) -> list[Event]:
    return [Event(**dict(e.to_dict(), seq=i + 1, ts=e.ts)) for i, e in enumerate(events)]


def _verify(events: list[Event]) -> list[Problem]:
    return verify_chain(sorted(events, key=lambda e: e.seq), [], {}).problems


Tamper = Callable[[list[Event], int], tuple[list[Event], list[tuple[int, str]]]]


def _t_modify(ev: list[Event], k: int) -> tuple[list[Event], list[tuple[int, str]]]:
    e = ev[k - 1]
    ev[k - 1] = Event(**dict(e.to_dict(), subject="evil", ts=e.ts))
    return ev, [(k, "modified")]


def _t_delete(ev: list[Event], k: int) -> tuple[list[Event], list[tuple[int, str]]]:
    return [e for e in ev if e.seq != k], [(k, "deleted")]


def _t_delete_renumber(ev: list[Event], k: int) -> tuple[list[Event], list[tuple[int, str]]]:
    return _renumber([e for e in ev if e.seq != k]), [(k, "deleted")]


def _t_swap(ev: list[Event], k: int) -> tuple[list[Event], list[tuple[int, str]]]:
    a, b = ev[k - 1], ev[k]
    ev[k - 1] = Event(**dict(b.to_dict(), seq=k, ts=b.ts))
    ev[k] = Event(**dict(a.to_dict(), seq=k + 1, ts=a.ts))
    return ev, [(k, "reordered"), (k + 1, "reordered")]


def _t_insert(ev: list[Event], k: int) -> tuple[list[Event], list[tuple[int, str]]]:
    prev = ev[k - 2].hash if k > 1 else ZERO_HASH
    fields: dict[str, Any] = dict(ev[k - 1].to_dict(), subject="forged", prev_hash=prev, ts=ev[k - 1].ts)
    fields.pop("hash")
    forged = Event(hash=event_hash(**fields), **fields)
    return _renumber([*ev[: k - 1], forged, *ev[k - 1 :]]), [(k, "inserted")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=3, max_value=40),
    where=st.floats(min_value=0.0, max_value=1.0),
    tamper=st.sampled_from([_t_modify, _t_delete, _t_delete_renumber, _t_swap, _t_insert]),
)
def test_each_tampering_is_named_exactly(n: int, where: float, tamper: Tamper) -> None:
    # Interior positions only: a change at the very tail is, by design, indistinguishable
    # from an append unless a checkpoint covers it (tested above against the databases).
    k = 2 + int(where * (n - 3))
    tampered, expected = tamper(_chain(n), k)
    assert [(p.seq, p.kind) for p in _verify(tampered)] == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=6).filter(lambda d: len(set(d)) < 30))
def test_arbitrary_deletions_are_all_reported(dropped: list[int]) -> None:
    gone = set(dropped)
    kept = [e for e in _chain(30) if e.seq not in gone]
    reported: set[int] = set()
    for p in _verify(kept):
        assert p.kind == "deleted"
        lo, _, hi = p.message.split()[1].partition("-")
        reported |= set(range(int(lo), int(hi or lo) + 1))
    # Deletions at the very tail need a checkpoint to be seen; everything else must be named.
    top = max((e.seq for e in kept), default=0)
    assert reported == {s for s in gone if s < top}


def test_verify_handles_garbage_rows() -> None:
    ev = _chain(5)
    ev[2] = Event(**dict(ev[2].to_dict(), data={"n": float("nan")}, ts=ev[2].ts))
    assert [(p.seq, p.kind) for p in _verify(ev)] == [(3, "modified")]
    assert verify_chain(iter(()), [], {}).ok


# -- CLI ----------------------------------------------------------------------------------


@pytest.fixture
def cli(db_url: str, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    monkeypatch.setenv("BASTION_STATE_DIR", str(state_dir))
    monkeypatch.delenv("BASTION_CONFIG", raising=False)
    monkeypatch.delenv("BASTION_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> Any:
        cli_state.close()
        cli_state._settings = None
        try:
            return runner.invoke(app, ["--db", db_url, *args])
        finally:
            cli_state.close()
            cli_state._settings = None

    yield run


def test_cli_verify_exit_codes(cli: Callable[..., Any], store: Store, tmp_path: Path) -> None:
    _fill(store, 5)
    store.audit.checkpoint()
    ok = cli("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    js = cli("audit", "verify", "--json")
    assert js.exit_code == 0 and json.loads(js.stdout)["events_checked"] == 5

    log = cli("audit", "log", "--limit", "2")
    assert log.exit_code == 0 and "subject-4" in log.output and "subject-2" not in log.output
    out = tmp_path / "audit.jsonl"
    exp = cli("audit", "export", "--out", str(out))
    assert exp.exit_code == 0 and len(out.read_text().splitlines()) == 5

    _sql(store, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    bad = cli("audit", "verify", "--json")
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["problems"][0]["seq"] == 2 and data["problems"][0]["kind"] == "modified"
    human = cli("audit", "verify")
    assert human.exit_code == 1 and "modified" in human.output


def test_cli_verify_on_unusable_store_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(b"not a database" * 100)
    monkeypatch.setenv("BASTION_STATE_DIR", str(tmp_path / "state"))
    cli_state.close()
    cli_state._settings = None
    try:
        result = CliRunner().invoke(app, ["--db", f"sqlite:///{db}", "audit", "verify"])
    finally:
        cli_state.close()
        cli_state._settings = None
    assert result.exit_code == 2
    assert "cannot open database" in result.output


def test_public_module_surface() -> None:
    for name in ("AuditLog", "Checkpoint", "VerifyReport", "Problem", "AuditError", "PROBLEM_KINDS"):
        assert hasattr(audit_mod, name)
