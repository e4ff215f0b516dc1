"""Hashing a byte range of a file: the one primitive that digests, signatures and manifests share.

Reads go through `preadv` into one reusable buffer, so several threads can hash
ranges of the same file at once (hashlib releases the GIL) without seeking a
shared file object and without allocating per block.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

CHUNK = 4 * 1024 * 1024


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> object: ...
    def digest(self) -> bytes: ...


ALGORITHMS = ("sha256", "blake2", "blake3")


def new_hasher(algorithm: str) -> Hasher:
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm in ("blake2", "blake2b"):
        return hashlib.blake2b()
    if algorithm == "blake3":
        import blake3

        h: Hasher = blake3.blake3(max_threads=1)
        return h
    raise ValueError(f"unsupported hash algorithm {algorithm!r} (expected one of: {', '.join(ALGORITHMS)})")


def hash_range(
    source: Path | int,
    start: int,
    end: int,
    *,
    algorithm: str = "sha256",
    buf: bytearray | None = None,
) -> bytes:
    """Digest bytes [start, end) of a file given by path or open descriptor.

    A file that shrinks while it is read raises `OSError`: a digest of fewer bytes
    than asked for would silently vouch for content nobody hashed.
    """
    h = new_hasher(algorithm)
    if end <= start:
        return h.digest()
    buf = buf if buf is not None else bytearray(min(CHUNK, end - start))
    view = memoryview(buf)
    fd = source if isinstance(source, int) else os.open(source, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_SEQUENTIAL)
        pos = start
        while pos < end:
            n = os.preadv(fd, [view[: min(len(buf), end - pos)]], pos)
            if n <= 0:
                raise OSError(f"{source}: file shrank while it was being hashed (at byte {pos})")
            h.update(view[:n])
            pos += n
    finally:
        if not isinstance(source, int):
            os.close(fd)
    return h.digest()
