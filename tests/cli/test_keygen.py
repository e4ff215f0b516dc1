"""`bastion sign keygen`: never loses a key (no overwrite without --force, public path != private path)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    return subprocess.run(
        [sys.executable, "-m", "bastion", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr


def test_public_key_path_equal_to_private_is_refused(tmp_path: Path) -> None:
    _one_line_error(run(["sign", "keygen", "-o", "k.pub"], tmp_path), "k.pub")
    assert list(tmp_path.iterdir()) == []  # nothing written, so nothing half-written


def test_existing_keys_are_kept_unless_forced(tmp_path: Path) -> None:
    assert run(["sign", "keygen", "-o", "k.pem"], tmp_path).returncode == 0
    priv, pub = (tmp_path / "k.pem").read_bytes(), (tmp_path / "k.pub").read_bytes()
    assert b"PRIVATE KEY" in priv and b"PUBLIC KEY" in pub
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    _one_line_error(run(["sign", "keygen", "-o", "k.pem"], tmp_path), "already exists")
    assert (tmp_path / "k.pem").read_bytes() == priv and (tmp_path / "k.pub").read_bytes() == pub

    (tmp_path / "other.pub").write_bytes(b"someone's public key")  # only the public half exists
    _one_line_error(run(["sign", "keygen", "-o", "other.pem"], tmp_path), "other.pub")
    assert not (tmp_path / "other.pem").exists()
    assert (tmp_path / "other.pub").read_bytes() == b"someone's public key"

    proc = run(["sign", "keygen", "-o", "k.pem", "--force"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "k.pem").read_bytes() != priv
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
