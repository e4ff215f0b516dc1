"""Bad input at the command line: one line on stderr, exit 2, nothing stored lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASTION = [sys.executable, "-m", "bastion"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    full_env.update(env)
    return subprocess.run(BASTION + args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and needle in lines[0], lines[0]


def test_missing_path(tmp_path: Path) -> None:
    _one_line_error(run(["scan", "does-not-exist"], tmp_path), "does-not-exist")


def test_corrupt_database_is_refused_and_kept(tmp_path: Path) -> None:
    state = tmp_path / ".bastion"
    state.mkdir()
    garbage = b"this is not a database" * 100
    (state / "bastion.db").write_bytes(garbage)
    (tmp_path / "x.txt").write_text("hello")
    _one_line_error(run(["scan", "x.txt"], tmp_path), "bastion.db")
    assert (state / "bastion.db").read_bytes() == garbage


@pytest.mark.parametrize(
    ("policy", "needle"),
    [("fail_on = [", "not valid toml"), ("unknown_key = 1", "unknown_key")],
)
def test_bad_policy_file(tmp_path: Path, policy: str, needle: str) -> None:
    (tmp_path / "policy.toml").write_text(policy)
    (tmp_path / "x.txt").write_text("hello")
    _one_line_error(run(["scan", "x.txt", "--policy", "policy.toml"], tmp_path), needle)


def test_bad_config_and_bad_flag_values(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    _one_line_error(run(["scan", "x.txt", "--fail-on", "urgent"], tmp_path), "unknown severity")
    (tmp_path / "bastion.toml").write_text("[bastion]\nfail_on = 3.5.1\n")
    _one_line_error(run(["config", "show"], tmp_path), "invalid TOML")


def test_binary_garbage_is_scanned_not_crashed_on(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(os.urandom(200_000))
    (tmp_path / "weird \udcff name.txt".encode("utf-8", "surrogateescape").decode("utf-8", "replace")).write_bytes(
        b"\x00\xff" * 100
    )
    proc = run(["scan", ".", "--no-progress", "--format", "json"], tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
