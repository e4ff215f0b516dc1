"""Discovery speed: walk + identify files/s on a tree of small files, and digest GB/s.

Usage:  .venv/bin/python benchmarks/discover_speed.py [--files 100000] [--digest-mib 1024] [--dir /tmp/x]

Prints files/s for walk+identify (goal >= 20,000 files/s, header reads only), and
digest throughput for `digest_file` (plain SHA-256, one core) and the sharded mode
(all cores) next to `sha256sum` and `b3sum` (when installed) on the same file, with
ratios. The tree is built once and reused; the OS page cache is warm for the
timed pass (a first pass warms it), which is what a rescan sees.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bastion.discover import WalkItem, digest_file, identify, walk

PY = "import os\nimport sys\n\n\ndef f{i}(x: int) -> int:\n    return x * {i}\n"
MD = "# Notes {i}\n\nSome prose, with commas, about the project.\n"


def build(root: Path, n: int) -> None:
    rnd = random.Random(0)
    per_dir = 200
    for i in range(n):
        d = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        r = i % 20
        p = d / f"f{i}"
        if r < 12:
            p.write_text(PY.format(i=i))
        elif r < 15:
            p.write_text(MD.format(i=i))
        elif r == 15:
            p.write_text("id,name,amount\n" + "".join(f"{j},n{j},{j}\n" for j in range(5)))
        elif r == 16:
            p.write_text(json.dumps({"name": "pkg", "version": str(i)}))
        elif r == 17:
            p.write_bytes(b"\x80\x04\x95" + bytes(rnd.getrandbits(8) for _ in range(64)))
        elif r == 18:
            p.write_bytes(
                b"\x93NUMPY\x01\x00v\x00"
                + b"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }".ljust(117)
                + b"\n"
                + b"\x00" * 16
            )
        else:
            p.write_bytes(bytes(rnd.getrandbits(8) for _ in range(256)))


def bench_walk(root: Path) -> tuple[int, float, Counter[str]]:
    kinds: Counter[str] = Counter()
    t = time.perf_counter()
    n = 0
    for item in walk(root):
        if isinstance(item, WalkItem):
            n += 1
            a = identify(item)
            if a is not None:
                kinds[a.format] += 1
    return n, time.perf_counter() - t, kinds


def _tool(cmd: list[str], path: Path) -> float | None:
    if shutil.which(cmd[0]) is None:
        return None
    t = time.perf_counter()
    subprocess.run([*cmd, str(path)], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--digest-mib", type=int, default=1024)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    base = args.dir or Path(tempfile.gettempdir()) / "bastion-bench-discover"
    tree = base / f"tree-{args.files}"
    if not tree.exists():
        print(f"building {args.files} files under {tree} ...", file=sys.stderr)
        build(tree, args.files)
    bench_walk(tree)  # warm the page cache
    best = min((bench_walk(tree) for _ in range(3)), key=lambda r: r[1])
    n, secs, kinds = best
    print(f"walk+identify: {n} files in {secs:.2f}s = {n / secs:,.0f} files/s (goal >= 20,000); assets: {dict(kinds)}")

    big = base / f"big-{args.digest_mib}.bin"
    if not big.exists() or big.stat().st_size != args.digest_mib << 20:
        with big.open("wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(args.digest_mib):
                f.write(block)
    size_gb = big.stat().st_size / 1e9
    digest_file(big)  # warm
    t = time.perf_counter()
    plain = digest_file(big)
    t_plain = time.perf_counter() - t
    t = time.perf_counter()
    digest_file(big, sharded=True)
    t_shard = time.perf_counter() - t
    t_sum = _tool(["sha256sum"], big)
    t_b3 = _tool(["b3sum"], big)
    print(f"digest_file (sha256, 1 core): {size_gb / t_plain:.2f} GB/s (goal >= 1 GB/s per core) {plain[:23]}...")
    print(f"digest_file sharded ({os.cpu_count()} cores): {size_gb / t_shard:.2f} GB/s")
    if t_sum:
        print(
            f"sha256sum: {size_gb / t_sum:.2f} GB/s; ratio digest_file/sha256sum = {t_sum / t_plain:.2f}x, "
            f"sharded/sha256sum = {t_sum / t_shard:.2f}x"
        )
    if t_b3:
        print(f"b3sum: {size_gb / t_b3:.2f} GB/s; ratio digest_file/b3sum = {t_b3 / t_plain:.2f}x")
    else:
        print("b3sum: not installed (apt-get install b3sum / cargo install b3sum to compare)")


if __name__ == "__main__":
    main()
