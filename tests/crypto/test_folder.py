"""Encrypted folders: each file bound to its path and folder, the file set to a sealed manifest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.crypto import aead
from bastion.crypto.keys import KeyManager, Principal

ADMIN = Principal.of("alice", ["admin"])


@pytest.fixture
def folder(keys: KeyManager, tmp_path: Path) -> tuple[Path, Path]:
    keys.create("k", ADMIN)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "salaries.csv").write_text("name,salary\nalice,1\n")
    (src / "public.txt").write_text("nothing to see\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    enc = tmp_path / "enc"
    aead.encrypt_tree(src, enc, keys=keys, key_id="k", who=ADMIN)
    return src, enc


def _decrypt_fails(keys: KeyManager, enc: Path, out: Path, match: str) -> None:
    with pytest.raises(aead.CryptoError, match=match):
        aead.decrypt_tree(enc, out, keys=keys, who=ADMIN)
    assert not out.exists()  # every check runs before anything is written


def test_round_trip_with_manifest(keys: KeyManager, folder: tuple[Path, Path], tmp_path: Path) -> None:
    src, enc = folder
    assert (enc / aead.MANIFEST).is_file()
    aead.decrypt_tree(enc, tmp_path / "dec", keys=keys, who=ADMIN)
    for p in src.rglob("*"):
        if p.is_file():
            assert (tmp_path / "dec" / p.relative_to(src)).read_bytes() == p.read_bytes()


def test_swapped_files_are_detected(keys: KeyManager, folder: tuple[Path, Path], tmp_path: Path) -> None:
    _src, enc = folder
    a, b = enc / "salaries.csv.benc", enc / "public.txt.benc"
    tmp = enc / "swap"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    _decrypt_fails(keys, enc, tmp_path / "dec", "moved or swapped")


def test_moved_into_subfolder_is_detected(keys: KeyManager, folder: tuple[Path, Path], tmp_path: Path) -> None:
    _src, enc = folder
    shutil.copy(enc / "salaries.csv.benc", enc / "sub" / "b.txt.benc")
    _decrypt_fails(keys, enc, tmp_path / "dec", "moved or swapped")


def test_removed_and_added_files_are_detected(keys: KeyManager, folder: tuple[Path, Path], tmp_path: Path) -> None:
    _src, enc = folder
    saved = (enc / "public.txt.benc").read_bytes()
    (enc / "public.txt.benc").unlink()
    _decrypt_fails(keys, enc, tmp_path / "dec", "missing")
    (enc / "public.txt.benc").write_bytes(saved)
    # A genuine file under the same key, encrypted on its own, dropped into the folder.
    extra = tmp_path / "extra.txt"
    extra.write_text("planted\n")
    aead.encrypt_file(extra, enc / "extra.txt.benc", keys=keys, key_id="k", who=ADMIN)
    _decrypt_fails(keys, enc, tmp_path / "dec", "added")


def test_file_from_another_encryption_of_the_folder(
    keys: KeyManager, folder: tuple[Path, Path], tmp_path: Path
) -> None:
    src, enc = folder
    (src / "salaries.csv").write_text("name,salary\nalice,1000000\n")
    other = tmp_path / "enc2"
    aead.encrypt_tree(src, other, keys=keys, key_id="k", who=ADMIN)
    shutil.copy(other / "salaries.csv.benc", enc / "salaries.csv.benc")  # same path, other run
    _decrypt_fails(keys, enc, tmp_path / "dec", "another encrypted folder")
    shutil.copy(other / aead.MANIFEST, enc / aead.MANIFEST)  # and the manifest too: the rest no longer match
    _decrypt_fails(keys, enc, tmp_path / "dec", "another encrypted folder")


def test_manifest_removed_or_tampered(keys: KeyManager, folder: tuple[Path, Path], tmp_path: Path) -> None:
    _src, enc = folder
    data = bytearray((enc / aead.MANIFEST).read_bytes())
    data[-3] ^= 1
    (enc / aead.MANIFEST).write_bytes(bytes(data))
    _decrypt_fails(keys, enc, tmp_path / "dec", "authentication failed")
    (enc / aead.MANIFEST).unlink()
    _decrypt_fails(keys, enc, tmp_path / "dec", "manifest .* is missing")


def test_old_format_folder_is_refused_by_name(keys: KeyManager, tmp_path: Path) -> None:
    """A folder from before paths were bound: version-1 members, no manifest."""
    keys.create("k", ADMIN)
    old = tmp_path / "old"
    old.mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
        aead.encrypt_file(tmp_path / name, old / (name + aead.SUFFIX), keys=keys, key_id="k", who=ADMIN)
    _decrypt_fails(keys, old, tmp_path / "dec", "old format .*version 1")
    out = tmp_path / "a.out"
    aead.decrypt_file(old / "a.txt.benc", out, keys=keys, who=ADMIN)  # one by one still works
    assert out.read_text() == "a.txt"


def test_members_still_decrypt_as_single_files(keys: KeyManager, folder: tuple[Path, Path], tmp_path: Path) -> None:
    src, enc = folder
    aead.decrypt_file(enc / "sub" / "b.txt.benc", tmp_path / "b", keys=keys, who=ADMIN)
    assert (tmp_path / "b").read_bytes() == (src / "sub" / "b.txt").read_bytes()


def test_output_folder_must_be_empty(keys: KeyManager, folder: tuple[Path, Path]) -> None:
    src, enc = folder
    with pytest.raises(aead.CryptoError, match="not empty"):
        aead.encrypt_tree(src, enc, keys=keys, key_id="k", who=ADMIN)


def test_cli_swap_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env["BASTION_KEYRING_PASSPHRASE"] = "test passphrase"

    def bastion(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "bastion", *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("alpha")
    (tmp_path / "data" / "b.txt").write_text("beta")
    for args in (("keys", "create", "k"), ("encrypt", "data", "-k", "k", "-o", "enc")):
        proc = bastion(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    a, b = tmp_path / "enc" / "a.txt.benc", tmp_path / "enc" / "b.txt.benc"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    proc = bastion("decrypt", "enc", "-o", "dec")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "moved or swapped" in lines[0], proc.stderr
    assert not (tmp_path / "dec").exists()
