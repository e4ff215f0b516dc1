"""Signing benchmark: Bastion vs the upstream `model_signing` CLI on the same model folder.

    .venv/bin/python benchmarks/sign_bench.py --size-gib 1 --files 4 --repeat 7

Builds a Hugging Face-shaped folder (a few large weight shards plus small JSON files),
then times, in the same run and on the same (warm) page cache:

  * hashing throughput of one core (SHA-256 and BLAKE3) and of all cores,
  * `model_signing sign key` + `model_signing verify key` (the upstream CLI, the anchor),
  * `bastion sign key` + `bastion verify key` as CLI processes (the like-for-like
    comparison: interpreter start-up, imports, the audit store and all),
  * the same through the in-process API (`sign_model` + `verify_model`),

and prints median and spread (min-max) for each, and the ratio of medians. The goal:
hashing >= 1 GB/s per core, and Bastion's sign+verify within 1.3x of upstream or
faster. The three are run interleaved, one of each per round, with the order rotated
each round, so a noisy neighbour on a shared machine loads all of them alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bastion.core.hashing import hash_range
from bastion.model._sign.hashing import CHUNK, HashSpec, collect_files, hash_files
from bastion.model.sign import generate, sign_model, verify_model, write_keypair

UPSTREAM = Path(sys.executable).with_name("model_signing")
BASTION = Path(sys.executable).with_name("bastion")


def build_model(root: Path, size_gb: float, files: int) -> int:
    root.mkdir(parents=True)
    per_file = int(size_gb * 1e9) // files
    block = os.urandom(16 << 20)
    for i in range(files):
        with (root / f"model-{i + 1:05d}-of-{files:05d}.safetensors").open("wb") as fh:
            left = per_file
            while left > 0:
                n = min(left, len(block))
                fh.write(block[:n])
                left -= n
    for name in ("config.json", "tokenizer.json", "generation_config.json"):
        (root / name).write_text('{"example": true}\n' * 100)
    return sum(p.stat().st_size for p in root.iterdir())


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    return min(timed(fn) for _ in range(repeat))


def summary(times: list[float]) -> str:
    """Median and spread: on a shared machine the minimum alone hides how noisy a number is."""
    return f"median {statistics.median(times):6.2f} s  (min {min(times):6.2f}, max {max(times):6.2f}, n={len(times)})"


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {proc.stdout}{proc.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--size-gib", type=float, default=None, help="size in GiB (overrides --size-gb)")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if args.size_gib is not None:
        args.size_gb = args.size_gib * (1 << 30) / 1e9
    if not UPSTREAM.exists() or not BASTION.exists():
        raise SystemExit(f"CLI not found at {UPSTREAM} or {BASTION}")
    work = Path(tempfile.mkdtemp(prefix="bastion-sign-bench-", dir=args.workdir))
    try:
        model = work / "model"
        total = build_model(model, args.size_gb, args.files)
        key, pub = work / "k.pem", work / "k.pub"
        write_keypair(generate("ecdsa-p256"), key, pub)
        gb = total / 1e9
        cores = os.cpu_count() or 1
        load = os.getloadavg()[0]
        print(
            f"model: {args.files} shards + 3 small files, {gb:.2f} GB; {cores} CPU(s); load {load:.1f}; "
            f"{args.repeat} interleaved rounds"
        )

        big = sorted(model.glob("*.safetensors"))[0]
        size = big.stat().st_size
        buf = bytearray(CHUNK)
        hash_range(big, 0, size, algorithm="sha256", buf=buf)  # warm the page cache
        for algo in ("sha256", "blake3"):
            if algo == "blake3":
                from bastion.model._sign.hashing import _blake3_file

                t = best(lambda: _blake3_file(big, 1), args.repeat)
            else:
                t = best(lambda a=algo: hash_range(big, 0, size, algorithm=a, buf=buf), args.repeat)
            print(f"hash 1 core  {algo:<7} {size / 1e9 / t:6.2f} GB/s")
        files = collect_files(model, HashSpec())
        t = best(lambda: hash_files(files, HashSpec()), args.repeat)
        print(f"hash all cores sha256 (files)  {gb / t:6.2f} GB/s")
        shards = HashSpec(method="shards", shard_size=256 << 20)
        t = best(lambda: hash_files(files, shards), args.repeat)
        print(f"hash all cores sha256 (shards) {gb / t:6.2f} GB/s")

        ours_sig, up_sig, cli_sig = work / "bastion.sig", work / "upstream.sig", work / "bastion-cli.sig"
        # The Bastion CLI records audit events: give it its own state folder and no user config.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
        env["BASTION_CONFIG"] = ""

        def ours() -> None:
            sign_model(model, ours_sig, private_key=key)
            assert verify_model(model, ours_sig, public_key=pub).ok

        def ours_cli(target: Path = model) -> None:
            sig = cli_sig.with_name(f"{target.name}-{cli_sig.name}")
            run(
                [str(BASTION), "sign", "key", str(target), "--signature", str(sig), "--private_key", str(key)],
                cwd=work,
                env=env,
            )
            run(
                [str(BASTION), "verify", "key", str(target), "--signature", str(sig), "--public_key", str(pub)],
                cwd=work,
                env=env,
            )

        def upstream(target: Path = model) -> None:
            sig = up_sig if target == model else up_sig.with_name(f"{target.name}-{up_sig.name}")
            run([str(UPSTREAM), "sign", "key", str(target), "--signature", str(sig), "--private_key", str(key)])
            run([str(UPSTREAM), "verify", "key", str(target), "--signature", str(sig), "--public_key", str(pub)])

        # A one-file model: what each CLI costs before hashing matters (start-up, imports, state).
        tiny = work / "tiny"
        tiny.mkdir()
        (tiny / "config.json").write_text('{"example": true}\n')

        def ours_blake3() -> None:
            sign_model(model, ours_sig, private_key=key, algorithm="blake3")
            assert verify_model(model, ours_sig, public_key=pub).ok

        # Interleaved, with the order rotated each round, so load from other processes on a
        # shared machine falls on every tool alike instead of on whichever ran last.
        tools = {
            "upstream": upstream,
            "cli": ours_cli,
            "api": ours,
            "upstream-tiny": lambda: upstream(tiny),
            "cli-tiny": lambda: ours_cli(tiny),
        }
        times: dict[str, list[float]] = {name: [] for name in tools}
        names = list(tools)
        upstream()  # warm-up round (page cache, .pyc files); not counted
        ours_cli()
        for r in range(args.repeat):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                times[name].append(timed(tools[name]))
        t_b3 = best(ours_blake3, args.repeat)
        print(f"upstream model_signing CLI sign+verify (sha256)  {summary(times['upstream'])}")
        print(f"bastion CLI sign+verify (sha256, same format)    {summary(times['cli'])}")
        print(f"bastion API sign+verify (in-process)             {summary(times['api'])}")
        print(f"bastion API sign+verify (blake3), best           {t_b3:6.2f} s")
        print(f"fixed cost, 1-file model: upstream CLI sign+verify {summary(times['upstream-tiny'])}")
        print(f"fixed cost, 1-file model: bastion CLI sign+verify  {summary(times['cli-tiny'])}")
        up_med = statistics.median(times["upstream"])
        for name, label in (("cli", "CLI"), ("api", "API")):
            ratios = [o / u for o, u in zip(times[name], times["upstream"], strict=True)]
            print(
                f"ratio bastion {label}/upstream CLI: {statistics.median(times[name]) / up_med:.2f}x of medians; "
                f"per round {min(ratios):.2f}-{max(ratios):.2f}x  (goal <= 1.30x)"
            )
        # Cross-check: each tool verifies the other's signature on this folder.
        sign_model(model, ours_sig, private_key=key)
        run([str(UPSTREAM), "verify", "key", str(model), "--signature", str(ours_sig), "--public_key", str(pub)])
        assert verify_model(model, up_sig, public_key=pub).ok
        print("interop: each tool verified the other's signature")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
