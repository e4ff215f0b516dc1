"""Streaming encryption throughput vs raw `cryptography` AES-256-GCM, one core, same run.

    .venv/bin/python benchmarks/crypto_stream.py [--mib 128] [--repeat 7] [--chunk-kib 1024]

Every repetition times, back to back on the same buffer (so machine load hits all
sides alike): the baseline `AESGCM.encrypt` over 1 MiB pieces (the goal's reference),
`AESGCM.encrypt_into` a reused buffer (the ceiling: no allocation at all), Bastion's
`encrypt_stream` from an in-memory `BytesIO` (zero-copy path) and from a file-like
reader (the `readinto` path files take, one copy in). Bastion adds the header, the HKDF
subkey, the per-chunk AAD and the write loop; writes go to a sink, so no disk is
measured. Reported: the median of each throughput and the median of the per-repetition
ratios. Goal: stream / raw `AESGCM.encrypt` >= 90 %. A file-to-file figure (page
cache, includes the kernel copies) is printed for reference.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.crypto._stream import DEFAULT_CHUNK, TAG, decrypt_stream, encrypt_stream


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class _Sink:
    def write(self, b: bytes) -> int:
        return len(b)


class _Reader:
    """A file-like source without a buffer to borrow: forces the readinto path."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def readinto(self, buf: memoryview) -> int:
        n = min(len(buf), len(self._view) - self._pos)
        buf[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, n: int = -1) -> bytes:  # pragma: no cover - not used by the readinto path
        raise NotImplementedError


SINK = cast(BinaryIO, _Sink())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--chunk-kib", type=int, default=DEFAULT_CHUNK // 1024)
    args = ap.parse_args()
    size = args.mib * 1024 * 1024
    chunk = args.chunk_kib * 1024
    data = os.urandom(size)
    key = os.urandom(32)
    aead = AESGCM(key)
    view = memoryview(data)
    nonce = os.urandom(12)
    out = bytearray(DEFAULT_CHUNK + TAG)

    def raw() -> None:
        for i in range(0, size, DEFAULT_CHUNK):
            aead.encrypt(nonce, view[i : i + DEFAULT_CHUNK], b"")

    def raw_into() -> None:
        for i in range(0, size, DEFAULT_CHUNK):
            aead.encrypt_into(nonce, view[i : i + DEFAULT_CHUNK], b"", out)

    def stream() -> None:
        encrypt_stream(io.BytesIO(data), SINK, key, key_id="bench", dek_id="dek_bench", chunk_size=chunk)

    def stream_readinto() -> None:
        encrypt_stream(cast(BinaryIO, _Reader(data)), SINK, key, key_id="bench", dek_id="dek_bench", chunk_size=chunk)

    blob = io.BytesIO()
    encrypt_stream(io.BytesIO(data), blob, key, key_id="bench", dek_id="dek_bench", chunk_size=chunk)
    sealed = blob.getvalue()

    def dec() -> None:
        decrypt_stream(io.BytesIO(sealed), SINK, lambda h: key)

    names = ("raw", "raw_into", "stream", "stream_readinto", "decrypt")
    fns = (raw, raw_into, stream, stream_readinto, dec)
    times: dict[str, list[float]] = {n: [] for n in names}
    for f in fns:  # warm-up: page in buffers, load code
        f()
    for _ in range(args.repeat):
        for n, f in zip(names, fns, strict=True):
            times[n].append(timed(f))
    mib = size / 2**20

    def rate(n: str) -> float:
        return mib / statistics.median(times[n])

    def ratio(n: str, base: str = "raw") -> float:
        return statistics.median(b / t for b, t in zip(times[base], times[n], strict=True))

    print(f"{args.mib} MiB, chunk {chunk // 1024} KiB, median of {args.repeat}; load {os.getloadavg()[0]:.1f}")
    print(f"raw AESGCM.encrypt (goal baseline)   : {rate('raw'):7.0f} MiB/s")
    print(f"raw AESGCM.encrypt_into (ceiling)    : {rate('raw_into'):7.0f} MiB/s")
    print(f"bastion encrypt_stream, BytesIO      : {rate('stream'):7.0f} MiB/s")
    print(f"bastion encrypt_stream, readinto path: {rate('stream_readinto'):7.0f} MiB/s")
    print(f"bastion decrypt_stream, BytesIO      : {rate('decrypt'):7.0f} MiB/s")
    print(f"ratio stream/raw encrypt             : {ratio('stream'):7.1%}  (goal >= 90%)")
    print(f"ratio readinto path/raw encrypt      : {ratio('stream_readinto'):7.1%}")
    print(f"ratio stream/raw encrypt_into        : {ratio('stream', 'raw_into'):7.1%}")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "plain"
        src.write_bytes(data)
        dst = Path(tmp) / "enc"

        def files() -> None:
            with src.open("rb") as fi, dst.open("wb") as fo:
                encrypt_stream(fi, fo, key, key_id="bench", dek_id="dek_bench", chunk_size=chunk)

        t_file = statistics.median(timed(files) for _ in range(3))
        print(f"file->file (page cache)              : {mib / t_file:7.0f} MiB/s")


if __name__ == "__main__":
    main()
