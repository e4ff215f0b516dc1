"""The store on SQLite and PostgreSQL: CRUD, incremental state, isolation, migrations, errors, concurrency."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bastion.core.audit import AuditDataError
from bastion.core.store import Store, StoreError
from bastion.core.store._schema import metadata
from bastion.core.types import Asset, AssetKind, Finding, Location, Severity


def _asset(uri: str = "models/fraud.pt", project: str = "default", **kw: object) -> Asset:
    base: dict[str, object] = {
        "uri": uri,
        "kind": AssetKind.MODEL,
        "format": "pytorch",
        "project": project,
        "digest": "sha256:" + "ab" * 32,
        "size": 1234,
        "owner": "ml-team",
        "framework": "torch",
        "classification": ["confidential"],
        "lineage": ["data/train.parquet"],
        "tags": {"stage": "dev", "nested": {"a": [1, 2.5, None]}},
        "risk": 0.4,
        "risk_reasons": ["unsigned"],
        "confidence": 0.9,
    }
    base.update(kw)
    return Asset(**base)  # type: ignore[arg-type]


def _finding(
    uri: str = "models/fraud.pt", rule: str = "MODEL001", sev: Severity = Severity.HIGH, line: int = 1
) -> Finding:
    return Finding(
        rule_id=rule,
        title="Unsafe pickle opcode",
        severity=sev,
        asset_uri=uri,
        location=Location(path=uri, line=line, pointer="offset:12"),
        scanner="pickle",
        confidence=0.75,
        evidence="GLOBAL os.system",
        remediation="Use safetensors",
        controls=("owasp-ml:ML06", "atlas:AML.T0010"),
        properties={"opcode": "GLOBAL"},
    )


def _kinds(store: Store) -> list[str]:
    return [e.kind for e in store.audit.events()]


def test_asset_roundtrip_and_change_detection(store: Store) -> None:
    a = _asset()
    assert store.upsert_asset(a, actor="alice", mtime=1700000000.5) is True
    assert store.get_asset("default", a.uri) == a
    # Same content: no change, no audit event.
    assert store.upsert_asset(a, actor="alice", mtime=1700000000.5) is False
    assert _kinds(store) == ["asset.registered"]
    assert store.asset_state("default", a.uri) == (1234, 1700000000.5, a.digest)
    # A new mtime alone is a change (the file was touched) and is audited.
    assert store.upsert_asset(a, actor="alice", mtime=1700000001.0) is True
    changed = _asset(size=99, digest="sha256:" + "cd" * 32)
    assert store.upsert_asset(changed, actor="bob", mtime=1700000001.0) is True
    assert store.get_asset("default", a.uri) == changed
    events = list(store.audit.events())
    assert [e.kind for e in events] == ["asset.registered", "asset.updated", "asset.updated"]
    assert events[-1].data["changed"] == ["digest", "size"]
    assert events[-1].actor == "bob" and events[-1].subject == a.uri
    assert store.asset_state("default", "nope") is None
    assert store.get_asset("default", "nope") is None


def test_vanish_and_reappear(store: Store) -> None:
    for uri in ("a.csv", "b.csv", "c.csv"):
        store.upsert_asset(_asset(uri, kind=AssetKind.DATASET, format="csv"), actor="x")
    assert store.mark_vanished("default", ["a.csv", "b.csv", "missing.csv", "a.csv"], actor="x") == 2
    assert store.mark_vanished("default", ["a.csv"], actor="x") == 0  # already vanished: no event
    assert [a.uri for a in store.list_assets("default")] == ["c.csv"]
    assert [a.uri for a in store.list_assets("default", include_vanished=True)] == ["a.csv", "b.csv", "c.csv"]
    assert _kinds(store).count("asset.vanished") == 2
    # Coming back unchanged still counts: it clears vanished_at and is audited.
    assert store.upsert_asset(_asset("a.csv", kind=AssetKind.DATASET, format="csv"), actor="x") is True
    assert [a.uri for a in store.list_assets("default")] == ["a.csv", "c.csv"]
    assert store.audit.tail(1)[0].data.get("reappeared") is True
    assert store.mark_vanished("default", [], actor="x") == 0


def test_list_assets_by_kind(store: Store) -> None:
    store.upsert_asset(_asset("m.pt"), actor="x")
    store.upsert_asset(_asset("d.csv", kind=AssetKind.DATASET, format="csv"), actor="x")
    assert [a.uri for a in store.list_assets("default", kind=AssetKind.DATASET)] == ["d.csv"]
    assert [a.uri for a in store.list_assets("default", kind=AssetKind.MODEL)] == ["m.pt"]


def test_projects_are_isolated(store: Store) -> None:
    store.upsert_asset(_asset("same.pt", project="team-a"), actor="x")
    store.upsert_asset(_asset("same.pt", project="team-b", owner="other"), actor="x")
    assert store.get_asset("team-a", "same.pt").owner == "ml-team"  # type: ignore[union-attr]
    assert store.get_asset("team-b", "same.pt").owner == "other"  # type: ignore[union-attr]
    sa = store.start_scan("team-a", "/data", actor="x")
    store.add_findings("team-a", sa, [_finding("same.pt")], actor="x")
    assert store.list_findings("team-b") == []
    assert store.list_scans("team-b") == [] and store.latest_scan("team-b") is None
    with pytest.raises(StoreError, match="another project"):
        store.add_findings("team-b", sa, [_finding("same.pt")], actor="x")
    assert store.mark_vanished("team-b", ["same.pt"], actor="x") == 1
    assert store.get_asset("team-a", "same.pt") in store.list_assets("team-a")
    # One chain for all projects; export can filter.
    assert {e.project for e in store.audit.events()} == {"team-a", "team-b"}
    assert {e.project for e in store.audit.events(project="team-a")} == {"team-a"}


def test_scan_lifecycle_and_findings(store: Store) -> None:
    scan_id = store.start_scan("default", "/srv/models", actor="ci")
    fs = [_finding(line=i, sev=Severity(i % 5)) for i in range(10)]
    assert store.add_findings("default", scan_id, fs, actor="ci") == 10
    assert store.add_findings("default", scan_id, [], actor="ci") == 0
    got = store.list_findings("default", scan_id=scan_id)
    assert got == fs
    assert [f.fingerprint for f in got] == [f.fingerprint for f in fs]
    assert len(store.list_findings("default", min_severity=Severity.HIGH)) == 4
    assert store.list_findings("default", asset_uri="other") == []
    latest = store.latest_scan("default")
    assert latest is not None and latest["status"] == "running" and latest["findings"] == 10
    store.finish_scan(
        scan_id, status="failed", summary={"files": 3, "findings": 10}, decision={"allow": False}, actor="ci"
    )
    latest = store.latest_scan("default")
    assert latest is not None
    assert latest["status"] == "failed" and latest["decision"] == {"allow": False} and latest["finished_at"]
    events = list(store.audit.events())
    assert [e.kind for e in events] == ["scan.started", "findings.recorded", "scan.finished", "policy.decision"]
    assert events[3].data["allow"] is False
    recorded = events[1].data
    assert recorded["count"] == 10 and len(recorded["fingerprints"]) == 10
    # Evidence never reaches the audit log.
    assert "os.system" not in str([e.to_dict() for e in events])
    # finish_scan signs a checkpoint at the head.
    cps = store.audit.checkpoints()
    assert [(c.seq, c.hash) for c in cps] == [(events[-1].seq, events[-1].hash)]
    second = store.start_scan("default", "/srv/models", actor="ci")
    assert [s["id"] for s in store.list_scans("default")] == [second, scan_id]


def test_unknown_scan_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown scan"):
        store.finish_scan("no-such-scan", status="ok", summary={}, decision=None, actor="x")
    with pytest.raises(StoreError, match="unknown scan"):
        store.add_findings("default", "no-such-scan", [_finding()], actor="x")
    assert list(store.audit.events()) == []


def test_state_and_audit_commit_together(store: Store) -> None:
    """An event the log refuses rolls back the state change it would have described."""
    scan_id = store.start_scan("default", "/x", actor="x")
    with pytest.raises(StoreError):  # NaN: refused by the database (PostgreSQL) or the log (SQLite)
        store.finish_scan(scan_id, status="ok", summary={"n": float("nan")}, decision=None, actor="x")
    latest = store.latest_scan("default")
    assert latest is not None and latest["status"] == "running"
    assert _kinds(store) == ["scan.started"]
    with pytest.raises(AuditDataError), store._write() as conn:
        conn.execute(text("UPDATE scans SET status = 'hijacked'"))
        store.audit.append("default", "x", "me", "s", {"evidence": "4111111111111111"}, session=conn)
    assert store.latest_scan("default")["status"] == "running"  # type: ignore[index]


def test_summary_and_decision_reach_the_log_only_as_digests(store: Store) -> None:
    scan_id = store.start_scan("default", "/x", actor="x")
    decision = {"allow": False, "violations": [{"evidence": "4111111111111111", "rule": "PII001"}] * 500}
    summary = {"files": 3, "evidence": "secret-ish", "note": "y" * 5000}
    store.finish_scan(scan_id, status="ok", summary=summary, decision=decision, actor="x")
    events = {e.kind: e.data for e in store.audit.events()}
    assert events["policy.decision"]["allow"] is False and len(events["policy.decision"]["sha256"]) == 64
    assert events["scan.finished"]["summary"].keys() == {"files", "sha256"}
    assert "4111111111111111" not in json.dumps(events)
    assert store.latest_scan("default")["decision"] == decision  # type: ignore[index]


def test_migrations_idempotent_and_schema_matches(db_url: str, state_dir: Path) -> None:
    s1 = Store.open(db_url, state_dir=state_dir)
    s1.upsert_asset(_asset(), actor="x")
    s1.close()
    s2 = Store.open(db_url, state_dir=state_dir)  # second open: no migration, data intact
    assert s2.get_asset("default", "models/fraud.pt") is not None
    insp = inspect(s2.engine)
    tables = set(insp.get_table_names())
    assert set(metadata.tables) <= tables and "bastion_alembic_version" in tables
    for name, table in metadata.tables.items():
        assert {c["name"] for c in insp.get_columns(name)} == set(table.columns.keys()), name
    assert {tuple(u["column_names"]) for u in insp.get_unique_constraints("assets")} == {("project", "uri")}
    idx = {tuple(i["column_names"]) for i in insp.get_indexes("findings")}
    assert {("project", "scan_id"), ("project", "fingerprint")} <= idx
    s2.close()


def test_head_constant_matches_the_packaged_migrations() -> None:
    from bastion.core.store import _migrate

    assert _migrate.head_revision() == _migrate.HEAD


def test_opening_a_current_store_does_not_import_alembic(db_url: str, state_dir: Path) -> None:
    """Every command opens the store: a current schema is recognised without Alembic's import cost."""
    Store.open(db_url, state_dir=state_dir).close()
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from bastion.core.store import Store
        Store.open({db_url!r}, state_dir=Path({str(state_dir)!r})).close()
        print("alembic" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_newer_schema_is_refused(db_url: str, state_dir: Path) -> None:
    Store.open(db_url, state_dir=state_dir).close()
    s = Store.open(db_url, state_dir=state_dir)
    with s.engine.begin() as conn:
        conn.execute(text("UPDATE bastion_alembic_version SET version_num = '9999_future'"))
    s.close()
    with pytest.raises(StoreError, match="newer than this bastion"):
        Store.open(db_url, state_dir=state_dir)


def test_sqlite_pragmas_and_private_folders(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"
    s = Store.open(f"sqlite:///{state}/bastion.db", state_dir=state)
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    s.close()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "bastion.db").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database at all, just text\n" * 50,
        b"SQLite format 3\x00" + b"\xff" * 4000,  # right magic, garbage header
        os.urandom(8192),
    ],
    ids=["text", "bad-header", "random"],
)
def test_corrupt_sqlite_file_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "bastion.db"
    db.write_bytes(content)
    with pytest.raises(StoreError) as err:
        Store.open(f"sqlite:///{db}", state_dir=tmp_path)
    message = str(err.value)
    assert "\n" not in message and "cannot open database" in message
    assert db.read_bytes() == content


