"""Keyed HMAC and tokenization of a 1M-row column (goal: each under 10 s), on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/protect_column.py [--rows 1000000] [--repeat 3] [--db sqlite|postgresql|both]

Tokenization includes fingerprinting and sealing every original (AES-256-GCM, a
segment at a time) and writing the segments, the index buckets and the audit event
in one transaction; each repetition tokenizes into a new vault (a new key), so every
value is new. Then, on that full vault: 100k known values again (all hits), 100k new
values (every index bucket read and rewritten), and 100k detokenized. The baseline is a bare `hmac.digest` loop
over the same values. Each figure is the median of `--repeat` runs, as wall-clock
seconds and as this process's CPU seconds (user + system): on a shared machine the
wall figure includes time spent waiting for a core, the CPU figure does not (for
PostgreSQL it also leaves out the server's own work, which runs in another process).
PostgreSQL uses a throw-away database on the server named by ``BASTION_TEST_PG_URL``
(default ``postgresql+psycopg://postgres@localhost:5432/test``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bastion.core.store import Store
from bastion.crypto.keys import KeyManager, MasterSecret, Principal
from bastion.data.protect import Protector

PG_URL = os.environ.get("BASTION_TEST_PG_URL", "postgresql+psycopg://postgres@localhost:5432/test")


def backend_cpu(store: Store) -> Callable[[], float] | None:
    """CPU seconds used so far by the PostgreSQL backend serving this store, if it runs on this machine."""
    if store.engine.dialect.name != "postgresql":
        return None
    with store.engine.connect() as conn:  # single-threaded use: the pool hands this connection back
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    return read


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'state' / 'bastion.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bastion_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(kind: str, values: list[str], repeat: int) -> dict[str, list[tuple[float, float]]]:
    res: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("base", "hmac", "tok", "retok", "grow", "detok", "server")
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(kind, Path(tmp)) as url,
        Store.open(url, state_dir=Path(tmp) / "state") as store,
    ):
        keys = KeyManager(store, "bench", secret=MasterSecret.secret(os.urandom(32).hex()))
        who = Principal.of("bench", ["admin"])
        key = os.urandom(32)
        for r in range(repeat):
            keys.create(f"bench{r}", who)
            p = Protector(keys, who, key_id=f"bench{r}")
            p.protect_values(["warm-up"], "hmac")  # key fetch outside the timing
            w, c, _ = timed(lambda: [hmac.digest(key, v.encode(), hashlib.sha256).hex() for v in values])
            res["base"].append((w, c))
            w, c, _ = timed(lambda p=p: p.protect_values(values, "hmac"))  # type: ignore[misc]
            res["hmac"].append((w, c))
            server = backend_cpu(store)
            s0 = server() if server else 0.0
            w, c, tokens = timed(lambda p=p: p.protect_values(values, "tokenize"))  # type: ignore[misc]
            res["tok"].append((w, c))
            if server:
                res["server"].append((server() - s0, server() - s0))
            sub = values[:100_000]
            w, c, _ = timed(lambda p=p, sub=sub: p.protect_values(sub, "tokenize"))  # type: ignore[misc]
            res["retok"].append((w, c))
            more = [f"new-{v}" for v in sub]  # new values into the now-full vault: every index bucket is rewritten
            w, c, _ = timed(lambda p=p, more=more: p.protect_values(more, "tokenize"))  # type: ignore[misc]
            res["grow"].append((w, c))
            w, c, back = timed(lambda p=p, t=tokens: p.reverse_values(t[:100_000], "tokenize"))  # type: ignore[misc]
            res["detok"].append((w, c))
            assert back == sub
            print(
                f"  [{kind} run {r + 1}] hmac {res['hmac'][-1][0]:.2f} s, tokenize {res['tok'][-1][0]:.2f} s "
                f"(cpu {res['tok'][-1][1]:.2f} s)",
                flush=True,
            )
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    values = [f"user{i}@example-mail.com" for i in range(args.rows)]
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(
        f"rows {args.rows}, median of {args.repeat} runs; wall s / this process's CPU s; load {os.getloadavg()[0]:.1f}"
    )
    for kind in kinds:
        res = run(kind, values, args.repeat)

        def med(k: str, res: dict[str, list[tuple[float, float]]] = res) -> str:
            return f"{statistics.median(w for w, _ in res[k]):6.2f} / {statistics.median(c for _, c in res[k]):6.2f}"

        print(f"{kind}:")
        print(f"  bare hmac.digest loop         : {med('base')}")
        print(f"  bastion hmac operator         : {med('hmac')}  (goal < 10 s)")
        print(f"  bastion tokenize (new vault)  : {med('tok')}  (goal < 10 s)")
        print(f"  re-tokenize 100k (vault hits) : {med('retok')}")
        print(f"  tokenize 100k new into it     : {med('grow')}")
        print(f"  detokenize 100k               : {med('detok')}")
        if res["server"]:
            print(f"  tokenize: PostgreSQL backend CPU s: {statistics.median(c for _, c in res['server']):6.2f}")


if __name__ == "__main__":
    main()
