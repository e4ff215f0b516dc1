"""Detection speed: bastion (hyperscan and RE2 backends) vs Presidio, in the same run.

    .venv/bin/python benchmarks/detect_bench.py [--mb 20] [--presidio .venv-eval-detect/bin/python]
        [--csv-gb 1.0]

Measures (single thread, one core):
- pattern-path throughput (names layer off) on English prose with sparse PII, MB/s;
- p50/p95 latency of `detect()` on 1 KB prompts (default detector: names on);
- Presidio on the same prompts (subprocess in its own venv), and the ratio;
- optionally, a generated CSV of `--csv-gb` GB classified with a full scan, with peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def english(mb: float, seed: int = 7) -> str:
    from faker import Faker

    f = Faker("en_US")
    f.seed_instance(seed)
    paras = [f.paragraph(nb_sentences=8) for _ in range(400)]
    pii = [f"Contact {f.name()} at {f.email()} or {f.phone_number()}." for _ in range(50)]
    out, size, i = [], 0, 0
    while size < mb * 1e6:
        p = paras[i % len(paras)] + (" " + pii[i % len(pii)] if i % 10 == 0 else "") + "\n"
        out.append(p)
        size += len(p)
        i += 1
    return "".join(out)


def prompts(n: int) -> list[str]:
    from faker import Faker

    f = Faker("en_US")
    f.seed_instance(3)
    out = []
    for i in range(n):
        s = f"Summarise this ticket. Customer {f.name()} ({f.email()}) reports: " + f.paragraph(nb_sentences=12)
        if i % 3 == 0:
            s += f" Card {f.credit_card_number()} was charged twice; call {f.phone_number()}."
        out.append((s * 3)[:1024])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--presidio", default=str(HERE.parent / ".venv-eval-detect/bin/python"))
    ap.add_argument("--csv-gb", type=float, default=0.0)
    args = ap.parse_args()

    from bastion.data.detect import Detector, available_backends

    text = english(args.mb)
    mb = len(text.encode()) / 1e6
    print(f"corpus: {mb:.1f} MB English prose; backends available: {available_backends()}")
    for backend in ("hyperscan", "re2", "auto"):
        if backend not in available_backends():
            continue
        det = Detector(backend=backend, names=False)  # type: ignore[arg-type]
        det.detect(text[:10000])
        chunk = 1 << 20
        t0 = time.perf_counter()
        n = 0
        for i in range(0, len(text), chunk):
            n += len(det.detect(text[i : i + chunk]))
        dt = time.perf_counter() - t0
        print(f"pattern path [{backend}]: {mb / dt:.1f} MB/s ({n} entities)")
    det = Detector(names=True)
    t0 = time.perf_counter()
    for i in range(0, len(text), 1 << 20):
        det.detect(text[i : i + (1 << 20)])
    print(f"full default pipeline (patterns + names): {mb / (time.perf_counter() - t0):.1f} MB/s")

    ps = prompts(args.prompts)
    for p in ps[:50]:
        det.detect(p)
    lat = []
    for p in ps:
        t0 = time.perf_counter()
        det.detect(p)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    p50, p95 = statistics.median(lat), lat[int(0.95 * len(lat)) - 1]
    print(f"1 KB prompt latency [{det.backend}, names on]: p50 {p50:.3f} ms, p95 {p95:.3f} ms")

    if Path(args.presidio).exists():
        sample = ps[:200]
        proc = subprocess.run([args.presidio, str(HERE.parent / "evals/detect/presidio_runner.py")],
                              input="\n".join(json.dumps({"text": p}) for p in sample) + "\n",
                              capture_output=True, text=True, check=True)  # fmt: skip
        timing = json.loads(proc.stdout.splitlines()[-1])
        pres_ms = timing["__timing__"] / len(sample) * 1000
        ours = sum(lat[: len(sample)]) / len(sample)
        mean_ours = statistics.mean(lat)
        print(f"presidio ({timing['model'].split('/')[-1]}): mean {pres_ms:.2f} ms per 1 KB prompt; "
              f"bastion mean {mean_ours:.3f} ms; ratio {pres_ms / mean_ours:.0f}x")  # fmt: skip
        _ = ours

    if args.csv_gb > 0:
        from bastion.data.tables import classify_table

        path = Path(tempfile.gettempdir()) / "bastion-bench.csv"
        rows = [f"{i},{n},{e},{c},{s}\n" for i, (n, e, c, s) in enumerate(
            ("Ann Lee", f"user{i}@corp.io", "4539 1488 0343 6467", "free text note about order 42") for i in range(1000)
        )]  # fmt: skip
        block = "".join(rows)
        target = int(args.csv_gb * 1e9)
        with path.open("w") as fh:
            fh.write("id,name,email,card,note\n")
            written = 0
            while written < target:
                fh.write(block)
                written += len(block)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        rep = classify_table(path, full=True, detector=Detector(names=True))
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = path.stat().st_size / 1e9
        print(f"CSV {size:.2f} GB, {rep.rows} rows, full scan: {dt:.0f} s ({size * 1000 / dt:.1f} MB/s), "
              f"peak RSS {rss / 1024:.0f} MiB (before {rss0 / 1024:.0f} MiB)")  # fmt: skip
        print("columns:", {c.name: c.classified() for c in rep.columns.values()})
        os.unlink(path)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
