"""Store and audit-chain throughput: appends, asset upserts, verify, export.

Not a test: run by hand and read the numbers.

    .venv/bin/python benchmarks/store_audit.py [--db URL] [--events 20000]

Anchor: plain SQLAlchemy inserts of the same rows without the chain (no lock,
no hash), to show what the tamper evidence costs.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from bastion.core.store import Store
from bastion.core.store._schema import audit_events
from bastion.core.types import Asset, AssetKind, utcnow


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    ap.add_argument("--events", type=int, default=20_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bastion-bench-"))
    url = args.db or f"sqlite:///{tmp}/bench.db"
    store = Store.open(url, state_dir=tmp)
    n = args.events

    t = time.perf_counter()
    with store._write() as conn:  # one transaction: the chain cost without commit cost
        for i in range(n):
            store.audit.append("bench", "bench.event", "bench", f"s{i}", {"i": i}, session=conn)
    chained = time.perf_counter() - t

    t = time.perf_counter()
    with store.engine.begin() as conn:
        for i in range(n):
            conn.execute(
                insert(audit_events).values(
                    seq=10_000_000 + i,
                    ts=utcnow(),
                    project="anchor",
                    kind="k",
                    actor="a",
                    subject=f"s{i}",
                    data={"i": i},
                    prev_hash="0" * 64,
                    hash="0" * 64,
                )
            )
    plain = time.perf_counter() - t
    with store.engine.begin() as conn:
        conn.execute(audit_events.delete().where(audit_events.c.project == "anchor"))

    m = min(n, 2000)
    t = time.perf_counter()
    for i in range(m):
        store.upsert_asset(Asset(uri=f"a{i}", kind=AssetKind.DATASET, format="csv", size=i), actor="b")
    upserts = time.perf_counter() - t
    t = time.perf_counter()
    unchanged = sum(
        store.upsert_asset(Asset(uri=f"a{i}", kind=AssetKind.DATASET, format="csv", size=i), actor="b")
        for i in range(m)
    )
    reupserts = time.perf_counter() - t
    assert unchanged == 0

    store.audit.checkpoint()
    t = time.perf_counter()
    report = store.audit.verify()
    verify = time.perf_counter() - t
    assert report.ok, report.problems[:5]
    t = time.perf_counter()
    count = store.audit.export(io.StringIO())
    export = time.perf_counter() - t
    store.close()

    print(f"database: {url.split('://')[0]}")
    print(f"chained appends (1 tx):    {n / chained:10.0f} events/s")
    print(f"plain inserts (anchor):    {n / plain:10.0f} rows/s   ratio chained/plain = {chained / plain:.2f}x time")
    print(f"asset upserts (1 tx each): {m / upserts:10.0f} /s (new, audited)")
    print(f"asset upserts unchanged:   {m / reupserts:10.0f} /s (no event)")
    print(
        f"verify:                    {report.events_checked / verify:10.0f} events/s ({report.events_checked} events)"
    )
    print(f"export JSONL:              {count / export:10.0f} events/s")


if __name__ == "__main__":
    main()
