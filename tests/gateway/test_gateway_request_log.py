"""The request log on both databases: batches anchored in the audit chain, spill and replay, tamper checks."""

from __future__ import annotations

from pathlib import Path

from bastion.core.store import Store
from bastion.gateway import request_log, verify_request_log
from bastion.gateway._audit import RequestAudit


def _rec(i: int) -> dict[str, object]:
    return {
        "status": 200 if i % 2 else 429,
        "decision": "allowed",
        "latency_ms": 1.5 + i,
        "tenant": "acme",
        "request_id": f"r{i}",
        "model": "echo",
        "guards": [{"guard": "pii", "effect": "redact", "score": 0.9}],
    }


def test_batches_are_anchored_and_verifiable(store: Store, tmp_path: Path) -> None:
    audit = RequestAudit(store, "gw", max_queue=1000, spill=tmp_path / "spill.jsonl", batch=7)
    audit.start()
    for i in range(20):
        audit.record(f"key:k{i % 3}", "/v1/chat/completions", _rec(i))
    assert audit.flush()
    audit.close()
    rows = request_log(store, "gw", limit=100)
    assert len(rows) == 20 and {r["tenant"] for r in rows} == {"acme"}
    assert [r["data"]["request_id"] for r in rows] == [f"r{i}" for i in range(20)]
    anchors = [e for e in store.audit.events("gw") if e.kind == "gateway.requests"]
    assert sum(e.data["count"] for e in anchors) == 20
    assert verify_request_log(store, "gw") == [] and store.audit.verify().ok


def test_overflow_spills_and_is_replayed(store: Store, tmp_path: Path) -> None:
    spill = tmp_path / "spill.jsonl"
    audit = RequestAudit(store, "gw", max_queue=100, spill=spill)
    for i in range(250):  # writer not started yet: 150 records must spill to disk, none dropped
        audit.record("key:x", "/v1/models", _rec(i))
    assert spill.exists() and len(spill.read_text().splitlines()) == 150
    audit.start()
    assert audit.flush(timeout=30)
    audit.close()
    assert len(request_log(store, "gw", limit=1000)) == 250 and not spill.exists()
    assert verify_request_log(store, "gw") == []
