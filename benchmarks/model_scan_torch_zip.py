"""Benchmark: scanning a 2 GiB PyTorch zip checkpoint (goal <= 0.25 s), with anchors.

    .venv/bin/python benchmarks/model_scan_torch_zip.py [--gib 2]

The checkpoint is a genuine `torch.save` output written to /tmp (never committed):
its tensor storage comes from a sparse file through `torch.from_file`, so building
it costs disk writes but little memory. Only `data.pkl` is parsed; tensor records
are bounds-checked from the central directory, never read. picklescan and
ModelScan (anchor venv) are timed on the same file in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_PY = ROOT / ".venv-eval-model_scan" / "bin" / "python"
_PICKLESCAN = """
import sys, time
from picklescan.scanner import scan_file_path
t = time.perf_counter(); r = scan_file_path(sys.argv[1]); print(time.perf_counter() - t, r.infected_files, r.scan_err)
"""


def make_checkpoint(path: Path, gib: int) -> None:
    want = gib * 1024**3
    if path.exists() and path.stat().st_size >= want:
        return
    import torch

    backing = Path(tempfile.gettempdir()) / "bastion-bench-backing.bin"
    with open(backing, "wb") as fh:
        fh.truncate(want)  # sparse
    n = want // 4
    big = torch.from_file(str(backing), shared=True, size=n, dtype=torch.float32)
    layers = 8
    per = n // layers
    state = {f"layers.{i}.weight": big[i * per : (i + 1) * per].view(-1, 1024) for i in range(layers)}
    for i in range(200):
        state[f"norms.{i}.bias"] = torch.zeros(64)
    torch.save(state, path)
    backing.unlink()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the checkpoint in /tmp for reruns")
    args = ap.parse_args()
    path = Path(tempfile.gettempdir()) / f"bastion-bench-{args.gib}gib.pt"
    t = time.perf_counter()
    make_checkpoint(path, args.gib)
    print(f"checkpoint: {path} ({path.stat().st_size / 1024**3:.2f} GiB, built in {time.perf_counter() - t:.1f} s)")

    from bastion.model.scan import scan_file

    times = []
    findings = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        findings = scan_file(path)
        times.append(time.perf_counter() - t)
    ours = min(times)
    print(
        f"bastion    : {ours:.3f} s (min of {args.repeat}; max {max(times):.3f}), "
        f"findings={len(findings)} (goal <= 0.25 s)"
    )
    if ANCHOR_PY.exists():
        out = subprocess.run(
            [str(ANCHOR_PY), "-c", _PICKLESCAN, str(path)], capture_output=True, text=True, timeout=900
        )
        if out.returncode == 0:
            theirs = float(out.stdout.split()[0])
            print(f"picklescan : {theirs:.3f} s -> ratio {theirs / ours:.1f}x")
        exe = ANCHOR_PY.parent / "modelscan"
        t = time.perf_counter()
        ms = subprocess.run([str(exe), "-p", str(path), "-r", "json"], capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - t
        print(f"modelscan  : {wall:.3f} s wall incl. start-up (rc={ms.returncode}) -> ratio {wall / ours:.1f}x")
    else:
        print("anchors    : venv missing (see evals/model_scan/requirements.txt)")
    if not args.keep:
        os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
