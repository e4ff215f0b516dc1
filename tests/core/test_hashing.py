from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bastion.core.hashing import hash_range


def test_ranges_by_path_and_descriptor_match_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert hash_range(path, 0, len(data)) == hashlib.sha256(data).digest()
    fd = os.open(path, os.O_RDONLY)
    try:
        assert hash_range(fd, 100, 2_000_000, buf=bytearray(4096)) == hashlib.sha256(data[100:2_000_000]).digest()
    finally:
        os.close(fd)
    assert hash_range(path, 5, 5) == hashlib.sha256(b"").digest()
    assert hash_range(path, 0, 10, algorithm="blake2") == hashlib.blake2b(data[:10]).digest()


def test_a_range_past_the_end_is_an_error_not_a_short_digest(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"abc")
    with pytest.raises(OSError, match="shrank"):
        hash_range(path, 0, 10)
    with pytest.raises(ValueError, match="unsupported"):
        hash_range(path, 0, 3, algorithm="md5")
