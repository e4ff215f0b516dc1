"""Detection speed: bastion (hyperscan and RE2 backends) vs Presidio, in the same run.

    .venv/bin/python benchmarks/detect_bench.py [--mb 20] [--repeat 5] [--presidio .venv-eval-detect/bin/python]
        [--csv-gb 1.0] [--csv-only]

Measures (single thread, one core; medians of --repeat runs):
- pattern-path throughput (names layer off) on English prose with sparse PII, MB/s per
  core (MB / CPU seconds: the machine is shared, so wall time also counts waiting);
- Presidio and bastion on the *same* first MB of that prose, and the ratio;
- p50/p95 latency of `detect()` on 1 KB prompts (default detector: names on), and
  Presidio vs bastion on the same 200 prompts;
- with --csv-gb, a generated customer CSV of that size classified with a full scan
  (wall, CPU, peak RSS); --csv-only runs just that.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def write_csv(path: Path, gb: float, seed: int = 11) -> None:
    """A customer table with realistic cardinality: unique ids and emails, names/cities/cards from pools."""
    import random

    from faker import Faker

    f = Faker(["en_US", "en_GB", "de_DE", "fr_FR"])
    f.seed_instance(seed)
    rnd = random.Random(seed)
    names = [f.name().replace(",", " ") for _ in range(5000)]
    cities = [f.city().replace(",", " ") for _ in range(800)]
    cards = [f.credit_card_number() for _ in range(2000)]
    notes = [f.sentence(nb_words=10).replace(",", " ") for _ in range(400)]
    notes += [f"customer asked to call back on {f.phone_number()}" for _ in range(40)]
    notes += [f"escalated by {f.name()} from {f.city()}" for _ in range(20)]
    domains = ["corp.io", "example.org", "mail.de", "post.fr", "shop.co.uk"]
    target = int(gb * 1e9)
    written, i = 0, 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,customer_name,email,card,city,note\n")
        while written < target:
            lines = []
            for _ in range(10000):
                n = names[rnd.randrange(len(names))]
                user = n.split()[-1].lower()
                lines.append(f"{i},{n},{user}{i}@{domains[i % 5]},{cards[rnd.randrange(len(cards))]},"
                             f"{cities[rnd.randrange(len(cities))]},{notes[rnd.randrange(len(notes))]}\n")  # fmt: skip
                i += 1
            block = "".join(lines)
            fh.write(block)
            written += len(block.encode())


def csv_bench(gb: float, repeat: int, keep: bool = False) -> None:
    from bastion.data.detect import Detector
    from bastion.data.tables import classify_table

    path = Path(tempfile.gettempdir()) / f"bastion-bench-{gb:g}gb.csv"
    if not path.exists() or path.stat().st_size < gb * 1e9:
        write_csv(path, gb)
    size = path.stat().st_size / 1e9
    det = Detector(names=True)
    walls, cpus = [], []
    rep = None
    for _ in range(max(1, repeat)):
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0, c0 = time.perf_counter(), time.process_time()
        rep = classify_table(path, full=True, detector=det)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"  run: wall {walls[-1]:.0f} s, CPU {cpus[-1]:.0f} s, peak RSS {rss / 1024:.0f} MiB "
              f"(before {rss0 / 1024:.0f} MiB)", flush=True)  # fmt: skip
    assert rep is not None
    w, c = statistics.median(walls), statistics.median(cpus)
    print(f"CSV {size:.2f} GB, {rep.rows} rows, full scan (names auto): median wall {w:.0f} s "
          f"({size * 1000 / w:.1f} MB/s), median CPU {c:.0f} s ({size * 1000 / c:.1f} MB/s per core)")  # fmt: skip
    print("columns:", {c.name: (c.classified(), c.names_layer) for c in rep.columns.values()})
    if not keep:
        path.unlink()


def _timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Median wall and median CPU seconds of `repeat` runs (CPU time is what one core spent:
    on a shared machine it is the per-core number, wall time also counts waiting for the core)."""
    walls, cpus, out = [], [], None
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def _presidio(python: str, docs: list[str]) -> float | None:
    """Presidio's seconds for `docs` in its own venv (same inputs as ours), or None when absent."""
    if not Path(python).exists():
        return None
    proc = subprocess.run([python, str(HERE.parent / "evals/detect/presidio_runner.py")],
                          input="\n".join(json.dumps({"text": d}) for d in docs) + "\n",
                          capture_output=True, text=True, check=True)  # fmt: skip
    return float(json.loads(proc.stdout.splitlines()[-1])["__timing__"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement; medians are reported")
    ap.add_argument("--presidio", default=str(HERE.parent / ".venv-eval-detect/bin/python"))
    ap.add_argument("--presidio-mb", type=float, default=1.0, help="MB of the same prose given to Presidio")
    ap.add_argument("--csv-gb", type=float, default=0.0)
    ap.add_argument("--csv-only", action="store_true")
    ap.add_argument("--keep-csv", action="store_true", help="keep the generated CSV in the temp dir for reruns")
    args = ap.parse_args()

    from bastion.data.detect import Detector, available_backends

    if args.csv_only:
        csv_bench(args.csv_gb or 1.0, args.repeat, args.keep_csv)
        return
    text = english(args.mb)
    mb = len(text.encode()) / 1e6
    chunk = 1 << 20
    chunks = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    print(f"corpus: {mb:.1f} MB English prose in 1 MiB chunks; backends: {available_backends()}; "
          f"medians of {args.repeat} runs; MB/s per core = MB / CPU seconds, wall in brackets")  # fmt: skip
    for backend in ("hyperscan", "re2", "auto"):
        if backend != "auto" and backend not in available_backends():
            continue
        det = Detector(backend=backend, names=False)  # type: ignore[arg-type]
        det.detect(text[:10000])
        w, c, n = _timed(lambda d=det: sum(len(d.detect(ch)) for ch in chunks), args.repeat)
        print(f"pattern path [{backend}]: {mb / c:.1f} MB/s per core ({mb / w:.1f} MB/s wall; {n} entities)")
    det = Detector(names=True)
    w, c, _ = _timed(lambda: [det.detect(ch) for ch in chunks], max(1, args.repeat // 2))
    print(f"full default pipeline (patterns + names): {mb / c:.1f} MB/s per core ({mb / w:.1f} wall)")

    # Presidio and bastion on the *same* text: the first --presidio-mb of the prose, in 100 KB documents
    same = text[: int(args.presidio_mb * 1e6)]
    docs = [same[i : i + 100_000] for i in range(0, len(same), 100_000)]
    pres_s = _presidio(args.presidio, docs)
    if pres_s is not None:
        pat = Detector(names=False)
        w, c, _ = _timed(lambda: [pat.detect(d) for d in docs], args.repeat)
        smb = len(same.encode()) / 1e6
        print(f"same {smb:.1f} MB given to Presidio (patterns only, no NER model): Presidio {smb / pres_s:.2f} MB/s "
              f"wall; bastion pattern path {smb / w:.1f} MB/s wall; ratio {pres_s / w:.0f}x")  # fmt: skip

    ps = prompts(args.prompts)
    for p in ps[:50]:
        det.detect(p)
    runs = []
    for _ in range(max(1, args.repeat // 2)):
        lat, cpu = [], []
        for p in ps:
            t0, c0 = time.perf_counter(), time.thread_time()
            det.detect(p)
            cpu.append((time.thread_time() - c0) * 1000)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        cpu.sort()
        k = int(0.95 * len(lat)) - 1
        runs.append((statistics.median(lat), lat[k], statistics.median(cpu), cpu[k]))
    p50, p95, c50, c95 = (statistics.median(r[i] for r in runs) for i in range(4))
    print(f"1 KB prompt latency [{det.backend}, names on]: wall p50 {p50:.3f} ms, p95 {p95:.3f} ms; "
          f"CPU p50 {c50:.3f} ms, p95 {c95:.3f} ms (median over {len(runs)} runs of {len(ps)} prompts; "
          f"wall p95 includes waiting for a shared core)")  # fmt: skip

    sample = ps[:200]
    pres = _presidio(args.presidio, sample)
    if pres is not None:
        _w, _c, _ = _timed(lambda: [det.detect(p) for p in sample], args.repeat)
        ours_ms = _w / len(sample) * 1000
        pres_ms = pres / len(sample) * 1000
        print(f"same 200 prompts: presidio mean {pres_ms:.2f} ms, bastion mean {ours_ms:.3f} ms; "
              f"ratio {pres_ms / ours_ms:.0f}x")  # fmt: skip

    if args.csv_gb > 0:
        csv_bench(args.csv_gb, 1, args.keep_csv)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
