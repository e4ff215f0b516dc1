"""Benchmark: an op-dense ~70 MB pickle, Bastion vs picklescan (anchor) in the same run.

    .venv/bin/python benchmarks/model_scan_pickle.py [--mb 70] [--repeat 3]

The pickle is generated into /tmp (never committed): ~14 M opcodes of small ints,
floats, short strings and tuples, the shape of a large tokenizer vocabulary or a
feature table, which is the worst case for per-opcode overhead. picklescan runs
in its own venv (.venv-eval-model_scan, see evals/model_scan/requirements.txt) via
`scan_file_path`, timed inside that process so interpreter start-up is excluded.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_PY = ROOT / ".venv-eval-model_scan" / "bin" / "python"

_ANCHOR = """
import sys, time
from picklescan.scanner import scan_file_path
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); r = scan_file_path(sys.argv[1]); times.append(time.perf_counter() - t)
print(min(times), r.infected_files, r.scan_err)
"""


def make_pickle(path: Path, mb: int) -> None:
    """Write distinct rows (no memo sharing) until the stream reaches `mb` MiB."""
    if path.exists() and abs(path.stat().st_size - mb * 1024**2) < 4 * 1024**2:
        return
    target = mb * 1024**2
    rows: list[tuple[int, float, str, int]] = []
    i = 0
    per_row = len(pickle.dumps([(10**6, 0.5, "tok123", -(10**6))] * 2, protocol=4)) // 2 + 8
    while len(rows) * per_row < target:
        rows.extend((k, k * 0.5, f"tok{k % 997}", -k) for k in range(i, i + 100_000))
        i += 100_000
    with open(path, "wb") as fh:
        pickle.dump(rows, fh, protocol=4)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=70)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = Path(tempfile.gettempdir()) / f"bastion-bench-opdense-{args.mb}mb.pkl"
    make_pickle(path, args.mb)
    size = path.stat().st_size

    from bastion.model.scan import scan_file

    times = []
    findings = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        findings = scan_file(path)
        times.append(time.perf_counter() - t)
    ours = min(times)
    print(f"file: {path} ({size / 1024**2:.1f} MiB)")
    print(
        f"bastion    : {ours:7.2f} s  (min of {args.repeat}, median {statistics.median(times):.2f}), "
        f"findings={len(findings)}"
    )
    if not ANCHOR_PY.exists():
        print("picklescan : anchor venv missing (see evals/model_scan/requirements.txt)")
        return 2
    out = subprocess.run(
        [str(ANCHOR_PY), "-c", _ANCHOR, str(path), str(args.repeat)], capture_output=True, text=True, check=True
    ).stdout.split()
    theirs = float(out[0])
    print(f"picklescan : {theirs:7.2f} s  (min of {args.repeat}), infected={out[1]} scan_err={out[2]}")
    print(f"ratio      : bastion is {theirs / ours:.1f}x faster (goal >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
