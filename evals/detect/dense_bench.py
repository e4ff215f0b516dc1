"""Detection speed on PII-dense text: one labelled-type value per ~60 bytes.

    .venv/bin/python evals/detect/dense_bench.py [--mb 4] [--repeat 5] [--profile]

`benchmarks/detect_bench.py` measures prose with sparse PII, where the prefilter
rejects almost everything and throughput is set by the automata. Logs, CRM
exports and support transcripts are the opposite: a hit every line, so the
per-hit Python work (validators, context windows, overlap resolution) sets the
speed. This generates such text (emails, phones, IPs, cards, SSNs, IBANs, dates
of birth, names, NHS numbers, URLs, in short sentences) and reports MB / CPU
second (single thread; the machine is shared, so wall time is printed beside
it) for the pattern path and for the default pipeline with the names layer.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable


def dense_text(mb: float, seed: int = 5) -> str:
    """Short sentences, each carrying one value: ~60 bytes per entity."""
    from faker import Faker

    f = Faker(["en_US", "en_GB", "de_DE"])
    f.seed_instance(seed)
    rnd = random.Random(seed)
    pool: list[Callable[[], str]] = [
        lambda: f"Mail {f.email()} today.",
        lambda: f"Call {f.phone_number()} now.",
        lambda: f"Login from {f.ipv4()} ok.",
        lambda: f"Card {f.credit_card_number()} used.",
        lambda: f"SSN {f.ssn()} on file.",
        lambda: f"IBAN {f.iban()} set.",
        lambda: f"DOB: {f.date_of_birth().strftime('%d/%m/%Y')}.",
        lambda: f"Customer {f.name()} called.",
        lambda: f"See {f.url()} for it.",
        lambda: f"Ship to {f.street_address()}.",
    ]
    sentences = [rnd.choice(pool)() for _ in range(4000)]
    out: list[str] = []
    size = 0
    i = 0
    while size < mb * 1e6:
        # pad each value to ~60 bytes with a few ordinary words, as a log line would
        s = sentences[i % len(sentences)] + " Ticket updated and closed. "
        out.append(s)
        size += len(s)
        i += 1
    return "".join(out)


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    walls, cpus, last = [], [], None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        last = fn()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls), statistics.median(cpus), last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile one pattern-path pass instead of timing")
    args = ap.parse_args()

    from bastion.data.detect import Detector

    text = dense_text(args.mb)
    mb = len(text.encode()) / 1e6
    chunk = 1 << 20
    chunks = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    pat = Detector(names=False)
    n = sum(len(pat.detect(ch)) for ch in chunks)
    print(f"corpus: {mb:.1f} MB, {n} entities on the pattern path ({len(text.encode()) / max(n, 1):.0f} bytes each)")
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for ch in chunks:
            pat.detect(ch)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)
        return
    w, c, _ = _timed(lambda: [pat.detect(ch) for ch in chunks], args.repeat)
    print(f"pattern path: {mb / c:.1f} MB/s per core ({mb / w:.1f} MB/s wall)")
    full = Detector(names=True)
    w, c, _ = _timed(lambda: [full.detect(ch) for ch in chunks], max(1, args.repeat // 2))
    print(f"default pipeline (patterns + names): {mb / c:.1f} MB/s per core ({mb / w:.1f} MB/s wall)")


if __name__ == "__main__":
    main()
