"""Streaming encryption throughput vs raw `cryptography` AES-256-GCM, one core, same run.

    .venv/bin/python benchmarks/crypto_stream.py [--mib 512]

Both sides seal the same buffer in 1 MiB pieces: the baseline calls AESGCM.encrypt
directly; Bastion's `encrypt_stream` adds the header, HKDF subkey, chunk AAD and the
read/write loop (in-memory streams, so the disk is not measured). Goal: >= 90%.
A file-to-file figure (page cache) is printed for reference.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bastion.crypto._stream import DEFAULT_CHUNK, decrypt_stream, encrypt_stream


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    size = args.mib * 1024 * 1024
    data = os.urandom(size)
    key = os.urandom(32)
    aead = AESGCM(key)
    view = memoryview(data)
    nonce = os.urandom(12)

    def raw() -> None:
        for i in range(0, size, DEFAULT_CHUNK):
            aead.encrypt(nonce, view[i : i + DEFAULT_CHUNK], b"")

    def stream() -> None:
        encrypt_stream(io.BytesIO(data), _Sink(), key, key_id="bench", dek_id="dek_bench")

    t_raw = best(raw)
    t_stream = best(stream)
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key, key_id="bench", dek_id="dek_bench")
    blob = out.getvalue()
    t_dec = best(lambda: decrypt_stream(io.BytesIO(blob), _Sink(), lambda h: key))
    mib = size / 2**20
    print(f"raw AESGCM.encrypt     : {mib / t_raw:8.0f} MiB/s")
    print(f"bastion encrypt_stream : {mib / t_stream:8.0f} MiB/s")
    print(f"bastion decrypt_stream : {mib / t_dec:8.0f} MiB/s")
    print(f"ratio stream/raw       : {t_raw / t_stream:8.1%}  (goal >= 90%)")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "plain"
        src.write_bytes(data)
        dst = Path(tmp) / "enc"

        def files() -> None:
            with src.open("rb") as fi, dst.open("wb") as fo:
                encrypt_stream(fi, fo, key, key_id="bench", dek_id="dek_bench")

        t_file = best(files, 3)
        print(f"file->file (page cache): {mib / t_file:8.0f} MiB/s ({t_raw / t_file:.1%} of raw)")


class _Sink:
    def write(self, b: bytes) -> int:
        return len(b)


if __name__ == "__main__":
    main()
