"""File digests.

The default digest is a plain SHA-256 of the whole file, so it matches
`sha256sum`, registries and the hashes in a CycloneDX BOM. SHA-256 cannot be
split across cores, so for very large files an opt-in *sharded* digest hashes
fixed-size shards in parallel threads (hashlib releases the GIL) and then hashes
the list of shard digests; its prefix names the shard size, so two sharded
digests are comparable only with each other, never with a plain one.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bastion.core.hashing import hash_range

SHARD_SIZE = 64 * 1024 * 1024


def digest_file(path: Path, *, sharded: bool = False, workers: int | None = None, shard_size: int = SHARD_SIZE) -> str:
    """``sha256:<hex>`` of the file, or ``sha256-sharded-<shard bytes>:<hex>`` when `sharded`.

    Raises `OSError` when the file cannot be read; callers record that per file.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        size = os.fstat(fd).st_size
        if not sharded:
            with os.fdopen(os.dup(fd), "rb", buffering=0) as f:
                return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
        starts = list(range(0, size, shard_size)) or [0]
        n = workers or min(len(starts), os.cpu_count() or 1)
        if n <= 1 or len(starts) == 1:
            parts = [hash_range(fd, s, min(s + shard_size, size)) for s in starts]
        else:
            with ThreadPoolExecutor(max_workers=n) as pool:
                parts = list(pool.map(lambda s: hash_range(fd, s, min(s + shard_size, size)), starts))
    finally:
        os.close(fd)
    root = hashlib.sha256(b"bastion-sharded-sha256-v1\0" + size.to_bytes(8, "big"))
    for p in parts:
        root.update(p)
    return f"sha256-sharded-{shard_size}:{root.hexdigest()}"
