"""FF1 throughput on 16-digit numbers, one core. Goal: >= 50,000 values/s.

    .venv/bin/python benchmarks/crypto_ff1.py [--n 200000]

Compared in the same run with a straightforward per-value FF1 (one AES call per
CBC-MAC block, the way reference implementations such as `ff3`/`pyffx` work), which
is what the batched implementation replaces.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from bastion.crypto.fpe import FF1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    args = ap.parse_args()
    rng = random.Random(1)
    values = [f"{rng.randrange(10**16):016d}" for _ in range(args.n)]
    ff1 = FF1(os.urandom(32))
    t0 = time.perf_counter()
    ct = ff1.encrypt_many(values, b"card")
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    pt = ff1.decrypt_many(ct, b"card")
    t_dec = time.perf_counter() - t0
    assert pt == values
    sample = values[: min(20_000, args.n)]
    t0 = time.perf_counter()
    for v in sample:
        ff1.encrypt(v, b"card")
    t_single = (time.perf_counter() - t0) / len(sample) * args.n
    print(f"FF1 batch encrypt  : {args.n / t_batch:10.0f} values/s (goal >= 50,000)")
    print(f"FF1 batch decrypt  : {args.n / t_dec:10.0f} values/s")
    print(f"FF1 one at a time  : {args.n / t_single:10.0f} values/s")
    print(f"ratio batch/single : {t_single / t_batch:10.1f}x")


if __name__ == "__main__":
    main()
