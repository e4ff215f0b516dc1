from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bastion.discover import WalkItem, WalkProblem, digest_file, walk
from bastion.discover._walk import MAX_DEPTH


def _split(items: list[WalkItem | WalkProblem]) -> tuple[dict[str, WalkItem], dict[str, str]]:
    files = {i.relpath: i for i in items if isinstance(i, WalkItem)}
    probs = {i.relpath: i.reason for i in items if isinstance(i, WalkProblem)}
    return files, probs


def test_head_is_first_64k_and_metadata(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "small").write_bytes(b"abc")
    files, probs = _split(list(walk(tmp_path)))
    assert not probs
    assert files["big"].head == data[:65536] and files["big"].size == 100_000
    assert files["sub/small"].head == b"abc" and not files["sub/small"].is_dir


def test_exclude_by_name_and_glob(tmp_path: Path) -> None:
    for rel in (".git/config", "node_modules/x/y.js", "keep/a.txt", "keep/b.log", "keep/deep/c.log"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    files, _ = _split(list(walk(tmp_path, exclude=[".git", "node_modules", "*.log"])))
    assert set(files) == {"keep/a.txt"}


def test_symlink_loop_and_links_are_problems_not_hangs(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    files, probs = _split(list(walk(tmp_path)))
    assert set(files) == {"d/f"}
    assert "not followed" in probs["d/loop"] and "not followed" in probs["broken"]
    files, probs = _split(list(walk(tmp_path, follow_symlinks=True)))
    assert set(files) == {"d/f"}
    assert "loop" in probs["d/loop"] and "broken" in probs["broken"]


def test_odd_names_fifo_and_unreadable(tmp_path: Path) -> None:
    odd = os.fsdecode(b"bad\xffname")
    (tmp_path / odd).write_bytes(b"x")
    (tmp_path / "new\nline").write_bytes(b"y")
    os.mkfifo(tmp_path / "pipe")
    files, probs = _split(list(walk(tmp_path)))
    assert files["bad\\xffname"].head == b"x"
    assert "UTF-8" in probs["bad\\xffname"]
    assert files["new\\x0aline"].head == b"y"
    assert "FIFO" in probs["pipe"]
    for rel in files:
        rel.encode("utf-8")  # every relpath is storable and printable


def test_unreadable_file_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").write_text("x")
    (tmp_path / "b").write_text("y")
    import bastion.discover._walk as w

    real = w._read_head

    def flaky(path: str, n: int) -> tuple[int, float, bytes]:
        if path.endswith("/a"):
            raise PermissionError(13, "Permission denied")
        return real(path, n)

    monkeypatch.setattr(w, "_read_head", flaky)
    files, probs = _split(list(walk(tmp_path)))
    assert set(files) == {"b"} and probs == {"a": "Permission denied"}


def test_missing_root_and_deep_nesting(tmp_path: Path) -> None:
    assert isinstance(next(iter(walk(tmp_path / "absent"))), WalkProblem)
    p = tmp_path
    for _ in range(MAX_DEPTH + 5):
        p = p / "d"
    p.mkdir(parents=True)
    (p / "f").write_text("x")
    _, probs = _split(list(walk(tmp_path)))
    assert any("deeper" in r for r in probs.values())


@pytest.mark.parametrize("size", [0, 1, 1 << 20, (3 << 20) + 7])
def test_digest_matches_sha256(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert digest_file(tmp_path / "f") == "sha256:" + hashlib.sha256(data).hexdigest()


def test_sharded_digest_is_deterministic_and_sensitive(tmp_path: Path) -> None:
    data = bytearray(os.urandom((1 << 20) * 3 + 5))
    (tmp_path / "f").write_bytes(data)
    one = digest_file(tmp_path / "f", sharded=True, shard_size=1 << 20, workers=1)
    many = digest_file(tmp_path / "f", sharded=True, shard_size=1 << 20, workers=4)
    assert one == many and one.startswith("sha256-sharded-1048576:")
    data[2_000_000] ^= 1
    (tmp_path / "f").write_bytes(data)
    assert digest_file(tmp_path / "f", sharded=True, shard_size=1 << 20) != one
