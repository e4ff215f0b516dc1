"""Plaintext written by decrypt: secure temp file (no symlink hijack), owner-only mode, atomic rename."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bastion.crypto import aead
from bastion.crypto._files import atomic_write
from bastion.crypto.keys import KeyManager, Principal

ADMIN = Principal.of("alice", ["admin"])


def _plant(dest: Path, victim: Path) -> Path:
    """A symlink at the temp name the old code used (`.<name>.<pid>.partial`), pointing at `victim`."""
    link = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    link.symlink_to(victim)
    return link


def test_decrypt_ignores_a_planted_symlink_and_writes_owner_only(keys: KeyManager, tmp_path: Path) -> None:
    keys.create("k", ADMIN)
    src = tmp_path / "secret.csv"
    src.write_bytes(b"id,card\n1,4111111111111111\n")
    enc = tmp_path / "secret.csv.benc"
    aead.encrypt_file(src, enc, keys=keys, key_id="k", who=ADMIN)
    victim = tmp_path / "attacker-readable.txt"
    victim.write_bytes(b"untouched")
    out = tmp_path / "out" / "plain.csv"
    out.parent.mkdir()
    link = _plant(out, victim)
    aead.decrypt_file(enc, out, keys=keys, who=ADMIN)
    assert victim.read_bytes() == b"untouched"  # the plaintext did not follow the link
    assert out.read_bytes() == src.read_bytes()
    assert not out.is_symlink()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert link.is_symlink()  # left alone, never opened
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".partial") and not p.is_symlink()] == []


def test_atomic_write_replaces_a_symlink_at_the_destination(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    dest = tmp_path / "dest"
    dest.symlink_to(victim)
    with atomic_write(dest) as fh:
        fh.write(b"new")
    assert victim.read_bytes() == b"keep" and not dest.is_symlink() and dest.read_bytes() == b"new"


def test_atomic_write_without_overwrite_refuses_existing(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.write_bytes(b"old")
    with pytest.raises(FileExistsError), atomic_write(dest, overwrite=False) as fh:
        fh.write(b"new")
    assert dest.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [dest]


def test_atomic_write_failure_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(RuntimeError), atomic_write(dest) as fh:
        fh.write(b"partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