def test_unusable_locations(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(StoreError, match="directory"):
        Store.open(f"sqlite:///{tmp_path / 'adir'}", state_dir=tmp_path)
    with pytest.raises(StoreError, match="unsupported database"):
        Store.open("mysql://localhost/x", state_dir=tmp_path)
    with pytest.raises(StoreError, match="invalid database url"):
        Store.open("::not a url::", state_dir=tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create folder"):
        Store.open(f"sqlite:///{blocker}/sub/b.db", state_dir=blocker / "sub")


def test_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        Store.open("postgresql+psycopg://u:hunter2@127.0.0.1:1/db", state_dir=tmp_path)
    assert "cannot open database" in str(err.value)
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)


_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bastion.core.store import Store
    from bastion.core.types import Asset, AssetKind

    url, state, worker, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    s = Store.open(url, state_dir=state)
    for i in range(n):
        s.upsert_asset(Asset(uri=f"w{worker}/f{i}.csv", kind=AssetKind.DATASET, format="csv"), actor=worker)
        # Everyone also touches one shared asset: conflicting writes must serialise, not fail.
        s.upsert_asset(Asset(uri="shared.csv", kind=AssetKind.DATASET, format="csv", size=i), actor=worker)
    s.close()
    """
)


def test_concurrent_writers_keep_records_and_a_linear_chain(db_url: str, state_dir: Path) -> None:
    Store.open(db_url, state_dir=state_dir).close()  # migrate once; workers then race on writes only
    workers, per = 4, 50
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, db_url, str(state_dir), str(w), str(per)],
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    s = Store.open(db_url, state_dir=state_dir)
    try:
        uris = {a.uri for a in s.list_assets("default")}
        assert len(uris) == workers * per + 1
        events = list(s.audit.events())
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert sum(e.kind == "asset.registered" for e in events) == workers * per + 1
        report = s.audit.verify()
        assert report.ok, report.problems
        assert report.events_checked == len(events)
    finally:
        s.close()
