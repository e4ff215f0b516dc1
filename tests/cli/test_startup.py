"""CLI start-up stays light: heavy libraries are imported by the command that needs them, not by `--help`.

Checked through `sys.modules` in a fresh interpreter, not by timing: a wall-clock
assertion would fail on a loaded machine and pass a regression on a fast one.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Each of these costs tens to hundreds of milliseconds to import (measured with -X importtime).
HEAVY = (
    "numpy",
    "pyarrow",
    "pandas",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "yaml",
    "cryptography.hazmat",
    "OpenSSL",
    "model_signing",
    "sigstore",
    "sigstore_models",
    "google.protobuf",
    "onnxruntime",
    "torch",
    "tokenizers",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "casbin",
    "re2",
    "blake3",
    "bastion.core.store",
    "bastion.core.audit",
    "bastion.core.config",
    "bastion.scan",
    "bastion.crypto.keys",
    "bastion.data.protect",
    "bastion.data.detect",
    "bastion.model.sign",
    "bastion.model.scan",
    "bastion.model.registry",
    "bastion.gateway",
    "bastion.guard",
)

PROBE = """
import json, sys
{body}
heavy = json.loads(sys.argv[1])
print(json.dumps(sorted(h for h in heavy if any(m == h or m.startswith(h + ".") for m in sys.modules))))
"""


def _loaded(body: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _loaded("import bastion.cli.app") == []


@pytest.mark.parametrize("argv", [["--help"], ["verify", "--help"], ["sign", "--help"], ["verify", "key", "--help"]])
def test_help_loads_no_heavy_module(argv: list[str]) -> None:
    body = f"""
import contextlib, io
from bastion.cli.app import app
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    app({argv!r})
"""
    # Typer itself (its `_adapters` module) imports pydantic to run any command; that is not ours to defer.
    assert [m for m in _loaded(body) if m != "pydantic"] == []
