"""Helpers shared by the supply-chain tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UPSTREAM = Path(sys.executable).with_name("model_signing")


def run_upstream(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the upstream `model_signing` CLI (the interoperability anchor)."""
    exe = str(UPSTREAM) if UPSTREAM.exists() else shutil.which("model_signing")
    if exe is None:
        pytest.skip("upstream model_signing CLI is not installed")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120)
